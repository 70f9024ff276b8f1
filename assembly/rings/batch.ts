// Frame arrays: many frames in one window of linear memory (an I/O buffer
// range the host filled, a NIC's host outbox), so the host moves a batch per
// wasm call instead of paying a call and a copy per frame. Records: u32
// length, the bytes, padding to 4 (defs.ts FA_*). A window is checked whole
// before anything is taken from it.

import { FA_LEN_BYTES, FA_ALIGN } from "./defs";
import { FrameSink } from "./netmap";

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
