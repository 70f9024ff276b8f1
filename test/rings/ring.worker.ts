// Worker side of the ring thread tests: attaches to the VM's shared memory
// (VmCore.attach, as a vCPU worker does) and plays one role on a ring object
// named by its handle. Posts { ready } once attached, waits for the start
// gate, then posts its result.
import { parentPort, workerData } from "node:worker_threads";
import { VmCore, ElementQueue, NetmapRingUser, TxQueue, Status, FrameArrayWriter, FrameBatch, type SharedVm } from "../../src/index.js";
import { tagged } from "./support.js";

interface Job {
  shared: SharedVm; gate: SharedArrayBuffer; role: string; handle: number;
  id: number; count: number; burst: number; len: number; abdicate?: boolean;
  /** port-far: the ingress ring, and [0] stop, [1] egress frames taken (published before their slots go back). */
  handle2?: number; flags?: SharedArrayBuffer;
}
const job = (workerData as { data: Job }).data;
const core = await VmCore.attach(job.shared, 256 * 1024);
const gate = new Int32Array(job.gate);
parentPort!.postMessage({ ready: true });
Atomics.add(gate, 1, 1);
while (Atomics.load(gate, 0) === 0) Atomics.wait(gate, 0, 0, 50);

// A thread that finds no room or no value backs off after a few tries, as a
// real producer or consumer would (a pause, then a short sleep). Spinning
// through whole time slices on an oversubscribed machine starves the thread
// the spinner waits for (a producer preempted between its reservation and its
// publish) and makes the test's progress depend on the scheduler.
const backoffCell = new Int32Array(new SharedArrayBuffer(4));
function backoff(idle: number): void { if (idle > 64) Atomics.wait(backoffCell, 0, 0, 0.05); }

function rqProduce(): unknown {
  const q = ElementQueue.attach(core, job.handle);
  let sent = 0, full = 0, idle = 0;
  while (sent < job.count) {
    const n = Math.min(job.burst, job.count - sent);
    const vals = Array.from({ length: n }, (_, i) => ((job.id << 24) | (sent + i)) >>> 0);
    const k = q.enqueue(vals, sent % 3 === 0 ? "burst" : "bulk");
    if (k < 0) return { error: k };
    if (k === 0) { full++; backoff(++idle); } else idle = 0;
    sent += k;
  }
  return { sent, full };
}

function rqConsume(): unknown {
  const q = ElementQueue.attach(core, job.handle);
  const next = new Map<number, number>();
  let got = 0, bad = 0, idle = 0;
  while (got < job.count) {
    const v = q.dequeue(job.burst, "burst");
    if (q.lastStatus !== 0) return { error: q.lastStatus };
    if (v.length === 0) backoff(++idle); else idle = 0;
    for (const x of v) {
      const p = x >>> 24, s = x & 0xffffff;
      if (s !== (next.get(p) ?? 0)) bad++;
      next.set(p, s + 1);
    }
    got += v.length;
  }
  return { got, bad, producers: [...next.entries()].sort((a, b) => a[0] - b[0]) };
}

function nmSend(): unknown {
  const u = NetmapRingUser.attach(core, job.handle);
  let seq = 0, waits = 0;
  while (seq < job.count) {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < job.burst && seq + i < job.count; i++) frames.push(tagged(job.len + ((seq + i) % 7), job.id, seq + i));
    const n = u.send(frames);
    seq += n;
    if (n === 0) { waits++; u.waitTail(u.tail, 5); }
  }
  return { sent: seq, waits };
}

function nmRecv(): unknown {
  const u = NetmapRingUser.attach(core, job.handle);
  let seq = 0, bad = 0, waits = 0;
  while (seq < job.count) {
    const got = u.receive(job.burst);
    for (const f of got) {
      const want = tagged(job.len + (seq % 7), job.id, seq);
      if (!Buffer.from(f).equals(Buffer.from(want))) bad++;
      seq++;
    }
    if (got.length === 0) { waits++; u.waitTail(u.tail, 5); }
  }
  return { got: seq, bad, waits };
}

/** The backend in wasm: this instance's nmr_user_send / nmr_user_recv exports. */
function nmWasmSend(): unknown {
  const e = core.exports;
  let seq = 0;
  while (seq < job.count) {
    const w = new FrameArrayWriter(core.io());
    for (let i = 0; i < job.burst && seq + i < job.count; i++) w.push(tagged(job.len + ((seq + i) % 7), job.id, seq + i));
    const n = e.nmr_user_send(job.handle, 0, w.bytes);
    if (n < 0) return { error: -n };
    seq += n;
  }
  return { sent: seq };
}

function nmWasmRecv(): unknown {
  const e = core.exports;
  let seq = 0, bad = 0;
  while (seq < job.count) {
    const n = e.nmr_user_recv(job.handle, 0, core.exports.io_size());
    if (n < 0) return { error: -n };
    for (const f of FrameBatch.read(core.io(), n)) {
      if (!Buffer.from(f).equals(Buffer.from(tagged(job.len + (seq % 7), job.id, seq)))) bad++;
      seq++;
    }
  }
  return { got: seq, bad };
}

function txqSubmit(): unknown {
  const q = TxQueue.attach(core, job.handle);
  let full = 0;
  for (let seq = 0; seq < job.count; seq++) {
    const f = tagged(job.len + (seq % 5), job.id, seq);
    for (;;) {
      const s = q.submit(f, { budget: job.burst, abdicate: job.abdicate });
      if (s === Status.OK) break;
      if (s !== Status.ERR_FULL) return { error: s, seq };
      full++;
      if (q.variant === "mp_ring" && !job.abdicate) q.drain(64);
    }
  }
  return { sent: job.count, full };
}

/**
 * The far end of a NIC's ring port: takes the guest's frames from the egress
 * ring (tag job.id, in order) and sends job.count frames (tag job.id + 1)
 * into the ingress ring while it is not frozen, until told to stop.
 */
function portFar(): unknown {
  const out = NetmapRingUser.attach(core, job.handle);
  const inn = NetmapRingUser.attach(core, job.handle2!);
  const flags = new Int32Array(job.flags!);
  let next = 0, got = 0, bad = 0, sent = 0, waits = 0;
  while (Atomics.load(flags, 0) === 0) {
    let moved = 0;
    let h = out.head;
    const t = out.tail;
    while (h !== t) {
      const s = out.slot(h);
      const f = out.buffer(s.buf).subarray(0, s.len);
      const seq = new DataView(f.buffer, f.byteOffset).getUint32(18, true);
      if (seq < next || !Buffer.from(f).equals(Buffer.from(tagged(job.len + (seq % 7), job.id, seq)))) bad++;
      got++;
      next = seq + 1;
      h = h + 1 === out.slots ? 0 : h + 1;
      moved++;
    }
    if (moved) { Atomics.add(flags, 1, moved); out.setHead(h); }
    if (sent < job.count && !inn.frozen) {
      const frames: Uint8Array[] = [];
      for (let i = 0; i < job.burst && sent + i < job.count; i++) frames.push(tagged(job.len + ((sent + i) % 7), job.id + 1, sent + i));
      const k = inn.send(frames);
      sent += k;
      moved += k;
    }
    if (moved === 0) { waits++; out.waitTail(t, 2); }
  }
  return { got, bad, sent, waits };
}

const roles: Record<string, () => unknown> = {
  "rq-produce": rqProduce, "rq-consume": rqConsume, "nm-send": nmSend, "nm-recv": nmRecv,
  "nm-wasm-send": nmWasmSend, "nm-wasm-recv": nmWasmRecv, "txq-submit": txqSubmit, "port-far": portFar,
};
parentPort!.postMessage({ result: roles[job.role]() });
