// RX filter engine shared by every NIC model (virtio-net, e1000, NE2000):
// pure functions over a fixed filter-state region, numbers in and out, no
// allocation on the receive path. Each NIC model composes these primitives
// in its own order and writes that order down in one comment block beside
// its receive function; the engine itself has no opinion on the order.
//
// Addresses. A MAC address is a u64 holding 48 bits, byte 0 (the first on
// the wire, whose bit 0 is the I/G bit) in bits 7:0 — the order of the
// 8254x RAL/RAH pair (RAL = bits 31:0, RAH[15:0] = bits 47:32). macLoad(p)
// reads one from memory; callers never pass bits above 47.
//   macLoad(p)                   the address at p as a u64
//   addrClass(a)                 AddrClass.UNICAST / MULTICAST (I/G bit set) / BROADCAST (all ones)
//
// Filter state (FS_BYTES bytes, zeroed by rxfInit; the model owns where it lives):
//   FS_CAP       u32  exact entries the model has (≤ EXACT_MAX = 64): 16 e1000 RAR, 1 NE2000 PAR
//   FS_OVERFLOW  u32  OVERFLOW_UNI | OVERFLOW_MULTI: classes accepted whole (the overflow rule below)
//   FS_HASH64    8 B  64-bit CRC hash filter, byte i = DP8390 MAR i (RTL8139 MAR0..7)
//   FS_EXACT     64 × u64  exact entries: address | EXACT_VALID (the RAH.AV bit, as bit 63)
//   FS_INDEX     128 × 2 × u64  open-addressed index of the valid entries (derived)
//   FS_MTA       512 B  8254x Multicast Table Array, MTA[n] as little-endian u32 n
//   FS_VFTA      512 B  VLAN filter table, VFTA[n] as little-endian u32 n (bit v = VLAN id v)
//   FS_HASHTAB   6 × 256 B  per-byte MAR index tables (derived from the CRC: constant)
// FS_INDEX is read 16 bytes at a time: place the state 16-byte aligned.
//
// Exact table (perfect filter):
//   rxfInit(f, cap)              zero the state, `cap` exact entries (clamped to EXACT_MAX)
//   rxfExactSet(f, i, a, valid)  program entry i (RAR i, PAR); false if i ≥ cap
//   rxfExactGet(f, i)            entry i: address | EXACT_VALID, 0 if i ≥ cap
//   rxfExactAdd(f, a)            put `a` in a free entry; if none is free, set the overflow
//                                bit of its class and return false (the overflow rule)
//   rxfExactClear(f, classes)    drop the entries of the given OVERFLOW_* classes and their overflow bits
//   rxfSetOverflow(f, classes, on)
//   rxfExactHas(f, a)            a valid entry equals `a` (one 16-byte index read, nearly always)
//   rxfExactMatch(f, a)          rxfExactHas, or the class of `a` overflowed
//   rxfRebuild(f)                recompute what is derived (index, hash tables) and normalise the
//                                entries after the state was written other than through these
//                                functions, e.g. restored from a blob
// The overflow rule: a driver that lists more addresses of a class than the
// table holds gets that whole class accepted instead, so no frame it asked
// for is lost (filtering is best effort: virtio 1.2 §5.1.6.5.1 lets unwanted
// frames through, never wanted ones away; hash filters do the same).
//
// 64-bit CRC hash (DP8390 datasheet, "Multicast address registers"; RTL8139 MAR):
//   rxfHash64Index(a)            the six most significant bits of the Ethernet CRC of `a`:
//                                bits 5:3 pick MAR0..7, bits 2:0 the bit in it. That is Linux's
//                                ether_crc(6, addr) >> 26 (drivers/net/ethernet/8390/lib8390.c
//                                make_mc_bits), the CRC register before the final complement, read
//                                MSB first; computed from CRC_POLY as six parities (no table)
//   rxfHash64Write(f, i, v) / rxfHash64Read(f, i)   MAR i (i & 7)
//   rxfHash64Has(f, dst)         the MAR bit of the address at `dst` is set (per-byte tables in
//                                the state, built by rxfInit/rxfRebuild from rxfHash64Index)
//
// 8254x MTA (8254x Software Developer's Manual §13.4.22 RCTL.MO, §13.5.1 MTA):
//   rxfMtaIndex(a, mo)           12 address bits: MO 0 → bits 47:36, 1 → 46:35, 2 → 45:34, 3 → 43:32
//                                (bits 11:5 pick MTA[n], bits 4:0 the bit)
//   rxfMtaWrite(f, n, v) / rxfMtaRead(f, n)         MTA[n] (n & 127)
//   rxfMtaHas(f, a, mo)          the MTA bit of `a` under `mo` is set
//
// VLAN filter table (8254x §13.5.4 VFTA, §9.5 802.1q; virtio 1.2 §5.1.6.5.3):
//   rxfTci(frame, len, tpid)     the tag control word of an 802.1Q frame whose type at
//                                offset 12 is `tpid` (0x8100, or the 8254x VET), else -1
//   rxfVlanPass(f, frame, len, tpid)  untagged, or tagged with a VLAN id set in the VFTA
//   rxfVftaWrite(f, n, v) / rxfVftaRead(f, n)       VFTA[n] (n & 127)
//   rxfVlanSet(f, vid, on) / rxfVlanHas(f, vid)     one VLAN id (vid & 0xfff)
//
// CRC-32 (IEEE 802.3 §3.2.9, the FCS polynomial; the zlib convention):
//   crc32(p, len, crc)           CRC-32 of len bytes at p, continuing from `crc` (0 to start)
//   crcTablesReady()             make this instance's slicing tables (8 KiB, once); until then
//                                crc32 runs bit by bit. Call it where a device is created.
//
// Every function is bounded and stays inside the state whatever its bytes
// hold: a corrupt or hostile state yields wrong answers at worst. A model
// saves the state as it likes (its registers, or the bytes) and, after
// restoring bytes, calls rxfRebuild, which makes the derived parts agree.
//
// A model's own filter (its receive modes, its saved layout) lives in its
// room and composes these primitives: virtio-net's is virtio-net/filter.ts.

import { regionAlloc } from "../core/layout";

export namespace AddrClass {
  export const UNICAST: u32 = 0;
  export const MULTICAST: u32 = 1;
  export const BROADCAST: u32 = 2;
}

export const OVERFLOW_UNI: u32 = 1;
export const OVERFLOW_MULTI: u32 = 2;

/** The 802.1Q tag protocol identifier (IEEE 802.1Q §9.5; the 8254x VET reset value). */
export const ETH_P_8021Q: u32 = 0x8100;

export const EXACT_MAX: u32 = 64;
export const EXACT_VALID: u64 = 1 << 63;
const ADDR_MASK: u64 = 0xffff_ffff_ffff;
// The index: 128 pairs of u64 keys (two slots a pair, four slots an entry).
// A key sits in the first pair along its chain (home pair, then the next)
// with a free slot, so a lookup reads one 16-byte pair and stops there unless
// that pair is full of other keys: about 1 in 16 lookups at 64 entries.
const INDEX_PAIRS: u32 = 128;
const INDEX_SHIFT: u64 = 57; // 64 - log2(INDEX_PAIRS)

export const FS_CAP: usize = 0;
export const FS_OVERFLOW: usize = 4;
export const FS_HASH64: usize = 8;
export const FS_EXACT: usize = 16;
export const FS_INDEX: usize = FS_EXACT + <usize>EXACT_MAX * 8;
export const FS_MTA: usize = FS_INDEX + <usize>INDEX_PAIRS * 16;
export const FS_VFTA: usize = FS_MTA + 512;
export const FS_HASHTAB: usize = FS_VFTA + 512;
export const FS_BYTES: usize = FS_HASHTAB + 6 * 256;

// ---- Addresses ----

// @ts-ignore: decorator
@inline export function macLoad(p: usize): u64 { return <u64>load<u32>(p) | (<u64>load<u16>(p, 4) << 32); }

// @ts-ignore: decorator
@inline export function addrClass(a: u64): u32 {
  if (a == ADDR_MASK) return AddrClass.BROADCAST;
  return <u32>a & 1;
}

/** OVERFLOW_UNI or OVERFLOW_MULTI: the overflow class of `a` (broadcast counts as multicast). */
// @ts-ignore: decorator
@inline function overflowClass(a: u64): u32 { return (<u32>a & 1) + 1; }

// ---- Exact table ----

// @ts-ignore: decorator
@inline function capOf(f: usize): u32 { const c = load<u32>(f + FS_CAP); return c < EXACT_MAX ? c : EXACT_MAX; }

// @ts-ignore: decorator
@inline function pairOf(a: u64): u32 { return <u32>((a * 0x9E37_79B9_7F4A_7C15) >> INDEX_SHIFT); }

export function rxfInit(f: usize, cap: u32): void {
  memory.fill(f, 0, FS_BYTES);
  store<u32>(f + FS_CAP, cap < EXACT_MAX ? cap : EXACT_MAX);
  hashTables(f);
}

function indexInsert(f: usize, key: u64): void {
  let h = pairOf(key & ADDR_MASK);
  // Bounded: at most EXACT_MAX keys in 2 × INDEX_PAIRS slots, so a free slot or the key comes first.
  for (let n: u32 = 0; n < INDEX_PAIRS; n++) {
    const p = f + FS_INDEX + (<usize>h << 4);
    const k0 = load<u64>(p), k1 = load<u64>(p, 8);
    if (k0 == key || k1 == key) return;
    if (k0 == 0) { store<u64>(p, key); return; }
    if (k1 == 0) { store<u64>(p, key, 8); return; }
    h = (h + 1) & (INDEX_PAIRS - 1);
  }
}

/** Recompute everything derived (index, hash tables) and normalise the rest; after a restore. */
export function rxfRebuild(f: usize): void {
  hashTables(f);
  indexRebuild(f);
}

function indexRebuild(f: usize): void {
  memory.fill(f + FS_INDEX, 0, <usize>INDEX_PAIRS * 16);
  const cap = capOf(f);
  for (let i: u32 = 0; i < EXACT_MAX; i++) {
    const p = f + FS_EXACT + (<usize>i << 3);
    const e = load<u64>(p);
    const norm = i < cap && (e & EXACT_VALID) != 0 ? (e & ADDR_MASK) | EXACT_VALID : 0;
    store<u64>(p, norm);
    if (norm != 0) indexInsert(f, norm);
  }
  store<u32>(f + FS_OVERFLOW, load<u32>(f + FS_OVERFLOW) & (OVERFLOW_UNI | OVERFLOW_MULTI));
}

export function rxfExactSet(f: usize, i: u32, a: u64, valid: bool): bool {
  if (i >= capOf(f)) return false;
  store<u64>(f + FS_EXACT + (<usize>i << 3), (a & ADDR_MASK) | (valid ? EXACT_VALID : 0));
  // Clearing or moving an entry may leave another entry's copy of the same address: rebuild (≤ EXACT_MAX inserts).
  indexRebuild(f);
  return true;
}

export function rxfExactGet(f: usize, i: u32): u64 {
  return i < capOf(f) ? load<u64>(f + FS_EXACT + (<usize>i << 3)) : 0;
}

/** Walk the chain on from pair `i` (its home pair was full of other keys). */
function exactProbe(f: usize, key: u64, i: u32): bool {
  // Bounded by the pair count even if the index is corrupt (no free slot).
  for (let n: u32 = 1; n < INDEX_PAIRS; n++) {
    const p = f + FS_INDEX + (<usize>i << 4);
    const k0 = load<u64>(p), k1 = load<u64>(p, 8);
    if (k0 == key || k1 == key) return true;
    if (k0 == 0 || k1 == 0) return false;
    i = (i + 1) & (INDEX_PAIRS - 1);
  }
  return false;
}

// @ts-ignore: decorator
@inline export function rxfExactHas(f: usize, a: u64): bool {
  const key = a | EXACT_VALID;
  const h = pairOf(a);
  // One pair, no branch on its contents: found, or a free slot ends the chain.
  const v = v128.load(f + FS_INDEX + (<usize>h << 4));
  const hit = v128.any_true(i64x2.eq(v, i64x2.splat(key)));
  if (hit | v128.any_true(i64x2.eq(v, i64x2.splat(0)))) return hit;
  return exactProbe(f, key, (h + 1) & (INDEX_PAIRS - 1));
}

// @ts-ignore: decorator
@inline export function rxfExactMatch(f: usize, a: u64): bool {
  return ((load<u32>(f + FS_OVERFLOW) & overflowClass(a)) != 0) | rxfExactHas(f, a);
}

export function rxfExactAdd(f: usize, a: u64): bool {
  a &= ADDR_MASK;
  if (rxfExactHas(f, a)) return true;
  const cap = capOf(f);
  for (let i: u32 = 0; i < cap; i++) {
    const p = f + FS_EXACT + (<usize>i << 3);
    if ((load<u64>(p) & EXACT_VALID) == 0) {
      store<u64>(p, a | EXACT_VALID);
      indexInsert(f, a | EXACT_VALID);
      return true;
    }
  }
  store<u32>(f + FS_OVERFLOW, load<u32>(f + FS_OVERFLOW) | overflowClass(a));
  return false;
}

export function rxfExactClear(f: usize, classes: u32): void {
  for (let i: u32 = 0; i < EXACT_MAX; i++) {
    const p = f + FS_EXACT + (<usize>i << 3);
    const e = load<u64>(p);
    if ((e & EXACT_VALID) != 0 && (overflowClass(e) & classes) != 0) store<u64>(p, 0);
  }
  store<u32>(f + FS_OVERFLOW, load<u32>(f + FS_OVERFLOW) & ~classes);
  indexRebuild(f);
}

export function rxfSetOverflow(f: usize, classes: u32, on: bool): void {
  const v = load<u32>(f + FS_OVERFLOW);
  store<u32>(f + FS_OVERFLOW, (on ? v | classes : v & ~classes) & (OVERFLOW_UNI | OVERFLOW_MULTI));
}

export function rxfOverflow(f: usize): u32 { return load<u32>(f + FS_OVERFLOW) & (OVERFLOW_UNI | OVERFLOW_MULTI); }

// ---- CRC-32 ----

/** IEEE 802.3 CRC-32, x^32+x^26+x^23+x^22+x^16+x^12+x^11+x^10+x^8+x^7+x^5+x^4+x^2+x+1, bit-reflected (bits go LSB first). */
export const CRC_POLY: u32 = 0xEDB8_8320;

/** The CRC register after `len` more bytes, one bit at a time: the definition, and the fallback without tables. */
function crcRegBits(c: u32, p: usize, len: usize): u32 {
  for (let i: usize = 0; i < len; i++) {
    c ^= <u32>load<u8>(p + i);
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (CRC_POLY & (0 - (c & 1)));
  }
  return c;
}

// Slicing-by-8 tables of this instance (T0..T7, 256 u32 each). Per instance,
// not a static segment: every instance re-applies its data segments at
// start, which would wipe tables another thread is reading.
let crcTables: usize = 0;

export function crcTablesReady(): bool {
  if (crcTables != 0) return true;
  const t = regionAlloc(8 * 1024, 64);
  if (t == 0) return false;
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (CRC_POLY & (0 - (c & 1)));
    store<u32>(t + (<usize>n << 2), c);
  }
  // T[k][n] = T[k-1][n] advanced over one zero byte: the CRC of byte n followed by k zero bytes.
  for (let k: usize = 1; k < 8; k++) {
    for (let n: usize = 0; n < 256; n++) {
      const prev = load<u32>(t + ((k - 1) << 10) + (n << 2));
      store<u32>(t + (k << 10) + (n << 2), (prev >>> 8) ^ load<u32>(t + (<usize>(prev & 0xff) << 2)));
    }
  }
  crcTables = t;
  return true;
}

// @ts-ignore: decorator
@inline function tab(t: usize, k: usize, i: u32): u32 { return load<u32>(t + (k << 10) + (<usize>(i & 0xff) << 2)); }

/** CRC-32 of `len` bytes at `p` (range validated by the caller), continuing from `crc`: zlib's crc32(crc, p, len). */
export function crc32(p: usize, len: usize, crc: u32 = 0): u32 {
  let c = ~crc;
  const t = crcTables;
  if (t == 0) return ~crcRegBits(c, p, len);
  // Eight bytes per step: the register XOR the next word, each byte looked up at its distance from the end.
  while (len >= 8) {
    const lo = load<u32>(p) ^ c;
    const hi = load<u32>(p, 4);
    c = tab(t, 7, lo) ^ tab(t, 6, lo >>> 8) ^ tab(t, 5, lo >>> 16) ^ tab(t, 4, lo >>> 24) ^
        tab(t, 3, hi) ^ tab(t, 2, hi >>> 8) ^ tab(t, 1, hi >>> 16) ^ tab(t, 0, hi >>> 24);
    p += 8; len -= 8;
  }
  for (let i: usize = 0; i < len; i++) c = tab(t, 0, c ^ <u32>load<u8>(p + i)) ^ (c >>> 8);
  return ~c;
}

// ---- 64-bit CRC hash (DP8390 MAR, RTL8139 MAR) ----

// The index is an affine function of the 48 address bits over GF(2) (the CRC
// is linear; its initial value makes it affine): index bit k is the parity of
// the address under HASH_MASK_k, flipped by bit k of HASH_CONST. Both come
// from the bitwise CRC above, per instance at start (globals, not memory).
// The index reads the register's low six bits reversed: register bit 0 (x^31
// of the non-reflected CRC) is index bit 5.
let HASH_MASK0: u64 = 0, HASH_MASK1: u64 = 0, HASH_MASK2: u64 = 0, HASH_MASK3: u64 = 0, HASH_MASK4: u64 = 0, HASH_MASK5: u64 = 0;
let HASH_CONST: u32 = 0;

/** The CRC register after the 48 bits of `a`, wire order (bit 0 of byte 0 first), from the all-ones start. */
function hashReg(a: u64): u32 {
  let c: u32 = 0xffff_ffff;
  for (let i: u64 = 0; i < 48; i++) c = (c >>> 1) ^ (CRC_POLY & (0 - ((c ^ <u32>(a >> i)) & 1)));
  return c;
}

/** Index bits from the low six register bits (reversed). */
function hashBits(r: u32): u32 {
  let x: u32 = 0;
  for (let k: u32 = 0; k < 6; k++) x |= ((r >> (5 - k)) & 1) << k;
  return x;
}

/** Bit `k` of the index for each single address bit: the mask for index bit k. */
function hashMask(k: u32, r0: u32): u64 {
  let m: u64 = 0;
  for (let i: u64 = 0; i < 48; i++) if ((hashBits(hashReg(<u64>1 << i) ^ r0) >> k) & 1) m |= <u64>1 << i;
  return m;
}

function hashInit(): void {
  const r0 = hashReg(0);
  HASH_CONST = hashBits(r0);
  HASH_MASK0 = hashMask(0, r0); HASH_MASK1 = hashMask(1, r0); HASH_MASK2 = hashMask(2, r0);
  HASH_MASK3 = hashMask(3, r0); HASH_MASK4 = hashMask(4, r0); HASH_MASK5 = hashMask(5, r0);
}
hashInit();

// @ts-ignore: decorator
@inline function parity(x: u64): u32 { return <u32>popcnt<u64>(x) & 1; }

// @ts-ignore: decorator
@inline export function rxfHash64Index(a: u64): u32 {
  return HASH_CONST ^ parity(a & HASH_MASK0) ^ (parity(a & HASH_MASK1) << 1) ^ (parity(a & HASH_MASK2) << 2) ^
    (parity(a & HASH_MASK3) << 3) ^ (parity(a & HASH_MASK4) << 4) ^ (parity(a & HASH_MASK5) << 5);
}

export function rxfHash64Write(f: usize, i: u32, v: u32): void { store<u8>(f + FS_HASH64 + <usize>(i & 7), <u8>v); }
export function rxfHash64Read(f: usize, i: u32): u32 { return <u32>load<u8>(f + FS_HASH64 + <usize>(i & 7)); }

// The same index per frame from six byte tables (the map is linear: each byte
// of the address contributes its own term, HASH_CONST folded into byte 0's):
// twelve loads and five XORs instead of six parities.
function hashTables(f: usize): void {
  const t = f + FS_HASHTAB;
  for (let k: u32 = 0; k < 6; k++) {
    const row = t + (<usize>k << 8);
    store<u8>(row, <u8>(k == 0 ? HASH_CONST : 0));
    // Bounded: 255 entries, each from a smaller one and one address bit.
    for (let b: u32 = 1; b < 256; b++) {
      const bitTerm = rxfHash64Index(<u64>(b & (0 - b)) << (8 * k)) ^ HASH_CONST;
      store<u8>(row + <usize>b, load<u8>(row + <usize>(b & (b - 1))) ^ <u8>bitTerm);
    }
  }
}

/** Whether the MAR bit of the destination address at `dst` (6 bytes) is set. */
// @ts-ignore: decorator
@inline export function rxfHash64Has(f: usize, dst: usize): bool {
  const t = f + FS_HASHTAB;
  const i = <u32>load<u8>(t + <usize>load<u8>(dst)) ^ <u32>load<u8>(t + 256 + <usize>load<u8>(dst, 1)) ^
    <u32>load<u8>(t + 512 + <usize>load<u8>(dst, 2)) ^ <u32>load<u8>(t + 768 + <usize>load<u8>(dst, 3)) ^
    <u32>load<u8>(t + 1024 + <usize>load<u8>(dst, 4)) ^ <u32>load<u8>(t + 1280 + <usize>load<u8>(dst, 5));
  return ((load<u64>(f + FS_HASH64) >> <u64>i) & 1) != 0;
}

// ---- 8254x Multicast Table Array ----

// @ts-ignore: decorator
@inline export function rxfMtaIndex(a: u64, mo: u32): u32 {
  // MO 0..3 → the 12 bits from 36, 35, 34, 32 (§13.4.22).
  const m = mo & 3;
  return <u32>(a >> <u64>(m == 3 ? 32 : 36 - m)) & 0xfff;
}

export function rxfMtaWrite(f: usize, n: u32, v: u32): void { store<u32>(f + FS_MTA + (<usize>(n & 127) << 2), v); }
export function rxfMtaRead(f: usize, n: u32): u32 { return load<u32>(f + FS_MTA + (<usize>(n & 127) << 2)); }

// @ts-ignore: decorator
@inline export function bitTest(table: usize, i: u32): bool {
  return ((<u32>load<u8>(table + <usize>(i >> 3)) >> (i & 7)) & 1) != 0;
}

// @ts-ignore: decorator
@inline export function rxfMtaHas(f: usize, a: u64, mo: u32): bool { return bitTest(f + FS_MTA, rxfMtaIndex(a, mo)); }

// ---- VLAN filter table ----

/** Tag control word of a frame of `len` bytes at `frame` tagged with `tpid` at offset 12, or -1 if it is not. */
// @ts-ignore: decorator
@inline export function rxfTci(frame: usize, len: u32, tpid: u32): i32 {
  if (len < 18 || load<u16>(frame, 12) != bswap<u16>(<u16>tpid)) return -1;
  return <i32>bswap<u16>(load<u16>(frame, 14));
}

/**
 * VLAN filter over the VFTA: true if the frame is not tagged with `tpid` or its
 * VLAN id is in the table. No branch on the frame: the tag word is read from
 * the frame only when the frame is long enough to hold it.
 */
// @ts-ignore: decorator
@inline export function rxfVlanPass(f: usize, frame: usize, len: u32, tpid: u32): bool {
  const tagged = <u32>(len >= 18) & <u32>(load<u16>(frame, 12) == bswap<u16>(<u16>tpid));
  // The tag word as loaded (little-endian) holds the VLAN id as bits 3:0 → 11:8 and 15:8 → 7:0.
  const t = <u32>load<u16>(tagged != 0 ? frame + 14 : f + FS_VFTA);
  const byte = ((t & 0xf) << 5) | (t >> 11);
  const set = (<u32>load<u8>(f + FS_VFTA + <usize>byte) >> ((t >> 8) & 7)) & 1;
  return ((tagged ^ 1) | set) != 0;
}

export function rxfVftaWrite(f: usize, n: u32, v: u32): void { store<u32>(f + FS_VFTA + (<usize>(n & 127) << 2), v); }
export function rxfVftaRead(f: usize, n: u32): u32 { return load<u32>(f + FS_VFTA + (<usize>(n & 127) << 2)); }

export function rxfVlanSet(f: usize, vid: u32, on: bool): void {
  const p = f + FS_VFTA + <usize>((vid & 0xfff) >> 3);
  const b = <u32>load<u8>(p);
  store<u8>(p, <u8>(on ? b | (1 << (vid & 7)) : b & ~(1 << (vid & 7))));
}

// @ts-ignore: decorator
@inline export function rxfVlanHas(f: usize, vid: u32): bool { return bitTest(f + FS_VFTA, vid & 0xfff); }
