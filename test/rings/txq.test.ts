// TX queues on one thread: what each variant does with a frame, mp_ring's
// state word (IDLE / BUSY / STALLED / ABDICATED), refusals that leave the
// frame with its producer, the lock's bounded ring when the lock is held.
// The concurrent cases are in threads.test.ts.
import { describe, it, expect } from "vitest";
import { TxQueue, Status, RingDefs as D, fnv1a } from "../../src/index.js";
import { newCore } from "../support/core.js";
import { tagged } from "./support.js";

const frames = (n: number, len = 64, tag = 1) => Array.from({ length: n }, (_, i) => tagged(len, tag, i));
const seqs = (q: TxQueue) => q.log().map((r) => r.w1);

describe("TX queue, every variant", () => {
  for (const variant of ["mp_ring", "lock", "lock_ring"] as const) {
    it(`${variant}: an uncontended producer's frames reach the sink at once, in order, intact`, async () => {
      const core = await newCore(1 << 20);
      const q = TxQueue.create(core, { variant, slots: 16, ringSlots: 8, logRecords: 100 });
      const fs = frames(40, 200);
      for (const f of fs) expect(q.submit(f)).toBe(Status.OK);
      expect(q.pending).toBe(0);
      expect(q.log()).toEqual(fs.map((f, i) => ({ w0: 1, w1: i, len: 200, hash: fnv1a(f) })));
      expect(q.counters().forwarded).toBe(40n);
    });

    it(`${variant}: a frame above the queue's frame size is refused and counted`, async () => {
      const core = await newCore(1 << 20);
      const q = TxQueue.create(core, { variant, maxFrame: 100, logRecords: 4 });
      expect(q.submit(tagged(101, 1, 0))).toBe(Status.ERR_INVALID_ARG);
      expect(q.submit(tagged(100, 1, 0))).toBe(Status.OK);
      expect(q.counters().tooLong).toBe(1n);
    });
  }

  it("the default variant is the one the TX-queue bench chose", async () => {
    const core = await newCore(1 << 16);
    expect(TxQueue.create(core).variant).toBe(TxQueue.defaultVariant(core));
    expect(core.exports.txq_default_variant()).toBe(D.TXQ_DEFAULT);
    // docs/rings.md "TX queue: the measurement": the simple path won at 2 and 4 producers, both frame sizes.
    expect(TxQueue.defaultVariant(core)).toBe("lock");
  });

  it("create refuses sizes that are not powers of two and unknown variants", async () => {
    const core = await newCore(1 << 16);
    expect(() => TxQueue.create(core, { variant: "mp_ring", slots: 100 })).toThrow(/ERR_INVALID_ARG/);
    expect(() => TxQueue.create(core, { variant: "lock_ring", ringSlots: 1 })).toThrow(/ERR_INVALID_ARG/);
    expect(core.exports.txq_create(9, 16, 16, 1500, 0)).toBe(-Status.ERR_INVALID_ARG);
    expect(() => TxQueue.create(core, { variant: "lock", slots: 100, ringSlots: 3 })).not.toThrow(); // sizes it does not use
  });
});

describe("TX queue, mp_ring", () => {
  it("a producer that finds the ring IDLE drains it and leaves it IDLE with every index equal", async () => {
    const core = await newCore(1 << 20);
    const q = TxQueue.create(core, { variant: "mp_ring", slots: 8, logRecords: 100 });
    for (const f of frames(11)) q.submit(f);
    expect(q.state()).toEqual({ head: 3, tail: 3, cidx: 3, state: D.TXQ_IDLE });
    expect(q.counters().starts).toBe(11n);
  });

  it("abdicate: producers only enqueue (state ABDICATED); one slot stays empty; drain() forwards in order", async () => {
    const core = await newCore(1 << 20);
    const q = TxQueue.create(core, { variant: "mp_ring", slots: 8, logRecords: 100 });
    const fs = frames(8);
    for (let i = 0; i < 7; i++) expect(q.submit(fs[i], { abdicate: true })).toBe(Status.OK);
    expect(q.submit(fs[7], { abdicate: true })).toBe(Status.ERR_FULL);
    expect(q.state()).toMatchObject({ head: 7, tail: 7, cidx: 0, state: D.TXQ_ABDICATED });
    expect(q.pending).toBe(7);
    expect(q.log()).toEqual([]);
    expect(q.drain()).toBe(7);
    expect(q.state()).toMatchObject({ cidx: 7, state: D.TXQ_IDLE });
    expect(q.submit(fs[7])).toBe(Status.OK);
    expect(seqs(q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(q.counters().full).toBe(1n);
  });

  it("a sink that takes nothing leaves the ring STALLED with the frames kept; drain() restarts it", async () => {
    const core = await newCore(1 << 20);
    const q = TxQueue.create(core, { variant: "mp_ring", slots: 8, logRecords: 2 });
    const fs = frames(5);
    for (const f of fs) expect(q.submit(f)).toBe(Status.OK);
    expect(seqs(q)).toEqual([0, 1]);
    expect(q.state()).toMatchObject({ state: D.TXQ_STALLED, cidx: 2, tail: 5 });
    expect(q.pending).toBe(3);
    q.resetLog();
    expect(q.drain()).toBe(2);
    expect(q.state().state).toBe(D.TXQ_STALLED);
    q.resetLog();
    expect(q.drain()).toBe(1);
    expect(q.state()).toMatchObject({ state: D.TXQ_IDLE, cidx: 5 });
    expect(seqs(q)).toEqual([4]);
    const c = q.counters();
    expect(c.stalls).toBeGreaterThanOrEqual(2n);
    expect(c.restarts).toBeGreaterThanOrEqual(1n);
    expect(c.logFull).toBeGreaterThanOrEqual(2n);
  });

  it("a budget of one frame still drains everything when no other producer could take over", async () => {
    const core = await newCore(1 << 20);
    const q = TxQueue.create(core, { variant: "mp_ring", slots: 16, logRecords: 100 });
    for (const f of frames(10)) q.submit(f, { abdicate: true });
    q.resetLog();
    expect(q.submit(tagged(64, 1, 10), { budget: 1 })).toBe(Status.OK); // finds ABDICATED: becomes the consumer
    expect(seqs(q)).toEqual(Array.from({ length: 11 }, (_, i) => i));
    expect(q.counters().abdications).toBe(0n);
  });
});

describe("TX queue, the lock and its bounded ring", () => {
  it("lock: a full sink refuses the frame back to its producer (ERR_FULL)", async () => {
    const core = await newCore(1 << 20);
    const q = TxQueue.create(core, { variant: "lock", logRecords: 1 });
    expect(q.submit(tagged(64, 1, 0))).toBe(Status.OK);
    expect(q.submit(tagged(64, 1, 1))).toBe(Status.ERR_FULL);
    q.resetLog();
    expect(q.submit(tagged(64, 1, 1))).toBe(Status.OK);
    expect(seqs(q)).toEqual([1]);
  });

  it("lock_ring: while the lock is held, frames wait in the ring; the next holder forwards them before its own", async () => {
    const core = await newCore(1 << 20);
    const q = TxQueue.create(core, { variant: "lock_ring", ringSlots: 4, logRecords: 100 });
    const lock = (q.ptr + 128) >> 2;
    const i32 = new Int32Array(core.memory.buffer);
    Atomics.store(i32, lock, 1); // another producer holds the lock
    const fs = frames(6);
    for (let i = 0; i < 4; i++) expect(q.submit(fs[i])).toBe(Status.OK);
    expect(q.pending).toBe(4);
    expect(q.log()).toEqual([]);
    expect(q.counters().queued).toBe(4n);
    Atomics.store(i32, lock, 0); // it lets go (a real holder rechecks the ring after unlocking: this submit does it)
    expect(q.submit(fs[4])).toBe(Status.OK);
    expect(seqs(q)).toEqual([0, 1, 2, 3, 4]);
    expect(q.pending).toBe(0);
    expect(q.counters().inline).toBe(1n);
  });

  it("lock_ring: a frame left while the holder was finishing is forwarded by drain()", async () => {
    const core = await newCore(1 << 20);
    const q = TxQueue.create(core, { variant: "lock_ring", ringSlots: 4, logRecords: 100 });
    const i32 = new Int32Array(core.memory.buffer);
    Atomics.store(i32, (q.ptr + 128) >> 2, 1);
    expect(q.submit(tagged(64, 1, 0))).toBe(Status.OK);
    Atomics.store(i32, (q.ptr + 128) >> 2, 0);
    expect(q.drain()).toBe(1);
    expect(seqs(q)).toEqual([0]);
  });
});
