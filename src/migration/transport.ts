// Transports carry the frame byte stream between source and destination.
// A transport is a reliable, ordered byte pipe with backpressure; framing and
// checksums are the protocol's job (frames.ts), so any transport works,
// including one that injects faults (faults.ts).

import { MessageChannel, type MessagePort } from "node:worker_threads";
import { createServer, connect as netConnect, type Socket, type Server } from "node:net";

/** A bidirectional byte pipe. */
export interface Transport {
  /** Queue bytes; resolves when the sender may continue (backpressure). Rejects once closed. */
  send(bytes: Uint8Array): Promise<void>;
  /** Receive callbacks: data chunks in order, then exactly one close (with an error if abnormal). */
  onData(cb: (chunk: Uint8Array) => void): void;
  onClose(cb: (err?: Error) => void): void;
  /** Close both directions. */
  close(): void;
  /** A human label for errors and reports. */
  readonly label: string;
}

/** The link went away. */
export class LinkError extends Error {
  constructor(message: string) { super(message); this.name = "LinkError"; }
}

/** Shared receive-side plumbing: buffers until a reader subscribes. */
abstract class BaseTransport implements Transport {
  abstract readonly label: string;
  private dataCb?: (c: Uint8Array) => void;
  private closeCb?: (err?: Error) => void;
  private early: Uint8Array[] = [];
  protected closed = false;
  private closeErr: Error | undefined;
  private closeFired = false;

  abstract send(bytes: Uint8Array): Promise<void>;
  abstract close(): void;

  onData(cb: (chunk: Uint8Array) => void): void {
    this.dataCb = cb;
    for (const c of this.early.splice(0)) cb(c);
  }
  onClose(cb: (err?: Error) => void): void {
    this.closeCb = cb;
    if (this.closeFired) cb(this.closeErr);
  }
  protected deliver(c: Uint8Array): void {
    if (this.closeFired) return;
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

/** Credit window of the MessagePort transport: bytes in flight before the sender waits. */
const PORT_WINDOW = 8 << 20;

/**
 * In-process transport over a MessagePort (same thread, or to a worker).
 * MessagePorts have no backpressure of their own, so the receiver returns
 * credits for the bytes it consumed and the sender keeps at most PORT_WINDOW
 * bytes in flight.
 */
export class PortTransport extends BaseTransport {
  readonly label: string;
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  constructor(private readonly port: MessagePort, label = "in-process") {
    super();
    this.label = label;
    port.on("message", (m: { d?: Uint8Array; ack?: number; bye?: boolean }) => {
      if (m.d) {
        this.deliver(new Uint8Array(m.d.buffer, m.d.byteOffset, m.d.byteLength));
        if (!this.closed) port.postMessage({ ack: m.d.byteLength });
      } else if (m.ack !== undefined) {
        this.inFlight -= m.ack;
        if (this.inFlight < PORT_WINDOW) for (const w of this.waiters.splice(0)) w();
      } else if (m.bye) {
        this.shutdown(new LinkError("peer closed the link"));
      }
    });
    port.on("close", () => this.shutdown(new LinkError("port closed")));
    port.start();
  }
  private shutdown(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
    try { this.port.close(); } catch { /* already closed */ }
    this.fireClose(err);
  }
  async send(bytes: Uint8Array): Promise<void> {
    if (this.closed) throw new LinkError("link closed");
    // Transfer the buffer when the view owns all of it; otherwise copy (never transfer a pooled or shared buffer).
    const copy = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && !(bytes.buffer instanceof SharedArrayBuffer) ? bytes : new Uint8Array(bytes);
    this.inFlight += copy.byteLength;
    this.port.postMessage({ d: copy }, [copy.buffer as ArrayBuffer]);
    while (this.inFlight >= PORT_WINDOW && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
    if (this.closed) throw new LinkError("link closed");
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
const TCP_WINDOW = 8 << 20;

/** TCP transport over a connected socket. */
export class TcpTransport extends BaseTransport {
  readonly label: string;
  constructor(private readonly sock: Socket) {
    super();
    this.label = `tcp ${sock.remoteAddress}:${sock.remotePort}`;
    sock.setNoDelay(true);
    sock.on("data", (b: Buffer) => this.deliver(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
    sock.on("error", (e) => this.fireClose(new LinkError(`${this.label}: ${e.message}`)));
    sock.on("close", () => this.fireClose(new LinkError(`${this.label}: connection closed`)));
    sock.on("end", () => sock.end());
  }
  send(bytes: Uint8Array): Promise<void> {
    if (this.closed || this.sock.destroyed) return Promise.reject(new LinkError("link closed"));
    this.sock.write(bytes);
    // Keep up to TCP_WINDOW bytes queued so encoding the next frame overlaps
    // the kernel sending this one; past that, wait until half has drained.
    if (this.sock.writableLength === 0) return Promise.resolve();
    // Bytes wait in user space: let the event loop run once so libuv moves
    // them to the kernel while the sender encodes the next frame.
    if (this.sock.writableLength < TCP_WINDOW) return new Promise((r) => setImmediate(r));
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.closed || this.sock.destroyed) { cleanup(); reject(new LinkError("link closed")); }
        else if (this.sock.writableLength < TCP_WINDOW / 2) { cleanup(); resolve(); }
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
