// NE2000 saved state: a round trip in the middle of traffic (frames in the
// ring and the backlog, a transmission waiting for the host, a remote DMA
// half done) that loses and duplicates nothing, and hostile blobs re-sealed
// with valid checksums, which the device refuses without changing anything.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { Ne2k } from "../../../src/devices/ne2k/device.js";
import { NE2K_DEFS } from "../../../src/devices/ne2k/defs.js";
import { Ne2kDriver, IrqLine, Cmd, P0W, Port, type PortIo } from "../../../src/guest/ne2k/index.js";
import { Status } from "../../../src/status.js";
import { DeviceKind } from "../../../src/state.js";
import { newCore, rng, testSeed } from "../../support/core.js";
import { ethFrame, seqOf, GUEST_MAC } from "../../support/ne2k/rig.js";
import { envelopeFields, editField, replaceField, dropField, reseal } from "../../support/envelope.js";

const src = readFileSync(new URL("../../../assembly/ne2k/state.ts", import.meta.url), "utf8");
const T = Object.fromEntries([...src.matchAll(/\bT_(\w+): u32 = (\d+)/g)].map(([, k, v]) => [k, Number(v)]));

/** A device and a driver whose port path can be moved to another device (what a migration does to the guest). */
async function movable(opts: { backlogFrames?: number } = {}) {
  const core = await newCore(1 << 20);
  const line = new IrqLine();
  let dev = Ne2k.create(core, { mac: GUEST_MAC, interrupts: line, backlogFrames: opts.backlogFrames ?? 256 });
  const sent: Uint8Array[] = [];
  dev.onTransmit = (f) => sent.push(f);
  const io: PortIo = {
    read: (o, w) => dev.ioRead(o, w), write: (o, w, v) => dev.ioWrite(o, w, v),
    readString: (o, w, c) => dev.ioReadString(o, w, c), writeString: (o, w, d) => dev.ioWriteString(o, w, d),
  };
  const drv = new Ne2kDriver(io, { dataWidth: 32, rxBudget: 9, servicePasses: 2 });
  drv.probe(); drv.init();
  return {
    core, line, drv, sent,
    get dev() { return dev; },
    /** Save, then continue on a fresh device (new core) restored from the blob. */
    async move(): Promise<Uint8Array> {
      const blob = dev.saveState();
      dev.destroy(); // its line goes down; the restored device raises it again if it should be up
      const core2 = await newCore(1 << 20);
      const next = Ne2k.create(core2, { mac: GUEST_MAC, interrupts: line, backlogFrames: opts.backlogFrames ?? 256 });
      next.onTransmit = (f) => sent.push(f);
      const st = next.restoreState(blob);
      if (st !== Status.OK) throw new Error(`restore ${st}`);
      next.resume(); // a restored device is quiesced until resumed
      dev = next;
      return blob;
    },
  };
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function serviceUntilQuiet(m: { drv: Ne2kDriver; dev: Ne2k }, out: Uint8Array[]): void {
  for (let i = 0; i < 10_000 && m.dev.irqLevel; i++) { m.drv.service(); out.push(...m.drv.takeReceived()); }
}

describe("NE2000 saved state", () => {
  it("round trip mid-traffic: ring and backlog full, a transmission waiting, frames in flight both ways: none lost, none duplicated", async () => {
    const m = await movable();
    const got: Uint8Array[] = [];
    let next = 0;
    const feed = (k: number) => { for (let i = 0; i < k; i++, next++) expect(m.dev.receive(ethFrame(GUEST_MAC, next, 60 + ((next * 211) % 1450)))).toBe(Status.OK); };
    for (let round = 0; round < 6; round++) {
      feed(40);
      // Part of the ring read, the rest waiting; one transmission queued.
      m.drv.transmit(ethFrame("02:00:00:00:00:09", 10_000 + round, 100));
      m.drv.service();
      got.push(...m.drv.takeReceived());
      expect(m.dev.backlogLength).toBeGreaterThan(0);
      const blob = await m.move();
      expect(blob.length).toBeGreaterThan(16384);
    }
    serviceUntilQuiet(m, got);
    expect(got.map(seqOf)).toEqual(Array.from({ length: next }, (_, i) => i));
    expect(got.every((f, i) => Buffer.from(f).equals(ethFrame(GUEST_MAC, i, 60 + ((i * 211) % 1450))))).toBe(true);
    expect(m.sent.map(seqOf)).toEqual([0, 1, 2, 3, 4, 5].map((i) => 10_000 + i));
    expect(Number(m.dev.counters().rxDropped)).toBe(0);
  });

  it("carries a remote DMA half done, a transmission that waits for a full outbox, and the line level", async () => {
    const core = await newCore(1 << 20);
    const a = Ne2k.create(core, { mac: GUEST_MAC, interrupts: new IrqLine(), bus: "isa" });
    const e = core.exports, h = a.handle;
    const w = (reg: number, v: number) => e.ne2k_io_write(h, reg, 1, v);
    w(Port.CMD, Cmd.NODMA | Cmd.STA); w(P0W.DCR, 0x48); w(P0W.IMR, 0x3f);
    w(P0W.TPSR, 0x40); w(P0W.TBCR0, 64); w(P0W.TBCR1, 0);
    for (let i = 0; i <= NE2K_DEFS.OUTBOX_FRAMES; i++) w(Port.CMD, Cmd.NODMA | Cmd.TXP | Cmd.STA);
    w(P0W.RBCR0, 12); w(P0W.RBCR1, 0); w(P0W.RSAR0, 0); w(P0W.RSAR1, 0);
    w(Port.CMD, Cmd.RREAD | Cmd.STA);
    const head = [0, 1, 2, 3, 4, 5].map(() => e.ne2k_io_read(h, Port.DATA, 1));
    const core2 = await newCore(1 << 20);
    const line2 = new IrqLine();
    const b = Ne2k.create(core2, { mac: GUEST_MAC, interrupts: line2, bus: "isa" });
    const blob = a.saveState(); // the TS glue drained the outbox while saving: the waiting frame went out
    expect(b.restoreState(blob)).toBe(Status.OK);
    expect(b.irqLevel).toBe(true);
    const tail = [0, 1, 2, 3, 4, 5].map(() => b.ioRead(Port.DATA, 1));
    const mac = GUEST_MAC.split(":").map((x) => parseInt(x, 16));
    expect([...head, ...tail]).toEqual(mac.flatMap((x) => [x, x]));
  });

  it("save → restore → save gives the same blob", async () => {
    const m = await movable();
    for (let i = 0; i < 40; i++) m.dev.receive(ethFrame(GUEST_MAC, i, 900));
    const one = m.dev.saveState();
    const core2 = await newCore(1 << 20);
    const b = Ne2k.create(core2, { mac: GUEST_MAC, interrupts: new IrqLine() });
    expect(b.restoreState(one)).toBe(Status.OK);
    expect(same(b.saveState(), one)).toBe(true);
    expect(b.kind).toBe(DeviceKind.ne2000);
  });
});

describe("NE2000 restore refuses hostile blobs and changes nothing", () => {
  async function victim() {
    const m = await movable({ backlogFrames: 16 });
    for (let i = 0; i < 30; i++) m.dev.receive(ethFrame(GUEST_MAC, i, 700));
    m.drv.transmit(ethFrame("02:00:00:00:00:01", 1, 64));
    return m;
  }
  const u32 = (v: number) => (dv: DataView, o: number) => dv.setUint32(o, v >>> 0, true);

  it("refuses out-of-range registers, broken frame lists, missing fields, another board's identity", async () => {
    const m = await victim();
    const good = m.dev.saveState();
    const before = m.dev.saveState();
    const bad: Array<[string, Uint8Array]> = [];
    for (const k of ["ISR", "TSR", "RSR", "PSTART", "PSTOP", "BNRY", "CURR", "TPSR", "RNPP", "LNPP", "CNTR0", "CNTR1", "CNTR2", "CONFIG2", "CONFIG3", "PCI_INTLINE"]) bad.push([`${k}=0x100`, editField(good, T[k], 0, u32(0x100))]);
    for (const k of ["TBCR", "RSAR", "RBCR", "CRDA", "RCNT", "CLDA", "AC"]) bad.push([`${k}=0x10000`, editField(good, T[k], 0, u32(0x10000))]);
    bad.push(["IMR bit 7", editField(good, T.IMR, 0, u32(0x80))], ["DCR bit 7", editField(good, T.DCR, 0, u32(0x80))]);
    bad.push(["RCR bit 6", editField(good, T.RCR, 0, u32(0x40))], ["TCR bit 5", editField(good, T.TCR, 0, u32(0x20))]);
    bad.push(["9346CR bit 4", editField(good, T["9346CR"], 0, u32(0x10))]);
    bad.push(["CR STA|STP", editField(good, T.CR, 0, u32(0x23))], ["CR neither", editField(good, T.CR, 0, u32(0x20))], ["CR TXP without a waiting transmission", editField(good, T.CR, 0, u32(0x26))]);
    bad.push(["DMA mode send", editField(good, T.DMA_MODE, 0, u32(0x18))], ["DMA in progress with nothing left", editField(editField(good, T.DMA_MODE, 0, u32(0x08)), T.RCNT, 0, u32(0))]);
    bad.push(["TX pending with room in the outbox", editField(editField(good, T.TX_PENDING, 0, u32(1)), T.CR, 0, u32(0x26))]);
    bad.push(["PCI command bit 2", editField(good, T.PCI_CMD, 0, u32(0x4))], ["BAR0 low bits", editField(good, T.BAR0, 0, u32(0xc000))]);
    bad.push(["PAR beyond 48 bits", editField(good, T.PAR, 6, (dv, o) => dv.setUint8(o, 1))]);
    bad.push(["MAC of another board", editField(good, T.MAC, 0, (dv, o) => dv.setUint8(o, 0x99))], ["ISA blob", editField(good, T.BUS, 0, u32(1))]);
    bad.push(["RAM 16383 bytes", replaceField(good, T.RAM, new Uint8Array(16383))]);
    const rec = (len: number, status: number) => { const b = new Uint8Array(8 + Math.max(0, len)); new DataView(b.buffer).setUint32(0, len, true); new DataView(b.buffer).setUint32(4, status, true); return b; };
    bad.push(["backlog frame of 59", replaceField(good, T.BACKLOG, rec(59, 1))], ["backlog frame of 1519", replaceField(good, T.BACKLOG, rec(1519, 1))]);
    bad.push(["backlog status without PRX", replaceField(good, T.BACKLOG, rec(64, 0x20))], ["backlog record cut short", replaceField(good, T.BACKLOG, rec(64, 1).subarray(0, 40))]);
    bad.push(["backlog of 17 > 16", replaceField(good, T.BACKLOG, Buffer.concat(Array.from({ length: 17 }, () => rec(60, 1))))]);
    bad.push(["outbox of 9", replaceField(good, T.OUTBOX, Buffer.concat(Array.from({ length: 9 }, () => rec(60, 0))))], ["outbox frame of 13", replaceField(good, T.OUTBOX, rec(13, 0))]);
    for (const k of Object.keys(T)) bad.push([`no ${k}`, dropField(good, T[k])]);
    bad.push(["another kind", reseal(((b) => { new DataView(b.buffer).setUint32(8, DeviceKind.virtioNet, true); return b; })(good.slice()))]);
    bad.push(["truncated", good.subarray(0, good.length - 1)], ["empty", new Uint8Array(0)]);
    for (const [why, blob] of bad) {
      const st = m.dev.restoreState(blob);
      expect(st, why).not.toBe(Status.OK);
      expect(same(m.dev.saveState(), before), why).toBe(true);
    }
    expect(m.dev.restoreState(good)).toBe(Status.OK);
  });

  it("random edits of a sealed blob: each is refused with the device untouched, or accepted and the device still works after a reset", async () => {
    const seed = testSeed();
    const r = rng(seed);
    const m = await victim();
    const good = m.dev.saveState();
    const f = [...envelopeFields(good).values()];
    let accepted = 0;
    try {
      for (let i = 0; i < 400; i++) {
        const blob = good.slice();
        for (let k = 0; k < 1 + Math.floor(r() * 3); k++) {
          const [off, len] = f[Math.floor(r() * f.length)];
          if (len > 0) blob[off + Math.floor(r() * Math.min(len, 64))] = Math.floor(r() * 256);
        }
        reseal(blob);
        const before = m.dev.saveState();
        const st = m.dev.restoreState(blob);
        if (st === Status.OK) accepted++;
        else expect(same(m.dev.saveState(), before)).toBe(true);
      }
      m.dev.reset();
      m.drv.probe(); m.drv.init();
      m.dev.receive(ethFrame(GUEST_MAC, 77));
      const got: Uint8Array[] = [];
      serviceUntilQuiet(m, got);
      expect(got.map(seqOf)).toEqual([77]);
      expect(accepted).toBeGreaterThan(0);
    } catch (e) {
      console.log(`NE2000 state fuzz seed ${seed} (VMDEV_SEED=${seed} to replay)`);
      throw e;
    }
  });
});
