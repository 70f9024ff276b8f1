// Guest pages in and out of the migration stream, per-page hash tables and
// the whole-memory digest.
//
// Page record (little-endian, RECORD_HEADER bytes then `len` data bytes):
//   0 u32 page number   4 u8 kind (defs.ts Rec)   5 u8 0   6 u16 len   8 u64 XXH64 of the page
// ZERO: len 0 (the page is all zeros). FULL: len 4096. DELTA: an XBZRLE stream
// (delta.ts) against the copy of the page sent before, len < 4096.
// ZERO_RUN (round 0): len 0, and the u64 field holds a count: pages
// [page, page+count) are all zeros. Round 0 names every page of RAM (full,
// zero or in a run), so the destination never has to scan its RAM first;
// it checks only the pages a run says are zero (reading fresh memory and
// then writing it would cost a second page fault per page).
//
// Both sides keep one u64 per page: the XXH64 of its contents (as sent on the
// source, as written on the destination; 0 for pages in holes), and the
// destination also the round each page was last sent in. The digest of guest
// memory is XXH64 over that table, so comparing digests costs a 2 MiB hash
// per GiB of guest, and comparing tables names the pages that differ.
//
// The source and destination read and write guest RAM only through the
// guest-memory port, so both placements (own, foreign) work and every page
// the destination writes is bounds-checked and dirty-marked.

import { Status } from "../core/status";
import { regionAlloc, blockAlloc, blockFree, PAGE_SHIFT } from "../core/layout";
import { xxh64 } from "../core/hash";
import { gmCheck, gmCopyOut, gmCopyIn, gmFill, gmRamPages, gmRamPtr, gmForeign, gmReady } from "../core/guestmem";
import { pageIsZero } from "./zero";
import { deltaEncode, deltaDecode, PAGE } from "./delta";
import { RECORD_HEADER, Rec, DELTA_MAX, ROUND_NEVER, ENC_SKIP_ZERO, ENC_DELTA, Stat, STATS } from "./defs";
import { inHoles, liveHoles, liveHoleCount, layoutDiff, diffFirst, diffFirstIsHole } from "./holes";

// Per-instance state (the migrating instance on the main thread owns it).
let tPages: u32 = 0;
let tHash: usize = 0;     // tPages × u64
let tRound: usize = 0;    // tPages × u16
let cSlots: u32 = 0;      // slots in use
let cCap: u32 = 0;        // slots allocated
let cTags: usize = 0;     // cSlots × u32 (page + 1; 0 = empty)
let cData: usize = 0;     // cSlots × 4096
let scratch: usize = 0;   // 4096: a page being decoded or hashed
let dscratch: usize = 0;  // 4096: a delta being encoded
let zeroHash: u64 = 0;
let stats: usize = 0;     // STATS × u32 (defs.ts Stat), read with migStat

// @ts-ignore: decorator
@inline function stat(i: i32): u32 { return load<u32>(stats + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function statSet(i: i32, v: u32): void { store<u32>(stats + (<usize>i << 2), v); }
// @ts-ignore: decorator
@inline function statInc(i: i32): void { store<u32>(stats + (<usize>i << 2), stat(i) + 1); }

export function migStat(i: i32): u32 { return stats != 0 && i >= 0 && i < STATS ? stat(i) : 0; }
export function migZeroHash(): u64 { return zeroHash; }
export function migPages(): u32 { return tPages; }

/**
 * Allocate the tables for this VM's RAM and an XBZRLE cache of `slots` pages
 * (0 = no delta encoding). Calling again reuses a cache that is big enough.
 * All or nothing: on ERR_NO_MEMORY the tables and cache are as they were.
 */
export function migInit(slots: u32): i32 {
  if (!gmReady()) return Status.ERR_NOT_READY;
  if (slots > 65536) return Status.ERR_INVALID_ARG;
  if (!ensureScratch()) return Status.ERR_NO_MEMORY;
  const pages = gmRamPages();
  const newTables = tPages != pages, newCache = slots > cCap;
  const hash = newTables ? blockAlloc(<u64>pages << 3, 64) : tHash;
  const round = newTables ? blockAlloc(<u64>pages << 1, 64) : tRound;
  const tags = newCache ? blockAlloc(<u64>slots << 2, 64) : cTags;
  const data = newCache ? blockAlloc(<u64>slots << 12, 4096) : cData;
  if (newTables && (hash == 0 || round == 0) || newCache && (tags == 0 || data == 0)) {
    if (newTables) { blockFree(hash, <u64>pages << 3, 64); blockFree(round, <u64>pages << 1, 64); }
    if (newCache) { blockFree(tags, <u64>slots << 2, 64); blockFree(data, <u64>slots << 12, 4096); }
    return Status.ERR_NO_MEMORY;
  }
  if (newTables) {
    blockFree(tHash, <u64>tPages << 3, 64); blockFree(tRound, <u64>tPages << 1, 64);
    tHash = hash; tRound = round; tPages = pages;
  }
  if (newCache) {
    // The cache only grows: keep the largest made so far.
    blockFree(cTags, <u64>cCap << 2, 64); blockFree(cData, <u64>cCap << 12, 4096);
    cTags = tags; cData = data; cCap = slots;
  }
  cSlots = slots;
  if (cSlots != 0) memory.fill(cTags, 0, <usize>cSlots << 2);
  memory.fill(scratch, 0, PAGE);
  zeroHash = xxh64(scratch, PAGE, 0);
  memory.fill(tRound, 0xff, <usize>tPages << 1);
  memory.fill(tHash, 0, <usize>tPages << 3);
  return Status.OK;
}

function ensureScratch(): bool {
  if (scratch != 0) return true;
  const p = regionAlloc(<u64>PAGE * 2 + (<u64>STATS << 2), 64);
  if (p == 0) return false;
  scratch = p; dscratch = p + PAGE; stats = p + 2 * PAGE;
  return true;
}

// @ts-ignore: decorator
@inline function ready(): bool { return tPages != 0 && tPages == gmRamPages(); }

/** Copy page `p` into `dst` through the port. OK, ERR_HOLE, or ERR_HOST (foreign accessor failed). */
function readPage(p: u32, dst: usize): i32 {
  return gmCopyOut(<u64>p << PAGE_SHIFT, dst, PAGE);
}

/** Zero test of page `p` through the port: 1, 0, or -status. */
export function migPageIsZero(p: u32): i32 {
  if (!gmReady()) return -Status.ERR_NOT_READY;
  if (p >= gmRamPages()) return -Status.ERR_RANGE;
  const gpa = <u64>p << PAGE_SHIFT;
  const s = gmCheck(gpa, PAGE);
  if (s != Status.OK) return -s;
  // Own placement: the range passed gmCheck, so the raw pointer is inside RAM.
  if (!gmForeign()) return pageIsZero(gmRamPtr() + <usize>gpa) ? 1 : 0;
  if (!ensureScratch()) return -Status.ERR_NO_MEMORY;
  const r = readPage(p, scratch);
  if (r != Status.OK) return -r;
  return pageIsZero(scratch) ? 1 : 0;
}

/** Zero pages in [first, first+count) (holes are not counted), or -status. */
export function migCountZero(first: u32, count: u32): i32 {
  const pages = gmRamPages();
  if (first > pages || count > pages - first) return -Status.ERR_RANGE;
  let n: i32 = 0;
  for (let p = first; p < first + count; p++) {
    const z = migPageIsZero(p);
    if (z == -Status.ERR_HOLE) continue;
    if (z < 0) return z;
    n += z;
  }
  return n;
}

/**
 * Encode pages [first, first+count) as records into [out, out+cap). Stops
 * early when the next record might not fit; Stat.PAGES says how many pages
 * were consumed. Records each page's hash in the table. Returns the bytes
 * written or -status.
 */
export function migEncode(first: u32, count: u32, flags: u32, out: usize, cap: u32): i32 {
  if (!ready()) return -Status.ERR_NOT_READY;
  if (first > tPages || count > tPages - first) return -Status.ERR_RANGE;
  for (let i = 0; i < STATS; i++) statSet(i, 0);
  let pos: u32 = 0;
  let runRec: usize = 0;   // the open ZERO_RUN record, if any
  let runEnd: u32 = 0;     // the page after it
  const useDelta = (flags & ENC_DELTA) != 0 && cSlots != 0;
  // Bounded by count; each record needs at most RECORD_HEADER + PAGE bytes.
  for (let p = first; p < first + count; p++) {
    if (cap - pos < RECORD_HEADER + PAGE) break;
    const rec = out + pos;
    const data = rec + RECORD_HEADER;
    const s = readPage(p, data);
    if (s == Status.ERR_HOLE) { store<u64>(tHash + (<usize>p << 3), 0); statInc(Stat.HOLES); statInc(Stat.PAGES); continue; }
    if (s != Status.OK) return -s;
    statInc(Stat.PAGES);
    let kind = Rec.FULL;
    let len = PAGE;
    let h: u64;
    if (pageIsZero(data)) {
      h = zeroHash;
      store<u64>(tHash + (<usize>p << 3), h);
      if (useDelta) {
        const slot = p % cSlots;
        if (load<u32>(cTags + (<usize>slot << 2)) == p + 1) store<u32>(cTags + (<usize>slot << 2), 0);
      }
      if ((flags & ENC_SKIP_ZERO) != 0) {
        statInc(Stat.SKIPPED);
        if (runRec != 0 && runEnd == p) { store<u64>(runRec, load<u64>(runRec, 8) + 1, 8); runEnd = p + 1; continue; }
        store<u32>(rec, p);
        store<u8>(rec, <u8>Rec.ZERO_RUN, 4);
        store<u8>(rec, 0, 5);
        store<u16>(rec, 0, 6);
        store<u64>(rec, 1, 8);
        runRec = rec; runEnd = p + 1;
        pos += RECORD_HEADER;
        continue;
      }
      kind = Rec.ZERO; len = 0;
      statInc(Stat.ZERO);
    } else {
      h = xxh64(data, PAGE, 0);
      store<u64>(tHash + (<usize>p << 3), h);
      if (useDelta) {
        const slot = p % cSlots;
        const tag = cTags + (<usize>slot << 2);
        const cached = cData + (<usize>slot << 12);
        if (load<u32>(tag) == p + 1) {
          const n = deltaEncode(cached, data, dscratch, DELTA_MAX);
          if (n >= 0) {
            memory.copy(cached, data, PAGE);
            memory.copy(data, dscratch, <usize>n);
            kind = Rec.DELTA; len = <u32>n;
            statSet(Stat.DELTA_BYTES, stat(Stat.DELTA_BYTES) + <u32>n);
          }
        }
        if (kind == Rec.FULL) { memory.copy(cached, data, PAGE); store<u32>(tag, p + 1); }
      }
      statInc(kind == Rec.DELTA ? Stat.DELTA : Stat.FULL);
    }
    store<u32>(rec, p);
    store<u8>(rec, <u8>kind, 4);
    store<u8>(rec, 0, 5);
    store<u16>(rec, <u16>len, 6);
    store<u64>(rec, h, 8);
    pos += RECORD_HEADER + len;
  }
  return <i32>pos;
}

/**
 * Destination: apply `len` bytes of records at `inp` (untrusted) sent in
 * `round`. Each record is validated (page inside RAM and not in a hole, kind,
 * length, hash of the resulting page) before its page is written. Stops at
 * the first bad record with ERR_CORRUPT (Stat.BAD_OFFSET/BAD_PAGE say where);
 * records before it stay applied, which is harmless: a destination that saw
 * a bad record never runs.
 */
export function migApply(inp: usize, len: u32, round: u32): i32 {
  if (!ready()) return Status.ERR_NOT_READY;
  for (let i = 0; i < STATS; i++) statSet(i, 0);
  const r16 = <u16>min<u32>(round, ROUND_NEVER - 1);
  let off: u32 = 0;
  // Each record consumes ≥ RECORD_HEADER bytes: bounded by len / 16.
  while (off < len) {
    statSet(Stat.BAD_OFFSET, off);
    statSet(Stat.BAD_PAGE, 0xffff_ffff);
    if (len - off < RECORD_HEADER) return Status.ERR_CORRUPT;
    const rec = inp + off;
    const p = load<u32>(rec);
    const kind = <u32>load<u8>(rec, 4);
    const dlen = <u32>load<u16>(rec, 6);
    const h = load<u64>(rec, 8);
    if (load<u8>(rec, 5) != 0) return Status.ERR_CORRUPT;
    if (dlen > len - off - RECORD_HEADER) return Status.ERR_CORRUPT;
    if (p >= tPages) return Status.ERR_CORRUPT;
    statSet(Stat.BAD_PAGE, p);
    const gpa = <u64>p << PAGE_SHIFT;
    if (gmCheck(gpa, PAGE) != Status.OK) return Status.ERR_CORRUPT;
    const data = rec + RECORD_HEADER;
    if (kind == Rec.ZERO_RUN) {
      // h is the page count; the whole run must lie in RAM outside holes.
      if (dlen != 0 || h == 0 || h > <u64>(tPages - p)) return Status.ERR_CORRUPT;
      const count = <u32>h;
      if (gmCheck(gpa, <u64>count << PAGE_SHIFT) != Status.OK) return Status.ERR_CORRUPT;
      // Bounded by count ≤ tPages - p.
      for (let q = p; q < p + count; q++) {
        const z = migPageIsZero(q);
        if (z < 0) return -z;
        if (z == 0) { const s = gmFill(<u64>q << PAGE_SHIFT, 0, PAGE); if (s != Status.OK) return s; }
        store<u64>(tHash + (<usize>q << 3), zeroHash);
        store<u16>(tRound + (<usize>q << 1), r16);
      }
      statSet(Stat.PAGES, stat(Stat.PAGES) + count);
      statSet(Stat.ZERO, stat(Stat.ZERO) + count);
      off += RECORD_HEADER;
      continue;
    }
    if (kind == Rec.ZERO) {
      if (dlen != 0 || h != zeroHash) return Status.ERR_CORRUPT;
      const s = gmFill(gpa, 0, PAGE);
      if (s != Status.OK) return s;
      statInc(Stat.ZERO);
    } else if (kind == Rec.FULL) {
      if (dlen != PAGE || xxh64(data, PAGE, 0) != h) return Status.ERR_CORRUPT;
      const s = gmCopyIn(gpa, data, PAGE);
      if (s != Status.OK) return s;
      statInc(Stat.FULL);
    } else if (kind == Rec.DELTA) {
      if (dlen >= PAGE) return Status.ERR_CORRUPT;
      let s = readPage(p, scratch);
      if (s != Status.OK) return s;
      if (deltaDecode(scratch, data, dlen) != Status.OK || xxh64(scratch, PAGE, 0) != h) return Status.ERR_CORRUPT;
      s = gmCopyIn(gpa, scratch, PAGE);
      if (s != Status.OK) return s;
      statInc(Stat.DELTA);
    } else {
      return Status.ERR_CORRUPT;
    }
    store<u64>(tHash + (<usize>p << 3), h);
    store<u16>(tRound + (<usize>p << 1), r16);
    statInc(Stat.PAGES);
    off += RECORD_HEADER + dlen;
  }
  statSet(Stat.BAD_OFFSET, 0);
  return Status.OK;
}

/**
 * Destination: reset the tables before round 0: every hash 0, every round
 * "never sent". RAM is not touched: round 0 names every page outside holes
 * (full, zero, or in a zero run), and a page it missed keeps round "never",
 * which migUnsent reports so the destination refuses (a digest cannot be
 * trusted to catch it: the source computes it).
 */
export function migDestPrepare(): i32 {
  if (!ready()) return Status.ERR_NOT_READY;
  memory.fill(tRound, 0xff, <usize>tPages << 1);
  memory.fill(tHash, 0, <usize>tPages << 3);
  return Status.OK;
}

/**
 * Re-hash pages [first, first+count) from guest RAM into the table (0 for
 * holes). Stat.MISMATCHES counts the pages whose hash changed and
 * Stat.BAD_PAGE names the first (0xffffffff if none): on the source, a page
 * that changed after it was sent without being marked dirty.
 */
export function migHashRange(first: u32, count: u32): i32 {
  if (!ready()) return Status.ERR_NOT_READY;
  if (first > tPages || count > tPages - first) return Status.ERR_RANGE;
  for (let i = 0; i < STATS; i++) statSet(i, 0);
  statSet(Stat.BAD_PAGE, 0xffff_ffff);
  const own = !gmForeign();
  let changed: u32 = 0;
  for (let p = first; p < first + count; p++) {
    const gpa = <u64>p << PAGE_SHIFT;
    const s = gmCheck(gpa, PAGE);
    let h: u64 = 0;
    if (s == Status.OK) {
      // Own placement: the page passed gmCheck, so it lies inside RAM.
      if (own) h = xxh64(gmRamPtr() + <usize>gpa, PAGE, 0);
      else {
        const r = readPage(p, scratch);
        if (r != Status.OK) return r;
        h = xxh64(scratch, PAGE, 0);
      }
    } else if (s != Status.ERR_HOLE) return s;
    const slot = tHash + (<usize>p << 3);
    if (load<u64>(slot) != h) {
      if (changed == 0) statSet(Stat.BAD_PAGE, p);
      changed++;
    }
    store<u64>(slot, h);
  }
  statSet(Stat.MISMATCHES, changed);
  return Status.OK;
}

/**
 * Destination: pages of [first, first+count) outside holes that no record
 * ever wrote (round "never"). Writes up to `cap` page numbers (u32) to `out`;
 * Stat.MISMATCHES counts all of them and Stat.BAD_PAGE names the first.
 * Returns the number written or -status.
 */
export function migUnsent(first: u32, count: u32, out: usize, cap: u32): i32 {
  if (!ready()) return -Status.ERR_NOT_READY;
  if (first > tPages || count > tPages - first) return -Status.ERR_RANGE;
  for (let i = 0; i < STATS; i++) statSet(i, 0);
  statSet(Stat.BAD_PAGE, 0xffff_ffff);
  const holes = liveHoles(), nh = liveHoleCount();
  let n: u32 = 0, total: u32 = 0;
  // Bounded by count ≤ tPages - first.
  for (let p = first; p < first + count; p++) {
    if (<u32>load<u16>(tRound + (<usize>p << 1)) != ROUND_NEVER || inHoles(holes, nh, p)) continue;
    if (total == 0) statSet(Stat.BAD_PAGE, p);
    total++;
    if (n < cap) { store<u32>(out + (<usize>n << 2), p); n++; }
  }
  statSet(Stat.MISMATCHES, total);
  return <i32>n;
}

/**
 * Compare a source's guest-memory layout envelope (`len` bytes at `inp`,
 * untrusted) with this VM's own: same RAM size, same pages in holes. Returns
 * the number of pages in a hole on one side only (0: they agree; Stat.BAD_PAGE
 * and Stat.HOLE describe the first) or -status for an invalid blob.
 */
export function migLayoutCheck(inp: usize, len: u32): i32 {
  if (!gmReady()) return -Status.ERR_NOT_READY;
  if (!ensureScratch()) return -Status.ERR_NO_MEMORY;
  for (let i = 0; i < STATS; i++) statSet(i, 0);
  const d = layoutDiff(inp, len);
  statSet(Stat.BAD_PAGE, diffFirst);
  statSet(Stat.HOLE, diffFirstIsHole ? 1 : 0);
  return d;
}

/** XXH64 over the page-hash table: the digest of guest memory. */
export function migDigest(seed: u64): u64 {
  if (!ready()) return 0;
  return xxh64(tHash, <usize>tPages << 3, seed);
}

/** Copy table hashes of pages [first, first+count) to `out`. */
export function migTableRead(first: u32, count: u32, out: usize): i32 {
  if (!ready()) return Status.ERR_NOT_READY;
  if (first > tPages || count > tPages - first) return Status.ERR_RANGE;
  memory.copy(out, tHash + (<usize>first << 3), <usize>count << 3);
  return Status.OK;
}

/** Round page `p` was last applied in (ROUND_NEVER if never), or ROUND_NEVER out of range. */
export function migRoundOf(p: u32): u32 {
  if (!ready() || p >= tPages) return ROUND_NEVER;
  return <u32>load<u16>(tRound + (<usize>p << 1));
}

/**
 * Compare `count` hashes at `inp` (the peer's, for pages from `first`) with
 * this side's table. Writes (u32 page, u32 round last applied) for each
 * mismatch into `out`, at most `cap`; Stat.MISMATCHES counts all of them.
 * Returns the number written or -status.
 */
export function migCompare(first: u32, count: u32, inp: usize, out: usize, cap: u32): i32 {
  if (!ready()) return -Status.ERR_NOT_READY;
  if (first > tPages || count > tPages - first) return -Status.ERR_RANGE;
  let n: u32 = 0, total: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const p = first + i;
    if (load<u64>(inp + (<usize>i << 3)) == load<u64>(tHash + (<usize>p << 3))) continue;
    total++;
    if (n < cap) {
      store<u32>(out + (<usize>n << 3), p);
      store<u32>(out + (<usize>n << 3), <u32>load<u16>(tRound + (<usize>p << 1)), 4);
      n++;
    }
  }
  statSet(Stat.MISMATCHES, total);
  return <i32>n;
}

/**
 * The checksum of a PAGES payload whose page data is covered by the records'
 * own page hashes (frame flag RECORD_HASHES, docs/migration-protocol.md
 * "Frames"): XXH64 chained over the 4-byte round prefix and then each record
 * header, seeded with `seed` (the frame's sequence number). The data bytes are
 * left out: migApply checks every page it writes against the XXH64 in its
 * record header, so hashing them here would hash each byte twice. Records are
 * walked by their lengths as untrusted input; a walk that runs off the end
 * hashes the leftover bytes, so a torn stream changes the checksum too.
 */
export function migRecordsHash(inp: usize, len: u32, seed: u64): u64 {
  if (len < 4) return xxh64(inp, len, seed);
  let acc = xxh64(inp, 4, seed);
  let off: u32 = 4;
  // Each step consumes ≥ RECORD_HEADER bytes: bounded by len / 16.
  while (len - off >= RECORD_HEADER) {
    const rec = inp + off;
    acc = xxh64(rec, RECORD_HEADER, acc);
    const dlen = <u32>load<u16>(rec, 6);
    if (dlen > len - off - RECORD_HEADER) return xxh64(rec, len - off, acc ^ 0x9e37_79b9_7f4a_7c15);
    off += RECORD_HEADER + dlen;
  }
  return off == len ? acc : xxh64(inp + off, len - off, acc ^ 0x9e37_79b9_7f4a_7c15);
}
