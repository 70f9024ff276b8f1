// Structure-aware fuzzer of the e1000 from the guest side. A case is a few
// operations drawn from a seeded generator: register writes and reads of
// every modelled register (and random offsets and widths), the I/O window,
// raw transmit and receive descriptors, ring registers pointing anywhere
// inside the device area or outside RAM, doorbells, host frames of every
// size and shape (tagged, IPv4 with random headers), PHY and EEPROM
// bit-banging, PCI command bits, the link, guest time, and save/restore.
//
// Guest RAM: [64 KiB, 1 MiB) and [7, 8) MiB are the guard. The fuzzer points
// the transmit ring into [1, 5) MiB, the receive ring into its own region
// [5, 7) MiB (zero or fuzzer-written descriptors only; a zero descriptor's
// buffer is at address 0, inside [0, 64 KiB)) and receive buffers into
// [1, 5) MiB or outside RAM, so a write to the guard is a device bug. Checked: no throw
// (a trap would surface as one), the dirty bitmap every `dirtyEvery` cases,
// the guard byte-exact every `guardEvery` cases and at the end; every
// `probeEvery` cases a power-on reset and a fresh driver must transmit and
// receive a frame intact (the device always recovers); every `stateEvery`
// cases save → restore → save must be identity.
import { E1000 } from "../../../src/devices/e1000/device.js";
import { E1000Driver } from "../../../src/guest/e1000/driver.js";
import { GuestRam } from "../../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../../src/guest/virtio/interrupts.js";
import { ManualClock } from "../../../src/clock.js";
import { frame, mac, seqOf } from "../../../src/guest/virtio/frames.js";
import { Reg, Stat } from "../../../src/guest/e1000/defs.js";
import { Status } from "../../../src/status.js";
import type { VmCore } from "../../../src/index.js";
import { newCore, rng } from "../../support/core.js";
import { ipv4Frame } from "./packets.js";

const MIB = 1 << 20;
const RAM = 8 * MIB;
const AREA: [number, number] = [MIB, 7 * MIB];
/** Where receive descriptors live; nothing else is ever written there. */
const RX_REGION: [number, number] = [5 * MIB, 7 * MIB];
/** Where receive buffers may be. */
const RX_BUFS: [number, number] = [MIB, 5 * MIB];
const GUARD: Array<[number, number]> = [[64 * 1024, MIB], [7 * MIB, RAM]];
const HEAP: [number, number] = [MIB, 5 * MIB];
const OWN = "52:54:00:12:34:56";

export type Op =
  | { w: number; v: number; n?: 1 | 2 | 4 }
  | { r: number; n?: 1 | 2 | 4 }
  | { io: number; v?: number }
  | { txd: number; d: [number, number, number, number] }
  | { rxd: number; a: number }
  | { rx: number; k: number; s: number }
  | { cfg: number; v: number }
  | { tick: number }
  | { link: number }
  | { save: 1 };

export interface FuzzReport { cases: number; probesOk: number; stateRoundTrips: number; framesSent: number; framesDelivered: number; maxCaseMs: number; failure: { caseIndex: number; message: string; ops: Op[] } | null }

/** Registers whose value says where the device writes: only ever set through the constrained generator below. */
const RING_REGS = new Set<number>([Reg.RDBAL, Reg.RDBAH, Reg.RDLEN, Reg.TDBAL, Reg.TDBAH, Reg.TDLEN]);

const REGS = [
  Reg.CTRL, Reg.STATUS, Reg.EECD, Reg.EERD, Reg.CTRL_EXT, Reg.MDIC, Reg.FCAL, Reg.FCAH, Reg.FCT, Reg.VET, Reg.ICR, Reg.ITR,
  Reg.ICS, Reg.IMS, Reg.IMC, Reg.RCTL, Reg.TCTL, Reg.TIPG, Reg.PBA, Reg.RDBAL, Reg.RDBAH, Reg.RDLEN, Reg.RDH, Reg.RDT, Reg.RDTR,
  Reg.RADV, Reg.TDBAL, Reg.TDBAH, Reg.TDLEN, Reg.TDH, Reg.TDT, Reg.TIDV, Reg.TXDCTL, Reg.TADV, Reg.RXCSUM, 0x2828, 0x2c00,
  0x5800, 0x5808, 0x5820, 0x0e00, 0x0178, 0x0170, 0x2160, 0x2168, 0x3410, 0x2410,
];

class Fuzzer {
  private readonly rand: () => number;
  dev!: E1000;
  drv!: E1000Driver;
  readonly irq = new InterruptRecorder();
  readonly clock = new ManualClock();
  sent = 0;
  delivered = 0;
  private guardCopy: Uint8Array[] = [];

  constructor(readonly core: VmCore, seed: number) { this.rand = rng(seed); }

  ram(): Uint8Array { const p = this.core.exports.gm_ram_ptr() >>> 0; return this.core.u8().subarray(p, p + RAM); }

  start(): void {
    this.dev = E1000.create(this.core, { mac: OWN, interrupts: this.irq, clock: this.clock, timers: "manual", backlogFrames: 32, backlogBytes: 64 * 1024 });
    this.dev.onTransmit = () => { this.sent++; };
    this.freshDriver();
    this.relocateRx();
    this.guardCopy = GUARD.map(([a, b]) => this.ram().slice(a, b));
    this.core.dirty.enable();
    this.core.dirty.harvest();
  }

  /** Move the receive ring to its own region: 64 descriptors with buffers in the buffer region. */
  relocateRx(): void {
    const g = this.core.guest;
    g.fill(RX_REGION[0], 0, RX_REGION[1] - RX_REGION[0]);
    for (let i = 0; i < 64; i++) g.writeU64(RX_REGION[0] + 16 * i, BigInt(RX_BUFS[0] + 2 * MIB + i * 16384));
    const w = (o: number, v: number) => this.dev.pci.barWrite(0, o, 4, v);
    w(Reg.RDBAL, RX_REGION[0]); w(Reg.RDBAH, 0); w(Reg.RDLEN, 1024); w(Reg.RDH, 0); w(Reg.RDT, 63);
  }

  private freshDriver(): void {
    this.drv = new E1000Driver(this.dev.pci, new GuestRam(this.core), { heap: HEAP, rxDescs: 64, txDescs: 64, rxBufferSize: 2048, txBufferSize: 4096 });
    this.drv.init();
  }

  int(n: number): number { return Math.floor(this.rand() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]; }
  u32(): number {
    const r = this.rand();
    if (r < 0.25) return this.pick([0, 1, 2, 0xff, 0xffff, 0xffffffff, 0x80000000, 0x7fffffff, 0x100, 0x1000]);
    return this.int(2 ** 32) >>> 0;
  }
  /** A receive buffer address: in the buffer region, 0, or outside RAM. */
  rxBufferAddr(len: number): number {
    const r = this.rand();
    if (r < 0.1) return RAM + this.int(16 * MIB);
    if (r < 0.15) return 0xfffff000 + this.int(4096);
    if (r < 0.2) return 0;
    return RX_BUFS[0] + this.int(RX_BUFS[1] - RX_BUFS[0] - len);
  }

  gen(): Op[] {
    const ops: Op[] = [];
    const n = 1 + this.int(4);
    for (let k = 0; k < n; k++) {
      const t = this.rand();
      if (t < 0.22) {
        let off = this.rand() < 0.9 ? this.pick(REGS) : (this.int(0x20000) & ~3);
        if (this.rand() < 0.05) off = 0x5200 + 4 * this.int(0x400 / 4);
        let v = this.u32();
        // Ring bases and lengths: only where a device write stays in the area (or outside RAM).
        // Rings of up to 1 MiB: the receive ring inside its region, the transmit ring inside [1, 5) MiB.
        if (off === Reg.RDBAL) v = this.rand() < 0.85 ? (RX_REGION[0] + this.int(MIB)) & ~15 : RAM + this.int(64 * MIB);
        if (off === Reg.TDBAL) v = this.rand() < 0.85 ? (AREA[0] + this.int(3 * MIB)) & ~15 : RAM + this.int(64 * MIB);
        if (off === Reg.RDBAH || off === Reg.TDBAH) v = this.rand() < 0.9 ? 0 : this.u32();
        if (off === Reg.RDLEN || off === Reg.TDLEN) v = this.rand() < 0.7 ? 128 * (1 + this.int(64)) : this.int(MIB);
        if (off === Reg.RCTL) v = (v & ~(1 << 25 | 3 << 16)) | (this.rand() < 0.8 ? 2 : 0) | (this.rand() < 0.3 ? (1 << 25) | ((1 + this.int(3)) << 16) : (this.int(4) << 16));
        if (off === Reg.TCTL && this.rand() < 0.8) v |= 2;
        if (off === Reg.CTRL && this.rand() < 0.9) v &= ~((1 << 26) | (1 << 31));
        const n = this.rand() < 0.05 && !RING_REGS.has(off) ? this.pick([1, 2] as const) : undefined;
        ops.push(n ? { w: off + (n === 1 ? this.int(4) : 2 * this.int(2)), v, n } : { w: off, v });
      } else if (t < 0.3) {
        ops.push({ r: this.rand() < 0.8 ? this.pick([...REGS, ...Object.values(Stat)]) : this.int(0x20000) & ~3 });
      } else if (t < 0.33) {
        // IOADDR never selects a ring register, so IODATA writes stay unconstrained elsewhere.
        const sel = REGS.filter((x) => !RING_REGS.has(x));
        ops.push(this.rand() < 0.5 ? { io: 0, v: this.pick(sel) } : this.rand() < 0.5 ? { io: 4, v: this.u32() } : { io: this.int(0x40) & ~3 });
      } else if (t < 0.5) {
        // A transmit descriptor: address anywhere (reads only), random command and lengths, often sane ones.
        const sane = this.rand() < 0.5;
        const addr = this.rand() < 0.8 ? AREA[0] + this.int(AREA[1] - AREA[0]) : this.u32();
        const len = sane ? 14 + this.int(1500) : this.int(0x100000);
        const cmd = this.rand() < 0.4 ? this.pick([0x0b, 0x2b, 0x29, 0x2f, 0x6b, 0xab, 0x20, 0x24]) : this.int(256);
        const dtyp = this.rand() < 0.8 ? this.int(2) : this.int(16);
        const w2 = (cmd & 0x20) ? ((len & 0xfffff) | (dtyp << 20) | (cmd << 24)) : ((len & 0xffff) | (this.int(256) << 16) | (cmd << 24));
        const w3 = this.rand() < 0.5 ? ((this.int(4) << 8) | (this.int(4096) << 16)) : this.u32();
        ops.push({ txd: this.int(64), d: [addr >>> 0, 0, w2 >>> 0, w3 >>> 0] });
        if (this.rand() < 0.5) ops.push({ w: Reg.TDT, v: this.int(64) });
      } else if (t < 0.58) {
        ops.push({ rxd: this.int(64), a: this.rxBufferAddr(16384) });
        if (this.rand() < 0.5) ops.push({ w: Reg.RDT, v: this.int(64) });
      } else if (t < 0.8) {
        ops.push({ rx: this.rand() < 0.1 ? this.int(16400) : 14 + this.int(1600), k: this.int(6), s: this.int(2 ** 31) });
      } else if (t < 0.85) {
        ops.push({ cfg: this.pick([4, 4, 4, 0x10, 0x14, 0x3c, 0xe0]), v: this.rand() < 0.7 ? this.pick([7, 7, 7, 0x407, 3, 5, 6, 0]) : this.u32() });
      } else if (t < 0.93) {
        ops.push({ tick: this.pick([0, 1000, 8192, 100_000, 1_000_000]) });
      } else if (t < 0.96) {
        ops.push({ link: this.rand() < 0.8 ? 1 : 0 });
      } else if (t < 0.97) {
        ops.push({ save: 1 });
      } else {
        // PHY and EEPROM through their registers.
        ops.push(this.rand() < 0.5 ? { w: Reg.MDIC, v: ((1 + this.int(3) & 3) << 26) | ((this.rand() < 0.9 ? 1 : this.int(32)) << 21) | (this.int(32) << 16) | this.int(0x10000) } : { w: Reg.EECD, v: this.int(0x80) });
      }
    }
    return ops;
  }

  private frameOf(len: number, kind: number, seed: number): Uint8Array {
    const r = rng(seed);
    const own = mac(OWN);
    const dst = kind === 0 ? own : kind === 1 ? mac("ff:ff:ff:ff:ff:ff") : kind === 2 ? mac("01:00:5e:00:00:01") : Uint8Array.from({ length: 6 }, () => Math.floor(r() * 256));
    if (kind === 4 && len >= 60) {
      const f = ipv4Frame({ dst: own, src: mac("02:00:00:00:00:01"), proto: r() < 0.5 ? 6 : 17, payload: new Uint8Array(Math.max(0, Math.min(len - 54, 1400))) });
      for (let i = 0; i < 3; i++) f[14 + Math.floor(r() * Math.min(40, f.length - 14))] = Math.floor(r() * 256);
      return f;
    }
    const f = new Uint8Array(len);
    for (let i = 0; i < len; i++) f[i] = Math.floor(r() * 256);
    if (len >= 6) f.set(dst.subarray(0, Math.min(6, len)));
    if (kind === 5 && len >= 18) { f[12] = 0x81; f[13] = 0; }
    return f;
  }

  apply(op: Op): void {
    this.applyOne(op);
    // A MAC reset (CTRL.RST, by any route) zeroes the ring bases, which would put the rings over the guard:
    // point them back into the area as a driver would before enabling anything.
    if (this.dev.peekRegister(Reg.RDBAH) === 0 && this.dev.peekRegister(Reg.RDBAL) < RX_REGION[0]) this.dev.pci.barWrite(0, Reg.RDBAL, 4, RX_REGION[0]);
    if (this.dev.peekRegister(Reg.TDBAH) === 0 && this.dev.peekRegister(Reg.TDBAL) < AREA[0]) this.dev.pci.barWrite(0, Reg.TDBAL, 4, AREA[0]);
  }

  private applyOne(op: Op): void {
    const fn = this.dev.pci;
    const g = this.core.guest;
    if ("w" in op) { fn.barWrite(0, op.w, op.n ?? 4, op.v >>> 0); return; }
    if ("r" in op) { fn.barRead(0, op.r, op.n ?? 4); return; }
    if ("io" in op) { if (op.v === undefined) fn.barRead(1, op.io, 4); else fn.barWrite(1, op.io, 4, op.v >>> 0); return; }
    if ("txd" in op) {
      const base = this.dev.peekRegister(Reg.TDBAL);
      const at = base + op.txd * 16;
      if (at >= AREA[0] && at + 16 <= RX_REGION[0]) { g.writeU32(at, op.d[0]); g.writeU32(at + 4, op.d[1]); g.writeU32(at + 8, op.d[2]); g.writeU32(at + 12, op.d[3]); }
      return;
    }
    if ("rxd" in op) {
      const base = this.dev.peekRegister(Reg.RDBAL);
      const at = base + op.rxd * 16;
      if (at >= RX_REGION[0] && at + 16 <= RX_REGION[1]) { g.writeU64(at, BigInt(op.a)); g.writeU64(at + 8, 0n); }
      return;
    }
    if ("rx" in op) { if (this.dev.receive(this.frameOf(op.rx, op.k, op.s)) === Status.OK) this.delivered++; return; }
    if ("cfg" in op) { fn.configWrite(op.cfg, op.cfg === 4 ? 2 : 4, op.v >>> 0); return; }
    if ("tick" in op) { this.clock.advance(op.tick); this.dev.advance(); return; }
    if ("link" in op) { this.dev.setLink(op.link === 1); return; }
    if ("save" in op) {
      const a = this.dev.saveState();
      const s = this.dev.restoreState(a);
      if (s !== Status.OK) throw new Error(`restoring its own state failed with ${s}`);
      this.dev.resume(); // a restored device is quiesced until resumed
    }
  }

  /** The registers that say where the device writes, for failure messages. */
  describe(): string {
    const p = (o: number) => this.dev.peekRegister(o).toString(16);
    return `RDBA ${p(Reg.RDBAH)}:${p(Reg.RDBAL)} RDLEN ${p(Reg.RDLEN)} RDH ${p(Reg.RDH)} RDT ${p(Reg.RDT)} RCTL ${p(Reg.RCTL)}; TDBA ${p(Reg.TDBAH)}:${p(Reg.TDBAL)} TDLEN ${p(Reg.TDLEN)} TDH ${p(Reg.TDH)} TDT ${p(Reg.TDT)}; PCI command ${this.dev.pci.configRead(4, 2).toString(16)}`;
  }

  guardPagesDirtied(): number[] {
    const bad: number[] = [];
    for (const { page, count } of this.core.dirty.harvest()) {
      for (let p = page; p < page + count; p++) if (GUARD.some(([a, b]) => p * 4096 >= a && p * 4096 < b)) bad.push(p);
    }
    return bad;
  }

  guardIntact(): string | null {
    const mem = this.ram();
    for (let k = 0; k < GUARD.length; k++) {
      const [a] = GUARD[k];
      const want = this.guardCopy[k];
      for (let i = 0; i < want.length; i++) if (mem[a + i] !== want[i]) return `guard byte at 0x${(a + i).toString(16)} changed`;
    }
    return null;
  }

  /** Power-on reset and a fresh driver: one frame each way must arrive intact. */
  probe(): string | null {
    this.dev.reset();
    this.dev.setLink(true);
    this.freshDriver();
    const got: Uint8Array[] = [];
    this.dev.onTransmit = (f) => { got.push(f); this.sent++; };
    const f = frame({ dst: mac("02:00:00:00:00:01"), length: 200, seq: 4242 });
    if (!this.drv.transmit(f)) return "probe: transmit ring full after reset";
    this.dev.onTransmit = () => { this.sent++; };
    if (got.length !== 1 || seqOf(got[0]) !== 4242 || got[0].length !== 200) return `probe: transmitted ${got.length} frames`;
    const g = frame({ dst: this.drv.mac, length: 300, seq: 4343 });
    if (this.dev.receive(g) !== Status.OK) return "probe: receive refused";
    this.drv.pollRx();
    const rx = this.drv.takeReceived();
    if (rx.length !== 1 || rx[0].data.length !== 300 || seqOf(rx[0].data) !== 4343) return `probe: received ${rx.length} frames`;
    this.relocateRx();
    return null;
  }

  stateIdentity(): string | null {
    // Ring doorbells first: a restore looks at both rings once, so descriptors written since the last
    // doorbell would be taken then, and the second save would differ for a reason that is no bug.
    // The doorbells need memory decode: a guest that turned it off has it on for them, as a driver would.
    const fn = this.dev.pci, cmd = fn.configRead(4, 2);
    if ((cmd & PCI_CMD_MEMORY) === 0) fn.configWrite(4, 2, cmd | PCI_CMD_MEMORY);
    const w = (o: number) => fn.barWrite(0, o, 4, this.dev.peekRegister(o));
    w(Reg.TDT); w(Reg.RDT);
    if ((cmd & PCI_CMD_MEMORY) === 0) fn.configWrite(4, 2, cmd);
    const a = this.dev.saveState();
    if (this.dev.restoreState(a) !== Status.OK) return "state: own blob refused";
    const b = this.dev.saveState();
    if (a.length === b.length && Buffer.compare(a, b) === 0) return null;
    // Name the fields that differ (tag → first differing byte offset in the field).
    const fields = (x: Uint8Array) => {
      const dv = new DataView(x.buffer, x.byteOffset, x.byteLength);
      const m = new Map<number, Uint8Array>();
      for (let o = 48; o + 8 <= x.length;) { const tag = dv.getUint16(o, true), len = dv.getUint32(o + 4, true); m.set(tag, x.subarray(o + 8, o + 8 + len)); o += 8 + len; }
      return m;
    };
    const fa = fields(a), fb = fields(b);
    const diff: string[] = [];
    for (const [tag, va] of fa) {
      const vb = fb.get(tag);
      if (!vb || vb.length !== va.length) { diff.push(`field ${tag}: length ${va.length} → ${vb?.length}`); continue; }
      const i = va.findIndex((x, k) => x !== vb[k]);
      if (i >= 0) diff.push(`field ${tag} at byte ${i}: ${va[i]} → ${vb[i]}`);
    }
    return `state: save → restore → save differs (${diff.join("; ")})`;
  }
}

/** PCI command register: memory space decode (PCI 3.0 §6.2.2). */
const PCI_CMD_MEMORY = 0x2;

export async function runE1000Fuzz(o: { seed: number; cases: number; dirtyEvery?: number; guardEvery?: number; probeEvery?: number; stateEvery?: number }): Promise<FuzzReport> {
  const core = await newCore(RAM);
  const fz = new Fuzzer(core, o.seed);
  fz.start();
  const rep: FuzzReport = { cases: 0, probesOk: 0, stateRoundTrips: 0, framesSent: 0, framesDelivered: 0, maxCaseMs: 0, failure: null };
  const dirtyEvery = o.dirtyEvery ?? 64, guardEvery = o.guardEvery ?? 2048, probeEvery = o.probeEvery ?? 1024, stateEvery = o.stateEvery ?? 512;
  for (let i = 0; i < o.cases; i++) {
    const ops = fz.gen();
    const t = performance.now();
    try {
      for (const op of ops) fz.apply(op);
    } catch (e) {
      rep.failure = { caseIndex: i, message: `threw: ${(e as Error).stack ?? e}`, ops };
      break;
    }
    rep.maxCaseMs = Math.max(rep.maxCaseMs, performance.now() - t);
    rep.cases++;
    let why: string | null = null;
    if (i % dirtyEvery === dirtyEvery - 1) { const bad = fz.guardPagesDirtied(); if (bad.length) why = `device dirtied guard pages ${bad.slice(0, 8).join(",")} within the last ${dirtyEvery} cases`; }
    if (!why && i % guardEvery === guardEvery - 1) why = fz.guardIntact();
    if (!why && i % stateEvery === stateEvery - 1) { why = fz.stateIdentity(); if (!why) rep.stateRoundTrips++; }
    if (!why && i % probeEvery === probeEvery - 1) { why = fz.probe(); if (!why) rep.probesOk++; }
    if (why) { rep.failure = { caseIndex: i, message: `${why}; ${fz.describe()}`, ops }; break; }
  }
  if (!rep.failure) {
    const why = fz.guardIntact() ?? (fz.guardPagesDirtied().length ? "guard pages dirtied at the end" : null);
    if (why) rep.failure = { caseIndex: rep.cases, message: why, ops: [] };
  }
  rep.framesSent = fz.sent;
  rep.framesDelivered = fz.delivered;
  return rep;
}

/** Replay one case's ops on a fresh, initialised device (regression tests). */
export async function replayE1000(ops: Op[]): Promise<{ dev: E1000; drv: E1000Driver; core: VmCore; probe(): string | null; guardIntact(): string | null }> {
  const core = await newCore(RAM);
  const fz = new Fuzzer(core, 1);
  fz.start();
  for (const op of ops) fz.apply(op);
  return { dev: fz.dev, drv: fz.drv, core, probe: () => fz.probe(), guardIntact: () => fz.guardIntact() };
}
