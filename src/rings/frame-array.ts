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
 * handed to returns (the memory is reused): `frame(i)` is a view, not a copy;
 * copy what you keep.
 */
export class FrameBatch {
  private readonly offsets: number[] = [];
  private readonly lengths: number[] = [];
  private constructor(private readonly window: Uint8Array) {}

  /**
   * The first `count` records of a frame-array window. Throws RangeError if
   * one runs past the window: frame arrays the device wrote are trusted, but
   * a torn one must not yield a wrong view.
   */
  static read(window: Uint8Array, count: number): FrameBatch {
    const b = new FrameBatch(window);
    const dv = new DataView(window.buffer, window.byteOffset, window.byteLength);
    let off = 0;
    for (let i = 0; i < count; i++) {
      const len = window.length - off >= FA_LEN_BYTES ? dv.getUint32(off, true) : -1;
      if (len < 0 || len > window.length - off - FA_LEN_BYTES) throw new RangeError(`frame array: record ${i} at ${off} runs past the window`);
      b.offsets.push(off + FA_LEN_BYTES);
      b.lengths.push(len);
      off += frameRecordBytes(len);
    }
    return b;
  }

  get length(): number { return this.offsets.length; }
  /**
   * The batch copied out of wasm memory in one piece: its frames are views
   * of that copy, valid after the callback returns (one allocation and one
   * copy per batch instead of per frame).
   */
  copy(): FrameBatch {
    const n = this.offsets.length;
    const end = n === 0 ? 0 : this.offsets[n - 1] + this.lengths[n - 1];
    const b = new FrameBatch(this.window.slice(0, end));
    for (let i = 0; i < n; i++) { b.offsets.push(this.offsets[i]); b.lengths.push(this.lengths[i]); }
    return b;
  }
  /** Frame `i` as a view into wasm memory. */
  frame(i: number): Uint8Array { return this.window.subarray(this.offsets[i], this.offsets[i] + this.lengths[i]); }
  /** Copies of every frame. */
  copies(): Uint8Array[] { return this.offsets.map((_, i) => this.frame(i).slice()); }
  *[Symbol.iterator](): IterableIterator<Uint8Array> { for (let i = 0; i < this.offsets.length; i++) yield this.frame(i); }
}
