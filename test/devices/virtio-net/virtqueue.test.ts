// Split-virtqueue internals against hostile rings: each rule of the chain walk,
// queue-ready validation, EVENT_IDX and NO_INTERRUPT.
import { describe, it, expect } from "vitest";
import { Rig, F, S, DESC_F, frame, QBASE } from "./rig.js";

const BASE = [F.VERSION_1, F.MAC, F.CTRL_VQ, F.CTRL_RX];
const f64 = frame("02:00:00:00:00:02", 64);

async function txRig(extra: number[] = [], opts = {}) {
  const r = await Rig.create("mmio", opts);
  r.init([...BASE, ...extra]);
  return r;
}

/** Write a TX payload (header + frame) and return its address. */
function payload(r: Rig, f = f64): number {
  const b = r.buf(12 + f.length);
  r.g.writeBytes(b + 12, f);
  return b;
}

describe("chain walk", () => {
  it("follows an indirect table", async () => {
    const r = await txRig([F.INDIRECT_DESC]);
    const p = payload(r);
    const t = r.buf(32);
    r.writeDesc(t, 0, p, 12, DESC_F.NEXT, 1);
    r.writeDesc(t, 1, p + 12, 64, 0, 0);
    r.add(1, [{ addr: t, len: 32 }]);
    r.writeDesc(r.rings[1].desc, 0, t, 32, DESC_F.INDIRECT, 0);
    r.notify(1);
    expect(r.tx).toEqual([f64]);
  });

  const malformed: Array<[string, number[], (r: Rig) => void]> = [
    ["an indirect table that points at itself", [F.INDIRECT_DESC], (r) => {
      const t = r.buf(16);
      r.writeDesc(t, 0, t, 16, DESC_F.INDIRECT, 0);
      r.add(1, [{ addr: t, len: 16 }]);
      r.writeDesc(r.rings[1].desc, 0, t, 16, DESC_F.INDIRECT, 0);
    }],
    ["an indirect length that is not a multiple of 16", [F.INDIRECT_DESC], (r) => {
      const t = r.buf(32);
      r.add(1, [{ addr: t, len: 24 }]);
      r.writeDesc(r.rings[1].desc, 0, t, 24, DESC_F.INDIRECT, 0);
    }],
    ["indirect without INDIRECT_DESC negotiated", [], (r) => {
      const p = payload(r); const t = r.buf(16);
      r.writeDesc(t, 0, p, 76, 0, 0);
      r.add(1, [{ addr: t, len: 16 }]);
      r.writeDesc(r.rings[1].desc, 0, t, 16, DESC_F.INDIRECT, 0);
    }],
    ["INDIRECT together with NEXT", [F.INDIRECT_DESC], (r) => {
      const p = payload(r); const t = r.buf(16);
      r.writeDesc(t, 0, p, 76, 0, 0);
      r.add(1, [{ addr: t, len: 16 }, { addr: p, len: 76 }]);
      r.writeDesc(r.rings[1].desc, 0, t, 16, DESC_F.INDIRECT | DESC_F.NEXT, 1);
    }],
    ["a descriptor loop", [], (r) => {
      const p = payload(r);
      r.add(1, [{ addr: p, len: 76 }]);
      r.writeDesc(r.rings[1].desc, 0, p, 76, DESC_F.NEXT, 0);
    }],
    ["a next index past the table", [], (r) => {
      const p = payload(r);
      r.add(1, [{ addr: p, len: 76 }]);
      r.writeDesc(r.rings[1].desc, 0, p, 76, DESC_F.NEXT, 64);
    }],
    ["a buffer outside guest RAM", [], (r) => { r.add(1, [{ addr: 0xffff_f000, len: 76 }]); }],
    ["a buffer whose end wraps", [], (r) => { r.add(1, [{ addr: 2 ** 64 - 4096, len: 76 }]); }],
    ["a device-writable descriptor in a TX chain", [], (r) => { const p = payload(r); r.add(1, [{ addr: p, len: 76, write: true }]); }],
    ["a chain shorter than the header", [], (r) => { const p = payload(r); r.add(1, [{ addr: p, len: 11 }]); }],
  ];
  for (const [name, feats, build] of malformed) {
    it(`${name} is completed with length 0 and counted once; the queue keeps going`, async () => {
      const r = await txRig(feats);
      build(r);
      r.notify(1);
      expect(r.dev.counters().txMalformed).toBe(1n);
      expect(r.takeUsed(1)).toMatchObject([{ len: 0 }]);
      expect(r.tx).toEqual([]);
      expect(r.dev.needsReset).toBe(false);
      r.rings[1].nextDesc = 8;
      r.send(f64);
      expect(r.tx).toEqual([f64]);
    });
  }

  it("a chain longer than the queue size is malformed (indirect descriptors count)", async () => {
    const r = await Rig.create("mmio");
    r.init([...BASE, F.INDIRECT_DESC], { size: 4 });
    const p = payload(r);
    const t = r.buf(16 * 5);
    for (let i = 0; i < 5; i++) r.writeDesc(t, i, p + i, 1, i < 4 ? DESC_F.NEXT : 0, i + 1);
    r.add(1, [{ addr: t, len: 80 }]);
    r.writeDesc(r.rings[1].desc, 0, t, 80, DESC_F.INDIRECT, 0);
    r.notify(1);
    expect(r.dev.counters().txMalformed).toBe(1n);
  });

  it("readable and writable totals that overflow 32 bits are malformed", async () => {
    const r = await Rig.create("mmio", { queueSize: 8192 }, 8 << 20);
    r.init([...BASE, F.INDIRECT_DESC], { size: 8192, queues: 2 });
    // 4097 descriptors of 1 MiB each (same bytes) = 4 GiB + 1 MiB.
    const t = 0x500000;
    for (let i = 0; i < 4097; i++) r.writeDesc(t, i, 0x600000, 1 << 20, i < 4096 ? DESC_F.NEXT : 0, i + 1);
    r.add(1, [{ addr: t, len: 4097 * 16 }]);
    r.writeDesc(r.rings[1].desc, 0, t, 4097 * 16, DESC_F.INDIRECT, 0);
    r.notify(1);
    expect(r.dev.counters().txMalformed).toBe(1n);
    expect(r.takeUsed(1)).toMatchObject([{ len: 0 }]);
  });

  it("a head index ≥ queue size needs reset", async () => {
    const r = await txRig();
    r.pushAvail(1, 64);
    r.notify(1);
    expect(r.dev.needsReset).toBe(true);
    expect(r.dev.counters().badHead).toBe(1n);
  });
});

describe("queue ready validation", () => {
  const cases: Array<[string, { desc: number; avail: number; used: number }]> = [
    ["a misaligned descriptor table", { desc: QBASE + 8, avail: QBASE + 0x20000, used: QBASE + 0x30000 }],
    ["a misaligned driver area", { desc: QBASE, avail: QBASE + 0x20001, used: QBASE + 0x30000 }],
    ["a misaligned device area", { desc: QBASE, avail: QBASE + 0x20000, used: QBASE + 0x30002 }],
    ["a device area past the end of RAM", { desc: QBASE, avail: QBASE + 0x20000, used: (32 << 20) - 64 }],
  ];
  for (const [name, at] of cases) {
    it(`${name} is refused: the queue stays off and the device needs reset`, async () => {
      const r = await Rig.create("mmio");
      r.setStatus(S.ACK | S.DRIVER);
      r.setDriverFeatures(1n << 32n);
      r.setStatus(S.ACK | S.DRIVER | S.FEATURES_OK);
      r.setupQueue(0, 64, at);
      expect(r.dev.mmioRead(0x44, 4)).toBe(0);
      expect(r.dev.counters().queueRejected).toBe(1n);
      expect(r.dev.needsReset).toBe(true);
    });
  }

  it("queue sizes that are not a power of two or exceed the maximum are ignored and counted", async () => {
    const r = await Rig.create("pci", { queueSize: 256 });
    r.setStatus(S.ACK | S.DRIVER);
    r.w32("queueSel", 0);
    for (const bad of [0, 3, 100, 512, 65535]) r.w32("queueSize", bad);
    expect(r.r32("queueSize")).toBe(256);
    expect(r.dev.counters().badRegisterValue).toBe(5n);
    r.w32("queueSize", 32);
    expect(r.r32("queueSize")).toBe(32);
  });

  it("refuses features that are not offered or lack VERSION_1", async () => {
    const r = await Rig.create("mmio");
    r.setStatus(S.ACK | S.DRIVER);
    r.setDriverFeatures((1n << 32n) | (1n << 40n));
    r.setStatus(S.ACK | S.DRIVER | S.FEATURES_OK);
    expect(r.status() & S.FEATURES_OK).toBe(0);
    r.setStatus(0);
    r.setStatus(S.ACK | S.DRIVER);
    r.setDriverFeatures(1n << BigInt(F.MAC));
    r.setStatus(S.ACK | S.DRIVER | S.FEATURES_OK);
    expect(r.status() & S.FEATURES_OK).toBe(0);
    r.setStatus(0);
    r.setStatus(S.ACK | S.DRIVER);
    r.setDriverFeatures((1n << 32n) | (1n << BigInt(F.CTRL_RX))); // CTRL_RX without CTRL_VQ (§5.1.3.1)
    r.setStatus(S.ACK | S.DRIVER | S.FEATURES_OK);
    expect(r.status() & S.FEATURES_OK).toBe(0);
    expect(r.dev.counters().featuresRejected).toBe(3n);
  });
});

describe("interrupt suppression", () => {
  it("NO_INTERRUPT suppresses used-buffer interrupts without EVENT_IDX", async () => {
    const r = await txRig();
    r.setAvailFlags(1, 1);
    r.send(f64);
    expect(r.intx).toBe(false);
    expect(r.dev.counters().irqSuppressed).toBe(1n);
    r.setAvailFlags(1, 0);
    r.send(f64);
    expect(r.intx).toBe(true);
  });

  it("EVENT_IDX: interrupts only when used idx passes used_event (wrap-safe), avail_event tracks consumption", async () => {
    const r = await txRig([F.EVENT_IDX]);
    r.setUsedEvent(1, 0);
    r.send(f64);                 // used idx 0 → 1 crosses used_event 0
    expect(r.ackIsr()).toBe(1);
    expect(r.availEvent(1)).toBe(1);
    r.setUsedEvent(1, 3);        // interrupt when used idx goes past 3
    r.send(f64); r.send(f64);    // used 2, 3
    expect(r.ackIsr()).toBe(0);
    r.send(f64);                 // used 4 > 3
    expect(r.ackIsr()).toBe(1);
    const c = r.dev.counters();
    expect(c.irqSuppressed).toBe(2n);
    expect(c.irqRaised).toBe(2n);
    expect(r.tx).toHaveLength(4);
  });

  it("EVENT_IDX comparison survives the 16-bit wrap", async () => {
    const r = await txRig([F.EVENT_IDX]);
    // Run 65534 chains through quickly: post in batches of 64 and kick.
    for (let round = 0; round < 1024; round++) {
      const p = payload(r);
      for (let i = 0; i < 64; i++) r.add(1, [{ addr: p, len: 76 }], i === 63);
      r.setUsedEvent(1, (r.rings[1].availIdx + 0xffff) & 0xffff); // a long way back: no interrupt
      r.notify(1);
      r.takeUsed(1);
    }
    expect(r.usedIdx(1)).toBe(0); // 65536 wrapped
    r.ackIsr();
    r.setUsedEvent(1, 0);
    r.send(f64);
    expect(r.ackIsr()).toBe(1);
  });
});
