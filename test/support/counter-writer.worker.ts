// Worker side of the dirty-marking race property test (test/core/dirty-race.test.ts):
// writes an increasing counter into word 0 of each of its pages through the port
// (store, then mark), and after each write returns publishes the value it wrote
// in `done[page]` (seq-cst), so the main thread knows which writes have marked.
import { parentPort, workerData } from "node:worker_threads";
import { VmCore, type SharedVm } from "../../src/index.js";

const { shared, pages, writes, done: doneBuf } = workerData.data as { shared: SharedVm; pages: number[]; writes: number; done: SharedArrayBuffer };
const core = await VmCore.attach(shared);
const done = new Int32Array(doneBuf);
for (let v = 1; v <= writes; v++) {
  const p = pages[v % pages.length];
  core.guest.writeU32(p * 4096, v);
  Atomics.store(done, p, v);
}
parentPort!.postMessage({ done: true });
