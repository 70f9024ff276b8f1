// The host frame link: the one way frames move between a NIC's host port
// (`onTransmit` / `receive`) and whatever carries them on the host (a
// responder, an emulator's network bus, another VM's NIC).
//
// - Guest → host: every frame the NIC transmits is copied (the device may
//   reuse its buffer), shown to the tap, and given to the peer callback; a
//   throwing peer is counted, never unwound into the device (the callback
//   runs inside the guest's notify write).
// - Host → guest: frames wait in a bounded queue (`maxPending`; past it they
//   are dropped and counted) and are handed to the NIC in order, only while
//   the link is up, and never from inside the NIC's own call stack: on the
//   next event-loop turn ("auto"), or when the owner calls `pump()`
//   ("manual": an owner that may touch the NIC only while it holds a lease
//   on the VM).

import { Status } from "../status.js";

/** The NIC side of a host link (VirtioNet has these members). */
export interface FrameEndpoint {
  onTransmit: ((frame: Uint8Array) => void) | null;
  /** Host→guest; returns a Status. */
  receive(frame: Uint8Array): number;
}

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
  /** "auto" (default): queued frames go in on the next event-loop turn; "manual": only when `pump()` is called. */
  delivery?: "auto" | "manual";
  /** While it returns false nothing is handed to the NIC and frames wait in the queue. Default: always up. */
  up?: () => boolean;
  /** Told how many frames were dropped because the queue was full (e.g. MachineVirtioNet.noteLinkLoss). */
  onOverflow?: (frames: number) => void;
}

/** A host frame link for one NIC (see the top of this file). */
export class HostLink {
  private readonly c: HostLinkCounters = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, rxRetries: 0, rxDropped: 0, lost: 0, errors: 0 };
  private readonly pending: Uint8Array[] = [];
  private tries = 0;
  /** Cancels the pending delivery turn, if one is scheduled. */
  private scheduled: (() => void) | null = null;
  private closed = false;
  private readonly maxPending: number;
  private readonly maxRetries: number;
  private readonly auto: boolean;
  private readonly up: () => boolean;
  private readonly onTransmit: (frame: Uint8Array) => void;

  constructor(private nic: FrameEndpoint, peer: (frame: Uint8Array) => void, private readonly opts: HostLinkOptions = {}) {
    this.maxPending = opts.maxPending ?? 256;
    this.maxRetries = opts.maxRetries ?? 0;
    this.auto = (opts.delivery ?? "auto") === "auto";
    this.up = opts.up ?? (() => true);
    this.onTransmit = (frame) => {
      this.c.txFrames++;
      this.c.txBytes += frame.length;
      const copy = frame.slice(); // the device may reuse its buffer
      // Runs inside the guest's notify write: a throwing peer must not unwind into the device.
      try {
        opts.tap?.("tx", copy);
        peer(copy);
      } catch {
        this.c.errors++;
      }
    };
    nic.onTransmit = this.onTransmit;
  }

  /** A snapshot of the link's counters. */
  counters(): HostLinkCounters { return { ...this.c }; }

  /** Queue a frame for the guest. */
  deliver(frame: Uint8Array): void {
    if (this.closed) return;
    if (this.pending.length >= this.maxPending) {
      this.c.rxDropped++;
      this.c.lost++;
      this.opts.onOverflow?.(1);
      return;
    }
    this.pending.push(frame);
    if (this.auto) this.schedule(0);
  }

  /**
   * Hand the frames queued now to the NIC, in order, while the link is up
   * ("manual" delivery; frames that arrive meanwhile wait for the next call).
   * A refused frame is dropped (after `maxRetries` calls). Returns the
   * frames delivered.
   */
  pump(): number {
    const before = this.c.rxFrames;
    this.deliverPending(true, this.pending.length);
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
  get pendingFrames(): number { return this.pending.length; }

  /** Move the NIC end to another endpoint (a restored copy of the NIC); queued frames stay queued for it. */
  retarget(nic: FrameEndpoint): void {
    if (this.nic.onTransmit === this.onTransmit) this.nic.onTransmit = null;
    this.nic = nic;
    this.tries = 0;
    if (!this.closed) nic.onTransmit = this.onTransmit;
  }

  /** Stop: the NIC's `onTransmit` is cleared and nothing more is delivered; queued frames stay counted in `pendingFrames`. */
  detach(): void {
    this.closed = true;
    if (this.nic.onTransmit === this.onTransmit) this.nic.onTransmit = null;
    if (this.scheduled) this.scheduled();
    this.scheduled = null;
  }

  /** Stop delivering and drop what is queued; the NIC's `onTransmit` is cleared. */
  close(): void {
    this.detach();
    this.pending.length = 0;
  }

  /** One delivery; a throw counts as an error and drops the frame (reported as ERR_INVALID_ARG). */
  private receiveOnce(f: Uint8Array): number {
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
   * Hand pending frames to the NIC in order (at most `max`) until it refuses
   * one or the link goes down. A frame the NIC rejects as invalid is dropped;
   * with `retry`, so is one refused more than `maxRetries` times in a row.
   * Returns "refused" when the head frame is still waiting, "done" otherwise.
   */
  private deliverPending(retry: boolean, max: number): "done" | "refused" {
    for (let n = 0; n < max && this.pending.length > 0 && !this.closed && this.up(); n++) {
      const f = this.pending[0];
      const st = this.receiveOnce(f);
      if (st === Status.OK) {
        this.pending.shift();
        this.tries = 0;
        this.c.rxFrames++;
        this.c.rxBytes += f.length;
        this.opts.tap?.("rx", f);
      } else if (st === Status.ERR_INVALID_ARG || (retry && ++this.tries > this.maxRetries)) {
        this.pending.shift();
        this.tries = 0;
        this.c.rxDropped++;
        if (st !== Status.ERR_FULL) this.c.lost++;
      } else {
        return "refused";
      }
    }
    return "done";
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
