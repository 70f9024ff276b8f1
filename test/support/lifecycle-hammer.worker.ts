// A worker that attaches to a VM (VmCore.attach) and calls one device's
// register and receive exports by handle in a loop while the main thread
// destroys and re-creates it: the side of the lifecycle race that is not the
// owner.
//
// Handshake (Int32Array over `sync`, lifecycle-hammer.ts H): before each call
// the worker reads EPOCH, odd while the main thread has destroyed the device
// and not yet begun the next create; after the call it stores that epoch in
// DONE (so the main thread knows no call that read an odd epoch is still
// running before it creates again) and counts admitted calls in ADMITTED.
// Every call started in an odd epoch must be refused. It stops at STOP and
// posts its tallies.
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
// "in": admitted, "out": refused, "w": a write (no answer to judge), "off": admitted by a function with its BAR disabled, else an odd answer.
type Probe = () => "in" | "out" | "w" | string;
const probes: Record<HammerJob["model"], Probe[]> = {
  "virtio-net": [
    () => { const v = e.vpci_cfg_read(h, 0, 4) >>> 0; return v === 0x10411af4 ? "in" : v === ONES ? "out" : `cfg ${v.toString(16)}`; },
    // device_status in the common configuration (BAR 4): 0, no driver; 0xff ("off") while a new device's memory space is not yet enabled.
    () => { const v = e.vpci_bar_read(h, 4, 0x14, 1) >>> 0; return v === 0 ? "in" : v === ONES ? "out" : v === 0xff ? "off" : `status ${v}`; },
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
// Bounded: by `rounds`, or by the main thread's STOP.
for (let i = 0; job.rounds === undefined ? Atomics.load(sync, H.STOP) === 0 : i < job.rounds * list.length; i++) {
  const epoch = Atomics.load(sync, H.EPOCH);
  const gone = (epoch & 1) === 1;
  const v = list[i % list.length]();
  if (v === "in") {
    r.admitted++;
    if (gone) r.lateAdmitted++;
    Atomics.add(sync, H.ADMITTED, 1);
  } else if (v === "out") { r.refused++; if (gone) r.lateRefused++; }
  else if (v === "w") { if (gone) r.lateWrites++; } // judged by the device's counters
  else if (v === "off") { if (gone) r.lateAdmitted++; } // a device answered: never while it is gone
  else if (r.odd.length < 8) r.odd.push(v);
  Atomics.store(sync, H.DONE, epoch);
  Atomics.add(sync, H.CALLS, 1);
}
parentPort!.postMessage(r);
