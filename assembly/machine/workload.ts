// The synthetic guest workload a vCPU worker runs until vmdev executes guest
// code: batches of writes into guest RAM through the guest-memory port, so
// every write is bounds-checked and dirty-marked exactly like a device's
// (the equivalent of the hardware dirty bits a real vCPU's writes set).
//
// The PRNG, the sequential cursor and the sequence number (the stream) are
// wasm globals of the instance. A thread that runs several vCPUs on one
// instance gives each its own stream: it loads the vCPU's stream before the
// vCPU's slice and saves it after (workloadStreamGet/Set).

import { Status } from "../core/status";
import { gmCheck, gmStore64, gmFill, gmRamPages } from "../core/guestmem";
import { PATTERN_HOT, PATTERN_SEQUENTIAL, STREAM_PRNG, STREAM_CURSOR, STREAM_SEQUENCE } from "./defs";

let prng: u32 = 0x9e3779b9;
let cursor: u32 = 0;
let sequence: u32 = 0;

/** Reseed this instance's stream (0 is replaced: xorshift must not start at 0). */
export function workloadSeed(seed: u32): void {
  prng = seed == 0 ? 0x9e3779b9 : seed;
  cursor = 0;
  sequence = 0;
}

/** Field `field` (STREAM_*) of this instance's stream; 0 for an unknown field. */
export function workloadStreamGet(field: u32): u32 {
  if (field == STREAM_PRNG) return prng;
  if (field == STREAM_CURSOR) return cursor;
  if (field == STREAM_SEQUENCE) return sequence;
  return 0;
}

/** Set field `field` (STREAM_*) of this instance's stream; a PRNG state of 0 is refused (xorshift would stay at 0). */
export function workloadStreamSet(field: u32, value: u32): i32 {
  if (field == STREAM_PRNG) {
    if (value == 0) return Status.ERR_INVALID_ARG;
    prng = value;
  } else if (field == STREAM_CURSOR) cursor = value;
  else if (field == STREAM_SEQUENCE) sequence = value;
  else return Status.ERR_INVALID_ARG;
  return Status.OK;
}

// @ts-ignore: decorator
@inline function next(): u32 {
  let x = prng;
  x ^= x << 13; x ^= x >> 17; x ^= x << 5;
  prng = x;
  return x;
}

/**
 * Do `writes` writes of `writeBytes` bytes (a multiple of 8, 8..4096) each,
 * one per chosen page, into the window [firstPage, firstPage+pageCount).
 * Each write fills its bytes with the low byte of a per-instance sequence
 * number and ends in the u64 tag << 32 | sequence, so every write changes
 * memory. Returns the writes that landed (pages in holes
 * are skipped) or -status for bad arguments.
 */
export function workloadRun(pattern: u32, firstPage: u32, pageCount: u32, hotPages: u32, writes: u32, writeBytes: u32, tag: u32): i32 {
  if (pattern > PATTERN_SEQUENTIAL) return -Status.ERR_INVALID_ARG;
  if (writeBytes < 8 || writeBytes > 4096 || (writeBytes & 7) != 0) return -Status.ERR_INVALID_ARG;
  const ram = gmRamPages();
  if (pageCount == 0 || firstPage >= ram || pageCount > ram - firstPage) return -Status.ERR_RANGE;
  if (writes > (1 << 24)) return -Status.ERR_INVALID_ARG;
  const span = pattern == PATTERN_HOT ? (hotPages == 0 ? 1 : min<u32>(hotPages, pageCount)) : pageCount;
  const slots = (4096 - writeBytes) >> 3; // 8-byte aligned start offsets that keep the write in its page, minus one
  let done: i32 = 0;
  // Bounded by `writes` (≤ 2^24).
  for (let i: u32 = 0; i < writes; i++) {
    let page: u32;
    if (pattern == PATTERN_SEQUENTIAL) {
      if (cursor >= pageCount) cursor = 0;
      page = firstPage + cursor;
      cursor++;
    } else {
      page = firstPage + next() % span;
    }
    const off: u32 = slots == 0 ? 0 : (next() % (slots + 1)) << 3;
    const gpa = (<u64>page << 12) + <u64>off;
    if (gmCheck(gpa, writeBytes) != Status.OK) continue;
    sequence++;
    const v = (<u64>tag << 32) | <u64>sequence;
    // [gpa, gpa+writeBytes) passed gmCheck. A wide write is a fill (one bulk
    // store and one dirty mark) ending in the u64 value, so it always changes memory.
    if (writeBytes > 8) gmFill(gpa, <u32>sequence & 0xff, writeBytes - 8);
    gmStore64(gpa + writeBytes - 8, v);
    done++;
  }
  return done;
}
