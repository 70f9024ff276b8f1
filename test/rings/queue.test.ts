// Element queues (SPSC and MPSC) against a reference FIFO, and against a
// peer that publishes impossible indices.
import { describe, it, expect } from "vitest";
import { ElementQueue, Status, RingDefs as D } from "../../src/index.js";
import { newCore, rng, testSeed } from "../support/core.js";
import { MemoryGuard } from "./support.js";

describe("element queue against a reference FIFO", () => {
  for (const mp of [false, true]) {
    it(`${mp ? "multi" : "single"}-producer: seeded random bulk/burst enqueues and dequeues match`, async () => {
      const seed = testSeed();
      const r = rng(seed);
      const core = await newCore(1 << 16);
      for (const size of [2, 8, 64]) {
        const q = ElementQueue.create(core, { size, multiProducer: mp });
        const model: number[] = [];
        let next = 1;
        for (let step = 0; step < 3000; step++) {
          const k = Math.floor(r() * (size + 3));
          const mode = r() < 0.5 ? "bulk" : "burst";
          if (r() < 0.5) {
            const vals = Array.from({ length: k }, () => next++ >>> 0);
            const free = size - model.length;
            const want = mode === "bulk" ? (free >= k ? k : 0) : Math.min(free, k);
            const got = q.enqueue(vals, mode);
            expect(got, `seed ${seed} size ${size} step ${step}: enqueue ${k} ${mode}`).toBe(want);
            model.push(...vals.slice(0, want));
          } else {
            const want = mode === "bulk" ? (model.length >= k ? k : 0) : Math.min(model.length, k);
            const got = [...q.dequeue(k, mode)];
            expect(got, `seed ${seed} size ${size} step ${step}: dequeue ${k} ${mode}`).toEqual(model.splice(0, want));
          }
          expect(q.count, `seed ${seed}`).toBe(model.length);
        }
        expect(q.counters().peerBad).toBe(0n);
        q.destroy();
      }
    });
  }

  it("positions wrap the u32 range", async () => {
    const core = await newCore(1 << 16);
    for (const mp of [false, true]) {
      const q = ElementQueue.create(core, { size: 4, multiProducer: mp });
      const dv = core.dv();
      // Start every position just below 2^32 (the queue is empty: all sides agree).
      const start = 0xfffffffe;
      for (const off of [D.RQ_OFF_PROD_HEAD, D.RQ_OFF_PROD_TAIL, D.RQ_OFF_CONS_TAIL, 192, 196, 256, 260]) dv.setUint32(q.ptr + off, start, true);
      // Multi-producer: each cell's sequence says "consumed" for the last position before start that maps to it.
      if (mp) for (let i = 0; i < 4; i++) dv.setUint32(q.ptr + D.RQ_OFF_CELLS + 16 + i * 4, start - 4 + ((i - (start % 4) + 4) % 4), true);
      const out: number[] = [];
      for (let v = 0; v < 40; v += 3) {
        expect(q.enqueue([v, v + 1, v + 2], "bulk")).toBe(3);
        out.push(...q.dequeue(3, "bulk"));
      }
      expect(out).toEqual(Array.from({ length: 42 }, (_, i) => i));
    }
  });
});

describe("element queue regressions", () => {
  it("regression_mp_empty_enqueue_publishes_no_cell: enqueueing nothing leaves the next cell unpublished", async () => {
    // Found by the reference-FIFO test (seed 4191850551): an empty multi-producer
    // enqueue wrote run length 0 and published the cell at the producer head,
    // which the consumer then refused as an impossible run.
    const core = await newCore(1 << 16);
    const q = ElementQueue.create(core, { size: 2, multiProducer: true });
    expect(q.enqueue([])).toBe(0);
    expect(q.enqueue([1, 2])).toBe(2);
    expect(q.enqueue([], "burst")).toBe(0);
    expect([...q.dequeue(2)]).toEqual([1, 2]);
    expect(q.enqueue([])).toBe(0);
    expect(q.enqueue([3])).toBe(1);
    expect([...q.dequeue(2)]).toEqual([3]);
    expect(q.lastStatus).toBe(Status.OK);
    expect(q.counters().peerBad).toBe(0n);
  });
});

describe("element queue against a hostile peer", () => {
  it("a consumer refuses a producer tail more than size ahead (counted), and recovers when it is fixed", async () => {
    const core = await newCore(1 << 16);
    const q = ElementQueue.create(core, { size: 8 });
    expect(q.enqueue([1, 2, 3])).toBe(3);
    const dv = core.dv();
    const tail = q.ptr + D.RQ_OFF_PROD_TAIL;
    const guard = new MemoryGuard(core, [[core.ioPtr(), core.ioPtr() + core.exports.io_size()], [q.ptr, q.ptr + 512]]);
    for (const bogus of [9, 100, 0xffffffff]) {
      dv.setUint32(tail, bogus, true);
      expect(q.dequeue(8, "burst").length).toBe(0);
      expect(q.lastStatus).toBe(Status.ERR_CORRUPT);
    }
    expect(q.counters().peerBad).toBe(3n);
    expect(guard.changed()).toEqual([]);
    dv.setUint32(tail, 3, true);
    expect([...q.dequeue(8, "burst")]).toEqual([1, 2, 3]);
  });

  it("a producer refuses a consumer tail that says more than size are in the queue", async () => {
    const core = await newCore(1 << 16);
    for (const mp of [false, true]) {
      const q = ElementQueue.create(core, { size: 8, multiProducer: mp });
      expect(q.enqueue(Array(8).fill(7))).toBe(8);
      // Consumer claims to have consumed "backwards": 8 - (2^32 - 4) wraps to more than size.
      core.dv().setUint32(q.ptr + D.RQ_OFF_CONS_TAIL, 0xfffffffc, true);
      expect(q.enqueue([1])).toBe(-Status.ERR_CORRUPT);
      expect(q.counters().peerBad).toBe(1n);
    }
  });

  it("multi-producer: an impossible run length is refused; garbage sequence words only stall", async () => {
    const seed = testSeed();
    const r = rng(seed);
    const core = await newCore(1 << 16);
    const q = ElementQueue.create(core, { size: 16, multiProducer: true });
    const dv = core.dv();
    expect(q.enqueue([5, 6])).toBe(2);
    dv.setUint32(q.ptr + D.RQ_OFF_CELLS + 16 * 8, 0, true); // run length of position 0
    expect(q.dequeue(2, "burst").length).toBe(0);
    expect(q.lastStatus).toBe(Status.ERR_CORRUPT);
    dv.setUint32(q.ptr + D.RQ_OFF_CELLS + 16 * 8, 17, true);
    expect(q.dequeue(2, "burst").length).toBe(0);
    dv.setUint32(q.ptr + D.RQ_OFF_CELLS + 16 * 8, 2, true);
    expect([...q.dequeue(2, "burst")]).toEqual([5, 6]);
    // Random sequence words and run lengths: the consumer returns at most size values, never traps, writes only its I/O buffer and the queue.
    const guard = new MemoryGuard(core, [[core.ioPtr(), core.ioPtr() + core.exports.io_size()], [q.ptr, q.ptr + 512 + 16 * 12]]);
    for (let i = 0; i < 500; i++) {
      const cell = Math.floor(r() * 16);
      dv.setUint32(q.ptr + D.RQ_OFF_CELLS + 16 * 4 + cell * 4, Math.floor(r() * 2 ** 32), true);
      dv.setUint32(q.ptr + D.RQ_OFF_CELLS + 16 * 8 + cell * 4, Math.floor(r() * 40), true);
      if (r() < 0.3) dv.setUint32(q.ptr + D.RQ_OFF_CELLS + 16 * 4 + cell * 4, dv.getUint32(q.ptr + 256, true) + 1, true);
      const got = q.dequeue(Math.floor(r() * 40), "burst");
      expect(got.length, `seed ${seed}`).toBeLessThanOrEqual(16);
    }
    expect(guard.changed(), `seed ${seed}`).toEqual([]);
  });

  it("create refuses sizes that are not powers of two or out of range", async () => {
    const core = await newCore(1 << 16);
    for (const size of [0, 1, 3, 12, 1 << 21]) expect(() => ElementQueue.create(core, { size })).toThrow(/ERR_INVALID_ARG/);
  });
});
