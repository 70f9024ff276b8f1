// Rings shared with worker threads over the VM's shared memory: each worker
// attaches with VmCore.attach and works on the same objects by handle.
// Assertions are on counts and contents, never on timing.
import { describe, it, expect } from "vitest";
import type { Worker } from "node:worker_threads";
import { ElementQueue, RingPool, NetmapRing, NetmapRingUser, TxQueue, RingPort, VirtioNetRingBackend, Status, Exclusive, virtioNetExclusive, ringModeOp, type VmCore } from "../../src/index.js";
import { netRig } from "../devices/virtio-net/rig.js";
import { VIRTIO_NET_S_LINK_UP } from "../../src/guest/virtio/defs.js";
import { newCore } from "../support/core.js";
import { tsWorker } from "../support/workers.js";
import { tagged } from "./support.js";
import { fnv1a, type TxQueueVariant } from "../../src/rings/txq.js";

type Job = { role: string; handle: number; id: number; count: number; burst: number; len?: number; abdicate?: boolean; handle2?: number; flags?: SharedArrayBuffer };

/** Start workers, release them together once all are attached; resolves with their results. */
async function run(core: VmCore, jobs: Job[], whileRunning?: (done: () => boolean) => Promise<void>): Promise<any[]> {
  const gate = new SharedArrayBuffer(8);
  const g = new Int32Array(gate);
  const workers: Worker[] = [];
  const results = jobs.map((j) => new Promise<any>((resolve, reject) => {
    const w = tsWorker(new URL("./ring.worker.ts", import.meta.url), { shared: core.shareable(), gate, len: 60, ...j });
    workers.push(w);
    w.on("message", (m: { result?: unknown }) => { if ("result" in m) resolve(m.result); });
    w.once("error", reject);
    w.once("exit", (code) => { if (code !== 0) reject(new Error(`worker exited ${code}`)); });
  }));
  while (Atomics.load(g, 1) < jobs.length) await new Promise((r) => setTimeout(r, 5));
  Atomics.store(g, 0, 1);
  Atomics.notify(g, 0);
  let finished = false;
  const all = Promise.all(results).finally(() => { finished = true; });
  if (whileRunning) await whileRunning(() => finished);
  const out = await all;
  await Promise.all(workers.map((w) => w.terminate()));
  return out;
}

const tick = () => new Promise((r) => setImmediate(r));

describe("rings across threads", () => {
  it("SPSC: a producer worker and a consumer worker move 200 000 values in order through 64 cells", async () => {
    const core = await newCore(1 << 20);
    const q = ElementQueue.create(core, { size: 64 });
    const [p, c] = await run(core, [
      { role: "rq-produce", handle: q.handle, id: 1, count: 200_000, burst: 32 },
      { role: "rq-consume", handle: q.handle, id: 0, count: 200_000, burst: 32 },
    ]);
    expect(p.sent).toBe(200_000);
    expect(c).toMatchObject({ got: 200_000, bad: 0, producers: [[1, 200_000]] });
    expect(q.counters().peerBad).toBe(0n);
  });

  it("MPSC: three producer workers race on one queue; every value arrives once, in each producer's order", async () => {
    const core = await newCore(1 << 20);
    const q = ElementQueue.create(core, { size: 128, multiProducer: true });
    const n = 60_000;
    const res = await run(core, [
      { role: "rq-produce", handle: q.handle, id: 1, count: n, burst: 1 },
      { role: "rq-produce", handle: q.handle, id: 2, count: n, burst: 8 },
      { role: "rq-produce", handle: q.handle, id: 3, count: n, burst: 32 },
      { role: "rq-consume", handle: q.handle, id: 0, count: 3 * n, burst: 32 },
    ]);
    expect(res.slice(0, 3).map((r) => r.sent)).toEqual([n, n, n]);
    expect(res[3]).toMatchObject({ got: 3 * n, bad: 0, producers: [[1, n], [2, n], [3, n]] });
    expect(q.count).toBe(0);
    expect(q.counters().peerBad).toBe(0n);
  });

  it("netmap TX ring: a backend worker sends 20 000 frames; the device on the main thread takes them all, in order, intact", async () => {
    const core = await newCore(1 << 20);
    const pool = RingPool.create(core, { buffers: 64, bufferSize: 2048 });
    const ring = NetmapRing.create(core, { pool, slots: 32, direction: "tx" });
    const got: Uint8Array[] = [];
    const [w] = await run(core, [{ role: "nm-send", handle: ring.handle, id: 5, count: 20_000, burst: 16, len: 100 }], async (done) => {
      while (!done() || got.length < 20_000) {
        const r = ring.txsync();
        expect(r.status).toBe(0);
        for (const f of r.frames!) got.push(f.slice());
        if (r.count === 0) await tick();
      }
    });
    expect(w.sent).toBe(20_000);
    expect(got.length).toBe(20_000);
    const bad = got.filter((f, i) => !Buffer.from(f).equals(Buffer.from(tagged(100 + (i % 7), 5, i)))).length;
    expect(bad).toBe(0);
    const c = ring.counters();
    expect(c.badHead + c.badCur + c.badBufIndex + c.slotMismatch + c.badLen + c.tailRepaired).toBe(0n);
  });

  it("netmap RX ring: the device delivers 20 000 frames from the main thread; a backend worker receives them all, in order, intact", async () => {
    const core = await newCore(1 << 20);
    const pool = RingPool.create(core, { buffers: 64, bufferSize: 2048 });
    const ring = NetmapRing.create(core, { pool, slots: 32, direction: "rx" });
    let next = 0;
    const [w] = await run(core, [{ role: "nm-recv", handle: ring.handle, id: 6, count: 20_000, burst: 16, len: 700 }], async (done) => {
      while (!done()) {
        const frames = Array.from({ length: Math.min(24, 20_000 - next) }, (_, k) => tagged(700 + ((next + k) % 7), 6, next + k));
        const n = ring.rxsync(frames);
        expect(n).toBeGreaterThanOrEqual(0);
        next += n;
        if (n === 0) await tick();
      }
    });
    expect(w).toMatchObject({ got: 20_000, bad: 0 });
    expect(next).toBe(20_000);
  });

  it("netmap rings with the backend in wasm: an attached instance's nmr_user_send / nmr_user_recv", async () => {
    const core = await newCore(1 << 20);
    const pool = RingPool.create(core, { buffers: 128, bufferSize: 2048 });
    const tx = NetmapRing.create(core, { pool, slots: 32, direction: "tx" });
    const rx = NetmapRing.create(core, { pool, slots: 32, direction: "rx" });
    const got: Uint8Array[] = [];
    let next = 0;
    const n = 10_000;
    const [s, r] = await run(core, [
      { role: "nm-wasm-send", handle: tx.handle, id: 7, count: n, burst: 16, len: 64 },
      { role: "nm-wasm-recv", handle: rx.handle, id: 8, count: n, burst: 16, len: 1400 },
    ], async (done) => {
      while (!done()) {
        const t = tx.txsync();
        for (const f of t.frames ?? []) got.push(f.slice());
        const k = ring(rx, next, n);
        next += k;
        if (t.count === 0 && k === 0) await tick();
      }
      // The sender may finish with frames still in the ring after the last txsync: take them too.
      for (let t = tx.txsync(); t.count > 0; t = tx.txsync()) for (const f of t.frames ?? []) got.push(f.slice());
    });
    expect(s.sent).toBe(n);
    expect(r).toMatchObject({ got: n, bad: 0 });
    expect(got.length).toBe(n);
    expect(got.every((f, i) => Buffer.from(f).equals(Buffer.from(tagged(64 + (i % 7), 7, i))))).toBe(true);
  });

  it("TX queue mp_ring with abdicating producers: two workers only enqueue, the main thread drains meanwhile; all arrive in order", async () => {
    const core = await newCore(1 << 20);
    const n = 8000;
    const q = TxQueue.create(core, { variant: "mp_ring", slots: 128, maxFrame: 256, logRecords: 2 * n });
    let drained = 0;
    const res = await run(core, [1, 2].map((id) => ({ role: "txq-submit", handle: q.handle, id, count: n, burst: 32, abdicate: true })), async (done) => {
      while (!done()) { const k = q.drain(64); expect(k).toBeGreaterThanOrEqual(0); drained += k; if (k === 0) await tick(); }
    });
    expect(res.map((r) => r.sent)).toEqual([n, n]);
    // Bounded: each drain forwards what was published; the producers are done.
    for (let i = 0; i < 1000 && q.pending > 0; i++) drained += q.drain();
    expect(q.pending).toBe(0);
    expect(drained).toBe(2 * n);
    const next = new Map<number, number>();
    let bad = 0;
    for (const rec of q.log()) { if (rec.w1 !== (next.get(rec.w0) ?? 0)) bad++; next.set(rec.w0, rec.w1 + 1); }
    expect(bad).toBe(0);
    expect([...next.entries()].sort()).toEqual([[1, n], [2, n]]);
    expect(q.counters().starts).toBe(0n); // no producer ever drained
  });

  it("a NIC's ring port with the backend in a worker: traffic both ways while the mode flips 1000 times through the exclusive-operation serializer; every frame once, in order, the link up", async () => {
    const rig = await netRig({ transport: "pci", ramBytes: 16 << 20, device: { mac: "52:54:00:00:00:0b" } });
    const core = rig.core;
    const pool = RingPool.create(core, { buffers: 128, bufferSize: 2048 });
    const egress = NetmapRing.create(core, { pool, slots: 32, direction: "rx" });
    const ingress = NetmapRing.create(core, { pool, slots: 32, direction: "tx" });
    const port = RingPort.create(core, { egress, ingress });
    const backend = VirtioNetRingBackend.attach(rig.dev, port);
    const flags = new Int32Array(new SharedArrayBuffer(8)); // [0] stop, [1] egress frames the worker took
    const seqOf = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset).getUint32(18, true);
    const n = 20_000, m = 8000, mc = 8000; // guest → far end; worker → guest (tag 8); host copy path → guest (tag 9), at most
    const hostGot: number[] = [];
    let hostBad = 0;
    rig.dev.onTransmit = (f) => { const q = seqOf(f); if (!Buffer.from(f).equals(Buffer.from(tagged(100 + (q % 7), 7, q)))) hostBad++; hostGot.push(q); };
    let sent = 0, copyGiven = 0, flips = 0, linkDown = 0, earlyCopy = 0;
    const irq0 = rig.irq.count(rig.drv.configVector!);
    // Every flip is a ringModeOp through the serializer; a ring → copy switch completes only once the
    // worker gave back every egress slot. The timeout is far beyond any load: a cancel is not expected.
    const ex = new Exclusive(virtioNetExclusive(rig.dev), { completeTimeoutMs: 3_600_000 });
    const failed: string[] = [];
    let running: Promise<void> | null = null;
    const [far] = await run(core, [{ role: "port-far", handle: egress.handle, handle2: ingress.handle, flags: flags.buffer, id: 7, count: m, burst: 8, len: 100 }], async () => {
      // Bounded: the worker keeps taking egress frames, so every round moves frames or finishes a switch.
      for (let round = 0; round < 5_000_000; round++) {
        const taken = Atomics.load(flags, 1);
        const rx = rig.drv.received.length;
        if (sent === n && taken + hostGot.length === n && flips >= 1000 && running === null && backend.mode === "ring" && rx === m + copyGiven) break;
        for (let k = 0; k < 8 && sent < n; k++) if (rig.drv.transmit(tagged(100 + (sent % 7), 7, sent))) sent++; else break;
        if (backend.mode === "copy" && !backend.switching && copyGiven < mc && rig.dev.backlogLength < 200) {
          expect(rig.dev.receive(tagged(100 + (copyGiven % 7), 9, copyGiven))).toBe(Status.OK);
          copyGiven++;
        }
        backend.sync();
        rig.drv.poll();
        rig.irq.pending.length = 0;
        if ((rig.drv.linkStatus() & VIRTIO_NET_S_LINK_UP) === 0) linkDown++;
        if (running === null && (flips < 1000 || backend.mode === "copy")) {
          const to = backend.mode === "ring" ? "copy" : "ring";
          running = ex.run(ringModeOp(backend, to)).then((r) => {
            if (!r.ok) failed.push(r.reason ?? r.op);
            // Ring → copy finished: the worker had taken every frame the device put in the egress ring (it publishes its count before giving slots back).
            else if (to === "copy" && Atomics.load(flags, 1) !== Number(port.counters().egressFrames)) earlyCopy++;
            running = null;
          });
          flips++;
        }
        await tick();
      }
      Atomics.store(flags, 0, 1);
    });
    expect(flips).toBeGreaterThanOrEqual(1000);
    expect(failed).toEqual([]);
    expect(far.bad).toBe(0);
    expect(hostBad).toBe(0);
    expect(far.sent).toBe(m);
    expect(far.got + hostGot.length).toBe(n);
    expect(far.got).toBe(Number(port.counters().egressFrames));
    expect(hostGot).toEqual([...hostGot].sort((a, b) => a - b));
    expect(earlyCopy).toBe(0);
    // The guest: each source's frames once, in order, intact.
    const bySource = new Map<number, number[]>();
    let rxBad = 0;
    for (const f of rig.drv.takeReceived()) {
      const tag = new DataView(f.data.buffer, f.data.byteOffset).getUint32(14, true), q = seqOf(f.data);
      if (!Buffer.from(f.data).equals(Buffer.from(tagged(100 + (q % 7), tag, q)))) rxBad++;
      bySource.set(tag, [...(bySource.get(tag) ?? []), q]);
    }
    expect(rxBad).toBe(0);
    expect(bySource.get(8)).toEqual(Array.from({ length: m }, (_, i) => i));
    expect(copyGiven).toBeGreaterThan(0);
    expect(bySource.get(9)).toEqual(Array.from({ length: copyGiven }, (_, i) => i));
    expect(linkDown).toBe(0);
    expect(rig.irq.count(rig.drv.configVector!)).toBe(irq0);
    expect(rig.dev.counters().rxDropped).toBe(0n);
  });

  for (const variant of ["mp_ring", "lock", "lock_ring"] as TxQueueVariant[]) {
    it(`TX queue ${variant}: four producer workers, 4 × 5000 frames; none lost, duplicated, reordered or changed`, async () => {
      const core = await newCore(1 << 20);
      const n = 5000, producers = 4;
      const q = TxQueue.create(core, { variant, slots: 256, ringSlots: 16, maxFrame: 256, logRecords: n * producers });
      const res = await run(core, Array.from({ length: producers }, (_, i) => ({ role: "txq-submit", handle: q.handle, id: i + 1, count: n, burst: 32, len: 60 })));
      expect(res.map((r) => r.sent)).toEqual(Array(producers).fill(n));
      q.drain();
      expect(q.pending).toBe(0);
      const log = q.log();
      expect(log.length).toBe(n * producers);
      const next = new Map<number, number>();
      let bad = 0;
      for (const rec of log) {
        const seq = next.get(rec.w0) ?? 0;
        const want = tagged(60 + (seq % 5), rec.w0, seq);
        if (rec.w1 !== seq || rec.len !== want.length || rec.hash !== fnv1a(want)) bad++;
        next.set(rec.w0, rec.w1 + 1);
      }
      expect(bad).toBe(0);
      expect([...next.entries()].sort((a, b) => a[0] - b[0])).toEqual(Array.from({ length: producers }, (_, i) => [i + 1, n]));
      const c = q.counters();
      expect(c.forwarded).toBe(BigInt(n * producers));
      expect(c.stuck + c.logFull + c.tooLong + c.stalls).toBe(0n);
    });
  }
});

/** One rxsync of the next frames for the wasm backend test. */
function ring(rx: NetmapRing, next: number, n: number): number {
  const frames = Array.from({ length: Math.min(16, n - next) }, (_, k) => tagged(1400 + ((next + k) % 7), 8, next + k));
  const k = rx.rxsync(frames);
  return k < 0 ? 0 : k;
}

export type { NetmapRingUser };
