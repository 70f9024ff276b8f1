// TX queues: many producers (vCPU threads, one TX virtqueue each) hand frames
// to one consumer context (a switch port) that forwards them through a sink.
// Three variants, because which one is faster depends on producers and
// queues (FreeBSD iflib measured the simple path 2.5× faster than mp_ring on
// one NIC; bench/rings-txq.bench.ts measures ours):
//
// TXQ_MP_RING — FreeBSD sys/net/mp_ring.c: one 64-bit state word (producer
//   head, producer tail, consumer index, consumer state IDLE / BUSY / STALLED
//   / ABDICATED) changed only by CAS. A producer reserves cells by CAS on the
//   head, copies its frame into its cell, waits for earlier producers to
//   publish, then publishes the tail; if the consumer state was not BUSY it
//   becomes the consumer and drains, publishing its index once per
//   TXQ_PUBLISH_BATCH frames, and abdicates when its budget is spent while
//   another producer is still enqueuing (that producer takes over). With
//   TXQ_ABDICATE a producer never drains (someone calls txqDrain). A sink that
//   takes nothing leaves the queue STALLED until txqDrain.
// TXQ_LOCK — a short lock; the producer forwards its frame inline and unlocks.
// TXQ_LOCK_RING — the lock, and beside it a small bounded ring "for
//   contention, not capacity": a producer that finds the lock held leaves its
//   frame in the ring and goes; the holder drains the ring before it unlocks
//   and after (so no frame is stranded); when the ring is full the producer
//   waits for the lock.
//
// Every variant keeps each producer's frames in order and loses none: a frame
// the queue cannot take is refused (ERR_FULL) and stays the caller's. Frames
// are copied into the queue's cells when they wait there; the lock paths
// forward from the caller's memory.

import { Status } from "../core/status";
import { blockAlloc, blockCost, blockFree } from "../core/layout";
import {
  TXQ_MP_RING, TXQ_LOCK, TXQ_LOCK_RING, TXQ_IDLE, TXQ_BUSY, TXQ_STALLED, TXQ_ABDICATED, TXQ_MAY_WAIT, TXQ_ABDICATE,
  TXQ_PUBLISH_BATCH, TXQ_LOG_RECORD, TXQ_COUNTERS, TxqCounter,
} from "./defs";
import { FrameSink } from "./netmap";
import { mtxLock, mtxTryLock, mtxUnlock, LOCK_STUCK, LOCKED_AFTER_WAIT } from "./mutex";

export { FrameSink };

// @ts-ignore: decorator
@unmanaged class TxQ {
  variant: u32;
  slots: u32;
  ringSlots: u32;
  cellBytes: u32;
  maxFrame: u32;
  broken: u32;
  cells: usize;
  log: usize;
  logCap: u32;
}

const OFF_STATE: usize = 64;      // mp_ring state (u64)
const OFF_WAITERS: usize = 72;    // mp_ring: producers sleeping on the state word
const OFF_LOCK: usize = 128;      // mutex
const OFF_R_HEAD: usize = 192;    // bounded ring: producer head (CAS)
const OFF_R_CONS: usize = 256;    // bounded ring: consumer position (lock holder's)
const OFF_R_TAIL: usize = 260;    // bounded ring: consumer position published to producers
const OFF_LOG_COUNT: usize = 264;
const OFF_COUNTERS: usize = 320;
const OFF_CELLS: usize = 512;
const CELL_HDR: usize = 8;        // u32 sequence (bounded ring), u32 length

const SPIN: i32 = 200;
const WAIT_NS: i64 = 200_000;
const WAIT_CAP: i32 = 100_000;
const SPIN_CAP: i32 = 1 << 28;

// @ts-ignore: decorator
@inline function a64(n: u64): u64 { return (n + 63) & ~<u64>63; }
// @ts-ignore: decorator
@inline function tq(q: usize): TxQ { return changetype<TxQ>(q); }
// @ts-ignore: decorator
@inline function cellAt(q: usize, i: u32): usize { return tq(q).cells + <usize>i * <usize>tq(q).cellBytes; }
/** Counter bump by the one consumer (consumer exclusivity orders it). */
// @ts-ignore: decorator
@inline function own(q: usize, c: i32, by: u64 = 1): void { const p = q + OFF_COUNTERS + (<usize>c << 3); store<u64>(p, load<u64>(p) + by); }
/** Counter bump by any producer. */
// @ts-ignore: decorator
@inline function any(q: usize, c: i32, by: u64 = 1): void { atomic.add<u64>(q + OFF_COUNTERS + (<usize>c << 3), by); }

function cellsFor(variant: u32, slots: u32, ringSlots: u32): u32 {
  return variant == TXQ_MP_RING ? slots : variant == TXQ_LOCK_RING ? ringSlots : 0;
}

export function txqBytes(variant: u32, slots: u32, ringSlots: u32, maxFrame: u32, logCap: u32): u64 {
  const cell = a64(<u64>CELL_HDR + maxFrame);
  return <u64>OFF_CELLS + cell * cellsFor(variant, slots, ringSlots) + <u64>logCap * TXQ_LOG_RECORD;
}

export function txqCost(variant: u32, slots: u32, ringSlots: u32, maxFrame: u32, logCap: u32): u64 {
  return blockCost(txqBytes(variant, slots, ringSlots, maxFrame, logCap), 64);
}

/**
 * A queue of `variant`; `slots` cells for mp_ring (a power of two), `ringSlots`
 * for the lock's bounded ring (a power of two), frames up to `maxFrame`
 * bytes, a log of `logCap` records for logSink. 0 without memory.
 */
export function txqCreate(variant: u32, slots: u32, ringSlots: u32, maxFrame: u32, logCap: u32): usize {
  const bytes = txqBytes(variant, slots, ringSlots, maxFrame, logCap);
  const q = blockAlloc(bytes, 64);
  if (q == 0) return 0;
  memory.fill(q, 0, OFF_CELLS);
  const t = tq(q);
  t.variant = variant; t.slots = slots; t.ringSlots = ringSlots; t.maxFrame = maxFrame;
  t.cellBytes = <u32>a64(<u64>CELL_HDR + maxFrame);
  t.cells = q + OFF_CELLS;
  const n = cellsFor(variant, slots, ringSlots);
  // Bounded ring cells start unpublished for position i (sequence 0 ≠ i + 1).
  for (let i: u32 = 0; i < n; i++) store<u64>(cellAt(q, i), 0);
  t.log = t.cells + <usize>t.cellBytes * n;
  t.logCap = logCap;
  return q;
}

export function txqDestroy(q: usize): void {
  const t = tq(q);
  blockFree(q, txqBytes(t.variant, t.slots, t.ringSlots, t.maxFrame, t.logCap), 64);
}

export function txqVariant(q: usize): u32 { return tq(q).variant; }
export function txqMaxFrame(q: usize): u32 { return tq(q).maxFrame; }
export function txqCounters(q: usize): usize { return q + OFF_COUNTERS; }
export function txqState(q: usize): u64 { return atomic.load<u64>(q + OFF_STATE); }
export function txqBroken(q: usize): bool { return tq(q).broken != 0; }

/**
 * Hand one frame (`len` bytes at `frame`) to the queue. Returns OK when the
 * queue took it (forwarded, or waiting in the queue for the consumer),
 * ERR_FULL when it cannot take it now (the caller keeps the frame and retries
 * later), ERR_INVALID_ARG for a frame above maxFrame, ERR_BAD_STATE once the
 * queue is broken (a producer or lock holder stopped forever mid-operation).
 * flags: TXQ_MAY_WAIT, TXQ_ABDICATE. budget: frames an mp_ring consumer
 * forwards before it may abdicate.
 */
export function txqSubmit(q: usize, frame: usize, len: u32, flags: u32, budget: u32, sink: FrameSink, ctx: usize): i32 {
  const t = tq(q);
  if (len > t.maxFrame) { any(q, TxqCounter.TOO_LONG); return Status.ERR_INVALID_ARG; }
  if (t.broken != 0) return Status.ERR_BAD_STATE;
  const mayWait = (flags & TXQ_MAY_WAIT) != 0;
  if (t.variant == TXQ_MP_RING) return mpEnqueue(q, frame, len, (flags & TXQ_ABDICATE) != 0, mayWait, budget == 0 ? 1 : budget, sink, ctx);
  if (t.variant == TXQ_LOCK) return lockSubmit(q, frame, len, mayWait, sink, ctx);
  return lockRingSubmit(q, frame, len, mayWait, sink, ctx);
}

/**
 * Forward what waits in the queue: an mp_ring that is STALLED or ABDICATED
 * with no producer mid-enqueue (FreeBSD's ifmp_ring_check_drainage), or the
 * lock's bounded ring. Returns frames forwarded or -Status.
 */
export function txqDrain(q: usize, budget: u32, mayWait: bool, sink: FrameSink, ctx: usize): i32 {
  const t = tq(q);
  if (t.broken != 0) return -Status.ERR_BAD_STATE;
  if (t.variant == TXQ_MP_RING) return mpCheckDrainage(q, budget == 0 ? 1 : budget, sink, ctx);
  if (t.variant == TXQ_LOCK) return 0;
  const l = mtxLock(q + OFF_LOCK, mayWait);
  if (l == LOCK_STUCK) { stuck(q); return -Status.ERR_BAD_STATE; }
  const n = ringDrain(q, sink, ctx);
  return unlockRecheck(q, sink, ctx, n);
}

function stuck(q: usize): void {
  tq(q).broken = 1;
  any(q, TxqCounter.STUCK);
}

// ---- mp_ring ------------------------------------------------------------------------------
// state: bits 0-15 producer head, 16-31 producer tail, 32-47 consumer index, 48-63 consumer state.

// @ts-ignore: decorator
@inline function pHead(s: u64): u32 { return <u32>(s & 0xffff); }
// @ts-ignore: decorator
@inline function pTail(s: u64): u32 { return <u32>((s >> 16) & 0xffff); }
// @ts-ignore: decorator
@inline function cIdx(s: u64): u32 { return <u32>((s >> 32) & 0xffff); }
// @ts-ignore: decorator
@inline function sFlags(s: u64): u32 { return <u32>(s >> 48); }
// @ts-ignore: decorator
@inline function mk(head: u32, tail: u32, cidx: u32, flags: u32): u64 {
  return <u64>head | (<u64>tail << 16) | (<u64>cidx << 32) | (<u64>flags << 48);
}

/** Cells free for producers; one always stays empty (head == cidx means empty). */
// @ts-ignore: decorator
@inline function space(t: TxQ, s: u64): u32 { return t.slots - 1 - ((pHead(s) - cIdx(s)) & (t.slots - 1)); }

/** The consumer is about to publish cidx in state s (FreeBSD's state_to_flags). */
// @ts-ignore: decorator
@inline function toFlags(s: u64, abdicate: bool): u32 {
  if (cIdx(s) == pTail(s)) return TXQ_IDLE;
  if (abdicate && pTail(s) != pHead(s)) return TXQ_ABDICATED;
  return TXQ_BUSY;
}

function mpEnqueue(q: usize, frame: usize, len: u32, abdicate: bool, mayWait: bool, budget: u32, sink: FrameSink, ctx: usize): i32 {
  const t = tq(q);
  const sp = q + OFF_STATE;
  const mask = t.slots - 1;
  // Reserve one cell. Lock-free: a failed CAS means another producer or the consumer moved the state.
  let os = atomic.load<u64>(sp);
  let ns: u64 = 0;
  for (let tries = 0; ; tries++) {
    if (space(t, os) < 1) {
      any(q, TxqCounter.FULL);
      if (sFlags(os) == TXQ_STALLED) mpCheckDrainage(q, budget, sink, ctx);
      return Status.ERR_FULL;
    }
    if (tries > SPIN_CAP) { stuck(q); return Status.ERR_BAD_STATE; }
    ns = (os & ~<u64>0xffff) | <u64>((pHead(os) + 1) & mask);
    const seen = atomic.cmpxchg<u64>(sp, os, ns);
    if (seen == os) break;
    os = seen;
  }
  const start = pHead(os), stop = pHead(ns);
  // Our cell is ours alone until we publish; copy the frame in.
  const c = cellAt(q, start);
  store<u32>(c, len, 4);
  memory.copy(c + CELL_HDR, frame, len);
  // Publish in order: wait for the producers that reserved before us.
  if (pTail(ns) != start && !mpWaitTurn(q, start, mayWait)) { stuck(q); return Status.ERR_BAD_STATE; }
  os = atomic.load<u64>(sp);
  // Bounded: only the consumer (cidx, state) and later reservations (head) change the word now.
  for (;;) {
    let f = TXQ_BUSY;
    if (abdicate) f = sFlags(os) == TXQ_IDLE ? TXQ_ABDICATED : sFlags(os);
    ns = (os & ~(<u64>0xffff << 16) & ~(<u64>0xffff << 48)) | (<u64>stop << 16) | (<u64>f << 48);
    const seen = atomic.cmpxchg<u64>(sp, os, ns);
    if (seen == os) break;
    os = seen;
  }
  if (atomic.load<u32>(q + OFF_WAITERS) != 0) atomic.notify(sp, -1);
  if (!abdicate && sFlags(os) != TXQ_BUSY) mpDrain(q, ns, sFlags(os), budget, sink, ctx);
  return Status.OK;
}

/** Wait until the producer tail reaches `start`. False if it never does (a producer died mid-enqueue). */
function mpWaitTurn(q: usize, start: u32, mayWait: bool): bool {
  const sp = q + OFF_STATE;
  for (let i = 0; i < SPIN; i++) if (pTail(atomic.load<u64>(sp)) == start) return true;
  any(q, TxqCounter.WAITS);
  if (!mayWait) {
    for (let i = 0; i < SPIN_CAP; i++) if (pTail(atomic.load<u64>(sp)) == start) return true;
    return false;
  }
  atomic.add<u32>(q + OFF_WAITERS, 1);
  let ok = false;
  for (let w = 0; w < WAIT_CAP; w++) {
    const s = atomic.load<u64>(sp);
    if (pTail(s) == start) { ok = true; break; }
    atomic.wait<i64>(sp, s, WAIT_NS);
  }
  atomic.sub<u32>(q + OFF_WAITERS, 1);
  return ok;
}

/** Forward cells [cidx, pidx), at most `max`. Returns how many the sink took (it stops at the first it refuses). */
function mpForward(q: usize, cidx: u32, pidx: u32, max: u32, sink: FrameSink, ctx: usize): u32 {
  const t = tq(q);
  const mask = t.slots - 1;
  let n: u32 = 0;
  // Bounded by max and by the cells published to us.
  for (let i = cidx; i != pidx && n < max; i = (i + 1) & mask) {
    const c = cellAt(q, i);
    // In range: producers stored len <= maxFrame into the cell they reserved.
    if (!sink(ctx, c + CELL_HDR, load<u32>(c, 4))) break;
    n++;
  }
  return n;
}

/** The caller made itself consumer (state BUSY in `os`); drain (FreeBSD's drain_ring_lockless). */
function mpDrain(q: usize, os: u64, prev: u32, budget: u32, sink: FrameSink, ctx: usize): void {
  const t = tq(q);
  const sp = q + OFF_STATE;
  const mask = t.slots - 1;
  let cidx = cIdx(os), pidx = pTail(os);
  let pending: u32 = 0, total: u32 = 0;
  if (prev == TXQ_IDLE) own(q, TxqCounter.STARTS);
  // Bounded: each round forwards at least one frame or ends; the budget bounds the rounds.
  while (cidx != pidx) {
    const n = mpForward(q, cidx, pidx, min<u32>(TXQ_PUBLISH_BATCH - pending, budget > total ? budget - total : 1), sink, ctx);
    if (n == 0) {
      let s = atomic.load<u64>(sp);
      for (;;) {
        const seen = atomic.cmpxchg<u64>(sp, s, (s & ~(<u64>0xffff << 32) & ~(<u64>0xffff << 48)) | (<u64>cidx << 32) | (<u64>TXQ_STALLED << 48));
        if (seen == s) break;
        s = seen;
      }
      if (prev != TXQ_STALLED) own(q, TxqCounter.STALLS);
      else if (total > 0) { own(q, TxqCounter.RESTARTS); own(q, TxqCounter.STALLS); }
      return;
    }
    cidx = (cidx + n) & mask;
    pending += n; total += n;
    own(q, TxqCounter.FORWARDED, n);
    // Publish the index only when caught up, every TXQ_PUBLISH_BATCH frames, or when the budget is spent.
    if (cidx != pidx && pending < TXQ_PUBLISH_BATCH && total < budget) continue;
    let s = atomic.load<u64>(sp);
    let f: u32 = 0;
    for (;;) {
      const withC = (s & ~(<u64>0xffff << 32)) | (<u64>cidx << 32);
      f = toFlags(withC, total >= budget);
      const seen = atomic.cmpxchg<u64>(sp, s, (withC & ~(<u64>0xffff << 48)) | (<u64>f << 48));
      if (seen == s) { s = withC; break; }
      s = seen;
    }
    if (f == TXQ_ABDICATED) own(q, TxqCounter.ABDICATIONS);
    if (f != TXQ_BUSY) {
      if (prev == TXQ_STALLED) own(q, TxqCounter.RESTARTS);
      return;
    }
    pidx = pTail(s);
    pending = 0;
  }
}

function mpCheckDrainage(q: usize, budget: u32, sink: FrameSink, ctx: usize): i32 {
  const sp = q + OFF_STATE;
  const os = atomic.load<u64>(sp);
  const f = sFlags(os);
  if ((f != TXQ_STALLED && f != TXQ_ABDICATED) || pHead(os) != pTail(os)) return 0;
  const ns = (os & ~(<u64>0xffff << 48)) | (<u64>TXQ_BUSY << 48);
  if (atomic.cmpxchg<u64>(sp, os, ns) != os) return 0;
  const before = load<u64>(q + OFF_COUNTERS + (<usize>TxqCounter.FORWARDED << 3));
  mpDrain(q, ns, f, budget, sink, ctx);
  return <i32>(load<u64>(q + OFF_COUNTERS + (<usize>TxqCounter.FORWARDED << 3)) - before);
}

// ---- The lock ----------------------------------------------------------------------------------

function lockSubmit(q: usize, frame: usize, len: u32, mayWait: bool, sink: FrameSink, ctx: usize): i32 {
  const l = mtxLock(q + OFF_LOCK, mayWait);
  if (l == LOCK_STUCK) { stuck(q); return Status.ERR_BAD_STATE; }
  if (l == LOCKED_AFTER_WAIT) any(q, TxqCounter.WAITS);
  const ok = sink(ctx, frame, len);
  if (ok) { own(q, TxqCounter.FORWARDED); own(q, TxqCounter.INLINE); }
  mtxUnlock(q + OFF_LOCK);
  if (!ok) { any(q, TxqCounter.FULL); return Status.ERR_FULL; }
  return Status.OK;
}

// ---- The lock and its bounded ring ----------------------------------------------------------------
// Cells as element queues' multi-producer cells (sequence = position + 1 when
// published), with the frame inline. The consumer is whoever holds the lock.

// @ts-ignore: decorator
@inline function rCell(q: usize, pos: u32): usize { return cellAt(q, pos & (tq(q).ringSlots - 1)); }

/** Leave a frame in the bounded ring. False if it is full. */
function ringPut(q: usize, frame: usize, len: u32): bool {
  const t = tq(q);
  const hp = q + OFF_R_HEAD;
  let pos = atomic.load<u32>(hp);
  // Lock-free reservation; a failed CAS means another producer reserved.
  for (let tries = 0; ; tries++) {
    if (pos - atomic.load<u32>(q + OFF_R_TAIL) >= t.ringSlots || tries > SPIN_CAP) return false;
    const seen = atomic.cmpxchg<u32>(hp, pos, pos + 1);
    if (seen == pos) break;
    pos = seen;
  }
  const c = rCell(q, pos);
  store<u32>(c, len, 4);
  memory.copy(c + CELL_HDR, frame, len);
  atomic.store<u32>(c, pos + 1);
  return true;
}

/** Nothing reserved in the ring (published or not). */
// @ts-ignore: decorator
@inline function ringEmpty(q: usize): bool { return atomic.load<u32>(q + OFF_R_HEAD) == load<u32>(q + OFF_R_CONS); }
/** The oldest reserved cell is still being written by its producer. */
// @ts-ignore: decorator
@inline function ringHeadUnpublished(q: usize): bool {
  const cons = load<u32>(q + OFF_R_CONS);
  return atomic.load<u32>(rCell(q, cons)) != cons + 1;
}

/** Set by ringDrain: it stopped because the sink refused a frame. */
let refused = false;

/** Under the lock: forward published cells in order until an unpublished one or a refusal. Returns frames forwarded. */
function ringDrain(q: usize, sink: FrameSink, ctx: usize): u32 {
  const t = tq(q);
  let cons = load<u32>(q + OFF_R_CONS);
  let n: u32 = 0;
  refused = false;
  // Bounded: at most ringSlots cells are reserved at once, and producers
  // block on the lock once it is full; the loop ends at the first cell not yet published.
  for (;;) {
    const c = rCell(q, cons);
    if (atomic.load<u32>(c) != cons + 1) break;
    if (!sink(ctx, c + CELL_HDR, load<u32>(c, 4))) { refused = true; break; }
    cons++;
    n++;
    store<u32>(q + OFF_R_CONS, cons);
    atomic.store<u32>(q + OFF_R_TAIL, cons);
    if (n >= t.ringSlots << 4) break;
  }
  if (n != 0) own(q, TxqCounter.FORWARDED, n);
  return n;
}

/**
 * Unlock, then make sure no published frame is left behind: a producer that
 * left a frame while we held the lock may have found it held and gone. We
 * stop when the ring is empty, when its oldest cell is unpublished (that
 * producer will look after it has published), or when someone else holds the
 * lock (it will do the same when it unlocks).
 */
function unlockRecheck(q: usize, sink: FrameSink, ctx: usize, drained: u32): i32 {
  let n = <i32>drained;
  // Bounded: each round forwards at least one frame or returns.
  for (;;) {
    mtxUnlock(q + OFF_LOCK);
    if (ringEmpty(q) || ringHeadUnpublished(q)) return n;
    if (!mtxTryLock(q + OFF_LOCK)) return n;
    const k = ringDrain(q, sink, ctx);
    // The sink refuses: leave the rest for the next submit or txqDrain.
    if (refused) { mtxUnlock(q + OFF_LOCK); return n + <i32>k; }
    n += <i32>k;
  }
  return n;
}

/** Under the lock: forward what waits, then this frame (behind it, to keep each producer's order). */
function lockedSend(q: usize, frame: usize, len: u32, sink: FrameSink, ctx: usize): i32 {
  // Bounded: each round forwards a frame or ends; a producer mid-write finishes shortly.
  for (let round = 0; round < SPIN_CAP; round++) {
    ringDrain(q, sink, ctx);
    if (ringEmpty(q)) {
      if (!sink(ctx, frame, len)) { any(q, TxqCounter.FULL); return Status.ERR_FULL; }
      own(q, TxqCounter.FORWARDED); own(q, TxqCounter.INLINE);
      return Status.OK;
    }
    if (refused) { any(q, TxqCounter.FULL); return Status.ERR_FULL; }
    if (!ringHeadUnpublished(q)) continue; // more arrived while we drained
    // A producer is still writing the oldest cell: queue behind it if there is room.
    if (ringPut(q, frame, len)) { any(q, TxqCounter.QUEUED); return Status.OK; }
  }
  stuck(q);
  return Status.ERR_BAD_STATE;
}

function lockRingSubmit(q: usize, frame: usize, len: u32, mayWait: bool, sink: FrameSink, ctx: usize): i32 {
  const lock = q + OFF_LOCK;
  if (mtxTryLock(lock)) {
    const s = lockedSend(q, frame, len, sink, ctx);
    unlockRecheck(q, sink, ctx, 0);
    return s;
  }
  if (ringPut(q, frame, len)) {
    any(q, TxqCounter.QUEUED);
    // The holder may have rechecked before we published: look again.
    if (mtxTryLock(lock)) unlockRecheck(q, sink, ctx, ringDrain(q, sink, ctx));
    return Status.OK;
  }
  // More contention than the ring holds: wait for the lock and send inline.
  const l = mtxLock(lock, mayWait);
  if (l == LOCK_STUCK) { stuck(q); return Status.ERR_BAD_STATE; }
  any(q, TxqCounter.WAITS);
  const s = lockedSend(q, frame, len, sink, ctx);
  unlockRecheck(q, sink, ctx, 0);
  return s;
}

// ---- The built-in log sink ------------------------------------------------------------------------

/**
 * Sink of the exported queues: one record per frame (u32 at frame+14 and at
 * frame+18, or 0 for shorter frames; length; FNV-1a of the bytes), so tests
 * can check that no frame was lost, duplicated, reordered or changed. `ctx`
 * is the queue. A full log refuses frames (counted), as a switch port whose
 * receiver has no room does: the queue stalls until the log is reset.
 */
export function logSink(ctx: usize, frame: usize, len: u32): bool {
  const t = tq(ctx);
  const n = atomic.load<u32>(ctx + OFF_LOG_COUNT);
  if (n >= t.logCap) { any(ctx, TxqCounter.LOG_FULL); return false; }
  const r = t.log + <usize>n * TXQ_LOG_RECORD;
  store<u32>(r, len >= 18 ? load<u32>(frame, 14) : 0);
  store<u32>(r, len >= 22 ? load<u32>(frame, 18) : 0, 4);
  store<u32>(r, len, 8);
  let h: u32 = 0x811c9dc5;
  // Bounded by len <= maxFrame.
  for (let i: u32 = 0; i < len; i++) h = (h ^ <u32>load<u8>(frame + i)) * 0x01000193;
  store<u32>(r, h, 12);
  atomic.store<u32>(ctx + OFF_LOG_COUNT, n + 1);
  return true;
}

export function txqLog(q: usize): usize { return tq(q).log; }
export function txqLogCount(q: usize): u32 { return atomic.load<u32>(q + OFF_LOG_COUNT); }
/** Clear the log (no submit may run meanwhile). */
export function txqLogReset(q: usize): void { atomic.store<u32>(q + OFF_LOG_COUNT, 0); }

/** Frames waiting in the queue now. */
export function txqPending(q: usize): u32 {
  const t = tq(q);
  if (t.variant == TXQ_MP_RING) { const s = txqState(q); return (pTail(s) - cIdx(s)) & (t.slots - 1); }
  if (t.variant == TXQ_LOCK_RING) return atomic.load<u32>(q + OFF_R_HEAD) - atomic.load<u32>(q + OFF_R_TAIL);
  return 0;
}

export { TXQ_LOCK, TXQ_LOCK_RING, TXQ_MP_RING };
