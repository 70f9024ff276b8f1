// A bench worker thread: attaches to the bench VM's memory (as a vCPU worker
// does) and runs bench_* exports on request, each started with the others at
// a shared gate; reports its own start and end time so the main thread can
// take the span from the first start to the last end.
import { parentPort, workerData } from "node:worker_threads";
import { VmCore, type SharedVm } from "../src/index.js";

const { shared } = (workerData as { data: { shared: SharedVm } }).data;
const core = await VmCore.attach(shared, 64 * 1024);
const bx = core.exports as unknown as Record<string, (...a: number[]) => number>;
if (bx.bench_worker_init() !== 0) throw new Error("bench_worker_init");

interface Job { gate: SharedArrayBuffer; fn: string; args: number[] }
parentPort!.on("message", (job: Job) => {
  const g = new Int32Array(job.gate);
  Atomics.add(g, 1, 1);
  while (Atomics.load(g, 0) === 0) Atomics.wait(g, 0, 0, 20);
  const t0 = performance.timeOrigin + performance.now();
  const result = bx[job.fn](...job.args);
  const t1 = performance.timeOrigin + performance.now();
  parentPort!.postMessage({ result, t0, t1 });
});
parentPort!.postMessage({ ready: true });
