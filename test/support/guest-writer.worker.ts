// Worker side of test/core/threads.test.ts: attaches to the VM's shared memory and
// writes a pattern into guest RAM through the port, as a vCPU would.
import { parentPort, workerData } from "node:worker_threads";
import { VmCore, type SharedVm } from "../../src/index.js";

const { shared, pages, tag, rounds } = workerData.data as { shared: SharedVm; pages: number[]; tag: number; rounds: number };
const core = await VmCore.attach(shared);
for (let r = 0; r < rounds; r++) {
  for (const p of pages) core.guest.writeU32(p * 4096 + (r % 1024) * 4, tag + r);
}
parentPort!.postMessage({ done: true });
