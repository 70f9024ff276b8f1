// Structure-aware fuzzing of the virtio-net device from the guest side.
//
// A seeded generator writes random descriptor tables, indirect tables, avail
// entries, avail-index moves, event indices and control commands straight into
// the rings the driver model set up, then notifies (or feeds RX frames). After
// every case: nothing threw, the device either still works (a well-formed TX
// chain goes through exactly once, a control command is acked) or it reports
// DEVICE_NEEDS_RESET in its status register (after a reset a frame must arrive
// whole in a fresh RX buffer); and it never wrote guest RAM
// outside the rings and the writable buffers we handed it (dirty bitmap per
// batch, byte-exact guard comparison every few thousand cases and at the end).
//
// Writable descriptors only ever point into the buffer arena or outside RAM,
// and indirect tables only into the indirect area, the descriptor table, the
// guard or outside RAM, so a guard write is always a device bug, never the
// fuzzer's own doing.
import type { VmCore, InterruptSink } from "../../../src/index.js";
import { VirtioNet } from "../../../src/devices/virtio-net/device.js";
import { newCore, rng } from "../../support/core.js";
import { bit, Ctrl, DeviceStatus, F, NetF } from "../../../src/guest/virtio/defs.js";
import { GuestRam } from "../../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../../../src/guest/virtio/net-driver.js";
import type { QueueLayout } from "../../../src/guest/virtio/split-queue.js";
import { MmioTransport, PciTransport, type VirtioTransport } from "../../../src/guest/virtio/transport.js";

/** One guest action: write bytes, notify a queue, or hand the device an RX frame. */
export type FuzzOp =
  | { w: number; b: number[] }
  | { n: number }
  | { rx: number; dst: "own" | "bcast" | "other" };

export interface FuzzOptions {
  seed: number;
  cases: number;
  transport: "pci" | "mmio";
  /** Compare the guard byte-exact every this many cases (default 4096). */
  guardEvery?: number;
  /** Look for guard pages in the dirty bitmap every this many cases (default 64; 1 pins the exact case). */
  dirtyEvery?: number;
}

export interface FuzzReport {
  seed: number;
  transport: string;
  cases: number;
  needsReset: number;
  probesOk: number;
  framesOut: number;
  ctrlAcks: [ok: number, err: number];
  maxCaseMs: number;
  slowestCase: number;
  /** RX probes after a reset + re-init that delivered exactly. */
  rxProbesOk: number;
  /** quiesce → save → restore round-trips done mid-run. */
  stateRoundTrips: number;
  failure: null | { caseIndex: number; message: string; ops: FuzzOp[] };
}

const RAM = 2 << 20;
const HEAP: [number, number] = [0x10000, 0x80000];
const ARENA: [number, number] = [0x80000, 0xc0000];
const GUARD: Array<[number, number]> = [[0, 0x10000], [0xc0000, RAM]];
const GUARD_BYTE = 0xa5;
/** Top of the arena reserved for the probes' buffers. */
const PROBE_BYTES = 0x10000;
const QSIZE = 16;
const MAC = "52:54:00:12:34:56";

class CountingSink implements InterruptSink {
  msis = 0;
  intxRaised = 0;
  msi(): void { this.msis++; }
  intx(_pin: number, level: boolean): void { if (level) this.intxRaised++; }
}

interface Ring extends QueueLayout { index: number; shadow: number; indirect: number }

/** The fuzzing rig: one core, one device, rings laid out by the driver model, then driven raw. */
export class NetFuzzer {
  readonly core: VmCore;
  readonly dev: VirtioNet;
  readonly transport: VirtioTransport;
  readonly features: bigint;
  readonly rings: Ring[];
  private readonly u8base: number;
  private sent = 0;
  private lastSent: Uint8Array | null = null;
  report: FuzzReport;
  private guardCopy: Uint8Array[];

  private constructor(core: VmCore, dev: VirtioNet, t: VirtioTransport, drv: VirtioNetDriver, opts: FuzzOptions) {
    this.core = core; this.dev = dev; this.transport = t; this.features = drv.features;
    const alloc = drv.alloc;
    const ring = (index: number, q: { size: number; desc: number; avail: number; used: number; availIdx: number }): Ring =>
      ({ index, size: q.size, desc: q.desc, avail: q.avail, used: q.used, shadow: q.availIdx, indirect: alloc.alloc(4096, 16) });
    this.rings = [ring(0, drv.pairs[0].rx), ring(1, drv.pairs[0].tx), ring(drv.ctrlIndex, drv.ctrl!)];
    // With MQ: the second pair's rings follow (index 3 = rx1, 4 = tx1).
    if (drv.pairs.length > 1) this.rings.push(ring(2, drv.pairs[1].rx), ring(3, drv.pairs[1].tx));
    this.u8base = core.exports.gm_ram_ptr() >>> 0;
    dev.onTransmit = (f) => { this.sent++; this.lastSent = f; };
    this.report = { seed: opts.seed, transport: opts.transport, cases: 0, needsReset: 0, probesOk: 0, framesOut: 0, ctrlAcks: [0, 0], maxCaseMs: 0, slowestCase: -1, stateRoundTrips: 0, rxProbesOk: 0, failure: null };
    for (const [a, b] of GUARD) this.ram().fill(GUARD_BYTE, a, b);
    this.guardCopy = GUARD.map(([a, b]) => this.ram().slice(a, b));
    core.dirty.enable();
    core.dirty.harvest();
  }

  static async create(opts: FuzzOptions): Promise<NetFuzzer> {
    const core = await newCore(RAM);
    const sink = new CountingSink();
    const dev = VirtioNet.create(core, { mac: MAC, transport: opts.transport, interrupts: sink, queueSize: QSIZE, backlogFrames: 16, queuePairs: 2 });
    const t = opts.transport === "mmio" ? new MmioTransport(dev) : new PciTransport(dev.pci!, { msixVectors: 0 });
    const drv = new VirtioNetDriver(t, new GuestRam(core, { trackDirty: false }), new InterruptRecorder(), {
      queueSize: QSIZE, rxBuffers: 0, heap: HEAP, maxTxFrame: 1514, queuePairs: 2,
      // Vary the data path by seed: with/without MRG_RXBUF, EVENT_IDX, MQ (2 pairs).
      refuse: (opts.seed & 4 ? bit(NetF.MQ) : 0n) | (opts.seed & 1 ? bit(NetF.MRG_RXBUF) : 0n) | (opts.seed & 2 ? bit(F.EVENT_IDX) : 0n),
    });
    drv.init();
    return new NetFuzzer(core, dev, t, drv, opts);
  }

  /** Guest RAM bytes (own placement). */
  ram(): Uint8Array { return this.core.u8().subarray(this.u8base, this.u8base + RAM); }

  apply(op: FuzzOp): void {
    if ("w" in op) {
      // Fuzzer writes never target the guard; assert it so a generator bug can't pass as a device bug.
      for (const [a, b] of GUARD) if (op.w < b && op.w + op.b.length > a) throw new Error(`fuzzer wrote the guard at ${op.w}`);
      this.ram().set(op.b, op.w);
    } else if ("n" in op) this.transport.notify(op.n);
    else {
      const f = new Uint8Array(op.rx);
      const dst = op.dst === "own" ? [0x52, 0x54, 0, 0x12, 0x34, 0x56] : op.dst === "bcast" ? [255, 255, 255, 255, 255, 255] : [2, 9, 9, 9, 9, 9];
      f.set(dst.slice(0, Math.min(6, op.rx)));
      this.dev.receive(f);
    }
  }

  /** Re-run the init sequence on the same rings after DEVICE_NEEDS_RESET (§2.1.2: the driver resets). */
  restart(): void {
    const t = this.transport;
    if (!t.reset()) throw new Error("device did not reset");
    t.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
    t.writeDriverFeatures(this.features);
    t.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
    if (!(t.status() & DeviceStatus.FEATURES_OK)) throw new Error("FEATURES_OK refused on restart");
    const mem = this.ram();
    for (const r of this.rings) {
      mem.fill(0, r.desc, r.desc + 16 * r.size);
      mem.fill(0, r.avail, r.avail + 6 + 2 * r.size);
      mem.fill(0, r.used, r.used + 6 + 8 * r.size);
      r.shadow = 0;
      t.setupQueue(r.index, r, null);
    }
    t.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK);
    if (this.dev.needsReset) throw new Error("needsReset still set after reset + re-init");
  }

  /** A well-formed TX chain must go out exactly once, and be completed. */
  probeTx(seq: number): string | null {
    const r = this.rings[1];
    const mem = this.ram();
    const dv = new DataView(mem.buffer, mem.byteOffset);
    const buf = ARENA[1] - 2048;
    mem.fill(0, buf, buf + 12);
    for (let i = 0; i < 60; i++) mem[buf + 12 + i] = (seq + i) & 0xff;
    mem.set([2, 1, 1, 1, 1, 1], buf + 12);
    const slot = seq % r.size;
    dv.setBigUint64(r.desc + 16 * slot, BigInt(buf), true);
    dv.setUint32(r.desc + 16 * slot + 8, 72, true);
    dv.setUint16(r.desc + 16 * slot + 12, 0, true);
    dv.setUint16(r.desc + 16 * slot + 14, 0, true);
    dv.setUint16(r.avail + 4 + 2 * (r.shadow % r.size), slot, true);
    r.shadow = (r.shadow + 1) & 0xffff;
    dv.setUint16(r.avail + 2, r.shadow, true);
    const usedBefore = dv.getUint16(r.used + 2, true);
    const sentBefore = this.sent;
    this.transport.notify(1);
    if (this.dev.needsReset) return "a well-formed TX chain set DEVICE_NEEDS_RESET";
    if (this.sent !== sentBefore + 1) return `well-formed TX chain: ${this.sent - sentBefore} frames out, want 1`;
    const f = this.lastSent!;
    if (f.length !== 60 || f[0] !== 2 || f[6] !== ((seq + 6) & 0xff)) return "well-formed TX chain: wrong frame out";
    const usedNow = dv.getUint16(r.used + 2, true);
    if (((usedNow - usedBefore) & 0xffff) !== 1) return `well-formed TX chain: used idx moved by ${(usedNow - usedBefore) & 0xffff}`;
    const id = dv.getUint32(r.used + 4 + 8 * (usedBefore % r.size), true);
    if (id !== slot) return `well-formed TX chain: used id ${id}, want ${slot}`;
    return null;
  }

  /**
   * Right after a reset + re-init (rings empty, backlog cleared): eight good RX
   * buffers, then one frame for us, which must arrive whole in one of them with
   * num_buffers = 1 (little-endian), and nothing else may be used.
   */
  probeRx(seq: number): string | null {
    const r = this.rings[0];
    const mem = this.ram();
    const dv = new DataView(mem.buffer, mem.byteOffset);
    const base = ARENA[1] - PROBE_BYTES;
    const n = 8;
    for (let i = 0; i < n; i++) {
      dv.setBigUint64(r.desc + 16 * i, BigInt(base + 2048 * i), true);
      dv.setUint32(r.desc + 16 * i + 8, 2048, true);
      dv.setUint16(r.desc + 16 * i + 12, 2, true);
      dv.setUint16(r.desc + 16 * i + 14, 0, true);
      dv.setUint16(r.avail + 4 + 2 * ((r.shadow + i) % r.size), i, true);
    }
    r.shadow = (r.shadow + n) & 0xffff;
    dv.setUint16(r.avail + 2, r.shadow, true);
    const usedBefore = dv.getUint16(r.used + 2, true);
    this.transport.notify(0);
    const f = new Uint8Array(100);
    f.set([0x52, 0x54, 0, 0x12, 0x34, 0x56, 2, 7, 7, 7, 7, 7, 0x88, 0xb5]);
    for (let i = 14; i < 100; i++) f[i] = (seq * 7 + i) & 0xff;
    this.dev.receive(f);
    const usedNow = dv.getUint16(r.used + 2, true);
    if (((usedNow - usedBefore) & 0xffff) !== 1) return `RX probe: used idx moved by ${(usedNow - usedBefore) & 0xffff}, want 1`;
    const id = dv.getUint32(r.used + 4 + 8 * (usedBefore % r.size), true);
    const len = dv.getUint32(r.used + 8 + 8 * (usedBefore % r.size), true);
    if (id >= n || len !== 112) return `RX probe: used id ${id} len ${len}, want < ${n} and 112`;
    const at = base + 2048 * id;
    if (mem[at + 10] !== 1 || mem[at + 11] !== 0) return `RX probe: num_buffers bytes ${mem[at + 10]},${mem[at + 11]}`;
    for (let i = 0; i < 100; i++) if (mem[at + 12 + i] !== f[i]) return `RX probe: frame byte ${i} differs`;
    return null;
  }

  /** A well-formed control command (RX_ALLMULTI on) must be acked OK. */
  probeCtrl(): string | null {
    const r = this.rings[2];
    const mem = this.ram();
    const dv = new DataView(mem.buffer, mem.byteOffset);
    const buf = ARENA[1] - 4096;
    mem.set([Ctrl.RX, Ctrl.RX_ALLMULTI, 1, 0xee], buf);
    const d = (i: number, addr: number, len: number, flags: number, next: number) => {
      dv.setBigUint64(r.desc + 16 * i, BigInt(addr), true); dv.setUint32(r.desc + 16 * i + 8, len, true);
      dv.setUint16(r.desc + 16 * i + 12, flags, true); dv.setUint16(r.desc + 16 * i + 14, next, true);
    };
    d(0, buf, 2, 1, 1); d(1, buf + 2, 1, 1, 2); d(2, buf + 3, 1, 2, 0);
    dv.setUint16(r.avail + 4 + 2 * (r.shadow % r.size), 0, true);
    r.shadow = (r.shadow + 1) & 0xffff;
    dv.setUint16(r.avail + 2, r.shadow, true);
    this.transport.notify(r.index);
    if (this.dev.needsReset) return "a well-formed control command set DEVICE_NEEDS_RESET";
    if (mem[buf + 3] !== Ctrl.OK) return `well-formed control command acked ${mem[buf + 3]}`;
    return null;
  }

  /** Pages of the guard the device dirtied since the last call. */
  guardPagesDirtied(): number[] {
    const bad: number[] = [];
    for (const { page, count } of this.core.dirty.harvest()) {
      for (let p = page; p < page + count; p++) {
        const gpa = p * 4096;
        if (GUARD.some(([a, b]) => gpa >= a && gpa < b)) bad.push(p);
      }
    }
    return bad;
  }

  guardIntact(): string | null {
    const mem = this.ram();
    for (let g = 0; g < GUARD.length; g++) {
      const [a] = GUARD[g];
      const want = this.guardCopy[g];
      for (let i = 0; i < want.length; i++) if (mem[a + i] !== want[i]) return `guard byte at 0x${(a + i).toString(16)} changed to ${mem[a + i]}`;
    }
    return null;
  }
}

/** The generator: one case as a list of ops, from the fuzzer's view of the rings. */
export function genCase(r: () => number, fz: NetFuzzer): FuzzOp[] {
  const ops: FuzzOp[] = [];
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const k = r();
  const ringNo = k < 0.4 ? 1 : k < 0.7 ? 0 : 2;
  const ring = fz.rings.length > 3 && ringNo < 2 && r() < 0.3 ? fz.rings[3 + ringNo] : fz.rings[ringNo];
  // The top 64 KiB of the arena belongs to the probes.
  const arenaAddr = (len = 64) => ARENA[0] + int(ARENA[1] - ARENA[0] - PROBE_BYTES - Math.min(len, 4096));
  // Wholly outside RAM (any descriptor may use these).
  const outside = (): bigint => pick([BigInt(RAM + int(64)), BigInt(RAM + int(1 << 20)), (1n << 32n) - BigInt(int(64)), (1n << 64n) - 1n - BigInt(int(16)), BigInt(RAM) * 2n]);
  // Straddling the end of RAM: only for readable descriptors (the part inside is guard).
  const straddle = (): bigint => BigInt(RAM - 1 - int(64));
  const desc = (writable: boolean, forIndirect: boolean): number[] => {
    let flags = r() < 0.5 ? int(8) : pick([0, 1, 2, 3, 4, 5, 6, 7, 1, 3]);
    if (forIndirect && r() < 0.7) flags &= ~4;
    if (!writable) flags &= ~2;
    let addr: bigint;
    const lenPick = r();
    let len = lenPick < 0.3 ? int(65) : lenPick < 0.6 ? int(2049) : lenPick < 0.7 ? 0 : lenPick < 0.8 ? pick([0xffffffff, 0x80000000, 0x7fffffff]) : lenPick < 0.9 ? 16 * (1 + int(40)) : int(2 ** 32);
    if (flags & 4) {
      // Indirect: the indirect area (incl. pointing at itself), the descriptor table, the guard, outside RAM, misaligned.
      const a = r();
      // A misaligned table reads shifted fields, which can form writable descriptors anywhere:
      // only where the device never writes (TX), so a guard write stays a device bug.
      const misaligned = !writable && a >= 0.9;
      addr = a < 0.55 ? BigInt(ring.indirect + 16 * int(8)) : a < 0.7 ? BigInt(ring.desc) : a < 0.8 ? BigInt(GUARD[1][0] + 16 * int(64)) : !misaligned ? outside() : BigInt(ring.indirect + 1 + int(15));
      if (r() < 0.6) len = 16 * (1 + int(12));
    } else if (flags & 2) {
      addr = r() < 0.85 ? BigInt(arenaAddr(len)) : outside();
    } else {
      const a = r();
      addr = a < 0.6 ? BigInt(arenaAddr(len)) : a < 0.75 ? BigInt(GUARD[1][0] + int(GUARD[1][1] - GUARD[1][0])) : a < 0.85 ? BigInt(ring.desc) : a < 0.9 ? straddle() : outside();
    }
    // A writable descriptor may never point anywhere but the arena or outside RAM (see file header).
    const next = r() < 0.8 ? int(ring.size) : int(65536);
    const b = new Array<number>(16);
    for (let i = 0; i < 8; i++) b[i] = Number((addr >> BigInt(8 * i)) & 0xffn);
    b[8] = len & 0xff; b[9] = (len >>> 8) & 0xff; b[10] = (len >>> 16) & 0xff; b[11] = (len >>> 24) & 0xff;
    b[12] = flags & 0xff; b[13] = r() < 0.05 ? int(256) & ~0 : 0; b[14] = next & 0xff; b[15] = next >> 8;
    // Unknown high flag bits must be ignored by the device; keep WRITE/INDIRECT as chosen above.
    return b;
  };

  if (ringNo === 2 && r() < 0.6) {
    // A control command with random class/cmd/payload, laid out as header, payload parts, ack.
    const hdr = arenaAddr(), ack = arenaAddr();
    const cls = r() < 0.85 ? int(6) : int(256);
    const cmd = r() < 0.85 ? int(3) : int(256);
    const parts = int(4);
    const segs: Array<[number, number, number]> = [[hdr, 2, 0]];
    ops.push({ w: hdr, b: [cls, cmd] });
    for (let i = 0; i < parts; i++) {
      const len = pick([0, 1, 2, 4, 6, 7, 10, 16, int(400)]);
      const at = arenaAddr(len);
      const bytes = Array.from({ length: len }, () => (r() < 0.3 ? 0 : int(256)));
      if (len >= 4 && r() < 0.5) { const n = pick([0, 1, 2, 64, 65, 200, 0xffffffff, int(2 ** 32)]); bytes[0] = n & 0xff; bytes[1] = (n >>> 8) & 0xff; bytes[2] = (n >>> 16) & 0xff; bytes[3] = n >>> 24; }
      ops.push({ w: at, b: bytes });
      segs.push([at, len, 0]);
    }
    const ackPick = r();
    if (ackPick < 0.85) segs.push([ack, 1, 2]); else if (ackPick < 0.9) segs.push([ack, 0, 2]); else if (ackPick < 0.95) segs.push([ack, 1, 0]);
    const head = int(ring.size);
    for (let i = 0; i < segs.length; i++) {
      const slot = (head + i) % ring.size, next = (head + i + 1) % ring.size, last = i === segs.length - 1;
      const [addr, len, fl] = segs[i];
      ops.push({ w: ring.desc + 16 * slot, b: [addr & 0xff, (addr >> 8) & 0xff, (addr >> 16) & 0xff, (addr >>> 24) & 0xff, 0, 0, 0, 0, len & 0xff, len >> 8, 0, 0, fl | (last ? 0 : 1), 0, next, 0] });
    }
    ops.push({ w: ring.avail + 4 + 2 * (ring.shadow % ring.size), b: [head, 0] });
    ring.shadow = (ring.shadow + 1) & 0xffff;
    ops.push({ w: ring.avail + 2, b: [ring.shadow & 0xff, ring.shadow >> 8] });
    ops.push({ n: ring.index });
    return ops;
  }

  // Random descriptors in the table and the indirect area.
  const nd = 1 + int(4);
  for (let i = 0; i < nd; i++) ops.push({ w: ring.desc + 16 * int(ring.size), b: desc(ringNo === 0 || ringNo === 2, false) });
  const ni = int(4);
  for (let i = 0; i < ni; i++) ops.push({ w: ring.indirect + 16 * int(8), b: desc(ringNo === 0 || ringNo === 2, true) });
  // Event indices and flags the driver owns.
  if (r() < 0.1) { const v = int(65536); ops.push({ w: ring.avail + 4 + 2 * ring.size, b: [v & 0xff, v >> 8] }); }
  if (r() < 0.05) ops.push({ w: ring.avail, b: [int(4), r() < 0.1 ? int(256) : 0] });
  // Avail entries and the index move.
  const m = 1 + int(3);
  for (let j = 0; j < m; j++) {
    const head = r() < 0.97 ? int(ring.size) : int(65536);
    ops.push({ w: ring.avail + 4 + 2 * ((ring.shadow + j) % ring.size), b: [head & 0xff, head >> 8] });
  }
  const mv = r();
  const delta = mv < 0.93 ? m : mv < 0.96 ? 0 : mv < 0.98 ? ring.size + 1 + int(100) : int(65536);
  ring.shadow = (ring.shadow + delta) & 0xffff;
  ops.push({ w: ring.avail + 2, b: [ring.shadow & 0xff, ring.shadow >> 8] });
  if (ringNo === 0) {
    const nf = 1 + int(2);
    for (let i = 0; i < nf; i++) ops.push({ rx: pick([14, 60, 64, 600, 1514, 1518, 1 + int(1600), 9018, 65550]), dst: pick(["own", "own", "bcast", "other"] as const) });
    if (r() < 0.5) ops.push({ n: 0 });
  } else {
    ops.push({ n: ring.index });
  }
  return ops;
}

/** Run `cases` cases; stops at the first failure and returns its ops. */
export async function runNetFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const fz = await NetFuzzer.create(opts);
  const rep = fz.report;
  const r = rng(opts.seed);
  const guardEvery = opts.guardEvery ?? 4096;
  const dirtyEvery = opts.dirtyEvery ?? 64;
  let probeSeq = 0;
  const fail = (i: number, message: string, ops: FuzzOp[]) => { rep.failure = { caseIndex: i, message, ops }; };
  const ramBefore = fz.core.counters().gmHostErrors;
  let cpuMark = process.cpuUsage();
  for (let i = 0; i < opts.cases; i++) {
    const ops = genCase(r, fz);
    if ((i & 63) === 0) cpuMark = process.cpuUsage();
    const t0 = performance.now();
    try {
      for (const op of ops) fz.apply(op);
      if (fz.dev.needsReset) {
        rep.needsReset++;
        if (!(fz.transport.status() & DeviceStatus.DEVICE_NEEDS_RESET)) { fail(i, "needsReset without DEVICE_NEEDS_RESET in the status register", ops); break; }
        fz.restart();
        const why = fz.probeRx(i);
        if (why) { fail(i, why, ops); break; }
        rep.rxProbesOk++;
      } else if ((i & 4095) === 4095) {
        // A reset the driver chose (not the device): afterwards RX must work exactly.
        fz.restart();
        const why = fz.probeRx(i);
        if (why) { fail(i, why, ops); break; }
        rep.rxProbesOk++;
      } else if ((i & 7) === 7) {
        const why = (i & 63) === 63 ? fz.probeCtrl() : fz.probeTx(probeSeq++);
        if (why) { fail(i, why, ops); break; }
        rep.probesOk++;
      }
    } catch (e) {
      fail(i, `threw: ${(e as Error).stack ?? e}`, ops);
      break;
    }
    const dt = performance.now() - t0;
    if (dt > rep.maxCaseMs) { rep.maxCaseMs = dt; rep.slowestCase = i; }
    // Unbounded work shows as CPU time: a loaded machine stretches a case's wall time (other processes
    // run meanwhile), not the CPU time this process spends. A slow case is judged by the CPU time since
    // the mark taken at most 63 cases before it (each takes well under 10 ms); a guest-driven unbounded
    // loop never returns at all.
    if (dt > 2000) {
      const cpu = process.cpuUsage(cpuMark), cpuMs = (cpu.user + cpu.system) / 1000;
      if (cpuMs > 2000) { fail(i, `case took ${dt.toFixed(0)} ms, ${cpuMs.toFixed(0)} ms of CPU time (unbounded work?)`, ops); break; }
    }
    if ((i & 2047) === 2047 && !fz.dev.needsReset) {
      // Save and restore in the middle of the chaos: the device's own blob must be accepted, and nothing throws.
      try {
        fz.dev.quiesce();
        const blob = fz.dev.saveState();
        const st = fz.dev.restoreState(blob);
        if (st !== 0) { fail(i, `restoreState of the device's own blob returned ${st}`, ops); break; }
        // A restored device stays quiesced until resumed (it writes no guest RAM before).
        fz.dev.resume();
        rep.stateRoundTrips++;
      } catch (e) { fail(i, `state round-trip threw: ${(e as Error).stack ?? e}`, ops); break; }
    }
    if (i % dirtyEvery === dirtyEvery - 1) {
      const bad = fz.guardPagesDirtied();
      if (bad.length) { fail(i, `device dirtied guard pages ${bad.slice(0, 8).join(",")} (within the last ${dirtyEvery} cases)`, ops); break; }
    }
    if (i % guardEvery === guardEvery - 1) {
      const why = fz.guardIntact();
      if (why) { fail(i, why, ops); break; }
    }
    rep.cases++;
  }
  if (!rep.failure) {
    const why = fz.guardIntact() ?? (fz.guardPagesDirtied().length ? "guard pages dirtied at the end" : null);
    if (why) fail(rep.cases, why, []);
    if (fz.core.counters().gmHostErrors !== ramBefore) fail(rep.cases, "host accessor errors on own-placement RAM", []);
  }
  return rep;
}

/** Replay a case's ops on a fresh rig (regression tests). Returns the rig for assertions. */
export async function replay(transport: "pci" | "mmio", ops: FuzzOp[]): Promise<NetFuzzer> {
  const fz = await NetFuzzer.create({ seed: 0, cases: 0, transport });
  for (const op of ops) fz.apply(op);
  return fz;
}
