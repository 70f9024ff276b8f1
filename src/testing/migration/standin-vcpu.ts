// A stand-in vCPU: a worker thread attached to the VM's shared memory that
// writes guest RAM through the port at a set rate (dirty-marked like any
// write), parks when asked (write lock) and sleeps for the throttle.
import { parentPort, workerData } from "node:worker_threads";
import { VmCore } from "../../vm-core.js";
import { Ctl, type VcpuWorkerData } from "./standin.js";

const d = workerData.data as VcpuWorkerData;
const ctl = new Int32Array(d.ctl);
const core = await VmCore.attach(d.shared);
const e = core.exports;
const nap = new Int32Array(new SharedArrayBuffer(4));
let x = d.seed >>> 0 || 1;
const rand = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 4294967296; };
const SLICE_MS = 5;
let seq = 0;
let credit = 0;
let value = BigInt(d.index + 1) << 48n;
Atomics.add(ctl, Ctl.RUNNING, 1);

function pick(): number {
  if (d.pattern === "sequential") { const p = d.first + (seq % d.count); seq++; return p; }
  if (d.pattern === "hotset" && rand() < 0.9) return d.first + Math.floor(rand() * Math.max(1, Math.floor(d.count / 16)));
  return d.first + Math.floor(rand() * d.count);
}

while (Atomics.load(ctl, Ctl.STOP) === 0) {
  if (Atomics.load(ctl, Ctl.PAUSE) === 1) {
    // Parked: no write happens until PAUSE clears.
    Atomics.add(ctl, Ctl.PARKED, 1);
    Atomics.notify(ctl, Ctl.PARKED);
    while (Atomics.load(ctl, Ctl.PAUSE) === 1 && Atomics.load(ctl, Ctl.STOP) === 0) Atomics.wait(ctl, Ctl.PAUSE, 1, 50);
    Atomics.sub(ctl, Ctl.PARKED, 1);
    continue;
  }
  const t0 = performance.now();
  credit += (d.pagesPerSec * SLICE_MS) / 1000;
  let n = Math.floor(credit);
  credit -= n;
  for (; n > 0; n--) {
    if (Atomics.load(ctl, Ctl.PAUSE) === 1) break;
    const page = pick();
    const off = Math.floor(rand() * 512) * 8;
    value++;
    e.gm_write(BigInt(page * 4096 + off), 8, value);
    Atomics.add(ctl, Ctl.WRITES + d.index, 1);
  }
  const busy = performance.now() - t0;
  const throttle = Atomics.load(ctl, Ctl.THROTTLE) / 1000;
  // Throttled: sleep throttle/(1-throttle) of the time worked, on top of pacing.
  const rest = Math.max(0, SLICE_MS - busy) + (throttle > 0 ? Math.max(busy, SLICE_MS) * throttle / (1 - throttle) : 0);
  if (rest > 0) Atomics.wait(nap, 0, 0, rest);
}
parentPort?.postMessage({ exit: true });
