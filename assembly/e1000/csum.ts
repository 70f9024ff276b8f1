// The Internet checksum (RFC 1071) the offloads compute. (The FCS, CRC-32,
// comes from the shared engine, net/filter.ts.)
//
// Ones-complement sums are kept in the byte order of the machine: 16-bit
// words loaded little-endian sum to the byte-swapped network-order sum (RFC
// 1071 §2(B)), so a sum is folded and complemented as is and stored with a
// little-endian store, which lays it out in network order. Numbers that are
// not packet bytes (a length, a protocol) are added byte-swapped.

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
