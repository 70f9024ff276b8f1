// A worker that attaches to a VM (VmCore.attach) and calls one device's
// register and receive exports by handle in a loop while the main thread
// destroys it: the side of the lifecycle race that is not the owner.
//
// Handshake (Int32Array over `sync`): the worker sets READY once its first
// call was admitted (the handle reaches the device from this instance), then
// keeps calling; the main thread sets GONE after its destroy returned
// "freed"; every call the worker starts after it saw GONE must be refused.
// It then stops and posts its tallies.
import { parentPort, workerData } from "node:worker_threads";
import { VmCore } from "../../src/index.js";
import { H, type HammerJob, type HammerResult } from "./lifecycle-hammer.js";

const job = (workerData as { data: HammerJob }).data;
const core = await VmCore.attach(job.shared, 64 * 1024);
const e = core.exports;
const sync = new Int32Array(job.sync);
const h = job.handle;
const BAD = 3; // Status.ERR_BAD_HANDLE
const ONES = 0xffffffff;

// A 60-byte broadcast frame in this instance's I/O buffer.
const io = core.io();
io.fill(0, 0, 64);
io.fill(0xff, 0, 6);
io[12] = 0x08; io[13] = 0x00;

// One round of calls: [admitted, refused] for each, judged by its answer.
// "in": admitted, "out": refused, "w": a write (no answer to judge), else an odd answer.
type Probe = () => "in" | "out" | "w" | string;
const probes: Record<HammerJob["model"], Probe[]> = {
  "virtio-net": [
    () => { const v = e.vpci_cfg_read(h, 0, 4) >>> 0; return v === 0x10411af4 ? "in" : v === ONES ? "out" : `cfg ${v.toString(16)}`; },
    // device_status in the common configuration (BAR 4; the main thread enabled memory space): 0, no driver.
    () => { const v = e.vpci_bar_read(h, 4, 0x14, 1) >>> 0; return v === 0 ? "in" : v === ONES ? "out" : `status ${v}`; },
    // A notification of queue 0 (NOTIFY_OFF): through the virtio device-type table to virtio-net, which ignores it (no driver).
    () => { e.vpci_bar_write(h, 4, 0x3000, 2, 0); r.notifies++; return "w"; },
    () => { const s = e.vnet_receive(h, 0, 60); return s === BAD ? "out" : s >= 0 ? "in" : `receive ${s}`; },
    () => { const s = e.vnet_tx_done(h); return s === BAD ? "out" : s === 0 ? "in" : `tx_done ${s}`; },
    () => { const s = e.vnet_backlog(h); return s === -BAD ? "out" : s >= 0 ? "in" : `backlog ${s}`; },
  ],
  e1000: [
    () => { const v = e.e1k_cfg_read(h, 0, 4) >>> 0; return v === 0x100e8086 ? "in" : v === ONES ? "out" : `cfg ${v.toString(16)}`; },
    () => { const v = e.e1k_bar_read(h, 0, 0x08, 4, 0n) >>> 0; return v !== ONES ? "in" : "out"; },
    () => { const s = e.e1k_receive(h, 0, 60, 0n); return s === BAD ? "out" : s >= 0 ? "in" : `receive ${s}`; },
    () => { const s = e.e1k_tx_done(h, 0n); return s === BAD ? "out" : s === 0 ? "in" : `tx_done ${s}`; },
  ],
  ne2k: [
    () => { const v = e.ne2k_cfg_read(h, 0, 4) >>> 0; return v === 0x802910ec ? "in" : v === ONES ? "out" : `cfg ${v.toString(16)}`; },
    () => { const v = e.ne2k_io_read(h, 0, 1) >>> 0; return v !== 0xff ? "in" : "out"; },
    () => { const s = e.ne2k_receive(h, 0, 60); return s === BAD ? "out" : s >= 0 ? "in" : `receive ${s}`; },
    () => { const s = e.ne2k_tx_done(h); return s === BAD ? "out" : s === 0 ? "in" : `tx_done ${s}`; },
  ],
};

const r: HammerResult = { admitted: 0, refused: 0, lateAdmitted: 0, lateRefused: 0, lateWrites: 0, odd: [], notifies: 0 };
const list = probes[job.model];
let after = 0;
// Bounded: the main thread sets GONE once its destroy returned, then `after` more calls.
const total = job.rounds === undefined ? Infinity : job.rounds * list.length;
for (let i = 0; job.rounds === undefined ? after < job.after : i < total; i++) {
  const gone = Atomics.load(sync, H.GONE) === 1;
  const v = list[i % list.length]();
  if (v === "in") {
    r.admitted++;
    if (gone) r.lateAdmitted++;
    if (r.admitted === 1) { Atomics.store(sync, H.READY, 1); Atomics.notify(sync, H.READY); }
  } else if (v === "out") { r.refused++; if (gone) r.lateRefused++; }
  else if (v === "w") { if (gone) r.lateWrites++; } // judged by the device's counters
  else if (r.odd.length < 8) r.odd.push(v);
  if (gone) after++;
  Atomics.add(sync, H.CALLS, 1);
}
parentPort!.postMessage(r);
