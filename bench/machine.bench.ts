// Machine runtime figures, each against a baseline measured in the same run:
//  - freeze latency: from the write-lock request until every vCPU is frozen
//    (vCPUs running the synthetic workload flat out), median, against a
//    postMessage round trip to an idle worker;
//  - the full write lock (freeze + lease block + exclusive), same baseline;
//  - a vCPU worker's page-write rate against the same wasm loop called on
//    the main thread (what the worker loop and its checks cost).
import { Worker } from "node:worker_threads";
import { ConfigTree, Machine } from "../src/index.js";
import type { BenchRow } from "./support.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };

async function postMessageRoundTrip(samples: number): Promise<number> {
  const w = new Worker(`const { parentPort } = require("node:worker_threads"); parentPort.on("message", (m) => parentPort.postMessage(m));`, { eval: true });
  const once = () => new Promise<number>((resolve) => { const t = performance.now(); w.once("message", () => resolve(performance.now() - t)); w.postMessage(1); });
  for (let i = 0; i < 20; i++) await once();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) { times.push(await once()); await sleep(2); }
  await w.terminate();
  return median(times);
}

export async function run(): Promise<BenchRow[]> {
  const samples = 41;
  const baseline = await postMessageRoundTrip(samples);
  const c = new ConfigTree();
  c.set("memory.size", "64M");
  c.set("cpus", "2");
  const m = await Machine.create(c);
  const rows: BenchRow[] = [];
  try {
    await sleep(100);
    const freeze: number[] = [];
    const lock: number[] = [];
    for (let i = 0; i < samples; i++) {
      await sleep(3);
      let t = performance.now();
      const st = await m.vcpus.freezeAll(5000);
      freeze.push(performance.now() - t);
      if (st !== "ok") throw new Error(`freeze: ${st}`);
      m.vcpus.thawAll();
      await sleep(3);
      t = performance.now();
      const release = await m.writeLock();
      lock.push(performance.now() - t);
      release();
    }
    const f = median(freeze), l = median(lock);
    const note = `2 vCPU workers writing flat out; baseline: postMessage round trip to an idle worker (${baseline.toFixed(3)} ms); ratio > 1 = faster than the round trip`;
    rows.push({ name: "freeze latency (write-lock request → all vCPUs frozen), median", value: f, unit: "ms", baseline, ratio: baseline / f, note });
    rows.push({ name: "write lock acquired (freeze + leases + exclusive), median", value: l, unit: "ms", baseline, ratio: baseline / l, note });

    // Dirty rate of one vCPU worker vs the same export looped on the main thread.
    m.sampleDirtyRate();
    await sleep(300);
    const rate = m.sampleDirtyRate();
    const perVcpu = rate.total.writesPerSec / m.vcpus.count;
    await m.pause();
    const e = m.core.exports;
    const pages = m.core.guest.pages;
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 300) n += e.vcpu_dirty(0, 0, pages, 0, 4096, 8, 1);
    const mainRate = (n * 1000) / (performance.now() - t0);
    m.resume();
    rows.push({ name: "vCPU worker page writes per second (uniform, 8-byte writes)", value: perVcpu / 1e6, unit: "M/s", baseline: mainRate / 1e6, ratio: perVcpu / mainRate,
      note: "baseline: vcpu_dirty looped on the main thread with nothing else running; ratio ≈ 1 means the worker loop costs little (2 vCPUs share 2 cores with the main thread)" });
  } finally {
    await m.destroy();
  }
  return rows;
}
