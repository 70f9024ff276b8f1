// Netmap-style rings (netmap(4); FreeBSD sys/net/netmap.h): a ring of slots
// (buffer index, length, flags) over a buffer pool, shared between the device
// (netmap's kernel side) and a backend (netmap's application side) on any
// thread or in another wasm instance given the memory.
//
// Ownership: the backend owns slots [head, tail), the device the others; one
// slot always stays empty. The backend moves head (and cur) forward to give
// slots to the device; the device moves tail forward to give slots back.
//
// The device never trusts the shared fields. It keeps its own copies (the
// kring: hwcur, hwtail, the last validated head and cur, the tail it
// published) and the buffer each slot holds, and on every sync validates what
// the backend wrote against them, as nm_txsync_prologue does:
//   rhead <= head <= cur <= rtail (cyclically)
// A head or cur outside that range resets the shared fields to the device's
// view and fails the sync (ERR_CORRUPT), counted. A slot that names a buffer
// outside the pool, a buffer the backend does not hold, or a length above the
// buffer size is skipped and counted. So a hostile or buggy backend can make
// the device read or write only its ring and buffers of its pool.
//
// Buffer swap (NS_BUF_CHANGED): a backend that puts another buffer in a slot
// it returns must hold that buffer (RP_USER: taken with ring_pool_alloc or
// swapped out of a slot earlier); it then holds the slot's old buffer
// instead. That is zero-copy forwarding between rings of one pool.
//
// Per-slot mode (NMR_SLOT_RING / NMR_SLOT_NORMAL) and the frozen flag are for
// a device that enters or leaves ring mode with traffic running: it tracks
// which slots still hold a copy-mode buffer, stops handing out slots while it
// drains, and waits until the backend holds none (nmUserHeld) before it
// releases the ring's buffers.
//
// Threads: one device-side context and one backend at a time per ring (netmap
// rings are single-producer single-consumer); the indices are 32-bit atomics.

import { Status } from "../core/status";
import { blockAlloc, blockCost, blockFree } from "../core/layout";
import {
  NMR_MAGIC, NMR_TX, NMR_OFF_MAGIC, NMR_OFF_NUM_SLOTS, NMR_OFF_BUF_SIZE, NMR_OFF_DIR, NMR_OFF_BUF_BASE, NMR_OFF_BUF_COUNT,
  NMR_OFF_POOL, NMR_OFF_FLAGS, NMR_OFF_HEAD, NMR_OFF_CUR, NMR_OFF_USER_WAIT, NMR_OFF_TAIL, NMR_OFF_SLOTS,
  NMR_SLOT_BYTES, NMR_SLOT_BUF, NMR_SLOT_LEN, NMR_SLOT_FLAGS, NS_BUF_CHANGED, NMR_F_FROZEN, NMR_SLOT_RING, NMR_SLOT_NORMAL,
  NMR_COUNTERS, NmrCounter, RP_RING, RP_USER,
} from "./defs";
import { poolBufs, poolBufSize, poolBase, poolTake, poolGive, poolMove } from "./pool";

// @unmanaged: the device's private copy of the ring state (netmap's kring).
// @ts-ignore: decorator
@unmanaged class KRing {
  n: u32;
  dir: u32;
  bufSize: u32;
  pool: usize;
  hwcur: u32;
  hwtail: u32;
  rhead: u32;
  rcur: u32;
  rtail: u32;
  frozen: u32;
  /** Per-slot records: u32 buffer index, u32 mode. */
  kslots: usize;
  counters: usize;
}

// @ts-ignore: decorator
@inline function a64(n: u64): u64 { return (n + 63) & ~<u64>63; }

function privOff(n: u32): u64 { return a64(<u64>NMR_OFF_SLOTS + <u64>n * NMR_SLOT_BYTES); }

export function nmBytes(n: u32): u64 {
  return privOff(n) + a64(offsetof<KRing>()) + a64(<u64>NMR_COUNTERS << 3) + (<u64>n << 3);
}

export function nmCost(n: u32): u64 { return blockCost(nmBytes(n), 64); }

// @ts-ignore: decorator
@inline function kr(r: usize): KRing { return changetype<KRing>(r + <usize>privOff(load<u32>(r + NMR_OFF_NUM_SLOTS))); }
// @ts-ignore: decorator
@inline function slot(r: usize, i: u32): usize { return r + NMR_OFF_SLOTS + <usize>i * NMR_SLOT_BYTES; }
// @ts-ignore: decorator
@inline function kslot(k: KRing, i: u32): usize { return k.kslots + (<usize>i << 3); }
// @ts-ignore: decorator
@inline function bump(k: KRing, c: i32, by: u64 = 1): void {
  const p = k.counters + (<usize>c << 3);
  store<u64>(p, load<u64>(p) + by);
}
// @ts-ignore: decorator
@inline function nxt(k: KRing, i: u32): u32 { return i + 1 == k.n ? 0 : i + 1; }
/** (a - b) mod n for a, b < n. */
// @ts-ignore: decorator
@inline function dist(k: KRing, a: u32, b: u32): u32 { return a >= b ? a - b : a + k.n - b; }
/** x within [lo, hi] going forward from lo (all < n). */
// @ts-ignore: decorator
@inline function within(k: KRing, x: u32, lo: u32, hi: u32): bool { return x < k.n && dist(k, x, lo) <= dist(k, hi, lo); }

export function nmCounters(r: usize): usize { return kr(r).counters; }
export function nmSlots(r: usize): u32 { return load<u32>(r + NMR_OFF_NUM_SLOTS); }

/**
 * A ring of `n` slots over pool `pool` (handle `poolHandle`), direction
 * NMR_TX or NMR_RX, every slot holding a buffer taken from the pool. Returns
 * the ring's address, 0 without memory or buffers (nothing is kept).
 */
export function nmCreate(pool: usize, poolHandle: i32, n: u32, dir: u32): usize {
  const bytes = nmBytes(n);
  const r = blockAlloc(bytes, 64);
  if (r == 0) return 0;
  memory.fill(r, 0, <usize>bytes);
  const k = changetype<KRing>(r + <usize>privOff(n));
  k.n = n; k.dir = dir; k.pool = pool; k.bufSize = poolBufSize(pool);
  k.counters = changetype<usize>(k) + <usize>a64(offsetof<KRing>());
  k.kslots = k.counters + <usize>a64(<u64>NMR_COUNTERS << 3);
  for (let i: u32 = 0; i < n; i++) {
    const b = poolTake(pool, RP_RING);
    if (b < 0) {
      for (let j: u32 = 0; j < i; j++) poolGive(pool, load<u32>(kslot(k, j)), RP_RING);
      blockFree(r, bytes, 64);
      return 0;
    }
    store<u32>(kslot(k, i), <u32>b);
    store<u32>(kslot(k, i), NMR_SLOT_RING, 4);
    store<u32>(slot(r, i) + NMR_SLOT_BUF, <u32>b);
  }
  store<u32>(r + NMR_OFF_NUM_SLOTS, n);
  store<u32>(r + NMR_OFF_BUF_SIZE, k.bufSize);
  store<u32>(r + NMR_OFF_DIR, dir);
  store<u32>(r + NMR_OFF_BUF_BASE, <u32>poolBase(pool));
  store<u32>(r + NMR_OFF_BUF_COUNT, poolBufs(pool));
  store<u32>(r + NMR_OFF_POOL, <u32>poolHandle);
  // netmap's initial state: a TX ring gives the backend every slot but one; an RX ring is empty.
  k.hwcur = 0; k.rhead = 0; k.rcur = 0;
  k.hwtail = dir == NMR_TX ? n - 1 : 0;
  k.rtail = k.hwtail;
  atomic.store<u32>(r + NMR_OFF_TAIL, k.rtail);
  atomic.store<u32>(r + NMR_OFF_MAGIC, NMR_MAGIC);
  return r;
}

/**
 * Free the ring: buffers in its slots go back to the pool; buffers the
 * backend took out of slots stay the backend's (RP_USER) until it frees them.
 */
export function nmDestroy(r: usize): void {
  const k = kr(r);
  for (let i: u32 = 0; i < k.n; i++) {
    if (load<u32>(kslot(k, i), 4) == NMR_SLOT_RING) poolGive(k.pool, load<u32>(kslot(k, i)), RP_RING);
  }
  blockFree(r, nmBytes(k.n), 64);
}

/** Check the backend left TAIL alone (netmap repairs it silently; we count it). */
function repairTail(r: usize, k: KRing): void {
  if (atomic.load<u32>(r + NMR_OFF_TAIL) != k.rtail) {
    bump(k, NmrCounter.TAIL_REPAIRED);
    atomic.store<u32>(r + NMR_OFF_TAIL, k.rtail);
  }
}

/** Reset the backend's fields to the device's view after it wrote an impossible head or cur. */
function reinit(r: usize, k: KRing, which: i32): i32 {
  bump(k, which);
  atomic.store<u32>(r + NMR_OFF_HEAD, k.rhead);
  atomic.store<u32>(r + NMR_OFF_CUR, k.rcur);
  atomic.store<u32>(r + NMR_OFF_TAIL, k.rtail);
  return -Status.ERR_CORRUPT;
}

/** Read and validate head and cur (netmap's sync prologue). Returns head, or -ERR_CORRUPT after a reset. */
function prologue(r: usize, k: KRing): i32 {
  bump(k, NmrCounter.SYNCS);
  repairTail(r, k);
  const head = atomic.load<u32>(r + NMR_OFF_HEAD); // read once
  const cur = atomic.load<u32>(r + NMR_OFF_CUR);   // read once
  if (!within(k, head, k.rhead, k.rtail)) return reinit(r, k, NmrCounter.BAD_HEAD);
  if (!within(k, cur, head, k.rtail)) return reinit(r, k, NmrCounter.BAD_CUR);
  k.rhead = head; k.rcur = cur;
  return <i32>head;
}

/**
 * Slot `i` is coming back from the backend: accept a buffer swap if it is one
 * the backend may make. Returns the buffer the slot holds afterwards, or -1
 * if the slot is unusable this round (counted; the slot keeps its buffer).
 */
function slotReturn(r: usize, k: KRing, i: u32): i32 {
  const s = slot(r, i);
  const ks = kslot(k, i);
  const mine = load<u32>(ks);
  const b = load<u32>(s + NMR_SLOT_BUF);    // read once
  const flags = <u32>load<u16>(s + NMR_SLOT_FLAGS);
  if (load<u32>(ks, 4) != NMR_SLOT_RING) return -1;
  if ((flags & NS_BUF_CHANGED) != 0) {
    store<u16>(s + NMR_SLOT_FLAGS, <u16>(flags & ~NS_BUF_CHANGED));
    if (b == mine) return <i32>mine;
    if (b >= poolBufs(k.pool)) { bump(k, NmrCounter.BAD_BUF_INDEX); store<u32>(s + NMR_SLOT_BUF, mine); return -1; }
    if (!poolMove(k.pool, b, RP_USER, RP_RING)) { bump(k, NmrCounter.BAD_SWAP); store<u32>(s + NMR_SLOT_BUF, mine); return -1; }
    // The backend gave b and takes the slot's old buffer.
    poolMove(k.pool, mine, RP_RING, RP_USER);
    store<u32>(ks, b);
    bump(k, NmrCounter.SWAPS);
    return <i32>b;
  }
  if (b != mine) {
    bump(k, b >= poolBufs(k.pool) ? NmrCounter.BAD_BUF_INDEX : NmrCounter.SLOT_MISMATCH);
    store<u32>(s + NMR_SLOT_BUF, mine);
    return -1;
  }
  return <i32>mine;
}

function publishTail(r: usize, k: KRing): void {
  atomic.store<u32>(r + NMR_OFF_TAIL, k.rtail);
  if (atomic.load<u32>(r + NMR_OFF_USER_WAIT) != 0) atomic.notify(r + NMR_OFF_TAIL, 1);
}

// ---- TX ring, device side: take the frames the backend sent --------------------------------

/** What a consumer does with one frame; false: it cannot take it now (the frame stays in the ring). */
export type FrameSink = (ctx: usize, frame: usize, len: u32) => bool;

/**
 * txsync: validate the backend's head, hand the frames in [hwcur, head) to
 * `sink` in order (at most `max`), give their slots back (tail = hwcur - 1).
 * Returns frames consumed (slots skipped for a bad index, swap or length
 * count as consumed, not delivered) or -Status.
 */
export function nmTxsync(r: usize, sink: FrameSink, ctx: usize, max: u32): i32 {
  const k = kr(r);
  const h = prologue(r, k);
  if (h < 0) return h;
  const head = <u32>h;
  let i = k.hwcur;
  let done: u32 = 0;
  // Bounded: at most n - 1 slots lie in [hwcur, head).
  while (i != head && done < max) {
    const b = slotReturn(r, k, i);
    if (b >= 0) {
      const len = <u32>load<u16>(slot(r, i) + NMR_SLOT_LEN); // read once
      if (len == 0) bump(k, NmrCounter.EMPTY_SLOTS);
      else if (len > k.bufSize) bump(k, NmrCounter.BAD_LEN);
      else {
        // In range: b < pool buffers (slotReturn), len <= buffer size.
        if (!sink(ctx, poolBase(k.pool) + <usize>b * k.bufSize, len)) break;
        bump(k, NmrCounter.FRAMES);
        bump(k, NmrCounter.BYTES, len);
      }
    }
    i = nxt(k, i);
    done++;
  }
  k.hwcur = i;
  if (k.frozen == 0) {
    k.hwtail = i == 0 ? k.n - 1 : i - 1;
    k.rtail = k.hwtail;
  }
  publishTail(r, k);
  return <i32>done;
}

// ---- RX ring, device side: deliver frames to the backend -------------------------------------

/**
 * rxsync, first half: validate head and take back the slots the backend
 * released ([hwcur, head): swaps checked). Returns the free slots the device
 * may fill now, or -Status.
 */
export function nmRxBegin(r: usize): i32 {
  const k = kr(r);
  const h = prologue(r, k);
  if (h < 0) return h;
  const head = <u32>h;
  // Bounded: at most n - 1 slots lie in [hwcur, head).
  for (let i = k.hwcur; i != head; i = nxt(k, i)) slotReturn(r, k, i);
  k.hwcur = head;
  return k.frozen != 0 ? 0 : <i32>nmRxSpace(r);
}

/** Slots the device may fill before it must wait for the backend (one stays empty). */
export function nmRxSpace(r: usize): u32 {
  const k = kr(r);
  return dist(k, k.hwcur == 0 ? k.n - 1 : k.hwcur - 1, k.hwtail);
}

/**
 * Copy one frame into the next free slot (the caller checked nmRxSpace > 0).
 * Returns false, counted, for a frame larger than a buffer and when that slot
 * is in copy mode (NMR_SLOT_NORMAL: it has no buffer; the one it had went
 * back to the pool): the frame is dropped and the slot stays the device's.
 */
export function nmRxPut(r: usize, frame: usize, len: u32): bool {
  const k = kr(r);
  if (len > k.bufSize || len > 0xffff) { bump(k, NmrCounter.DROPPED); return false; }
  const i = k.hwtail;
  if (load<u32>(kslot(k, i), 4) != NMR_SLOT_RING) { bump(k, NmrCounter.DROPPED); return false; }
  const b = load<u32>(kslot(k, i));
  // In range: kslot records only hold indices checked against the pool.
  memory.copy(poolBase(k.pool) + <usize>b * k.bufSize, frame, len);
  const s = slot(r, i);
  store<u32>(s + NMR_SLOT_BUF, b);
  store<u16>(s + NMR_SLOT_LEN, <u16>len);
  store<u16>(s + NMR_SLOT_FLAGS, 0);
  k.hwtail = nxt(k, i);
  bump(k, NmrCounter.FRAMES);
  bump(k, NmrCounter.BYTES, len);
  return true;
}

/** rxsync, second half: give the filled slots to the backend (tail = hwtail). */
export function nmRxEnd(r: usize): void {
  const k = kr(r);
  k.rtail = k.hwtail;
  publishTail(r, k);
}

// ---- Mode-switch support -------------------------------------------------------------------------

/** Freeze (1) or thaw (0): while frozen the device hands the backend no new slots. */
export function nmFreeze(r: usize, on: bool): void {
  const k = kr(r);
  k.frozen = on ? 1 : 0;
  const f = load<u32>(r + NMR_OFF_FLAGS);
  atomic.store<u32>(r + NMR_OFF_FLAGS, on ? f | NMR_F_FROZEN : f & ~NMR_F_FROZEN);
  if (!on && k.dir == NMR_TX) {
    // Slots consumed while frozen go back now.
    k.hwtail = k.hwcur == 0 ? k.n - 1 : k.hwcur - 1;
    k.rtail = k.hwtail;
    publishTail(r, k);
  }
}

/** Slots the backend holds by the device's last validated view: [rhead, rtail). */
export function nmUserHeld(r: usize): u32 {
  const k = kr(r);
  return dist(k, k.rtail, k.rhead);
}

/** Mode of slot i (NMR_SLOT_RING / NMR_SLOT_NORMAL), 0xffffffff out of range. */
export function nmSlotMode(r: usize, i: u32): u32 {
  const k = kr(r);
  return i < k.n ? load<u32>(kslot(k, i), 4) : 0xffffffff;
}

/**
 * Switch device-owned slot i to NORMAL (its pool buffer goes back to the
 * pool) or to RING (it takes a buffer from the pool). Refuses slots the
 * backend owns. Returns a Status.
 */
export function nmSlotSetMode(r: usize, i: u32, mode: u32): i32 {
  const k = kr(r);
  if (i >= k.n || (mode != NMR_SLOT_RING && mode != NMR_SLOT_NORMAL)) return Status.ERR_INVALID_ARG;
  if (dist(k, i, k.rhead) < dist(k, k.rtail, k.rhead)) return Status.ERR_BAD_STATE;
  const ks = kslot(k, i);
  if (load<u32>(ks, 4) == mode) return Status.OK;
  if (mode == NMR_SLOT_NORMAL) {
    poolGive(k.pool, load<u32>(ks), RP_RING);
  } else {
    const b = poolTake(k.pool, RP_RING);
    if (b < 0) return Status.ERR_NO_MEMORY;
    store<u32>(ks, <u32>b);
    store<u32>(slot(r, i) + NMR_SLOT_BUF, <u32>b);
  }
  store<u32>(ks, mode, 4);
  return Status.OK;
}

/** The device's private indices, for tests and diagnostics: 0 hwcur, 1 hwtail, 2 rhead, 3 rcur, 4 rtail. */
export function nmKField(r: usize, f: u32): u32 {
  const k = kr(r);
  if (f == 0) return k.hwcur;
  if (f == 1) return k.hwtail;
  if (f == 2) return k.rhead;
  if (f == 3) return k.rcur;
  if (f == 4) return k.rtail;
  return 0xffffffff;
}
