// The host frame link: the one way frames move between a NIC's host port
// (`onTransmit` / `receive`) and whatever carries them on the host (a
// responder, an emulator's network bus, another VM's NIC).
//
// - Guest → host: every frame the NIC transmits is copied (the device may
//   reuse its buffer), shown to the tap, and given to the peer callback; a
//   throwing peer is counted, never unwound into the device (the callback
//   runs inside the guest's notify write). A NIC with `onTransmitBatch`
//   hands over everything one notify produced in one callback, copied out
//   in one piece.
// - Host → guest: frames are copied into a bounded queue of frame records
//   (`maxPending` frames; past it they are dropped and counted; the queue's
//   buffer grows to its high-water mark and is reused, so a frame costs no
//   allocation) and are handed to the NIC in order, only while the link is
//   up, and never from inside the NIC's own call stack: on the next
//   event-loop turn ("auto"), or when the owner calls `pump()` ("manual": an
//   owner that may touch the NIC only while it holds a lease on the VM). A
//   NIC with `receiveFrames` takes them a window at a time, one wasm call
//   per window with a status per frame, so the counters are those of the
//   per-frame path; a frame larger than the window goes alone through
//   `receive`.

import { Status } from "../status.js";
import { frameRecordBytes, type FrameBatch } from "../rings/frame-array.js";

/** The NIC side of a host link (VirtioNet has these members). */
export interface FrameEndpoint {
  onTransmit: ((frame: Uint8Array) => void) | null;
  /** Host→guest; returns a Status. `frame` is a view of the link's queue, valid only during the call: keep a copy. */
  receive(frame: Uint8Array): number;
  /** Guest → host, a batch per callback (VirtioNet): used instead of `onTransmit` when the NIC has it. */
  onTransmitBatch?: ((batch: FrameBatch) => void) | null;
  /**
   * Host → guest frames as a frame array (records of u32 length, bytes,
   * padding to 4; at most `frameWindowBytes`), a Status per frame into
   * `statuses`; with `stopAtRefusal`, stop after the first frame not taken
   * with OK. Returns frames handed over or a negative Status. VirtioNet,
   * E1000 and Ne2k have it.
   */
  receiveFrames?(records: Uint8Array, statuses: Uint8Array, stopAtRefusal: boolean): number;
  /** Bytes of records `receiveFrames` takes per call. */
  readonly frameWindowBytes?: number;
}

/** Frames above this are dropped (and counted lost) when delivered: no NIC model takes more than 16384 + 4 bytes. */
const MAX_FRAME_BYTES = 65536;

/** A frame record's length word (frame arrays are little-endian, src/rings/frame-array.ts). */
const recordLength = (b: Uint8Array, off: number): number => (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;

/** Counters of a host link. */
export interface HostLinkCounters {
  /** Frames the guest transmitted. */
  txFrames: number;
  txBytes: number;
  /** Frames delivered to the guest (receive returned OK). */
  rxFrames: number;
  rxBytes: number;
  /** Deliveries the NIC refused and that were retried (`maxRetries`). */
  rxRetries: number;
  /** Frames refused by the NIC (after any retries) or dropped because the queue was full. */
  rxDropped: number;
  /**
   * The part of `rxDropped` the link lost on its own account: queue overflow,
   * and frames the NIC refused for a reason it does not count itself (any
   * status but ERR_FULL, with which a NIC says it dropped and counted the frame).
   */
  lost: number;
  /** Exceptions thrown by the peer or the NIC, caught (the frame is dropped). */
  errors: number;
  /** Calls that handed frames to the NIC: one per window with `receiveFrames`, one per frame with `receive`. */
  rxCalls: number;
}

/** Options of a {@link HostLink}. */
export interface HostLinkOptions {
  /** Frames waiting for the NIC before new ones are dropped. Default 256. */
  maxPending?: number;
  /**
   * How many times a refused frame is retried (1 ms apart, "auto" delivery)
   * before it is dropped. Default 0: VirtioNet keeps its own receive backlog,
   * and a refusal (ERR_FULL) means it already dropped and counted the frame.
   * Raise it for endpoints without a backlog.
   */
  maxRetries?: number;
  /** Called with every frame in either direction (tests, capture). */
  tap?: (dir: "tx" | "rx", frame: Uint8Array) => void;
  /**
   * The peer (and the tap) only read a guest frame during the call and copy
   * what they keep (a forwarder into another HostLink, whose `deliver`
   * copies): a batch from `onTransmitBatch` is then handed over as views of
   * the NIC's outbox, with no copy at all. Default false: every frame the
   * peer gets is its own.
   */
  borrow?: boolean;
  /**
   * Guest frames a batch at a time, from a NIC with `onTransmitBatch`:
   * called instead of the peer with the whole batch, whose frames are views
   * valid only during the call (copy what you keep; another link's
   * `deliverBatch` copies the records in one piece). Frames from a NIC
   * without batches still go to the peer one by one.
   */
  peerBatch?: (batch: FrameBatch) => void;
  /** "auto" (default): queued frames go in on the next event-loop turn; "manual": only when `pump()` is called. */
  delivery?: "auto" | "manual";
  /** While it returns false nothing is handed to the NIC and frames wait in the queue. Default: always up. */
  up?: () => boolean;
  /** Told how many frames were dropped because the queue was full (e.g. MachineVirtioNet.noteLinkLoss). */
  onOverflow?: (frames: number) => void;
}

/** A host frame link for one NIC (see the top of this file). */
export class HostLink {
  private readonly c: HostLinkCounters = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, rxRetries: 0, rxDropped: 0, lost: 0, errors: 0, rxCalls: 0 };
  /** Frames for the guest as frame records in q[qHead, qTail); qCount of them. */
  private q = new Uint8Array(16 * 1024);
  private qHead = 0;
  private qTail = 0;
  private qCount = 0;
  /** A window is inside the NIC: the queue may grow but not move, and close() empties it afterwards. */
  private inNic = false;
  private clearAfter = false;
  /** Status per frame of the last window (sized to the NIC's window, reused). */
  private statuses = new Uint8Array(0);
  private tries = 0;
  /** Cancels the pending delivery turn, if one is scheduled. */
  private scheduled: (() => void) | null = null;
  private closed = false;
  private readonly maxPending: number;
  private readonly maxRetries: number;
  private readonly auto: boolean;
  private readonly up: () => boolean;
  private readonly onTransmit: (frame: Uint8Array) => void;
  private readonly onTransmitBatch: (batch: FrameBatch) => void;

  constructor(private nic: FrameEndpoint, peer: (frame: Uint8Array) => void, private readonly opts: HostLinkOptions = {}) {
    this.maxPending = opts.maxPending ?? 256;
    this.maxRetries = opts.maxRetries ?? 0;
    this.auto = (opts.delivery ?? "auto") === "auto";
    this.up = opts.up ?? (() => true);
    const send = (frame: Uint8Array) => {
      this.c.txFrames++;
      this.c.txBytes += frame.length;
      // Runs inside the guest's notify write: a throwing peer must not unwind into the device.
      try {
        opts.tap?.("tx", frame);
        peer(frame);
      } catch {
        this.c.errors++;
      }
    };
    const borrow = opts.borrow ?? false;
    this.onTransmit = (frame) => send(borrow ? frame : frame.slice()); // the device may reuse its buffer
    const peerBatch = opts.peerBatch;
    this.onTransmitBatch = peerBatch ? (batch) => {
      this.c.txFrames += batch.length;
      for (let i = 0; i < batch.length; i++) this.c.txBytes += batch.lengthOf(i);
      try {
        if (opts.tap) for (let i = 0; i < batch.length; i++) opts.tap("tx", batch.frame(i));
        peerBatch(batch);
      } catch {
        this.c.errors++;
      }
    } : (batch) => {
      // One copy per batch (the views die when the callback returns), none for a borrowing peer.
      const own = borrow ? batch : batch.copy();
      for (let i = 0; i < own.length; i++) send(own.frame(i));
    };
    this.attachNic(nic);
  }

  /** A snapshot of the link's counters. */
  counters(): HostLinkCounters { return { ...this.c }; }

  /** Queue a frame for the guest (copied: the caller may reuse its buffer). */
  deliver(frame: Uint8Array): void {
    if (this.closed) return;
    if (this.qCount >= this.maxPending) {
      this.c.rxDropped++;
      this.c.lost++;
      this.opts.onOverflow?.(1);
      return;
    }
    if (frame.length > MAX_FRAME_BYTES) {
      // Larger than any NIC takes (what `receive` would reject as invalid): not worth queueing.
      this.c.rxDropped++;
      this.c.lost++;
      return;
    }
    const rec = frameRecordBytes(frame.length);
    if (this.qTail + rec > this.q.length) this.makeRoom(rec);
    const q = this.q, at = this.qTail, n = frame.length;
    q[at] = n & 0xff; q[at + 1] = (n >>> 8) & 0xff; q[at + 2] = (n >>> 16) & 0xff; q[at + 3] = n >>> 24;
    q.set(frame, at + 4);
    this.qTail += rec;
    this.qCount++;
    if (this.auto) this.schedule(0);
  }

  /**
   * Queue every frame of a batch for the guest, in order, as `deliver` would
   * one by one; while all of them fit the queue, its records are copied in
   * one piece.
   */
  deliverBatch(batch: FrameBatch): void {
    if (this.closed) return;
    const n = batch.length;
    let fits = this.qCount + n <= this.maxPending;
    let bytes = 0; // the records padded to 4 each (a window may end without the last one's padding)
    for (let i = 0; fits && i < n; i++) { const len = batch.lengthOf(i); fits = len <= MAX_FRAME_BYTES; bytes += frameRecordBytes(len); }
    if (!fits) { for (let i = 0; i < n; i++) this.deliver(batch.frame(i)); return; }
    if (this.qTail + bytes > this.q.length) this.makeRoom(bytes);
    this.q.set(batch.records(), this.qTail);
    this.qTail += bytes;
    this.qCount += n;
    if (n > 0 && this.auto) this.schedule(0);
  }

  /**
   * Hand the frames queued now to the NIC, in order, while the link is up
   * ("manual" delivery; frames that arrive meanwhile wait for the next call).
   * A refused frame is dropped (after `maxRetries` calls). Returns the
   * frames delivered.
   */
  pump(): number {
    const before = this.c.rxFrames;
    this.deliverPending(true, this.qCount);
    return this.c.rxFrames - before;
  }

  /**
   * Hand every pending frame to the NIC now (e.g. with the emulator stopped,
   * before a save: the device backlogs what the guest has no buffers for).
   * Frames it still refuses stay pending.
   */
  drain(): void {
    if (this.scheduled) { this.scheduled(); this.scheduled = null; }
    if (this.deliverPending(false, Infinity) === "refused" && this.auto) this.schedule(1);
  }

  /** Frames waiting for delivery. */
  get pendingFrames(): number { return this.qCount; }

  /**
   * Drop every frame waiting for delivery (counted as dropped, not as lost:
   * the caller knows another link delivered them, e.g. frames a migration's
   * destination held that the source's guest took). Returns how many. Not
   * while a window is inside the NIC (returns 0).
   */
  discardPending(): number {
    if (this.inNic) return 0;
    const n = this.qCount;
    this.clearQueue();
    this.c.rxDropped += n;
    return n;
  }

  /** Move the NIC end to another endpoint (a restored copy of the NIC); queued frames stay queued for it. */
  retarget(nic: FrameEndpoint): void {
    this.detachNic();
    this.nic = nic;
    this.tries = 0;
    if (!this.closed) this.attachNic(nic);
  }

  /**
   * Stop: the NIC's `onTransmit` is cleared and nothing more is delivered;
   * queued frames stay counted in `pendingFrames`. Called while a window is
   * inside the NIC (from its transmit), that window still counts as
   * delivered; nothing after it goes in.
   */
  detach(): void {
    this.closed = true;
    this.detachNic();
    if (this.scheduled) this.scheduled();
    this.scheduled = null;
  }

  /** Stop delivering and drop what is queued; the NIC's `onTransmit` is cleared. */
  close(): void {
    this.detach();
    if (this.inNic) this.clearAfter = true;
    else this.clearQueue();
  }

  private attachNic(nic: FrameEndpoint): void {
    nic.onTransmit = this.onTransmit;
    if ("onTransmitBatch" in nic) nic.onTransmitBatch = this.onTransmitBatch;
  }

  private detachNic(): void {
    if (this.nic.onTransmit === this.onTransmit) this.nic.onTransmit = null;
    if (this.nic.onTransmitBatch === this.onTransmitBatch) this.nic.onTransmitBatch = null;
  }

  private clearQueue(): void { this.qHead = this.qTail = this.qCount = 0; }

  /** Room for a record of `rec` bytes at the tail: move the queue to the front, else grow (keeping offsets while a window is in the NIC). */
  private makeRoom(rec: number): void {
    if (!this.inNic && this.qHead > 0) {
      this.q.copyWithin(0, this.qHead, this.qTail);
      this.qTail -= this.qHead;
      this.qHead = 0;
      if (this.qTail + rec <= this.q.length) return;
    }
    let size = this.q.length * 2;
    while (size < this.qTail + rec) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.q.subarray(0, this.qTail));
    this.q = grown;
  }

  /** One delivery; a throw counts as an error and drops the frame (reported as ERR_INVALID_ARG). */
  private receiveOnce(f: Uint8Array): number {
    this.c.rxCalls++;
    try {
      return this.nic.receive(f);
    } catch {
      this.c.errors++;
      return Status.ERR_INVALID_ARG;
    }
  }

  private schedule(ms: number): void {
    if (this.scheduled || this.closed) return;
    const run = () => { this.scheduled = null; this.flush(); };
    // A new frame goes in on the next turn of the event loop (setImmediate; a 0 ms timer waits
    // about 1 ms in Node, which bounds request/response traffic); a refused one waits `ms`.
    if (ms === 0 && typeof setImmediate === "function") {
      const h = setImmediate(run);
      this.scheduled = () => clearImmediate(h);
    } else {
      const h = setTimeout(run, ms);
      this.scheduled = () => clearTimeout(h);
    }
  }

  private flush(): void {
    if (this.deliverPending(true, Infinity) === "refused") {
      this.c.rxRetries++;
      this.schedule(1);
    }
  }

  /**
   * What the head frame's status means (the per-frame rules): taken, or
   * dropped (rejected as invalid; with `retry`, refused more than
   * `maxRetries` times in a row), or "refused" (it stays at the head).
   */
  private settleHead(st: number, retry: boolean): "next" | "refused" {
    const len = recordLength(this.q, this.qHead);
    if (st === Status.OK) {
      this.tries = 0;
      this.c.rxFrames++;
      this.c.rxBytes += len;
      if (this.opts.tap) this.opts.tap("rx", this.q.slice(this.qHead + 4, this.qHead + 4 + len));
    } else if (st === Status.ERR_INVALID_ARG || (retry && ++this.tries > this.maxRetries)) {
      this.tries = 0;
      this.c.rxDropped++;
      if (st !== Status.ERR_FULL) this.c.lost++;
    } else {
      return "refused";
    }
    this.qHead += frameRecordBytes(len);
    if (--this.qCount === 0) this.qHead = this.qTail = 0;
    return "next";
  }

  /**
   * Hand pending frames to the NIC in order (at most `max`) until it refuses
   * one or the link goes down. A frame the NIC rejects as invalid is dropped;
   * with `retry`, so is one refused more than `maxRetries` times in a row.
   * Returns "refused" when the head frame is still waiting, "done" otherwise.
   */
  private deliverPending(retry: boolean, max: number): "done" | "refused" {
    // A refusal is final only when the frame would be dropped anyway (retry with no retries left).
    const stop = !(retry && this.maxRetries === 0);
    // Bounded: every round settles at least one frame or returns.
    for (let n = 0; n < max && this.qCount > 0 && !this.closed && this.up();) {
      const nic = this.nic;
      const window = nic.receiveFrames ? (nic.frameWindowBytes ?? 0) : 0;
      const headRec = frameRecordBytes(recordLength(this.q, this.qHead));
      if (headRec > window) {
        // No window, or a frame larger than it: this one alone, as `receive` takes it.
        if (this.one(retry) === "refused") return this.finishClear() ? "done" : "refused";
        if (this.finishClear()) return "done";
        n++;
        continue;
      }
      // The longest run of whole records from the head that fits the window (and `max`).
      let bytes = 0, k = 0;
      for (let off = this.qHead; k < max - n && k < this.qCount; k++) {
        const rec = frameRecordBytes(recordLength(this.q, off));
        if (bytes + rec > window) break;
        bytes += rec;
        off += rec;
      }
      if (this.statuses.length < window >> 2) this.statuses = new Uint8Array(window >> 2);
      let got: number;
      this.inNic = true;
      this.c.rxCalls++;
      try {
        got = nic.receiveFrames!(this.q.subarray(this.qHead, this.qHead + bytes), this.statuses, stop);
      } catch {
        this.c.errors++;
        got = 1;
        this.statuses[0] = Status.ERR_INVALID_ARG;
      } finally {
        this.inNic = false;
      }
      got = Math.min(got, k); // an endpoint claiming more frames than it was given is not believed
      if (got <= 0) {
        // The window was refused whole (it is well formed: a NIC bug): the head frame goes alone instead.
        if (this.finishClear()) return "done";
        if (this.one(retry) === "refused") return this.finishClear() ? "done" : "refused";
        if (this.finishClear()) return "done";
        n++;
        continue;
      }
      // Frames the NIC took are counted even when close() came meanwhile (from its transmit); then the rest goes.
      for (let i = 0; i < got; i++) if (this.settleHead(this.statuses[i], retry) === "refused") return this.finishClear() ? "done" : "refused";
      n += got;
      if (this.finishClear()) return "done";
    }
    return "done";
  }

  /** The head frame alone through `receive`, settled. */
  private one(retry: boolean): "next" | "refused" {
    const len = recordLength(this.q, this.qHead);
    this.inNic = true;
    let st: number;
    try { st = this.receiveOnce(this.q.subarray(this.qHead + 4, this.qHead + 4 + len)); } finally { this.inNic = false; }
    return this.settleHead(st, retry);
  }

  /** Apply a close() that came while a window was in the NIC; true if it did. */
  private finishClear(): boolean {
    if (!this.clearAfter) return false;
    this.clearAfter = false;
    this.clearQueue();
    return true;
  }
}

/** Anything that answers frames (e.g. `Responder` from src/net/responder.ts). */
export interface FramePeer { handle(frame: Uint8Array): Uint8Array[] }

/** Connect the NIC to a host-side peer: each guest frame goes to `peer.handle`, replies go back in. */
export function linkResponder(nic: FrameEndpoint, peer: FramePeer, opts: HostLinkOptions = {}): HostLink {
  let link: HostLink;
  link = new HostLink(nic, (frame) => { for (const r of peer.handle(frame)) link.deliver(r); }, opts);
  return link;
}
