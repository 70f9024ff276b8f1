// Frame arrays on the host side: many frames in one window of wasm memory
// (records of u32 length, the bytes, padding to 4: assembly/rings/batch.ts),
// so a batch of frames costs one wasm call instead of one call and one copy
// each.

import { RingsDefs } from "../generated/constants.js";
import { Status } from "../status.js";
import type { IoBuffer } from "../io-buffer.js";

const { FA_LEN_BYTES, FA_ALIGN, FA_STOP_AT_REFUSAL } = RingsDefs;

/** Bytes one frame of `len` bytes takes in a frame array. */
export function frameRecordBytes(len: number): number {
  return (FA_LEN_BYTES + len + FA_ALIGN - 1) & ~(FA_ALIGN - 1);
}

/**
 * Bytes of frame records a NIC's `receiveFrames` takes per call from an I/O
 * buffer of `ioSize` bytes: the rest holds a status byte per frame (a record
 * is at least 4 bytes, so at most a quarter as many frames as bytes).
 */
export function frameWindowBytes(ioSize: number): number {
  return Math.floor((ioSize * 4) / 5) & ~(FA_ALIGN - 1);
}

/**
 * The host side of a *_receive_frames export: `records` (a frame array) is
 * copied into the I/O buffer in one piece, `call(ioOff, len, stOff, flags)`
 * makes the one wasm call, and the status of each frame handed over is copied
 * to `statuses`. Returns the frames handed over or a negative Status
 * (-ERR_INVALID_ARG: more records than `frameWindowBytes` allows, or
 * `statuses` too short for them).
 */
export function receiveFramesVia(io: IoBuffer, records: Uint8Array, statuses: Uint8Array, stopAtRefusal: boolean,
  call: (ioOff: number, len: number, stOff: number, flags: number) => number): number {
  const stOff = (records.length + FA_ALIGN - 1) & ~(FA_ALIGN - 1);
  const most = Math.floor(records.length / FA_LEN_BYTES); // every record takes at least its length word
  if (stOff + most > io.size || statuses.length < most) return -Status.ERR_INVALID_ARG;
  return io.use("net frames", 0, stOff + most, (w) => {
    w.bytes().set(records);
    const n = call(0, records.length, stOff, stopAtRefusal ? FA_STOP_AT_REFUSAL : 0);
    // A fresh view: the call may have grown the memory.
    if (n > 0) statuses.set(w.bytes().subarray(stOff, stOff + n));
    return n;
  });
}

/** Packs frames into a window (a subarray of wasm memory, e.g. the I/O buffer). */
export class FrameArrayWriter {
  private dv: DataView;
  private off = 0;
  private n = 0;
  constructor(private readonly window: Uint8Array) {
    this.dv = new DataView(window.buffer, window.byteOffset, window.byteLength);
  }

  /** Frames written so far. */
  get count(): number { return this.n; }
  /** Bytes of the window used so far (what the wasm call takes as the length). */
  get bytes(): number { return this.off; }

  /** Append one frame; false (nothing written) if it does not fit. */
  push(frame: Uint8Array): boolean {
    const rec = frameRecordBytes(frame.length);
    if (rec > this.window.length - this.off) return false;
    this.dv.setUint32(this.off, frame.length, true);
    this.window.set(frame, this.off + FA_LEN_BYTES);
    this.off += rec;
    this.n++;
    return true;
  }

  /**
   * Reserve room for a frame of `len` bytes and return the view to write it
   * into (so a producer can build the frame in place, with no copy). null if
   * it does not fit.
   */
  reserve(len: number): Uint8Array | null {
    const rec = frameRecordBytes(len);
    if (rec > this.window.length - this.off) return null;
    this.dv.setUint32(this.off, len, true);
    const v = this.window.subarray(this.off + FA_LEN_BYTES, this.off + FA_LEN_BYTES + len);
    this.off += rec;
    this.n++;
    return v;
  }

  reset(): void { this.off = 0; this.n = 0; }
}

/**
 * A batch of frames in wasm memory, valid only until the callback it was
 * handed to returns (the memory, and the batch object itself, are reused):
 * `frame(i)` is a view, not a copy; copy what you keep.
 */
export class FrameBatch {
  private offsets: number[] = [];
  private lengths: number[] = [];
  private n = 0;
  private end = 0;
  private constructor(private window: Uint8Array) {}

  /**
   * The first `count` records of a frame-array window. Throws RangeError if
   * one runs past the window: frame arrays the device wrote are trusted, but
   * a torn one must not yield a wrong view.
   */
  static read(window: Uint8Array, count: number): FrameBatch {
    return new FrameBatch(window).reread(window, count);
  }

  /** @internal Read another window into this object (a NIC reuses one batch per outbox). */
  reread(window: Uint8Array, count: number): this {
    this.window = window;
    let off = 0;
    for (let i = 0; i < count; i++) {
      const len = window.length - off >= FA_LEN_BYTES
        ? (window[off] | (window[off + 1] << 8) | (window[off + 2] << 16) | (window[off + 3] << 24)) >>> 0 : -1;
      if (len < 0 || len > window.length - off - FA_LEN_BYTES) { this.n = 0; this.end = 0; throw new RangeError(`frame array: record ${i} at ${off} runs past the window`); }
      this.offsets[i] = off + FA_LEN_BYTES;
      this.lengths[i] = len;
      off += frameRecordBytes(len);
    }
    this.n = count;
    this.end = Math.min(off, window.length);
    return this;
  }

  get length(): number { return this.n; }
  /** Bytes of the batch's records (the frame array's length). */
  get byteLength(): number { return this.end; }
  /** The records themselves (u32 length, bytes, padding to 4), for a consumer that takes a frame array whole. */
  records(): Uint8Array { return this.window.subarray(0, this.end); }
  /** Length of frame `i`, without making a view. */
  lengthOf(i: number): number { return this.lengths[i]; }
  /** Frame `i` as a view into wasm memory. */
  frame(i: number): Uint8Array { return this.window.subarray(this.offsets[i], this.offsets[i] + this.lengths[i]); }
  /** Copies of every frame. */
  copies(): Uint8Array[] { return Array.from({ length: this.n }, (_, i) => this.frame(i).slice()); }
  /**
   * The batch copied out of wasm memory in one piece: its frames are views
   * of that copy, valid after the callback returns (one allocation and one
   * copy per batch instead of per frame).
   */
  copy(): FrameBatch {
    const b = new FrameBatch(this.window.slice(0, this.end));
    b.offsets = this.offsets.slice(0, this.n);
    b.lengths = this.lengths.slice(0, this.n);
    b.n = this.n;
    b.end = this.end;
    return b;
  }
  *[Symbol.iterator](): IterableIterator<Uint8Array> { for (let i = 0; i < this.n; i++) yield this.frame(i); }
}
