// The NIC side of a network backend (relay.ts, vde.ts): one HostLink to the
// NIC, the frame bounds every transport enforces, and the counters they share.
//
// - Network → guest: a frame outside [MIN_FRAME_BYTES, maxFrameBytes] is
//   dropped and counted (rxInvalid) before it is queued; valid ones wait in
//   the link's bounded queue (past `maxPending` they are dropped and counted
//   as the link's loss), so a peer that floods cannot grow memory.
// - Guest → network: frames outside the bounds are counted (txInvalid) and
//   not sent; what the transport cannot take now is counted (txDropped).
// - Under a VM lock (a Machine's NIC), frames are handed to the NIC only while
//   the port holds a lease on the VM: a writer (a migration's stop-and-copy)
//   expires it, the port breaks it at once and frames wait on the link until
//   it signs again. Without a lock they go in on the next event-loop turn.

import { HostLink, type FrameEndpoint, type HostLinkCounters } from "../host-link.js";
import type { Lease, VmLock } from "../../sync/vm-lock.js";

/** The Ethernet header: destination, source, type (IEEE 802.3 §3.1.1). Shorter is not a frame. */
export const MIN_FRAME_BYTES = 14;
/** Default largest frame: 1500 bytes of payload, the header and one 802.1Q tag (no FCS). */
export const DEFAULT_MAX_FRAME_BYTES = 1518;
/** The largest `maxFrameBytes` a backend takes (VDE's stream length prefix is 16 bits). */
export const MAX_FRAME_LIMIT = 65535;

/** Wait before signing again after the lock refused a lease. */
const SIGN_RETRY_MS = 50;

/** A backend's link to the outside. */
export type BackendState = "connecting" | "up" | "down" | "closed";

/** Counters of a network backend (all plain numbers). */
export interface BackendCounters {
  /** Frames the guest sent that went to the network, and their bytes. */
  txFrames: number;
  txBytes: number;
  /** Guest frames not sent because the transport could not take them (not connected, its send buffer past its bound). */
  txDropped: number;
  /** Guest frames outside the size bounds (not sent). */
  txInvalid: number;
  /** Frames from the network queued for the guest, and their bytes. */
  rxFrames: number;
  rxBytes: number;
  /** Messages from the network that were no valid frame (size out of bounds, a text message, a bad length prefix). */
  rxInvalid: number;
  /** Times the transport came up / went down. */
  connects: number;
  disconnects: number;
}

/** Options every backend takes. */
export interface BackendPortOptions {
  /** Largest frame either way, without FCS (MIN_FRAME_BYTES..65535). Default 1518. */
  maxFrameBytes?: number;
  /** Frames waiting for the NIC before new ones are dropped (the link's bound). Default 256. */
  maxPending?: number;
  /** Hand frames to the NIC only under a lease on this VM lock (a Machine's). */
  lock?: VmLock;
  /** Called with every frame either way. */
  tap?: (dir: "tx" | "rx", frame: Uint8Array) => void;
  /** Told how many frames the link dropped because its queue was full. */
  onOverflow?: (frames: number) => void;
  /** Called on every change of state. */
  onState?: (state: BackendState) => void;
}

/** What every backend offers its owner. */
export interface NetworkBackend {
  /** "relay" or "vde". */
  readonly kind: string;
  readonly state: BackendState;
  counters(): BackendCounters;
  /** The host link to the NIC (its counters: what the NIC took, what the queue dropped). */
  readonly link: HostLink;
  /** Stop for good: the NIC's `onTransmit` is cleared, the transport closed, queued frames dropped. Safe to call twice. */
  close(): Promise<void>;
}

/** Check a `maxFrameBytes` option; returns it or throws RangeError. */
export function checkMaxFrame(n: number | undefined): number {
  const v = n ?? DEFAULT_MAX_FRAME_BYTES;
  if (!Number.isInteger(v) || v < MIN_FRAME_BYTES || v > MAX_FRAME_LIMIT) throw new RangeError(`maxFrameBytes ${v}: want ${MIN_FRAME_BYTES}..${MAX_FRAME_LIMIT}`);
  return v;
}

/** The NIC end shared by the backends (see the top of this file). */
export class BackendPort {
  readonly c: BackendCounters = { txFrames: 0, txBytes: 0, txDropped: 0, txInvalid: 0, rxFrames: 0, rxBytes: 0, rxInvalid: 0, connects: 0, disconnects: 0 };
  readonly link: HostLink;
  readonly maxFrame: number;
  private st: BackendState = "connecting";
  private lease: Lease | null = null;
  private signing = false;
  private pumpQueued = false;
  private closed = false;

  /** `send` takes a valid guest frame and returns false when the transport could not take it. */
  constructor(nic: FrameEndpoint, send: (frame: Uint8Array) => boolean, private readonly opts: BackendPortOptions) {
    this.maxFrame = checkMaxFrame(opts.maxFrameBytes);
    const peer = (f: Uint8Array): void => {
      if (f.length < MIN_FRAME_BYTES || f.length > this.maxFrame) { this.c.txInvalid++; return; }
      if (!send(f)) { this.c.txDropped++; return; }
      this.c.txFrames++;
      this.c.txBytes += f.length;
    };
    this.link = new HostLink(nic, peer, {
      maxPending: opts.maxPending,
      tap: opts.tap,
      onOverflow: opts.onOverflow,
      ...(opts.lock ? { delivery: "manual" as const, up: () => this.lease !== null && !this.lease.expired } : {}),
    });
  }

  get state(): BackendState { return this.st; }

  setState(s: BackendState): void {
    if (this.st === s || this.st === "closed") return;
    if (s === "up") this.c.connects++;
    if (this.st === "up") this.c.disconnects++;
    this.st = s;
    try { this.opts.onState?.(s); } catch { /* an owner's listener must not break the transport */ }
  }

  /** A message from the network: queue it for the guest if it is a frame, count it otherwise. */
  fromNetwork(frame: Uint8Array): void {
    if (this.closed) return;
    if (frame.length < MIN_FRAME_BYTES || frame.length > this.maxFrame) { this.c.rxInvalid++; return; }
    this.c.rxFrames++;
    this.c.rxBytes += frame.length;
    this.link.deliver(frame);
    if (this.opts.lock) this.schedulePump();
  }

  counters(): BackendCounters { return { ...this.c }; }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.setState("closed");
    this.link.close();
    this.lease?.break();
    this.lease = null;
  }

  private schedulePump(ms = 0): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    // Never inside the NIC's own call stack, and one pump per burst of messages.
    setTimeout(() => { this.pumpQueued = false; void this.pumpUnderLease(); }, ms);
  }

  private async pumpUnderLease(): Promise<void> {
    const lock = this.opts.lock!;
    if (this.closed) return;
    if (this.lease?.expired) { this.lease.poll(); this.lease = null; }
    if (!this.lease) {
      if (this.signing) return;
      this.signing = true;
      // A writer holding the VM makes this wait; frames wait on the link meanwhile.
      const r = await lock.signLease(() => true, { timeoutMs: 1000 }).catch(() => ({ status: "error" as const }));
      this.signing = false;
      // Refused (timed out behind a writer, the lock destroyed): try again later, not in a tight loop.
      if (r.status !== "ok") { if (!this.closed && this.link.pendingFrames > 0) this.schedulePump(SIGN_RETRY_MS); return; }
      if (this.closed) { r.lease.break(); return; }
      this.lease = r.lease.watch();
    }
    this.link.pump();
    // Frames that came while signing, or that the lease's expiry held back.
    if (this.link.pendingFrames > 0 && !this.closed) this.schedulePump();
  }
}

/** The counters of a backend's host link (what the NIC took, what its queue dropped). */
export type { HostLinkCounters };
