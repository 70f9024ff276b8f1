// A NIC on a WebSocket Ethernet relay, the protocol of v86's `relay_url`
// network adapter (v86 src/browser/network.js) and of the relays its users
// run (websockproxy, wsnic, hub-style relays): one binary WebSocket message
// per Ethernet frame, without FCS, each way; nothing else — no handshake, no
// control messages. What the relay does with a frame (forward to the other
// clients, to a TAP device, to a NAT) is the relay's business.
//
// Bounds (the relay is a peer like any other: it may be slow, lie or flood):
// - Incoming: a message longer than `maxMessageBytes` makes the WebSocket
//   library close the connection before buffering it (Node's `ws`:
//   maxPayload; a browser's WebSocket has no such bound, so the frame-size
//   check below is the only one there); a binary message outside the frame
//   bounds, and every text message, is counted (rxInvalid) and dropped;
//   valid frames wait in the host link's bounded queue (BackendPort).
// - Outgoing: while connecting, up to `maxQueuedFrames` guest frames wait
//   and go out on open (v86 keeps 64..128); later ones, and every frame
//   while the socket's send buffer holds more than `maxBufferedBytes`, are
//   dropped and counted (txDropped).
//
// Reconnect policy: when the connection fails or closes (not by close()),
// the backend reconnects after `reconnectMs`, doubling each failed try up to
// `maxReconnectMs`, back to `reconnectMs` once a connection opens. v86's own
// adapter retries at once, then every 10 s, and only when the guest sends;
// reconnect: false leaves the backend down after the first loss.

import type { FrameEndpoint } from "../host-link.js";
import { BackendPort, type BackendCounters, type BackendPortOptions, type BackendState, type NetworkBackend } from "./port.js";

/** The part of the WHATWG WebSocket interface the relay uses (browsers' global, Node's `ws`). */
export interface RelaySocket {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: `new (url)` as in browsers; Node's `ws` also takes an options object (`maxPayload`). */
export type RelaySocketConstructor = new (url: string, protocols?: string | string[], options?: { maxPayload?: number }) => RelaySocket;

const OPEN = 1;

/** Options of {@link RelayBackend.connect}. */
export interface RelayOptions extends BackendPortOptions {
  /** The WebSocket class. Default: `globalThis.WebSocket` (browsers, Node 22+); in Node 20 pass `ws`'s (src/net/backends/node.ts does). */
  WebSocket?: RelaySocketConstructor;
  /** Guest frames held while connecting. Default 64. */
  maxQueuedFrames?: number;
  /** Bytes the socket may hold unsent before guest frames are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Longest message accepted by a WebSocket class that can bound it (`ws`): a longer one closes the connection. Default 64 KiB + 16. */
  maxMessageBytes?: number;
  /** Reconnect after a loss (default true) ... */
  reconnect?: boolean;
  /** ... first after this many ms (default 1000) ... */
  reconnectMs?: number;
  /** ... doubling up to this (default 30000). */
  maxReconnectMs?: number;
}

/** Counters of a relay backend. */
export interface RelayCounters extends BackendCounters {
  /** Text messages from the relay (not part of the protocol; dropped). */
  rxText: number;
  /** Connection attempts made (the first included). */
  attempts: number;
}

/** A NIC's frames on a WebSocket relay (see the top of this file). */
export class RelayBackend implements NetworkBackend {
  readonly kind = "relay";
  private readonly port: BackendPort;
  private socket: RelaySocket | null = null;
  private readonly queue: Uint8Array[] = [];
  private rxText = 0;
  private attempts = 0;
  private backoff: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private readonly WS: RelaySocketConstructor;
  private readonly maxQueued: number;
  private readonly maxBuffered: number;
  private readonly maxMessage: number;
  private readonly reconnectMs: number;
  private readonly maxReconnectMs: number;
  private readonly reconnect: boolean;
  private readonly waiters: Array<{ want: BackendState; resolve: () => void }> = [];

  private constructor(nic: FrameEndpoint, readonly url: string, opts: RelayOptions) {
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: RelaySocketConstructor }).WebSocket;
    if (!WS) throw new TypeError("relay: no WebSocket class (pass options.WebSocket, e.g. the `ws` package's)");
    this.WS = WS;
    this.maxQueued = opts.maxQueuedFrames ?? 64;
    this.maxBuffered = opts.maxBufferedBytes ?? 1 << 20;
    this.maxMessage = opts.maxMessageBytes ?? 65536 + 16;
    this.reconnect = opts.reconnect ?? true;
    this.reconnectMs = opts.reconnectMs ?? 1000;
    this.maxReconnectMs = Math.max(this.reconnectMs, opts.maxReconnectMs ?? 30000);
    this.backoff = this.reconnectMs;
    for (const [k, v] of [["maxQueuedFrames", this.maxQueued], ["maxBufferedBytes", this.maxBuffered], ["maxMessageBytes", this.maxMessage], ["reconnectMs", this.reconnectMs]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new RangeError(`relay: ${k} ${v}: want a whole number >= 0`);
    }
    this.port = new BackendPort(nic, (f) => this.send(f), {
      ...opts,
      onState: (s) => {
        opts.onState?.(s);
        for (let i = this.waiters.length - 1; i >= 0; i--) if (this.waiters[i].want === s) { this.waiters[i].resolve(); this.waiters.splice(i, 1); }
      },
    });
  }

  /**
   * Put `nic` on the relay at `url` (ws:// or wss://): the NIC's `onTransmit`
   * is taken, the connection starts now. Throws TypeError for another
   * scheme or when there is no WebSocket class.
   */
  static connect(nic: FrameEndpoint, url: string, opts: RelayOptions = {}): RelayBackend {
    const u = relayUrl(url);
    if (!u) throw new TypeError(`relay: '${url}' is not a ws:// or wss:// URL`);
    const b = new RelayBackend(nic, u, opts);
    b.open();
    return b;
  }

  get state(): BackendState { return this.port.state; }
  get link() { return this.port.link; }

  counters(): RelayCounters { return { ...this.port.counters(), rxText: this.rxText, attempts: this.attempts }; }

  /** Resolves when the backend is next in state `s` (at once if it is). */
  when(s: BackendState): Promise<void> {
    if (this.state === s) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ want: s, resolve }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const f of this.queue.splice(0)) this.unsend(f);
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onopen = s.onmessage = s.onclose = null;
      // Closed while connecting, `ws` emits an error after this call: without a listener it would be thrown.
      s.onerror = () => {};
      try { s.close(1000, "closed"); } catch { /* closing a socket that never opened */ }
    }
    this.port.close();
  }

  private open(): void {
    if (this.closed) return;
    this.attempts++;
    this.port.setState("connecting");
    let s: RelaySocket;
    try {
      s = new this.WS(this.url, undefined, { maxPayload: this.maxMessage });
    } catch {
      this.lost();
      return;
    }
    this.socket = s;
    s.binaryType = "arraybuffer";
    s.onopen = () => {
      if (this.socket !== s) return;
      this.backoff = this.reconnectMs;
      this.port.setState("up");
      const q = this.queue.splice(0);
      for (const f of q) if (!this.sendNow(f, s)) this.unsend(f);
    };
    s.onmessage = (ev) => {
      if (this.socket !== s) return;
      const d = ev.data;
      if (typeof d === "string") { this.rxText++; this.port.c.rxInvalid++; return; }
      if (d instanceof ArrayBuffer) this.port.fromNetwork(new Uint8Array(d));
      else if (ArrayBuffer.isView(d)) this.port.fromNetwork(new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice());
      else this.port.c.rxInvalid++;
    };
    s.onerror = () => { /* onclose follows */ };
    s.onclose = () => { if (this.socket === s) this.lost(); };
  }

  private lost(): void {
    const s = this.socket;
    this.socket = null;
    if (s) s.onopen = s.onmessage = s.onerror = s.onclose = null;
    for (const f of this.queue.splice(0)) this.unsend(f);
    if (this.closed) return;
    this.port.setState("down");
    if (!this.reconnect) return;
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.maxReconnectMs);
    this.timer = setTimeout(() => { this.timer = null; this.open(); }, wait);
  }

  private send(f: Uint8Array): boolean {
    const s = this.socket;
    if (s && s.readyState === OPEN) return this.sendNow(f, s);
    if (this.state !== "connecting" || this.queue.length >= this.maxQueued) return false;
    this.queue.push(f);
    return true;
  }

  /** A queued frame, counted as sent when it was queued, that never went out. */
  private unsend(f: Uint8Array): void {
    this.port.c.txFrames--;
    this.port.c.txBytes -= f.length;
    this.port.c.txDropped++;
  }

  private sendNow(f: Uint8Array, s: RelaySocket): boolean {
    if (s.bufferedAmount > this.maxBuffered) return false;
    try { s.send(f); } catch { return false; }
    return true;
  }
}

/** The URL of a relay (ws:// or wss://, host required), normalized; null otherwise. */
export function relayUrl(v: string): string | null {
  let u: URL;
  try { u = new URL(v); } catch { return null; }
  if ((u.protocol !== "ws:" && u.protocol !== "wss:") || u.hostname === "") return null;
  return u.href;
}
