// The TX queue, decided by measurement: 1, 2 and 4 producer threads (vCPU
// workers, one TX queue each) × 64 B and 1500 B frames into one consumer
// context, for the three variants (assembly/rings/txq.ts). The consumer's
// per-frame work is forwarding into a receiving virtio-net NIC as the
// in-wasm link does (bench/assembly/txq.ts). Figures are frames/s over the
// span from the first producer's start to the last one's end, median of 5
// interleaved repetitions.
// Rows compare mp_ring and lock_ring with the simple lock at the same point;
// the lock rows compare with the sink called directly by one thread.
import { TXQ_VARIANT } from "../src/rings/txq.js";
import { RingsDefs } from "../src/generated/constants.js";
import { benchCore, BenchWorkers, fixedRingNic, medianMs, type BenchRow } from "./support.js";

const { TXQ_MAY_WAIT } = RingsDefs;

const Q = 256;
const B_RX = { desc: 0x200000, avail: 0x210000, used: 0x220000, bufs: 0xc00000 };
const median = (xs: number[]) => { const s = xs.slice().sort((a, b) => a - b); return s[s.length >> 1]; };

export async function run(): Promise<BenchRow[]> {
  const core = await benchCore(32 << 20);
  const b = await fixedRingNic(core, "52:54:00:00:00:0b", { rx: B_RX }, Q);
  const ctx = core.bx.bench_txq_ctx(b.handle, B_RX.avail, Q);
  if (core.bx.bench_worker_init() !== 0) throw new Error("bench_worker_init");

  const workers = await BenchWorkers.start(core, 4);
  // Warm up every loop on every thread first, so no variant is measured while
  // V8 still runs it in its baseline tier (a wasm function is optimised for
  // later calls, not the one running).
  const warm = async () => {
    for (let i = 0; i < 4; i++) core.bx.bench_sink_direct(ctx, 5000, 64);
    for (const variant of ["lock", "mp_ring", "lock_ring"] as const) {
      for (let rep = 0; rep < 4; rep++) {
        const h = core.exports.txq_create(TXQ_VARIANT[variant], 1024, 64, 1518, 0);
        await workers.run(Array.from({ length: 4 }, (_, p) => ({ fn: "bench_txq_produce", args: [h, ctx, p + 1, 3000, 64 + rep * 400, TXQ_MAY_WAIT, 64] })));
        core.exports.ring_destroy(h);
      }
    }
  };
  await warm();
  const rows: BenchRow[] = [];
  const fps = new Map<string, number>();
  const counts = { 64: 200_000, 1500: 100_000 } as Record<number, number>;
  const REPS = 5;
  try {
    for (const len of [64, 1500]) {
      // Baseline: one thread calling the sink directly, no queue.
      const n1 = counts[len];
      const directMs = medianMs(() => { core.bx.bench_sink_direct(ctx, n1, len); }, 5, 1);
      fps.set(`direct/${len}`, n1 / (directMs / 1000));
      for (const producers of [1, 2, 4]) {
        const per = Math.round(counts[len] / producers);
        const spans = new Map<string, number[]>();
        // Repetitions interleave the variants, so a change in the machine's load hits them alike.
        for (let rep = 0; rep < REPS; rep++) {
          for (const variant of ["lock", "mp_ring", "lock_ring"] as const) {
            const h = core.exports.txq_create(TXQ_VARIANT[variant], 1024, 64, 1518, 0);
            if (h < 0) throw new Error(`txq_create ${h}`);
            const before = b.counters();
            const { results, ms } = await workers.run(Array.from({ length: producers }, (_, p) => ({
              fn: "bench_txq_produce", args: [h, ctx, p + 1, per, len, TXQ_MAY_WAIT, 64],
            })));
            if (results.some((r) => r === 0xffffffff)) throw new Error(`${variant}: a submit failed`);
            if (core.exports.txq_pending(h) !== 0) throw new Error(`${variant}: frames left in the queue`);
            const after = b.counters();
            const got = Number(after.rxFrames - before.rxFrames);
            if (got !== per * producers || after.rxDropped !== before.rxDropped) throw new Error(`${variant} ×${producers}: NIC received ${got} of ${per * producers} (dropped ${after.rxDropped - before.rxDropped})`);
            core.exports.ring_destroy(h);
            spans.set(variant, [...(spans.get(variant) ?? []), ms]);
          }
        }
        for (const [variant, ms] of spans) fps.set(`${variant}/${producers}/${len}`, (per * producers) / (median(ms) / 1000));
        const lock = fps.get(`lock/${producers}/${len}`)!;
        const direct = fps.get(`direct/${len}`)!;
        rows.push({
          name: `TX queue lock (simple path), ${producers} producer${producers > 1 ? "s" : ""}, ${len} B`, value: lock / 1e6, unit: "Mframes/s", baseline: direct / 1e6, ratio: lock / direct,
          note: "producers are worker threads; per frame the consumer forwards into a receiving virtio-net NIC as the in-wasm link does; baseline: one thread calling that sink directly (no queue)",
        });
        for (const v of ["mp_ring", "lock_ring"] as const) {
          const x = fps.get(`${v}/${producers}/${len}`)!;
          rows.push({
            name: `TX queue ${v} ÷ lock, ${producers} producer${producers > 1 ? "s" : ""}, ${len} B`, value: x / 1e6, unit: "Mframes/s", baseline: lock / 1e6, ratio: x / lock,
            note: v === "mp_ring"
              ? "mp_ring (1024 cells, budget 64, producers drain); the frame is copied into the ring's cell, the lock path forwards from the producer's buffer; baseline: the lock path at the same point"
              : "the lock plus a 64-cell ring producers leave frames in while it is held; baseline: the lock path at the same point",
          });
        }
      }
    }
    // The consumer's batch: how many frames a producer that finds an mp_ring idle forwards as its
    // consumer before it may let go, at the most contended point (4 producers, 64 B). The lock and
    // lock_ring forward inline (the holder drains the small ring whole) and take no budget.
    const per = Math.round(counts[64] / 4);
    const spans = new Map<string, number[]>();
    const budgets = [8, 64, 256];
    const runOne = async (variant: "lock" | "mp_ring", budget: number) => {
      const h = core.exports.txq_create(TXQ_VARIANT[variant], 1024, 64, 1518, 0);
      if (h < 0) throw new Error(`txq_create ${h}`);
      const before = b.counters();
      const { results, ms } = await workers.run(Array.from({ length: 4 }, (_, p) => ({
        fn: "bench_txq_produce", args: [h, ctx, p + 1, per, 64, TXQ_MAY_WAIT, budget],
      })));
      if (results.some((r) => r === 0xffffffff)) throw new Error(`${variant}: a submit failed`);
      if (core.exports.txq_pending(h) !== 0) throw new Error(`${variant}: frames left in the queue`);
      if (Number(b.counters().rxFrames - before.rxFrames) !== per * 4) throw new Error(`${variant} budget ${budget}: frames lost`);
      core.exports.ring_destroy(h);
      const k = `${variant}/${variant === "lock" ? 0 : budget}`;
      spans.set(k, [...(spans.get(k) ?? []), ms]);
    };
    for (let rep = 0; rep < REPS; rep++) {
      await runOne("lock", 0);
      for (const budget of budgets) await runOne("mp_ring", budget);
    }
    const fpsOf = (k: string) => (per * 4) / (median(spans.get(k)!) / 1000);
    for (const budget of budgets) {
      rows.push({
        name: `TX queue mp_ring ÷ lock, 4 producers, 64 B, consumer batch ${budget}`, value: fpsOf(`mp_ring/${budget}`) / 1e6, unit: "Mframes/s", baseline: fpsOf("lock/0") / 1e6, ratio: fpsOf(`mp_ring/${budget}`) / fpsOf("lock/0"),
        note: "mp_ring's drain budget (frames the producer that became consumer forwards before it may let go; indices still published every TXQ_PUBLISH_BATCH); baseline: the lock path, which forwards inline, in the same repetitions",
      });
    }
  } finally {
    await workers.stop();
  }
  return rows;
}
