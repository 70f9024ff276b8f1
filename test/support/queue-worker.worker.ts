// A device-side worker in the shape of a virtio-net queue worker: joins the
// machine with attachToMachine and writes guest RAM in runUnderLease's steps.
import { parentPort, workerData } from "node:worker_threads";
import { attachToMachine, runUnderLease, type MachineWorkerHandle, type LeaseLoopStats } from "../../src/index.js";

const d = (workerData as { data: { handle: MachineWorkerHandle; control: SharedArrayBuffer; page: number } }).data;
const { core, lock } = await attachToMachine(d.handle);
const control = new Int32Array(d.control);
const stats: LeaseLoopStats = { leases: 0, steps: 0, expiries: 0, timeouts: 0 };
let n = 0;
parentPort!.postMessage({ ready: true });
const end = runUnderLease(lock, () => { core.guest.writeU32(d.page * 4096 + (n++ % 1024) * 4, n); return n % 8 !== 0; }, { stop: () => Atomics.load(control, 0) !== 0, idleMs: 0.05, stats });
parentPort!.postMessage({ stats, end });
