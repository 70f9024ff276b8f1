// XBZRLE-style delta of a 4 KiB page against the copy sent before it
// (QEMU docs/devel/migration/xbzrle: "zrun/nzrun" encoding).
//
// Stream: a sequence of (zrun, nzrun, nzrun new bytes), zrun and nzrun as
// ULEB128. zrun counts unchanged bytes to skip, nzrun counts changed bytes
// that follow literally. Unchanged bytes after the last nzrun are implicit;
// an empty stream means "no byte changed".
//
// The decoder reads an untrusted stream: every length is checked against the
// page and the stream before a byte moves, each step consumes at least two
// input bytes (so the loop is bounded by the input), runs of zero changed
// bytes are refused (non-canonical), and it only writes inside the page.

import { Status } from "../core/status";

export const PAGE: u32 = 4096;

// @ts-ignore: decorator
@inline function putUleb(out: usize, pos: u32, v: u32): u32 {
  // v ≤ 4096 < 2^14, so at most two bytes.
  if (v < 0x80) { store<u8>(out + pos, <u8>v); return pos + 1; }
  store<u8>(out + pos, <u8>((v & 0x7f) | 0x80));
  store<u8>(out + pos + 1, <u8>(v >> 7));
  return pos + 2;
}

/**
 * Encode `cur` against `old` (both 4096 bytes) into `out`, writing at most
 * `cap` bytes. Returns the encoded length, or -1 if it would exceed `cap`
 * (the caller then sends the page whole).
 */
export function deltaEncode(old: usize, cur: usize, out: usize, cap: u32): i32 {
  let i: u32 = 0;
  let pos: u32 = 0;
  // Each iteration advances i by at least one byte: bounded by PAGE.
  while (i < PAGE) {
    const zs = i;
    // Unchanged run: 16 bytes at a time while aligned, then bytewise.
    while (i + 16 <= PAGE && !v128.any_true(v128.xor(v128.load(old + i), v128.load(cur + i)))) i += 16;
    while (i < PAGE && load<u8>(old + i) == load<u8>(cur + i)) i++;
    if (i >= PAGE) break;
    const zrun = i - zs;
    const nzs = i;
    // Changed run: ends at two equal bytes in a row (one equal byte costs less
    // inside the run than a new zrun/nzrun pair).
    while (i < PAGE) {
      if (load<u8>(old + i) != load<u8>(cur + i)) { i++; continue; }
      if (i + 1 < PAGE && load<u8>(old + i + 1) != load<u8>(cur + i + 1)) { i += 2; continue; }
      break;
    }
    const nzrun = i - nzs;
    // Worst case for this step: 2 + 2 header bytes and the literal bytes.
    if (<u64>pos + 4 + <u64>nzrun > <u64>cap) return -1;
    pos = putUleb(out, pos, zrun);
    pos = putUleb(out, pos, nzrun);
    memory.copy(out + pos, cur + nzs, nzrun);
    pos += nzrun;
  }
  return <i32>pos;
}

let ulebValue: u32 = 0;

// Reads a ULEB128 of at most two bytes (values ≤ 16383) at in[pos..len).
// Returns the new position, or 0xffff_ffff if malformed or truncated.
function getUleb(inp: usize, pos: u32, len: u32): u32 {
  if (pos >= len) return 0xffff_ffff;
  const b0 = <u32>load<u8>(inp + pos);
  if ((b0 & 0x80) == 0) { ulebValue = b0; return pos + 1; }
  if (pos + 1 >= len) return 0xffff_ffff;
  const b1 = <u32>load<u8>(inp + pos + 1);
  if ((b1 & 0x80) != 0 || b1 == 0) return 0xffff_ffff; // longer than two bytes, or non-canonical
  ulebValue = (b0 & 0x7f) | (b1 << 7);
  return pos + 2;
}

/**
 * Apply a delta stream of `len` bytes at `inp` to the 4096-byte page at `page`.
 * Validates the whole stream before changing the page: on any error the page
 * is untouched and ERR_CORRUPT is returned.
 */
export function deltaDecode(page: usize, inp: usize, len: u32): i32 {
  // Pass 1: validate. Each step consumes ≥ 2 input bytes, so ≤ len/2 steps.
  let pos: u32 = 0;
  let at: u32 = 0;
  while (pos < len) {
    pos = getUleb(inp, pos, len); if (pos == 0xffff_ffff) return Status.ERR_CORRUPT;
    const zrun = ulebValue;
    pos = getUleb(inp, pos, len); if (pos == 0xffff_ffff) return Status.ERR_CORRUPT;
    const nzrun = ulebValue;
    if (nzrun == 0) return Status.ERR_CORRUPT;
    if (zrun > PAGE - at) return Status.ERR_CORRUPT;
    at += zrun;
    if (nzrun > PAGE - at || nzrun > len - pos) return Status.ERR_CORRUPT;
    at += nzrun;
    pos += nzrun;
  }
  // Pass 2: apply; every run was proven inside the page and the stream.
  pos = 0; at = 0;
  while (pos < len) {
    pos = getUleb(inp, pos, len); at += ulebValue;
    pos = getUleb(inp, pos, len);
    const nzrun = ulebValue;
    memory.copy(page + at, inp + pos, nzrun);
    at += nzrun; pos += nzrun;
  }
  return Status.OK;
}
