// Transports carry the frame byte stream between source and destination.
// A transport is a reliable, ordered byte pipe with backpressure; framing and
// checksums are the protocol's job (frames.ts), so any transport works,
// including one that injects faults (src/testing/migration/faults.ts).

import { MessageChannel, type MessagePort } from "node:worker_threads";
import { createServer, connect as netConnect, type Socket, type Server } from "node:net";

/**
 * Receive window of every transport: the most bytes a receiver holds that
 * its reader has not consumed yet. The largest frame (32-byte header and a
 * 4 MiB payload) fits, so a reader can always make progress.
 */
export const RECV_WINDOW = 8 << 20;

/**
 * A bidirectional byte pipe with flow control. The receiving side holds at
 * most RECV_WINDOW bytes its reader has not consumed: the reader reports what
 * it consumed (`consumed`), and only then may the peer send more. A peer
 * that sends past the window is disconnected, never buffered.
 */
export interface Transport {
  /** Queue bytes; resolves when the sender may continue (backpressure). Rejects once closed. */
  send(bytes: Uint8Array): Promise<void>;
  /** Receive callbacks: data chunks in order, then exactly one close (with an error if abnormal). */
  onData(cb: (chunk: Uint8Array) => void): void;
  onClose(cb: (err?: Error) => void): void;
  /** The reader consumed `bytes` of what onData delivered: that much of the window opens again. */
  consumed(bytes: number): void;
  /** Bytes received and not consumed yet (delivered to the reader or waiting for one). */
  readonly buffered: number;
  /** The most `buffered` has ever been on this transport. */
  readonly bufferedHighWater: number;
  /** Close both directions. */
  close(): void;
  /** A human label for errors and reports. */
  readonly label: string;
}

/** The link went away. */
export class LinkError extends Error {
  constructor(message: string) { super(message); this.name = "LinkError"; }
}

/** Shared receive-side plumbing: buffers until a reader subscribes, and counts what is buffered. */
abstract class BaseTransport implements Transport {
  abstract readonly label: string;
  private dataCb?: (c: Uint8Array) => void;
  private closeCb?: (err?: Error) => void;
  private early: Uint8Array[] = [];
  protected closed = false;
  private closeErr: Error | undefined;
  private closeFired = false;
  private held = 0;
  private heldMax = 0;

  abstract send(bytes: Uint8Array): Promise<void>;
  abstract close(): void;
  /** `bytes` of the window opened again (the reader consumed them). */
  protected abstract released(bytes: number): void;

  get buffered(): number { return this.held; }
  get bufferedHighWater(): number { return this.heldMax; }

  onData(cb: (chunk: Uint8Array) => void): void {
    this.dataCb = cb;
    for (const c of this.early.splice(0)) cb(c);
  }
  onClose(cb: (err?: Error) => void): void {
    this.closeCb = cb;
    if (this.closeFired) cb(this.closeErr);
  }
  consumed(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > this.held) throw new RangeError(`consumed ${bytes} bytes of ${this.held} buffered`);
    this.held -= bytes;
    if (bytes > 0) this.released(bytes);
  }
  protected deliver(c: Uint8Array): void {
    if (this.closeFired) return;
    this.held += c.length;
    if (this.held > this.heldMax) this.heldMax = this.held;
    if (this.dataCb) this.dataCb(c); else this.early.push(c);
  }
  protected fireClose(err?: Error): void {
    this.closed = true;
    if (this.closeFired) return;
    this.closeFired = true;
    this.closeErr = err;
    this.closeCb?.(err);
  }
}

/** Serializes sends so that bytes leave in call order even while earlier sends wait for the window. */
class SendQueue {
  private tail: Promise<void> = Promise.resolve();
  run(fn: () => Promise<void>): Promise<void> {
    const p = this.tail.then(fn);
    this.tail = p.catch(() => {});
    return p;
  }
}

/**
 * In-process transport over a MessagePort (same thread, or to a worker).
 * MessagePorts have no backpressure of their own, so the receiver returns a
 * credit for every byte its reader consumed, and the sender keeps at most
 * RECV_WINDOW bytes without credit in flight. Messages on the port are
 * `{d: bytes}`, `{ack: n}` and `{bye: true}`; the peer is hostile like any
 * other, so a message of another shape, a credit never given, or bytes past
 * the window close the link.
 */
export class PortTransport extends BaseTransport {
  readonly label: string;
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  private readonly queue = new SendQueue();
  constructor(private readonly port: MessagePort, label = "in-process") {
    super();
    this.label = label;
    port.on("message", (m: unknown) => this.receive(m));
    port.on("close", () => this.shutdown(new LinkError("port closed")));
    port.start();
  }
  private receive(m: unknown): void {
    if (this.closed) return;
    const msg = (typeof m === "object" && m !== null ? m : {}) as { d?: unknown; ack?: unknown; bye?: unknown };
    if (msg.d !== undefined) {
      if (!(msg.d instanceof Uint8Array)) return this.violation("a data message without bytes");
      const n = msg.d.byteLength;
      if (this.buffered + n > RECV_WINDOW) return this.violation(`the peer sent ${n} bytes with ${this.buffered} of the ${RECV_WINDOW}-byte window unconsumed`);
      this.deliver(new Uint8Array(msg.d.buffer, msg.d.byteOffset, n));
    } else if (msg.ack !== undefined) {
      const n = msg.ack;
      if (typeof n !== "number" || !Number.isSafeInteger(n) || n <= 0 || n > this.inFlight) return this.violation(`the peer returned a credit of ${String(n)} bytes with ${this.inFlight} in flight`);
      this.inFlight -= n;
      for (const w of this.waiters.splice(0)) w();
    } else if (msg.bye === true) {
      this.shutdown(new LinkError("peer closed the link"));
    } else {
      this.violation("a message of unknown shape");
    }
  }
  private violation(why: string): void {
    try { this.port.postMessage({ bye: true }); } catch { /* closing anyway */ }
    this.shutdown(new LinkError(`${this.label}: flow control violated: ${why}`));
  }
  protected released(bytes: number): void {
    if (this.closed) return;
    try { this.port.postMessage({ ack: bytes }); } catch { /* the port is closing */ }
  }
  private shutdown(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
    try { this.port.close(); } catch { /* already closed */ }
    this.fireClose(err);
  }
  send(bytes: Uint8Array): Promise<void> {
    return this.queue.run(async () => {
      if (this.closed) throw new LinkError("link closed");
      const n = bytes.byteLength;
      if (n > RECV_WINDOW) throw new LinkError(`a send of ${n} bytes exceeds the ${RECV_WINDOW}-byte window`);
      while (this.inFlight + n > RECV_WINDOW && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
      if (this.closed) throw new LinkError("link closed");
      // Transfer the buffer when the view owns all of it; otherwise copy (never transfer a pooled or shared buffer).
      const copy = bytes.byteOffset === 0 && n === bytes.buffer.byteLength && !(bytes.buffer instanceof SharedArrayBuffer) ? bytes : new Uint8Array(bytes);
      this.inFlight += n;
      this.port.postMessage({ d: copy }, [copy.buffer as ArrayBuffer]);
    });
  }
  close(): void {
    if (this.closed) return;
    try { this.port.postMessage({ bye: true }); } catch { /* closing anyway */ }
    this.shutdown();
  }
}

/** Two connected in-process transports (a MessageChannel). */
export function portPair(): [PortTransport, PortTransport] {
  const { port1, port2 } = new MessageChannel();
  return [new PortTransport(port1, "in-process (source)"), new PortTransport(port2, "in-process (destination)")];
}

/** Bytes the TCP transport lets queue in user space before the sender waits. */
const TCP_SEND_QUEUE = 8 << 20;
/**
 * Reading stops once this much is buffered: one socket read adds at most
 * 64 KiB, so what is buffered stays under RECV_WINDOW, and TCP's own window
 * then holds the peer back.
 */
const TCP_PAUSE_AT = RECV_WINDOW - (1 << 20);
/** Reading resumes once the reader has brought the buffer down to this. */
const TCP_RESUME_AT = RECV_WINDOW >> 1;

/** TCP transport over a connected socket. */
export class TcpTransport extends BaseTransport {
  readonly label: string;
  private paused = false;
  constructor(private readonly sock: Socket) {
    super();
    this.label = `tcp ${sock.remoteAddress}:${sock.remotePort}`;
    sock.setNoDelay(true);
    sock.on("data", (b: Buffer) => {
      this.deliver(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      if (!this.paused && this.buffered >= TCP_PAUSE_AT) { this.paused = true; sock.pause(); }
    });
    sock.on("error", (e) => this.fireClose(new LinkError(`${this.label}: ${e.message}`)));
    sock.on("close", () => this.fireClose(new LinkError(`${this.label}: connection closed`)));
    sock.on("end", () => sock.end());
  }
  /** True while reading is stopped because the reader has not consumed what arrived. */
  get readPaused(): boolean { return this.paused; }
  protected released(): void {
    if (this.paused && this.buffered <= TCP_RESUME_AT && !this.sock.destroyed) { this.paused = false; this.sock.resume(); }
  }
  send(bytes: Uint8Array): Promise<void> {
    if (this.closed || this.sock.destroyed) return Promise.reject(new LinkError("link closed"));
    this.sock.write(bytes);
    // Keep up to TCP_SEND_QUEUE bytes queued so encoding the next frame overlaps
    // the kernel sending this one; past that, wait until half has drained.
    if (this.sock.writableLength === 0) return Promise.resolve();
    // Bytes wait in user space: let the event loop run once so libuv moves
    // them to the kernel while the sender encodes the next frame.
    if (this.sock.writableLength < TCP_SEND_QUEUE) return new Promise((r) => setImmediate(r));
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.closed || this.sock.destroyed) { cleanup(); reject(new LinkError("link closed")); }
        else if (this.sock.writableLength < TCP_SEND_QUEUE / 2) { cleanup(); resolve(); }
      };
      const timer = setInterval(check, 1);
      const cleanup = () => { clearInterval(timer); this.sock.off("drain", check); this.sock.off("close", check); };
      this.sock.on("drain", check);
      this.sock.on("close", check);
    });
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.end();
    // Give queued bytes a moment to leave, then make sure the socket is gone.
    setTimeout(() => this.sock.destroy(), 1000).unref();
  }
}

/** Loopback only: migration streams guest memory in the clear. */
export const LOOPBACK = "127.0.0.1";

/** Listen on 127.0.0.1:`port` (0 = any free port) for one migration connection. */
export function listen(port: number): Promise<{ port: number; server: Server; accept(): Promise<TcpTransport> }> {
  return new Promise((resolve, reject) => {
    const waiting: Array<(t: TcpTransport) => void> = [];
    const queued: TcpTransport[] = [];
    const server = createServer((sock) => {
      const t = new TcpTransport(sock);
      const w = waiting.shift();
      if (w) w(t); else queued.push(t);
    });
    server.once("error", reject);
    server.listen(port, LOOPBACK, () => {
      const addr = server.address();
      const bound = typeof addr === "object" && addr ? addr.port : port;
      resolve({
        port: bound,
        server,
        accept: () => new Promise<TcpTransport>((r) => { const q = queued.shift(); if (q) r(q); else waiting.push(r); }),
      });
    });
  });
}

/** Connect to a destination listening on 127.0.0.1:`port`. */
export function connect(port: number, host = LOOPBACK): Promise<TcpTransport> {
  if (host !== LOOPBACK && host !== "localhost") return Promise.reject(new Error(`refusing to migrate to ${host}: only 127.0.0.1 is supported`));
  return new Promise((resolve, reject) => {
    const sock = netConnect({ port, host: LOOPBACK });
    sock.once("connect", () => { sock.off("error", reject); resolve(new TcpTransport(sock)); });
    sock.once("error", (e) => reject(new LinkError(`connect 127.0.0.1:${port}: ${e.message}`)));
  });
}
