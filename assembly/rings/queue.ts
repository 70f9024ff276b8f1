// Element queues: bounded rings of u32 values (buffer indices, handles, frame
// references) with bulk and burst operations, after DPDK's rte_ring.
//
// Positions are free-running u32s; a value at position p lives in cell
// p & (size - 1). Each side keeps its own position and a cached copy of the
// other side's in its private line, and reads the other side's published
// index only when the cache says it must. An index the other side published
// is checked before use: the producer needs 0 <= prod - consTail <= size, the
// consumer 0 <= prodTail - cons <= size; anything else is refused and
// counted (RqCounter.PEER_BAD), so a hostile peer can stall the queue but
// never make it touch a cell twice or outside the ring.
//
// Single producer (SP): the producer publishes PROD_TAIL once per enqueue.
// Multiple producers (MP): a producer reserves a run of positions by CAS on
// PROD_HEAD, writes the values and the run length, and publishes the run with
// one store of its first cell's sequence word (position + 1); it never waits
// for another producer (one preempted mid-enqueue delays only the consumer,
// at its run). The consumer takes runs in order while their sequence matches
// and marks each run's first cell consumed (sequence = position), so a stale
// sequence can never match a later lap: position p expects p + 1, and a cell
// only ever holds p' + 1 for a published run or p' for a consumed or initial
// one, with p' ≡ p mod size (an odd difference can never be a multiple of an
// even size). One consumer (SC) in both modes.

import { blockAlloc, blockCost, blockFree } from "../core/layout";
import {
  RQ_MAGIC, RQ_F_MP, RQ_OFF_MAGIC, RQ_OFF_SIZE, RQ_OFF_FLAGS, RQ_OFF_CELL_BYTES, RQ_OFF_PROD_HEAD, RQ_OFF_PROD_TAIL,
  RQ_OFF_CONS_TAIL, RQ_OFF_CELLS, RQ_BULK, RQ_COUNTERS, RqCounter,
} from "./defs";

// Private lines: the producer's (SP) and the consumer's own position and cached peer index.
const OFF_P_POS: usize = 192;
const OFF_P_CACHE: usize = 196;
const OFF_C_POS: usize = 256;
const OFF_C_CACHE: usize = 260;
const OFF_C_RUN: usize = 264;     // MP: values left in the run the consumer is in
const OFF_COUNTERS: usize = 320;

/** Bytes of a queue of `size` cells. */
export function rqBytes(size: u32, mp: bool): u64 { return <u64>RQ_OFF_CELLS + <u64>size * (mp ? 12 : 4); }
export function rqCost(size: u32, mp: bool): u64 { return blockCost(rqBytes(size, mp), 64); }

export function rqCreate(size: u32, mp: bool): usize {
  const bytes = rqBytes(size, mp);
  const q = blockAlloc(bytes, 64);
  if (q == 0) return 0;
  memory.fill(q, 0, <usize>bytes);
  store<u32>(q + RQ_OFF_SIZE, size);
  store<u32>(q + RQ_OFF_FLAGS, mp ? RQ_F_MP : 0);
  store<u32>(q + RQ_OFF_CELL_BYTES, mp ? 12 : 4);
  // Every sequence word starts "consumed" for its own cell index (see above).
  if (mp) for (let i: u32 = 0; i < size; i++) store<u32>(seqs(q, size) + (<usize>i << 2), i);
  atomic.store<u32>(q + RQ_OFF_MAGIC, RQ_MAGIC);
  return q;
}

export function rqDestroy(q: usize): void { blockFree(q, rqBytes(rqSize(q), rqIsMp(q)), 64); }

// @ts-ignore: decorator
@inline function seqs(q: usize, size: u32): usize { return q + RQ_OFF_CELLS + (<usize>size << 2); }
// @ts-ignore: decorator
@inline function runs(q: usize, size: u32): usize { return q + RQ_OFF_CELLS + (<usize>size << 3); }
// @ts-ignore: decorator
@inline export function rqSize(q: usize): u32 { return load<u32>(q + RQ_OFF_SIZE); }
// @ts-ignore: decorator
@inline export function rqIsMp(q: usize): bool { return (load<u32>(q + RQ_OFF_FLAGS) & RQ_F_MP) != 0; }
export function rqCounters(q: usize): usize { return q + OFF_COUNTERS; }
// @ts-ignore: decorator
@inline function bump(q: usize, c: i32, by: u64 = 1): void { atomic.add<u64>(q + OFF_COUNTERS + (<usize>c << 3), by); }

/** Copy `n` u32s (v128 while 4 or more remain). */
// @ts-ignore: decorator
@inline function copyU32(dst: usize, src: usize, n: u32): void {
  let i: u32 = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  for (; i < n; i++) store<u32>(dst + (<usize>i << 2), load<u32>(src + (<usize>i << 2)));
}

// ---- Single producer -------------------------------------------------------------------------

/**
 * Enqueue values src[0..n) (SP). mode RQ_BULK: all or none; RQ_BURST: as many
 * as fit. Returns the number enqueued, or -1 if the consumer's published
 * index is impossible (counted).
 */
export function rqSpEnqueue(q: usize, src: usize, n: u32, mode: u32): i32 {
  const size = rqSize(q);
  const prod = load<u32>(q + OFF_P_POS);
  let free = size - (prod - load<u32>(q + OFF_P_CACHE));
  if (free < n) {
    const cons = atomic.load<u32>(q + RQ_OFF_CONS_TAIL);
    const used = prod - cons;
    if (used > size) { bump(q, RqCounter.PEER_BAD); return -1; }
    store<u32>(q + OFF_P_CACHE, cons);
    free = size - used;
    if (free < n) {
      bump(q, RqCounter.FULL);
      if (mode == RQ_BULK || free == 0) return 0;
      n = free;
    }
  }
  const mask = size - 1;
  const at = prod & mask;
  const first = min<u32>(n, size - at);
  const cells = q + RQ_OFF_CELLS;
  // In range: at + first <= size and n - first < size.
  copyU32(cells + (<usize>at << 2), src, first);
  if (first < n) copyU32(cells, src + (<usize>first << 2), n - first);
  store<u32>(q + OFF_P_POS, prod + n);
  atomic.store<u32>(q + RQ_OFF_PROD_TAIL, prod + n);
  return <i32>n;
}

// ---- Multiple producers ------------------------------------------------------------------------

/**
 * Enqueue values src[0..n) (MP, any number of threads at once). Modes as
 * rqSpEnqueue. Returns the number enqueued, or -1 for an impossible index.
 */
export function rqMpEnqueue(q: usize, src: usize, n: u32, mode: u32): i32 {
  // An empty run would publish a cell it never reserved.
  if (n == 0) return 0;
  const size = rqSize(q);
  const mask = size - 1;
  let pos: u32 = 0;
  // Lock-free reservation; a failed CAS means another producer reserved. The
  // retry count bounds a hostile writer of PROD_HEAD.
  let tries = 0;
  for (;; tries++) {
    if (tries > 1 << 20) return 0;
    pos = atomic.load<u32>(q + RQ_OFF_PROD_HEAD);
    const cons = atomic.load<u32>(q + RQ_OFF_CONS_TAIL);
    const used = pos - cons;
    if (used > size) { bump(q, RqCounter.PEER_BAD); return -1; }
    let k = n;
    if (size - used < k) {
      if (mode == RQ_BULK || used == size) { bump(q, RqCounter.FULL); return 0; }
      k = size - used;
    }
    if (atomic.cmpxchg<u32>(q + RQ_OFF_PROD_HEAD, pos, pos + k) == pos) { n = k; break; }
  }
  if (tries != 0) bump(q, RqCounter.CAS_RETRIES, <u64>tries);
  const cells = q + RQ_OFF_CELLS;
  const at = pos & mask;
  const first = min<u32>(n, size - at);
  // In range: at + first <= size and n - first < size.
  copyU32(cells + (<usize>at << 2), src, first);
  if (first < n) copyU32(cells, src + (<usize>first << 2), n - first);
  store<u32>(runs(q, size) + (<usize>at << 2), n);
  atomic.store<u32>(seqs(q, size) + (<usize>at << 2), pos + 1);
  return <i32>n;
}

// ---- Single consumer -------------------------------------------------------------------------

/**
 * Dequeue up to n values into dst (mode RQ_BULK: exactly n or none).
 * Returns the number taken, or -1 for an impossible producer index.
 */
export function rqDequeue(q: usize, dst: usize, n: u32, mode: u32): i32 {
  const size = rqSize(q);
  const mask = size - 1;
  const cons = load<u32>(q + OFF_C_POS);
  const cells = q + RQ_OFF_CELLS;
  if (rqIsMp(q)) return mpDequeue(q, dst, n, mode);
  let avail = load<u32>(q + OFF_C_CACHE) - cons;
  if (avail < n) {
    const prod = atomic.load<u32>(q + RQ_OFF_PROD_TAIL);
    const a = prod - cons;
    if (a > size) { bump(q, RqCounter.PEER_BAD); return -1; }
    store<u32>(q + OFF_C_CACHE, prod);
    avail = a;
    if (avail < n) {
      if (mode == RQ_BULK || avail == 0) return 0;
      n = avail;
    }
  }
  const at = cons & mask;
  const first = min<u32>(n, size - at);
  // In range: at + first <= size and n - first < size.
  copyU32(dst, cells + (<usize>at << 2), first);
  if (first < n) copyU32(dst + (<usize>first << 2), cells, n - first);
  store<u32>(q + OFF_C_POS, cons + n);
  atomic.store<u32>(q + RQ_OFF_CONS_TAIL, cons + n);
  return <i32>n;
}

/** Values ready at the consumer: the rest of its run, then whole published runs, up to `want`. -1 for an impossible run length. */
function mpReady(q: usize, want: u32): i64 {
  const size = rqSize(q);
  const mask = size - 1;
  const cons = load<u32>(q + OFF_C_POS);
  let c = cons + load<u32>(q + OFF_C_RUN);
  let have = load<u32>(q + OFF_C_RUN);
  // Bounded: each run found adds at least one value, and at most size values are reserved.
  while (have < want) {
    if (atomic.load<u32>(seqs(q, size) + (<usize>(c & mask) << 2)) != c + 1) break;
    const len = load<u32>(runs(q, size) + (<usize>(c & mask) << 2));
    if (len == 0 || len > size - have) return -1;
    have += len;
    c += len;
  }
  return <i64>have;
}

function mpDequeue(q: usize, dst: usize, n: u32, mode: u32): i32 {
  const size = rqSize(q);
  const mask = size - 1;
  const ready = mpReady(q, n);
  if (ready < 0) { bump(q, RqCounter.PEER_BAD); return -1; }
  if (<u64>ready < <u64>n) {
    if (mode == RQ_BULK || ready == 0) return 0;
    n = <u32>ready;
  }
  const cells = q + RQ_OFF_CELLS;
  let cons = load<u32>(q + OFF_C_POS);
  let run = load<u32>(q + OFF_C_RUN);
  let done: u32 = 0;
  // Bounded by n; mpReady checked every run start and length on the way.
  while (done < n) {
    if (run == 0) {
      const at = cons & mask;
      run = load<u32>(runs(q, size) + (<usize>at << 2));
      store<u32>(seqs(q, size) + (<usize>at << 2), cons); // consumed
    }
    const k = min<u32>(run, n - done);
    const at = cons & mask;
    const first = min<u32>(k, size - at);
    copyU32(dst + (<usize>done << 2), cells + (<usize>at << 2), first);
    if (first < k) copyU32(dst + (<usize>(done + first) << 2), cells, k - first);
    cons += k; done += k; run -= k;
  }
  store<u32>(q + OFF_C_POS, cons);
  store<u32>(q + OFF_C_RUN, run);
  atomic.store<u32>(q + RQ_OFF_CONS_TAIL, cons);
  return <i32>n;
}

/** Values waiting, by the consumer's view (SP: published tail; MP: reserved, published or not). */
export function rqCount(q: usize): u32 {
  const cons = load<u32>(q + OFF_C_POS);
  const prod = atomic.load<u32>(q + (rqIsMp(q) ? RQ_OFF_PROD_HEAD : RQ_OFF_PROD_TAIL));
  const a = prod - cons;
  return a > rqSize(q) ? 0 : a;
}

export function rqEnqueue(q: usize, src: usize, n: u32, mode: u32): i32 {
  return rqIsMp(q) ? rqMpEnqueue(q, src, n, mode) : rqSpEnqueue(q, src, n, mode);
}
