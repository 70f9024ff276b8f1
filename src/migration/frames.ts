// Framing: every message is a 32-byte header and a payload.
//
//   0 u32 magic "VMMG"   4 u8 version   5 u8 type   6 u16 flags (0, or
//     FRAME_RECORD_HASHES on PAGES: bytes 16..24 are the records' checksum)
//   8 u32 sequence number (0, 1, 2, ... per direction)
//  12 u32 payload length (≤ MAX_PAYLOAD)
//  16 u64 XXH64 of the payload, seeded with the sequence number (with
//     FRAME_RECORD_HASHES: the payload owner's checksum, which the reader
//     hands on as Frame.ownerChecksum for the owner to check)
//  24 u64 XXH64 of header bytes 0..24
//
// The header checksum is checked before the length is trusted, so a flipped
// length byte never makes the reader wait for (or allocate) a bogus payload.
// The sequence number catches a lost, repeated or reordered frame. Framing
// needs no VM: the hashes are computed on the host (xxh64.ts) over the bytes
// wherever they are, and the reader stages payloads where its owner says.

import { xxh64 } from "./xxh64.js";
import { FRAME_HEADER, FRAME_MAGIC, FRAME_RECORD_HASHES, MAX_PAYLOAD, MSG_MAX, Msg, PROTOCOL_VERSION, ProtocolError, msgName } from "./wire.js";

/**
 * A received frame. `payload` is a view that is valid only until the next
 * frame is read. `ownerChecksum` is set only on a PAGES frame with
 * FRAME_RECORD_HASHES: the reader did not check the payload, and its owner
 * must compare this with mig_records_hash (seeded with `seq`) before using it.
 */
export interface Frame { type: number; seq: number; payload: Uint8Array; ownerChecksum?: bigint }

/** A payload checksum computed by the payload's owner (FRAME_RECORD_HASHES): `hash(seq)` is called with the frame's sequence number. */
export interface OwnerChecksum { hash(seq: number): bigint }

/** Builds frames, numbering them from 0. */
export class FrameWriter {
  private seq = 0;
  /** Bytes of all frames built so far. */
  bytes = 0;
  frames = 0;

  /** Frame `payload` (any bytes, a view into wasm memory included). Returns a fresh copy of the whole frame. */
  frame(type: number, payload: Uint8Array = new Uint8Array(0), owner?: OwnerChecksum): Uint8Array {
    this.check(type, payload);
    // A fresh, exactly sized, unshared buffer (transferable, safe to queue on a
    // socket). Not zero-filled first: it is overwritten whole; slice() on
    // shared memory is several times slower.
    const buf = Buffer.allocUnsafeSlow(FRAME_HEADER + payload.length);
    // A plain Uint8Array over it, so callers' slice() copies as usual.
    return this.frameInto(type, payload, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), owner);
  }

  /**
   * Frame `payload` into `out` (exactly FRAME_HEADER + payload.length bytes,
   * e.g. from a FramePool); returns `out`. With `owner` (PAGES only) the
   * payload checksum is the owner's (FRAME_RECORD_HASHES) instead of XXH64
   * over every payload byte.
   */
  frameInto(type: number, payload: Uint8Array, out: Uint8Array, owner?: OwnerChecksum): Uint8Array {
    this.check(type, payload);
    if (owner && type !== Msg.PAGES) throw new Error(`an owner checksum on ${msgName(type)}: only PAGES frames carry one`);
    const len = payload.length;
    if (out.length !== FRAME_HEADER + len) throw new RangeError(`a frame of ${FRAME_HEADER + len} bytes into ${out.length}`);
    const seq = this.seq++;
    out.set(payload, FRAME_HEADER);
    const dv = new DataView(out.buffer, out.byteOffset, FRAME_HEADER);
    dv.setUint32(0, FRAME_MAGIC, true);
    dv.setUint8(4, PROTOCOL_VERSION);
    dv.setUint8(5, type);
    dv.setUint16(6, owner ? FRAME_RECORD_HASHES : 0, true);
    dv.setUint32(8, seq, true);
    dv.setUint32(12, len, true);
    dv.setBigUint64(16, owner ? owner.hash(seq) : xxh64(out.subarray(FRAME_HEADER), BigInt(seq)), true);
    dv.setBigUint64(24, xxh64(out.subarray(0, 24), 0n), true);
    this.bytes += FRAME_HEADER + len;
    this.frames++;
    return out;
  }

  private check(type: number, payload: Uint8Array): void {
    if (payload.length > MAX_PAYLOAD) throw new Error(`${msgName(type)} payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  }
}

/**
 * Frame buffers for reuse: a sender takes one per frame and gives it back
 * once the transport no longer reads it, so a stream of 1 MiB frames cycles
 * through a few buffers instead of allocating (and page-faulting in) one per
 * frame. Buffers are unshared and at least `minBytes` long; at most `keep`
 * are held while free.
 */
export class FramePool {
  private readonly free: ArrayBuffer[] = [];
  /** Buffers allocated, and takes served from a free one. */
  allocated = 0;
  reused = 0;

  constructor(private readonly keep = 16, private readonly minBytes = FRAME_HEADER + (1 << 20)) {}

  /** A view of `n` bytes (contents undefined) over a free buffer or a new one. */
  take(n: number): Uint8Array {
    for (let i = this.free.length - 1; i >= 0; i--) {
      if (this.free[i].byteLength >= n) {
        const [b] = this.free.splice(i, 1);
        this.reused++;
        return new Uint8Array(b, 0, n);
      }
    }
    this.allocated++;
    const b = Buffer.allocUnsafeSlow(Math.max(n, this.minBytes));
    return new Uint8Array(b.buffer, b.byteOffset, n);
  }

  /** Give back a view `take` returned; nothing may read or write it afterwards. */
  give(v: Uint8Array): void {
    if (this.free.length < this.keep && !this.free.includes(v.buffer as ArrayBuffer)) this.free.push(v.buffer as ArrayBuffer);
  }

  /** Free buffers held. */
  get held(): number { return this.free.length; }
}

/**
 * Where the reader puts the `len` bytes of the next payload: a view of at
 * least that many bytes, asked for each frame (a view into wasm memory goes
 * stale when the memory grows).
 */
export type PayloadStage = (len: number) => Uint8Array;

/**
 * Reassembles frames from a byte stream cut anywhere (TCP segments, fault
 * injection). The header is checked in the reader's own bytes; the payload
 * is copied to its stage (the reader's own buffer unless the owner gave one,
 * e.g. a VM's I/O buffer so the wasm reads it in place), checked there, and
 * handed out one frame at a time. It holds at most `limit`
 * bytes not yet read as frames: the transports' flow control keeps an honest
 * peer below it, and a push past it is a ProtocolError (a transport without
 * flow control cannot make it buffer more).
 */
export class FrameReader {
  private chunks: Uint8Array[] = [];
  private have = 0;
  private expectSeq = 0;
  private readonly hdr = new Uint8Array(FRAME_HEADER);
  /** Bytes of all complete frames read. */
  bytes = 0;
  /** The most bytes ever held at once. */
  highWater = 0;

  private own = new Uint8Array(0);
  private stage: PayloadStage = (len) => this.ownStage(len);

  constructor(private readonly limit = FRAME_HEADER + MAX_PAYLOAD) {
    if (limit < FRAME_HEADER + MAX_PAYLOAD) throw new RangeError(`a frame reader limit of ${limit} bytes cannot hold the largest frame`);
  }

  /** Stage payloads with `stage` from the next frame on (null: the reader's own buffer again). */
  stageWith(stage: PayloadStage | null): void { this.stage = stage ?? ((len) => this.ownStage(len)); }

  /** The reader's own buffer, grown to the largest payload seen (at most MAX_PAYLOAD). */
  private ownStage(len: number): Uint8Array {
    if (this.own.length < len) this.own = new Uint8Array(Math.max(len, Math.min(MAX_PAYLOAD, this.own.length * 2), 4096));
    return this.own;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.have + chunk.length > this.limit) {
      throw new ProtocolError(`the peer sent ${chunk.length} bytes with ${this.have} unread: more than the ${this.limit}-byte receive window`);
    }
    this.chunks.push(chunk);
    this.have += chunk.length;
    if (this.have > this.highWater) this.highWater = this.have;
  }

  /** Bytes received and not yet consumed by a complete frame. */
  get pending(): number { return this.have; }

  private take(dst: Uint8Array, n: number): void {
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - off);
      dst.set(c.subarray(0, k), off);
      off += k;
      if (k === c.length) this.chunks.shift(); else this.chunks[0] = c.subarray(k);
    }
    this.have -= n;
  }

  private peekHeader(): void {
    let off = 0;
    for (const c of this.chunks) {
      const k = Math.min(c.length, FRAME_HEADER - off);
      this.hdr.set(c.subarray(0, k), off);
      off += k;
      if (off === FRAME_HEADER) break;
    }
  }

  /** The next complete frame, null if more bytes are needed; a ProtocolError if the stream is damaged. */
  next(): Frame | null {
    if (this.have < FRAME_HEADER) return null;
    this.peekHeader();
    const dv = new DataView(this.hdr.buffer);
    if (dv.getUint32(0, true) !== FRAME_MAGIC) throw new ProtocolError(`frame ${this.expectSeq}: bad magic`);
    if (xxh64(this.hdr.subarray(0, 24), 0n) !== dv.getBigUint64(24, true)) {
      throw new ProtocolError(`frame ${this.expectSeq}: header checksum mismatch`);
    }
    const version = dv.getUint8(4), type = dv.getUint8(5), flags = dv.getUint16(6, true);
    const seq = dv.getUint32(8, true), len = dv.getUint32(12, true);
    if (version !== PROTOCOL_VERSION) throw new ProtocolError(`frame ${seq}: protocol version ${version}, want ${PROTOCOL_VERSION}`);
    if (type < 1 || type > MSG_MAX) throw new ProtocolError(`frame ${seq}: unknown message type ${type}`);
    if (flags !== 0 && !(flags === FRAME_RECORD_HASHES && type === Msg.PAGES)) throw new ProtocolError(`frame ${seq}: reserved flags set`);
    if (seq !== this.expectSeq) throw new ProtocolError(`frame ${this.expectSeq} lost (got ${seq})`);
    if (len > MAX_PAYLOAD) throw new ProtocolError(`frame ${seq}: payload length ${len} exceeds ${MAX_PAYLOAD}`);
    if (this.have < FRAME_HEADER + len) return null;
    this.take(this.hdr, FRAME_HEADER);
    const stage = this.stage(len);
    if (stage.length < len) throw new RangeError(`payload stage of ${stage.length} bytes for a ${len}-byte payload`);
    const payload = stage.subarray(0, len);
    this.take(payload, len);
    const sum = dv.getBigUint64(16, true);
    this.expectSeq++;
    this.bytes += FRAME_HEADER + len;
    if (flags === FRAME_RECORD_HASHES) return { type, seq, payload, ownerChecksum: sum };
    if (xxh64(payload, BigInt(seq)) !== sum) {
      this.expectSeq--;
      this.bytes -= FRAME_HEADER + len;
      throw new ProtocolError(`frame ${seq} (${msgName(type)}): payload checksum mismatch`);
    }
    return { type, seq, payload };
  }
}
