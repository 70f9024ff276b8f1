// A framed, checked message link over a Transport: what the source and the
// destination engines talk through. It needs nothing but the transport: the
// frames are hashed on the host.

import { FramePool, FrameReader, FrameWriter, type Frame, type OwnerChecksum, type PayloadStage } from "./frames.js";
import { FRAME_HEADER } from "./wire.js";
import { LinkError, RECV_WINDOW, type Transport } from "./transport.js";
import { Msg, ProtocolError, msgName, PayloadReader } from "./wire.js";

/** The peer sent ABORT. */
export class PeerAbort extends Error {
  constructor(message: string) { super(message); this.name = "PeerAbort"; }
}

/** No message arrived in time. */
export class LinkTimeout extends LinkError {
  constructor(what: string, ms: number) { super(`timed out after ${ms} ms waiting for ${what}`); this.name = "LinkTimeout"; }
}

/**
 * Frames over a transport: send, poll and wait for checked frames; ABORT and
 * truncation become errors. What the reader consumes is handed back to the
 * transport's flow control frame by frame, so the peer can never have more
 * than RECV_WINDOW bytes waiting here.
 */
export class Link {
  readonly writer: FrameWriter;
  readonly reader: FrameReader;
  private closedErr: Error | null = null;
  private wake: (() => void) | null = null;
  /** Set once the stream is known to be damaged; every later recv fails with it. */
  private broken: Error | null = null;
  /** Set by cancel(): every wait and every later send or recv fails with it. */
  private cancelled: Error | null = null;
  private readonly cancelWaiters = new Set<(err: Error) => void>();

  /** Frame buffers reused across sends, when the transport lends them back (sendBorrowed). */
  readonly pool: FramePool | null;

  /**
   * `sendTimeoutMs`: longest a send may wait for the peer to open its window.
   * `pool`: frame into reused buffers when the transport can lend them back
   * (default on; off frames every message into a fresh buffer).
   */
  constructor(readonly transport: Transport, private readonly sendTimeoutMs = 30_000, pool = true) {
    this.pool = pool && transport.sendBorrowed ? new FramePool() : null;
    this.writer = new FrameWriter();
    this.reader = new FrameReader(RECV_WINDOW);
    transport.onData((c) => {
      if (this.broken) return;
      try { this.reader.push(c); } catch (e) { this.broken = e as Error; transport.close(); }
      this.kick();
    });
    transport.onClose((err) => { this.closedErr = err ?? new LinkError("link closed by peer"); this.kick(); });
  }

  /** The most bytes received and not yet read as frames, at any time (the transport's count or the reader's, whichever is larger). */
  get bufferedHighWater(): number { return Math.max(this.transport.bufferedHighWater, this.reader.highWater); }

  /** Where received payloads land from the next frame on (null: the link's own buffer). */
  stagePayloads(stage: PayloadStage | null): void { this.reader.stageWith(stage); }

  private kick(): void { const w = this.wake; this.wake = null; w?.(); }

  /**
   * Stop waiting: a recv or a send waiting for the peer's window fails with
   * `err` now, and so does every later one (abort() and close() still work).
   */
  cancel(err: Error): void {
    if (this.cancelled) return;
    this.cancelled = err;
    for (const w of this.cancelWaiters) w(err);
    this.cancelWaiters.clear();
    this.kick();
  }

  get closed(): boolean { return this.closedErr !== null; }

  /**
   * Frame and send `payload` (copied into the frame at once: the caller may
   * reuse its bytes when this returns or throws). `owner`: the payload's own
   * checksum (PAGES only, FRAME_RECORD_HASHES).
   */
  async send(type: number, payload?: Uint8Array, owner?: OwnerChecksum): Promise<void> {
    if (this.cancelled) throw this.cancelled;
    await this.sendFrame(type, payload, owner);
  }

  private async sendFrame(type: number, payload?: Uint8Array, owner?: OwnerChecksum): Promise<void> {
    const pool = this.pool;
    if (pool) {
      const p = payload ?? new Uint8Array(0);
      const buf = this.writer.frameInto(type, p, pool.take(FRAME_HEADER + p.length), owner);
      await this.bounded(type, this.transport.sendBorrowed!(buf, () => pool.give(buf)));
    } else {
      await this.bounded(type, this.transport.send(this.writer.frame(type, payload, owner)));
    }
  }

  /** A peer that stops reading must not hang the sender: a send waits for the window at most sendTimeoutMs. */
  private async bounded(type: number, sent: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let onCancel: ((err: Error) => void) | undefined;
    // After a timeout the send may still fail when the link closes: that is already reported.
    sent.catch(() => {});
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LinkTimeout(`the peer to read ${msgName(type)}`, this.sendTimeoutMs)), this.sendTimeoutMs);
      onCancel = reject;
      this.cancelWaiters.add(reject);
    });
    try { await Promise.race([sent, late]); } finally { clearTimeout(timer); this.cancelWaiters.delete(onCancel!); }
  }

  /** A frame if one is complete now (ABORT becomes a PeerAbort), else null. Never waits. */
  poll(): Frame | null {
    if (this.cancelled) throw this.cancelled;
    if (this.broken) throw this.broken;
    let f: Frame | null;
    const before = this.reader.pending;
    try { f = this.reader.next(); } catch (e) { this.broken = e as Error; throw e; }
    if (this.reader.pending < before) this.transport.consumed(before - this.reader.pending);
    if (f && f.type === Msg.ABORT) {
      let why = "peer aborted";
      try { why = new PayloadReader(f.payload, "ABORT").str(); } catch { /* keep the generic reason */ }
      this.broken = new PeerAbort(`peer aborted: ${why}`);
      throw this.broken;
    }
    if (!f && this.closedErr) {
      if (this.reader.pending > 0) this.broken = new ProtocolError(`stream truncated (${this.reader.pending} bytes of an incomplete frame)`);
      else this.broken = this.closedErr;
      throw this.broken;
    }
    return f;
  }

  /**
   * Wait for the next frame (at most `timeoutMs`). `idleWork`, while no frame
   * is complete: a small step of other work (≈ 1 ms), true while more remains;
   * between steps the event loop runs, so arriving bytes are never held up by
   * more than one step.
   */
  async recv(what: string, timeoutMs: number, idleWork?: () => boolean): Promise<Frame> {
    const deadline = performance.now() + timeoutMs;
    let working = idleWork !== undefined;
    for (;;) {
      const f = this.poll();
      if (f) return f;
      const left = deadline - performance.now();
      if (left <= 0) throw new LinkTimeout(what, timeoutMs);
      if (working) {
        working = idleWork!();
        // setImmediate runs after the event loop's I/O phase: received bytes are pushed before the next poll.
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.wake = null; resolve(); }, left);
        this.wake = () => { clearTimeout(t); resolve(); };
      });
    }
  }

  /** Wait for a frame of `type`; anything else is a protocol error. */
  async expect(type: number, timeoutMs: number): Promise<Frame> {
    const f = await this.recv(msgName(type), timeoutMs);
    if (f.type !== type) throw new ProtocolError(`expected ${msgName(type)}, got ${msgName(f.type)}`);
    return f;
  }

  /** Best-effort ABORT, then close. */
  async abort(reason: string): Promise<void> {
    if (!this.closed) {
      try {
        const b = new TextEncoder().encode(reason).subarray(0, 1024);
        const p = new Uint8Array(2 + b.length);
        new DataView(p.buffer).setUint16(0, b.length, true);
        p.set(b, 2);
        await Promise.race([this.sendFrame(Msg.ABORT, p), new Promise((r) => setTimeout(r, 200))]);
      } catch { /* the link may already be gone */ }
    }
    this.transport.close();
  }

  close(): void { this.transport.close(); }
}
