// The ring library on every build: the optimised shared-memory build, the
// unshared build (pages without SharedArrayBuffer: nothing may sleep in
// memory.atomic.wait there) and the debug build the other ring tests use.
import { describe, it, expect } from "vitest";
import { createVmCore, RingPool, NetmapRing, NetmapRingUser, ElementQueue, TxQueue, Status, type WasmVariant } from "../../src/index.js";
import { tagged } from "./support.js";

describe.each<WasmVariant>(["release", "unshared", "debug"])("rings on the %s build", (variant) => {
  it("a netmap ring, an element queue of each kind and every TX queue variant move data", async () => {
    const vm = await createVmCore({ ramBytes: 1 << 20, variant });
    const pool = RingPool.create(vm, { buffers: 32, bufferSize: 2048 });
    const ring = NetmapRing.create(vm, { pool, slots: 8, direction: "tx" });
    const f = [tagged(60, 1, 0), tagged(1500, 1, 1)];
    expect(NetmapRingUser.attach(vm, ring.handle).send(f)).toBe(2);
    expect(ring.txsync().frames!.copies()).toEqual(f);
    for (const multiProducer of [false, true]) {
      const q = ElementQueue.create(vm, { size: 64, multiProducer });
      const vals = Array.from({ length: 40 }, (_, i) => i * 3);
      expect(q.enqueue(vals)).toBe(40);
      expect([...q.dequeue(64)]).toEqual(vals);
    }
    for (const v of ["mp_ring", "lock", "lock_ring"] as const) {
      const t = TxQueue.create(vm, { variant: v, slots: 16, ringSlots: 4, logRecords: 8 });
      for (let i = 0; i < 8; i++) expect(t.submit(tagged(64, 2, i))).toBe(Status.OK);
      expect(t.log().map((r) => r.w1)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    }
  });
});
