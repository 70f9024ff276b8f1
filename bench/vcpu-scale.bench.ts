// A Machine at 64, 256 and 1024 vCPUs on the default vCPU thread pool (one
// thread per core, at most one per vCPU), its vCPUs writing flat out:
//  - freeze latency: freezeAll until every vCPU is FROZEN, median, against the
//    host's own share of that work (freezeAll of as many vCPUs with no thread
//    running them: the requests, the compare-and-swaps, the promises);
//  - an IPI broadcast through the Machine's local APICs (x2APIC, ICR write
//    from vCPU 0 to all including self → router → every IRR), against setting
//    one bit in as many plain 256-bit bitmaps;
//  - each as cost per vCPU, against the same cost per vCPU at 64 vCPUs
//    (ratio > 1: cheaper per vCPU than at 64).
import { ConfigTree, Machine, SyncState, VcpuHost } from "../src/index.js";
import { LapicDevice } from "../src/devices/apic/machine.js";
import { benchWasm, medianMs, type BenchRow } from "./support.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const SIZES = [64, 256, 1024];

/** freezeAll → thawAll of `n` vCPUs no thread runs (all IDLE): the host side alone. */
async function hostOnlyFreezeMs(n: number, samples: number): Promise<number> {
  const host = new VcpuHost(SyncState.create(n));
  const times: number[] = [];
  for (let i = 0; i < samples + 5; i++) {
    const t = performance.now();
    if ((await host.freezeAll(5000)) !== "ok") throw new Error("host-only freeze failed");
    if (i >= 5) times.push(performance.now() - t);
    host.thawAll();
  }
  return median(times);
}

interface Figures { n: number; threads: number; freezeMs: number; freezeBaseMs: number; ipiUs: number; ipiBaseUs: number }

async function measure(n: number): Promise<Figures> {
  const c = new ConfigTree();
  c.load(`memory.size=64M\ncpus=${n}\nlapic.x2apic=true\n`);
  // bench.wasm is vmdev.wasm plus the bench_* loops (the APIC broadcast below).
  const m = await Machine.create(c, { module: benchWasm(), variant: "release" });
  try {
    const bx = m.core.exports as unknown as Record<string, (...a: number[]) => number>;
    await sleep(200);
    const samples = 21;
    const freeze: number[] = [];
    for (let i = 0; i < samples; i++) {
      await sleep(5);
      const t = performance.now();
      const st = await m.vcpus.freezeAll(10_000);
      freeze.push(performance.now() - t);
      if (st !== "ok") throw new Error(`freeze of ${n} vCPUs: ${st}`);
      if (!m.vcpuStats().every((s) => s.state === "FROZEN")) throw new Error("a vCPU not FROZEN after freezeAll");
      m.vcpus.thawAll();
    }
    const lapics = m.devices.filter((d): d is LapicDevice => d instanceof LapicDevice);
    for (const a of lapics) if (a.apic.wrmsr(0x80f, 0x1ffn) !== 0) throw new Error("SVR write refused"); // software-enable (SDM §11.9)
    // Sanity before timing: one broadcast reaches every vCPU's APIC.
    if (bx.bench_apic_broadcast(1) !== 0) throw new Error("broadcast ICR write failed");
    const reached = lapics.filter((a) => a.apic.pendingVector() === 0x40).length;
    if (reached !== n) throw new Error(`broadcast reached ${reached} of ${n} vCPUs`);
    const reps = 20;
    const ipi = medianMs(() => { bx.bench_apic_broadcast(reps); }, 101, 5);
    const ipiBase = medianMs(() => { bx.bench_bitmap_broadcast(reps, n); }, 101, 5);
    return { n, threads: m.vcpus.threads, freezeMs: median(freeze), freezeBaseMs: await hostOnlyFreezeMs(n, samples), ipiUs: (ipi * 1000) / reps, ipiBaseUs: (ipiBase * 1000) / reps };
  } finally {
    await m.destroy();
  }
}

export async function run(): Promise<BenchRow[]> {
  const figs: Figures[] = [];
  for (const n of SIZES) figs.push(await measure(n));
  const at64 = figs[0];
  const rows: BenchRow[] = [];
  for (const f of figs) {
    rows.push({ name: `freeze latency, ${f.n} vCPUs on ${f.threads} threads (freezeAll → all FROZEN), median`, value: f.freezeMs, unit: "ms", baseline: f.freezeBaseMs, ratio: f.freezeBaseMs / f.freezeMs,
      note: `vCPUs writing flat out; baseline: freezeAll of ${f.n} vCPUs no thread runs (the host's share); ${((f.freezeMs * 1000) / f.n).toFixed(2)} µs per vCPU` });
    rows.push({ name: `APIC IPI broadcast to ${f.n} vCPUs in a running Machine (ICR write → router → IRRs)`, value: f.ipiUs, unit: "µs", baseline: f.ipiBaseUs, ratio: f.ipiBaseUs / f.ipiUs,
      note: `baseline: set one bit in ${f.n} plain 256-bit bitmaps; ${((f.ipiUs * 1000) / f.n).toFixed(1)} ns per vCPU` });
  }
  for (const f of figs.slice(1)) {
    const per = (f.freezeMs * 1000) / f.n, per64 = (at64.freezeMs * 1000) / at64.n;
    rows.push({ name: `freeze latency per vCPU at ${f.n} vCPUs`, value: per, unit: "µs", baseline: per64, ratio: per64 / per, note: "baseline: the same at 64 vCPUs; ratio > 1 = cheaper per vCPU" });
    const ipi = (f.ipiUs * 1000) / f.n, ipi64 = (at64.ipiUs * 1000) / at64.n;
    rows.push({ name: `IPI broadcast per vCPU at ${f.n} vCPUs`, value: ipi, unit: "ns", baseline: ipi64, ratio: ipi64 / ipi, note: "baseline: the same at 64 vCPUs; ratio > 1 = cheaper per vCPU" });
  }
  return rows;
}
