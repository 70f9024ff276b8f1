// Ring-library figures: element queues (SPSC bulk, MP single, MPSC with two
// producer threads and its contention cost, SPSC across two threads) and
// batched host I/O against the one-call-per-frame path of a NIC.
// Cycle figures multiply ns by the clock /proc/cpuinfo reports (an estimate:
// the clock varies); DPDK's rte_ring anchors are ≈ 3.5 cycles/element bulk
// SPSC and ≈ 47 cycles MP single-element.
import { ElementQueue, type FrameBatch } from "../src/index.js";
import { benchCore, BenchWorkers, cpuGhz, fixedRingNic, medianMs, type BenchRow } from "./support.js";

const median = (xs: number[]) => { const s = xs.slice().sort((a, b) => a - b); return s[s.length >> 1]; };

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const core = await benchCore(32 << 20);
  const ghz = cpuGhz();
  const cyc = (ns: number) => (ghz ? ` ≈ ${(ns * ghz).toFixed(1)} cycles at ${ghz.toFixed(2)} GHz` : "");

  // ---- One thread: enqueue a burst, dequeue it (the ring's own cost: no cache line moves between cores).
  const perElem = (h: number, burst: number) => {
    const rounds = Math.floor(4_000_000 / burst);
    core.bx.bench_rq_roundtrip(h, burst, rounds);
    return (medianMs(() => core.bx.bench_rq_roundtrip(h, burst, rounds), 9, 2) * 1e6) / (rounds * burst);
  };
  const copyElem = (burst: number) => {
    const rounds = Math.floor(4_000_000 / burst);
    return (medianMs(() => core.bx.bench_rq_copy_baseline(burst, rounds), 9, 2) * 1e6) / (rounds * burst);
  };
  const sp = ElementQueue.create(core, { size: 1024 });
  const mp = ElementQueue.create(core, { size: 1024, multiProducer: true });
  const spBulk = perElem(sp.handle, 32), base32 = copyElem(32);
  rows.push({
    name: "element queue SPSC bulk, burst 32 (enqueue + dequeue, one thread)", value: spBulk, unit: "ns/element", baseline: base32, ratio: base32 / spBulk,
    note: `goal ≤ 2 ns/element;${cyc(spBulk)} per element for both operations; baseline: the same bytes copied in and out of a plain buffer (v128)`,
  });
  const mpBulk = perElem(mp.handle, 32);
  rows.push({
    name: "element queue MP bulk, burst 32 (CAS enqueue + dequeue, one thread)", value: mpBulk, unit: "ns/element", baseline: spBulk, ratio: spBulk / mpBulk,
    note: `${cyc(mpBulk)}; baseline: the single-producer queue, same work`,
  });
  const sp1 = perElem(sp.handle, 1), mp1 = perElem(mp.handle, 1);
  rows.push({
    name: "element queue MP single element (CAS enqueue + dequeue, one thread)", value: mp1, unit: "ns/element", baseline: sp1, ratio: sp1 / mp1,
    note: `${cyc(mp1)} for enqueue and dequeue together (DPDK: ≈ 47 cycles MP single); baseline: single-producer single element`,
  });

  // ---- Threads.
  const workers = await BenchWorkers.start(core, 2);
  try {
    // MPSC: two producer threads at once into a queue large enough that neither waits for the consumer; the
    // queue is drained (and each producer's order checked) afterwards, untimed.
    const big = ElementQueue.create(core, { size: 1 << 20, multiProducer: true });
    const each = 1 << 19;
    const mpscRun = async (producers: number, burst: number) => {
      const spans: number[] = [];
      for (let rep = 0; rep < 5; rep++) {
        const { ms } = await workers.run(Array.from({ length: producers }, (_, p) => ({ fn: "bench_rq_produce", args: [big.handle, p + 1, burst, each] })));
        spans.push(ms);
        const bad = core.bx.bench_rq_consume(big.handle, 1024, each * producers);
        if (bad !== 0) throw new Error(`MPSC: ${bad} values out of order`);
      }
      return (median(spans) * 1e6) / each; // ns per element per producer thread
    };
    await mpscRun(2, 1); // warm-up
    for (const burst of [1, 32]) {
      const alone = await mpscRun(1, burst);
      const two = await mpscRun(2, burst);
      rows.push({
        name: `element queue MPSC, 2 producer workers at once, ${burst === 1 ? "single element" : "burst 32"} enqueues`, value: two, unit: "ns/element per producer", baseline: alone, ratio: alone / two,
        note: `each thread's time per element while both enqueue into one queue (aggregate ${(2e3 / two).toFixed(1)} M elements/s);${cyc(two)}; baseline: one producer alone, same code: the ratio is the contention cost`,
      });
    }
    // SPSC across threads: a producer worker and a consumer worker through 1024 cells.
    const ring = ElementQueue.create(core, { size: 1024 });
    const n = 1 << 22;
    const spans: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      const { results, ms } = await workers.run([
        { fn: "bench_rq_produce", args: [ring.handle, 1, 32, n] },
        { fn: "bench_rq_consume", args: [ring.handle, 32, n] },
      ]);
      if (results[1] !== 0) throw new Error("SPSC threads: out of order");
      spans.push(ms);
    }
    const spscThreads = (median(spans) * 1e6) / n;
    rows.push({
      name: "element queue SPSC bulk 32, producer and consumer on two workers", value: spscThreads, unit: "ns/element", baseline: spBulk, ratio: spBulk / spscThreads,
      note: `1024 cells; the cost of moving cache lines between cores (both threads spin when full or empty);${cyc(spscThreads)}; baseline: the same operations on one thread`,
    });
  } finally {
    await workers.stop();
  }

  // ---- Batched host I/O: host → NIC, and NIC → host, per frame against per batch.
  const RX = { desc: 0x100000, avail: 0x110000, used: 0x120000, bufs: 0x400000 };
  const TX = { desc: 0x200000, avail: 0x210000, used: 0x220000, bufs: 0xc00000 };
  const rxNic = await fixedRingNic(core, "52:54:00:00:00:0b", { rx: RX });
  const txNic = await fixedRingNic(core, "52:54:00:00:00:0c", { tx: TX });
  const g = core.guest;
  const Q = 256;
  let rxIdx = Q, txIdx = 0;
  for (const len of [64, 1500]) {
    const f = new Uint8Array(len);
    f.set([0x52, 0x54, 0, 0, 0, 0x0b, 0x52, 0x54, 0, 0, 0, 0x0a, 0x08, 0x00]);
    for (let i = 14; i < len; i++) f[i] = i & 0xff;
    const batch = Array.from({ length: Q }, () => f);
    const batches = len === 64 ? 200 : 100;
    const repost = () => { rxIdx = (rxIdx + Q) & 0xffff; g.writeU16(RX.avail + 2, rxIdx); };
    const perFrame = () => { for (let k = 0; k < batches; k++) { for (const x of batch) rxNic.receive(x); repost(); } };
    const batched = () => { for (let k = 0; k < batches; k++) { rxNic.receiveBatch(batch); repost(); } };
    const before = rxNic.counters().rxFrames;
    perFrame(); batched();
    if (Number(rxNic.counters().rxFrames - before) !== 2 * batches * Q) throw new Error("host → NIC: frames lost");
    const msOne = medianMs(perFrame, 7, 1), msBatch = medianMs(batched, 7, 1);
    const fpsOne = (batches * Q) / (msOne / 1000), fpsBatch = (batches * Q) / (msBatch / 1000);
    rows.push({
      name: `host → NIC ${len} B: receiveBatch (256 per call) ÷ receive per frame`, value: fpsBatch / 1e6, unit: "Mframes/s", baseline: fpsOne / 1e6, ratio: fpsBatch / fpsOne,
      note: "virtio-net with posted RX buffers (NO_INTERRUPT); both paths copy each frame into the I/O buffer once; per frame: a wasm call and a settle each, batched: one of each per 256",
    });
    // NIC → host: the guest's TX ring holds 256 frames; one kick moves them to the host outbox.
    for (let i = 0; i < Q; i++) { g.writeBytes(TX.bufs + 2048 * i + 12, f); g.writeU32(TX.desc + 16 * i + 8, 12 + len); }
    let sink = 0;
    const kick = () => { txIdx = (txIdx + Q) & 0xffff; g.writeU16(TX.avail + 2, txIdx); txNic.mmioWrite(0x50, 4, 1); };
    txNic.onTransmit = (x: Uint8Array) => { sink += x.length; };
    txNic.onTransmitBatch = null;
    const oneTx = () => { for (let k = 0; k < batches; k++) kick(); };
    oneTx();
    const msTxOne = medianMs(oneTx, 7, 1);
    txNic.onTransmitBatch = (b: FrameBatch) => { for (let i = 0; i < b.length; i++) sink += b.frame(i).length; };
    oneTx();
    const msTxBatch = medianMs(oneTx, 7, 1);
    txNic.onTransmitBatch = null;
    if (sink === 0) throw new Error("NIC → host: no frames");
    const tOne = (batches * Q) / (msTxOne / 1000), tBatch = (batches * Q) / (msTxBatch / 1000);
    rows.push({
      name: `NIC → host ${len} B: onTransmitBatch ÷ onTransmit per frame`, value: tBatch / 1e6, unit: "Mframes/s", baseline: tOne / 1e6, ratio: tBatch / tOne,
      note: "one kick per 256 frames from a fixed guest TX ring, the device's TX work included in both; per frame: a copy (slice) and a callback each; batched: views into the outbox, one callback per outbox",
    });
  }
  return rows;
}
