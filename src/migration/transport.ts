// Transports carry the frame byte stream between source and destination.
// A transport is a reliable, ordered byte pipe with backpressure; framing and
// checksums are the protocol's job (frames.ts), so any transport works,
// including one that injects faults (src/testing/migration/faults.ts).

import { MessageChannel, type MessagePort } from "node:worker_threads";
import { createServer, connect as netConnect, type Socket, type Server } from "node:net";
import { createServer as createTlsServer, connect as tlsConnect } from "node:tls";

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
  /**
   * Like send, but `bytes` stay the caller's: the transport reads them until
   * it calls `done` (once, also when the link fails), and the caller may reuse
   * them only then. Optional: without it the caller sends a copy it gives up.
   */
  sendBorrowed?(bytes: Uint8Array, done: () => void): Promise<void>;
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
  send(bytes: Uint8Array): Promise<void> { return this.write(bytes); }

  /** The socket calls back once it has handed `bytes` to the kernel (or failed): then they are the caller's again. */
  sendBorrowed(bytes: Uint8Array, done: () => void): Promise<void> {
    let called = false;
    const once = () => { if (!called) { called = true; done(); } };
    return this.write(bytes, once).catch((e) => { once(); throw e; });
  }

  private write(bytes: Uint8Array, written?: () => void): Promise<void> {
    if (this.closed || this.sock.destroyed) return Promise.reject(new LinkError("link closed"));
    this.sock.write(bytes, written);
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

/** The loopback address a listener binds by default. */
export const LOOPBACK = "127.0.0.1";

/** Addresses that never leave this host (a listener or a peer there needs no authentication). */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Authentication of a migration link, either way encrypted:
 * - a pre-shared key: TLS 1.2 with PSK (RFC 4279 with ECDHE, RFC 5489;
 *   ChaCha20-Poly1305 per RFC 7905); each side proves it holds the key;
 * - certificates: TLS 1.3, mutual: each side presents a certificate its peer
 *   checks against `ca` (the source also checks the destination's name).
 */
export type TransportAuth = PskAuth | CertAuth;

/** TLS-PSK: both hosts hold the same secret, named by `identity`. */
export interface PskAuth {
  /** The shared secret, at least 16 bytes (e.g. 32 random bytes: `openssl rand -hex 32`). */
  psk: Uint8Array;
  /** The key's name the source sends in the clear (default "vmdev-migration"). */
  identity?: string;
}

/** Mutual TLS: this side's certificate and key, and the CA its peer's certificate must chain to (PEM). */
export interface CertAuth {
  cert: string | Uint8Array;
  key: string | Uint8Array;
  ca: string | Uint8Array;
  /** Source side: the name the destination's certificate must carry (default: the host connected to). */
  servername?: string;
}

/** Forward-secret PSK suites only (ECDHE or DHE), AEAD ciphers. TLS 1.3 in OpenSSL offers external PSKs only beside a certificate. */
const PSK_CIPHERS = "ECDHE-PSK-CHACHA20-POLY1305:DHE-PSK-AES256-GCM-SHA384:DHE-PSK-CHACHA20-POLY1305";
const DEFAULT_IDENTITY = "vmdev-migration";
/** A peer that has not finished the TLS handshake by then is dropped (and counted). */
const HANDSHAKE_TIMEOUT_MS = 10_000;

type Checked = { kind: "psk"; psk: Buffer; identity: string } | ({ kind: "cert" } & CertAuth);

function checkAuth(auth: TransportAuth): Checked {
  if (!("psk" in auth)) {
    if (!auth.cert || !auth.key || !auth.ca) throw new Error("migration TLS: want a certificate, its key and a CA");
    return { kind: "cert", ...auth };
  }
  if (!(auth.psk instanceof Uint8Array) || auth.psk.length < 16) throw new Error("migration PSK: want at least 16 bytes of key");
  const identity = auth.identity ?? DEFAULT_IDENTITY;
  if (identity.length === 0 || Buffer.byteLength(identity) > 128) throw new Error("migration PSK identity: want 1 to 128 bytes");
  return { kind: "psk", psk: Buffer.from(auth.psk), identity };
}

/** Certificate suites: TLS 1.3 only (all its suites are AEAD and forward-secret). */
const pem = (v: string | Uint8Array): string | Buffer => (typeof v === "string" ? v : Buffer.from(v));
const certOptions = (a: CertAuth) => ({ cert: pem(a.cert), key: pem(a.key), ca: pem(a.ca), minVersion: "TLSv1.3" as const });

/** Parse a PSK file's contents: hex digits (whitespace ignored), else the raw bytes. */
export function parsePsk(bytes: Uint8Array): Uint8Array {
  const text = Buffer.from(bytes).toString("latin1").replace(/\s+/g, "");
  const key = /^([0-9a-fA-F]{2})+$/.test(text) ? Buffer.from(text, "hex") : Buffer.from(bytes);
  if (key.length < 16) throw new Error(`migration PSK: ${key.length} bytes; want at least 16 (e.g. \`openssl rand -hex 32\`)`);
  return key;
}

/** Options of listen(). */
export interface ListenOptions {
  /** Address to bind (default 127.0.0.1). Any other than loopback needs `auth`. */
  host?: string;
  /** Require TLS (PSK or certificates) from the source (always allowed, required off loopback). */
  auth?: TransportAuth;
}

/** Connections a listener refused. */
export interface RefusedCounts {
  /** Failed the TLS handshake: wrong key, unknown identity, not TLS at all, or too slow. */
  unauthenticated: number;
  /** Arrived once the one source was accepted. */
  extra: number;
}

/** A destination's listener: it accepts one source and refuses everything else. */
export interface Listener {
  readonly port: number;
  readonly host: string;
  readonly server: Server;
  /** Whether sources must authenticate (TLS). */
  readonly authenticated: boolean;
  /** The one source: the first connection to connect (and, with auth, to authenticate). */
  accept(): Promise<TcpTransport>;
  readonly refused: RefusedCounts;
  /** Stop listening (the accepted source's link stays up). */
  close(): void;
}

/**
 * Listen on `host`:`port` (0 = any free port) for the one migration source.
 * Off loopback the listener exists only with authentication: guest memory
 * and device state would otherwise cross the network in the clear and any
 * peer could feed the destination a VM. The first connection that completes
 * (with auth: completes the TLS-PSK handshake) is the source; every later one
 * is closed at once and counted in `refused.extra`, every failed handshake in
 * `refused.unauthenticated`.
 */
export function listen(port: number, opts: ListenOptions = {}): Promise<Listener> {
  const host = opts.host ?? LOOPBACK;
  if (!isLoopback(host) && !opts.auth) {
    return Promise.reject(new Error(`refusing to listen on ${host} without authentication: migration carries guest memory; give a pre-shared key (TLS-PSK) or listen on 127.0.0.1`));
  }
  let auth: Checked | null;
  try { auth = opts.auth ? checkAuth(opts.auth) : null; } catch (e) { return Promise.reject(e); }
  return new Promise((resolve, reject) => {
    const refused: RefusedCounts = { unauthenticated: 0, extra: 0 };
    let taken: TcpTransport | null = null;
    const waiting: Array<(t: TcpTransport) => void> = [];
    const take = (sock: Socket) => {
      if (taken) { refused.extra++; sock.destroy(); return; }
      taken = new TcpTransport(sock);
      for (const w of waiting.splice(0)) w(taken);
    };
    let server: Server;
    if (auth) {
      const key = auth;
      const tlsServer = createTlsServer(key.kind === "psk" ? {
        pskCallback: (_sock, identity) => (identity === key.identity ? key.psk : null),
        pskIdentityHint: key.identity,
        ciphers: PSK_CIPHERS, minVersion: "TLSv1.2", maxVersion: "TLSv1.2",
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      } : {
        ...certOptions(key), requestCert: true, rejectUnauthorized: true,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      }, take);
      // A later source is refused once its handshake is done (take), so each refusal is counted once, by its cause.
      tlsServer.on("tlsClientError", (_e, sock) => { refused.unauthenticated++; sock.destroy(); });
      server = tlsServer;
    } else {
      server = createServer(take);
    }
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      server.on("error", () => { /* a listener error after bind: accept() keeps waiting; close() ends it */ });
      const addr = server.address();
      const bound = typeof addr === "object" && addr ? addr.port : port;
      resolve({
        port: bound, host, server, authenticated: auth !== null, refused,
        accept: () => new Promise<TcpTransport>((r) => { if (taken) r(taken); else waiting.push(r); }),
        close: () => { server.close(); },
      });
    });
  });
}

/** Options of connect(). */
export interface ConnectOptions {
  /** Authenticate with TLS, PSK or certificates (required for a destination off loopback). */
  auth?: TransportAuth;
}

/** Connect to a destination listening on `host`:`port` (default 127.0.0.1). */
export function connect(port: number, host = LOOPBACK, opts: ConnectOptions = {}): Promise<TcpTransport> {
  if (!isLoopback(host) && !opts.auth) {
    return Promise.reject(new Error(`refusing to migrate to ${host} without authentication: give a pre-shared key (TLS-PSK), or use 127.0.0.1`));
  }
  let auth: Checked | null;
  try { auth = opts.auth ? checkAuth(opts.auth) : null; } catch (e) { return Promise.reject(e); }
  return new Promise((resolve, reject) => {
    const where = `${host}:${port}`;
    if (auth) {
      const key = auth;
      const sock = key.kind === "psk" ? tlsConnect({
        port, host, ciphers: PSK_CIPHERS, minVersion: "TLSv1.2", maxVersion: "TLSv1.2",
        pskCallback: () => ({ psk: key.psk, identity: key.identity }),
        // The PSK authenticates the peer; there is no certificate to check.
        checkServerIdentity: () => undefined,
      }) : tlsConnect({ port, host, ...certOptions(key), servername: key.servername, rejectUnauthorized: true });
      sock.once("secureConnect", () => { sock.off("error", onError); resolve(new TcpTransport(sock)); });
      const onError = (e: Error) => reject(new LinkError(`connect ${where} (${key.kind === "psk" ? "TLS-PSK" : "TLS"}): ${e.message}`));
      sock.once("error", onError);
    } else {
      const sock = netConnect({ port, host });
      sock.once("connect", () => { sock.off("error", reject); resolve(new TcpTransport(sock)); });
      sock.once("error", (e) => reject(new LinkError(`connect ${where}: ${e.message}`)));
    }
  });
}
