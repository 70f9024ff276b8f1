// Checksums the offloads compute: the Internet checksum (RFC 1071) and the
// Ethernet FCS (IEEE 802.3 §3.2.9, CRC-32, reflected, polynomial EDB88320h).
//
// Ones-complement sums are kept in the byte order of the machine: 16-bit
// words loaded little-endian sum to the byte-swapped network-order sum (RFC
// 1071 §2(B)), so a sum is folded and complemented as is and stored with a
// little-endian store, which lays it out in network order. Numbers that are
// not packet bytes (a length, a protocol) are added byte-swapped.

import { regionAlloc, regionCost } from "../core/layout";

/** Unfolded sum of the bytes [p, p + len), pairs taken from p. */
export function sumBytes(p: usize, len: u32, acc: u64): u64 {
  let i: u32 = 0;
  // In range: the caller checked [p, p + len) lies in its buffer.
  while (len - i >= 8) {
    const v = load<u64>(p + <usize>i);
    acc += (v & 0xffffffff) + (v >> 32);
    i += 8;
  }
  while (len - i >= 2) { acc += <u64>load<u16>(p + <usize>i); i += 2; }
  if (i < len) acc += <u64>load<u8>(p + <usize>i);
  return acc;
}

/** Fold an unfolded sum to 16 bits. */
export function fold(acc: u64): u32 {
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  return <u32>((acc & 0xffff) + (acc >> 16)) & 0xffff;
}

/** A network-order 16-bit number as a summand. */
// @ts-ignore: decorator
@inline export function n16(v: u32): u64 { return <u64>bswap<u16>(<u16>v); }

/** Store the checksum of `acc` at p (0 is sent as FFFFh, RFC 768). */
// @ts-ignore: decorator
@inline export function putSum(p: usize, acc: u64): void {
  let c = ~fold(acc) & 0xffff;
  if (c == 0) c = 0xffff;
  store<u16>(p, <u16>c);
}

// ---- CRC-32 ---------------------------------------------------------------------

let crcTable: usize = 0; // 8 × 256 u32: slicing by eight

/** Make the CRC tables of this instance (once). False without memory. */
export function crcReserve(): bool {
  if (crcTable != 0) return true;
  const t = regionAlloc(8 * 256 * 4, 64);
  if (t == 0) return false;
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xedb88320 ^ (c >> 1) : c >> 1;
    store<u32>(t + (<usize>i << 2), c);
  }
  for (let s: u32 = 1; s < 8; s++) {
    for (let i: u32 = 0; i < 256; i++) {
      const prev = load<u32>(t + (<usize>((s - 1) * 256 + i) << 2));
      store<u32>(t + (<usize>(s * 256 + i) << 2), (prev >> 8) ^ load<u32>(t + (<usize>(prev & 0xff) << 2)));
    }
  }
  crcTable = t;
  return true;
}

export function crcCost(): u64 { return regionCost(8 * 256 * 4, 64); }

// @ts-ignore: decorator
@inline function T(s: u32, i: u32): u32 { return load<u32>(crcTable + (<usize>((s << 8) | i) << 2)); }

/** The Ethernet FCS of [p, p + len) (the CRC, complemented, least significant byte first on the wire). */
export function fcs(p: usize, len: u32): u32 {
  let c: u32 = 0xffffffff;
  let i: u32 = 0;
  // In range: the caller checked [p, p + len); crcReserve ran before any device exists.
  while (len - i >= 8) {
    const a = load<u32>(p + <usize>i) ^ c;
    const b = load<u32>(p + <usize>i, 4);
    c = T(7, a & 0xff) ^ T(6, (a >> 8) & 0xff) ^ T(5, (a >> 16) & 0xff) ^ T(4, a >> 24) ^
        T(3, b & 0xff) ^ T(2, (b >> 8) & 0xff) ^ T(1, (b >> 16) & 0xff) ^ T(0, b >> 24);
    i += 8;
  }
  while (i < len) { c = T(0, (c ^ <u32>load<u8>(p + <usize>i)) & 0xff) ^ (c >> 8); i++; }
  return ~c;
}
