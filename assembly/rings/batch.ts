// Frame arrays: many frames in one window of linear memory (an I/O buffer
// range the host filled, a NIC's host outbox), so the host moves a batch per
// wasm call instead of paying a call and a copy per frame. Records: u32
// length, the bytes, padding to 4 (defs.ts FA_*). A window is checked whole
// before anything is taken from it.

import { FA_LEN_BYTES, FA_ALIGN, FA_STOP_AT_REFUSAL } from "./defs";
import { FrameSink } from "./netmap";
import { Status } from "../core/status";
import { ioPtr, ioRangeOk } from "../core/vm";

// @ts-ignore: decorator
@inline export function faRecordBytes(len: u32): u32 { return (FA_LEN_BYTES + len + FA_ALIGN - 1) & ~(FA_ALIGN - 1); }

/**
 * Frames in the window [p, p + bytes) if every record lies inside it and
 * holds at most `maxFrame` bytes; -1 otherwise. Trailing bytes shorter than
 * a length word end the window (zero padding).
 */
export function faCount(p: usize, bytes: u32, maxFrame: u32): i32 {
  let off: u32 = 0;
  let n: i32 = 0;
  // Bounded: every record advances off by at least FA_LEN_BYTES.
  while (bytes - off >= FA_LEN_BYTES) {
    const len = load<u32>(p + off);
    if (len > maxFrame || len > bytes - off - FA_LEN_BYTES) return -1;
    off += faRecordBytes(len);
    if (off > bytes) off = bytes;
    n++;
  }
  return n;
}

/** Hand the first `count` records of a window faCount accepted to `sink`; stops at the first it refuses. Returns how many it took. */
export function faEach(p: usize, count: u32, sink: FrameSink, ctx: usize): u32 {
  let off: usize = 0;
  // Bounded by count; records were checked by faCount.
  for (let i: u32 = 0; i < count; i++) {
    const len = load<u32>(p + off);
    if (!sink(ctx, p + off + FA_LEN_BYTES, len)) return i;
    off += <usize>faRecordBytes(len);
  }
  return count;
}

// A writer over one window, for sinks that fill a frame array (one per instance).
let wBase: usize = 0;
let wCap: u32 = 0;
let wOff: u32 = 0;
let wCount: u32 = 0;

export function faWriterOpen(p: usize, cap: u32): void { wBase = p; wCap = cap; wOff = 0; wCount = 0; }
export function faWriterCount(): u32 { return wCount; }
export function faWriterBytes(): u32 { return wOff; }

/** A FrameSink appending to the open window; refuses a frame that does not fit. */
export function faWriterSink(ctx: usize, frame: usize, len: u32): bool {
  const rec = faRecordBytes(len);
  if (rec > wCap - wOff) return false;
  store<u32>(wBase + wOff, len);
  memory.copy(wBase + wOff + FA_LEN_BYTES, frame, len);
  wOff += rec;
  wCount++;
  return true;
}

/** A NIC model's receive path for one host frame: its Status (OK, ERR_FULL: dropped and counted, ERR_INVALID_ARG ...). */
export type FrameReceive = (ctx: usize, frame: usize, len: u32) => i32;

/**
 * The host → NIC half of batched host I/O: the frame array of `len` bytes at
 * I/O offset `ioOff` goes to `recv` frame by frame, in order, and frame i's
 * Status is written as a byte at I/O offset `stOff + i` (the statuses a
 * per-frame receive would have returned, so the host counts exactly as it
 * would per frame). The window is checked whole first (every record inside
 * it; the status bytes inside the I/O buffer and apart from the records):
 * -ERR_INVALID_ARG and nothing taken otherwise. With FA_STOP_AT_REFUSAL the
 * walk ends after the first frame not taken with OK. Returns the frames
 * handed over (each has a status) or -Status.
 */
export function faReceiveWindow(ioOff: u32, len: u32, stOff: u32, flags: u32, recv: FrameReceive, ctx: usize): i32 {
  if ((flags & ~FA_STOP_AT_REFUSAL) != 0 || !ioRangeOk(ioOff, len)) return -Status.ERR_INVALID_ARG;
  const p = ioPtr() + ioOff;
  // Each frame's own size is the NIC's to judge (its status), as per frame.
  const n = faCount(p, len, u32.MAX_VALUE);
  if (n < 0 || !ioRangeOk(stOff, <u32>n)) return -Status.ERR_INVALID_ARG;
  if (n > 0 && stOff < ioOff + len && ioOff < stOff + <u32>n) return -Status.ERR_INVALID_ARG;
  const st = ioPtr() + stOff;
  const stop = (flags & FA_STOP_AT_REFUSAL) != 0;
  let off: usize = 0;
  // Bounded by n; records were checked by faCount, status bytes by ioRangeOk.
  for (let i: u32 = 0; i < <u32>n; i++) {
    const flen = load<u32>(p + off);
    const s = recv(ctx, p + off + FA_LEN_BYTES, flen);
    store<u8>(st + i, <u8>s);
    if (stop && s != Status.OK) return <i32>(i + 1);
    off += <usize>faRecordBytes(flen);
  }
  return n;
}
