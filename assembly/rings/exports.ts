// Exports of the packet-ring library: numbers in, numbers out. Objects are
// named by handles (1..RING_MAX_OBJECTS) valid in every instance attached to
// the memory; bytes cross by offsets into the calling instance's I/O buffer.
// Layouts for code that reads the rings directly (a backend in a worker,
// another wasm module): assembly/rings/defs.ts. Typed API: src/rings/.

import { Status } from "../core/status";
import { gmReady } from "../core/guestmem";
import { ioPtr, ioRangeOk } from "../core/vm";
import {
  RING_KIND_POOL, RING_KIND_NETMAP, RING_KIND_QUEUE, RING_KIND_TXQ, NMR_TX, NMR_RX, NMR_MIN_SLOTS, NMR_MAX_SLOTS,
  RQ_MIN_SIZE, RQ_MAX_SIZE, RQ_BULK, RQ_BURST, RP_USER, RP_FREE, RP_RING, TXQ_MP_RING, TXQ_LOCK, TXQ_LOCK_RING,
  TXQ_MIN_SLOTS, TXQ_MAX_SLOTS, TXQ_MAY_WAIT, TXQ_ABDICATE, TXQ_DEFAULT, NMR_COUNTERS, RQ_COUNTERS, TXQ_COUNTERS,
  NMR_OFF_POOL, NMR_OFF_DIR, RING_KIND_PORT, PORT_COUNTERS,
} from "./defs";
import { rtInsert, rtGet, rtKind, rtRef, rtRefs, rtTake, rtRelease } from "./table";
import { poolCreate, poolDestroy, poolSizeOk, poolCost, poolBytes, poolTake, poolGive, poolBufs, poolBuf, poolCount, poolHolder } from "./pool";
import {
  nmCreate, nmDestroy, nmBytes, nmCost, nmCounters, nmTxsync, nmRxBegin, nmRxPut, nmRxEnd, nmFreeze, nmUserHeld, nmSlotMode,
  nmSlotSetMode, nmKField,
} from "./netmap";
import { rqCreate, rqDestroy, rqBytes, rqCost, rqEnqueue, rqDequeue, rqCount, rqCounters } from "./queue";
import {
  txqCreate, txqDestroy, txqBytes, txqCost, txqSubmit, txqDrain, txqCounters, txqState, txqLog, txqLogCount, txqLogReset,
  txqPending, txqVariant, logSink,
} from "./txq";
import { faCount, faEach, faWriterOpen, faWriterSink, faWriterCount } from "./batch";
import { nmuSend, nmuRecv } from "./user";
import { portCreate, portDestroy, portCounters, portMode, portPhase, portDev, portEgressHandle, portIngressHandle, PORT_BYTES } from "./port";

// @ts-ignore: decorator
@inline function pow2(n: u32): bool { return n != 0 && (n & (n - 1)) == 0; }

// ---- Any object -----------------------------------------------------------------------------------

/** Kind of object `h` (RING_KIND_*), 0 if there is none. */
export function ring_kind(h: i32): u32 { return rtKind(h); }
/** Address of object `h` in linear memory (for code that reads its shared fields directly), 0 if none. */
export function ring_ptr(h: i32): usize { return rtGet(h, 0); }

/** Address of object `h`'s u64 counters (names in defs.ts: NmrCounter, RqCounter, TxqCounter), 0 if it has none. */
export function ring_counters_ptr(h: i32): usize {
  const k = rtKind(h);
  const p = rtGet(h, 0);
  if (p == 0) return 0;
  if (k == RING_KIND_NETMAP) return nmCounters(p);
  if (k == RING_KIND_QUEUE) return rqCounters(p);
  if (k == RING_KIND_TXQ) return txqCounters(p);
  if (k == RING_KIND_PORT) return portCounters(p);
  return 0;
}
/** Number of counters for objects of `kind`. */
export function ring_counter_count(kind: u32): u32 {
  return kind == RING_KIND_NETMAP ? NMR_COUNTERS : kind == RING_KIND_QUEUE ? RQ_COUNTERS : kind == RING_KIND_TXQ ? TXQ_COUNTERS
    : kind == RING_KIND_PORT ? PORT_COUNTERS : 0;
}

/**
 * Destroy object `h`; its handle and memory are free afterwards. No thread may
 * use it meanwhile. A pool that rings still use is refused (ERR_BAD_STATE).
 */
export function ring_destroy(h: i32): i32 {
  const k = rtKind(h);
  if (k == 0) { rtGet(h, 0); return Status.ERR_BAD_HANDLE; }
  // A pool rings use, a ring a port uses, a port a device is bound to: refused.
  if ((k == RING_KIND_POOL || k == RING_KIND_NETMAP) && rtRefs(h) != 0) return Status.ERR_BAD_STATE;
  if (k == RING_KIND_PORT) { const pp = rtGet(h, RING_KIND_PORT); if (pp != 0 && portDev(pp) != 0) return Status.ERR_BAD_STATE; }
  const p = rtTake(h, k);
  if (p == 0) return Status.ERR_BAD_HANDLE;
  if (k == RING_KIND_POOL) poolDestroy(p);
  else if (k == RING_KIND_NETMAP) {
    const pool = <i32>load<u32>(p + NMR_OFF_POOL);
    nmDestroy(p);
    rtRef(pool, -1);
  } else if (k == RING_KIND_QUEUE) rqDestroy(p);
  else if (k == RING_KIND_TXQ) txqDestroy(p);
  else if (k == RING_KIND_PORT) {
    rtRef(<i32>portEgressHandle(p), -1);
    rtRef(<i32>portIngressHandle(p), -1);
    portDestroy(p);
  }
  rtRelease(h);
  return Status.OK;
}

// ---- Buffer pools -------------------------------------------------------------------------------

/** A pool of `bufs` buffers of `bufSize` bytes (a multiple of 64, 64..65472). Returns a handle or -Status. */
export function ring_pool_create(bufs: u32, bufSize: u32): i32 {
  if (!gmReady()) return -Status.ERR_NOT_READY;
  if (!poolSizeOk(bufs, bufSize)) return -Status.ERR_INVALID_ARG;
  const p = poolCreate(bufs, bufSize);
  if (p == 0) return -Status.ERR_NO_MEMORY;
  const h = rtInsert(RING_KIND_POOL, p, <u32>poolBytes(bufs, bufSize));
  if (h == 0) { poolDestroy(p); return -Status.ERR_FULL; }
  return h;
}
/** Linear memory ring_pool_create(bufs, bufSize) can take, or -Status for sizes it refuses. */
export function ring_pool_memory_bytes(bufs: u32, bufSize: u32): i64 {
  return poolSizeOk(bufs, bufSize) ? <i64>poolCost(bufs, bufSize) : -<i64>Status.ERR_INVALID_ARG;
}
/** Address of buffer `i` of pool `h`, 0 if out of range. */
export function ring_pool_buf_ptr(h: i32, i: u32): usize {
  const p = rtGet(h, RING_KIND_POOL);
  return p == 0 || i >= poolBufs(p) ? 0 : poolBuf(p, i);
}
/** Take a free buffer for a backend (it then holds it: RP_USER, what NS_BUF_CHANGED may put in a slot). Returns its index or -Status. */
export function ring_pool_alloc(h: i32): i32 {
  const p = rtGet(h, RING_KIND_POOL);
  if (p == 0) return -Status.ERR_BAD_HANDLE;
  const i = poolTake(p, RP_USER);
  return i < 0 ? -Status.ERR_EMPTY : i;
}
/** A backend gives back buffer `i` it holds. ERR_INVALID_ARG if it does not hold it (nothing changes). */
export function ring_pool_free(h: i32, i: u32): i32 {
  const p = rtGet(h, RING_KIND_POOL);
  if (p == 0) return Status.ERR_BAD_HANDLE;
  return poolGive(p, i, RP_USER) ? Status.OK : Status.ERR_INVALID_ARG;
}
/** Buffers of pool `h` held as `holder` (RP_FREE, RP_RING, RP_USER), or -Status. */
export function ring_pool_count(h: i32, holder: u32): i32 {
  const p = rtGet(h, RING_KIND_POOL);
  if (p == 0) return -Status.ERR_BAD_HANDLE;
  if (holder != RP_FREE && holder != RP_RING && holder != RP_USER) return -Status.ERR_INVALID_ARG;
  return <i32>poolCount(p, holder);
}
/** Holder of buffer `i` (RP_*), or -Status. */
export function ring_pool_holder(h: i32, i: u32): i32 {
  const p = rtGet(h, RING_KIND_POOL);
  if (p == 0) return -Status.ERR_BAD_HANDLE;
  return i < poolBufs(p) ? <i32>poolHolder(p, i) : -Status.ERR_INVALID_ARG;
}

// ---- Netmap-style rings ---------------------------------------------------------------------------

/** A ring of `slots` slots (2..32768) over pool `pool`, direction NMR_TX or NMR_RX. Returns a handle or -Status. */
export function nmr_create(pool: i32, slots: u32, dir: u32): i32 {
  if (!gmReady()) return -Status.ERR_NOT_READY;
  const p = rtGet(pool, RING_KIND_POOL);
  if (p == 0) return -Status.ERR_BAD_HANDLE;
  if (slots < NMR_MIN_SLOTS || slots > NMR_MAX_SLOTS || (dir != NMR_TX && dir != NMR_RX)) return -Status.ERR_INVALID_ARG;
  const r = nmCreate(p, pool, slots, dir);
  if (r == 0) return -Status.ERR_NO_MEMORY;
  const h = rtInsert(RING_KIND_NETMAP, r, <u32>nmBytes(slots));
  if (h == 0) { nmDestroy(r); return -Status.ERR_FULL; }
  rtRef(pool, 1);
  return h;
}
/** Linear memory nmr_create(…, slots, …) can take (the ring; its buffers come from the pool). */
export function nmr_memory_bytes(slots: u32): i64 {
  return slots < NMR_MIN_SLOTS || slots > NMR_MAX_SLOTS ? -<i64>Status.ERR_INVALID_ARG : <i64>nmCost(slots);
}

/**
 * Device side of a TX ring: take the frames the backend sent (at most what
 * fits in `cap` bytes of the I/O buffer at `ioOff`, as a frame array).
 * Returns frames written, or -Status (-ERR_CORRUPT: the backend's head or cur
 * was impossible; the ring was reset to the device's view and counted).
 */
export function nmr_txsync(h: i32, ioOff: u32, cap: u32): i32 {
  const r = rtGet(h, RING_KIND_NETMAP);
  if (r == 0) return -Status.ERR_BAD_HANDLE;
  if (rtRefs(h) != 0) return -Status.ERR_BAD_STATE; // its device side belongs to a port
  if (load<u32>(r + NMR_OFF_DIR) != NMR_TX) return -Status.ERR_BAD_STATE;
  if (!ioRangeOk(ioOff, cap)) return -Status.ERR_INVALID_ARG;
  faWriterOpen(ioPtr() + ioOff, cap);
  const n = nmTxsync(r, faWriterSink, 0, 0xffffffff);
  return n < 0 ? n : <i32>faWriterCount();
}

/**
 * Device side of an RX ring: take back what the backend released, then
 * deliver frames from the frame array of `len` bytes at `ioOff` into free
 * slots. Returns frames delivered (the rest did not fit; frames larger than a
 * buffer are dropped and counted), or -Status.
 */
export function nmr_rxsync(h: i32, ioOff: u32, len: u32): i32 {
  const r = rtGet(h, RING_KIND_NETMAP);
  if (r == 0) return -Status.ERR_BAD_HANDLE;
  if (rtRefs(h) != 0) return -Status.ERR_BAD_STATE; // its device side belongs to a port
  if (load<u32>(r + NMR_OFF_DIR) != NMR_RX) return -Status.ERR_BAD_STATE;
  if (!ioRangeOk(ioOff, len)) return -Status.ERR_INVALID_ARG;
  const p = ioPtr() + ioOff;
  const frames = faCount(p, len, 0xffff);
  if (frames < 0) return -Status.ERR_INVALID_ARG;
  const space = nmRxBegin(r);
  if (space < 0) return space;
  rxRing = r;
  const n = faEach(p, min<u32>(<u32>frames, <u32>space), rxPutSink, 0);
  nmRxEnd(r);
  return <i32>n;
}
let rxRing: usize = 0;
function rxPutSink(ctx: usize, frame: usize, len: u32): bool { nmRxPut(rxRing, frame, len); return true; }

/** Freeze (on = 1) or thaw (0) ring `h`: while frozen the device hands the backend no new slots. */
export function nmr_freeze(h: i32, on: u32): i32 {
  const r = rtGet(h, RING_KIND_NETMAP);
  if (r == 0) return Status.ERR_BAD_HANDLE;
  if (rtRefs(h) != 0) return Status.ERR_BAD_STATE; // its device side belongs to a port
  if (on > 1) return Status.ERR_INVALID_ARG;
  nmFreeze(r, on == 1);
  return Status.OK;
}
/** Slots the backend holds by the device's last sync (0: drained), or -Status. */
export function nmr_user_held(h: i32): i32 {
  const r = rtGet(h, RING_KIND_NETMAP);
  return r == 0 ? -Status.ERR_BAD_HANDLE : <i32>nmUserHeld(r);
}
/** Mode of slot `i` (NMR_SLOT_RING, NMR_SLOT_NORMAL), or -Status. */
export function nmr_slot_mode(h: i32, i: u32): i32 {
  const r = rtGet(h, RING_KIND_NETMAP);
  if (r == 0) return -Status.ERR_BAD_HANDLE;
  const m = nmSlotMode(r, i);
  return m == 0xffffffff ? -Status.ERR_INVALID_ARG : <i32>m;
}
/** Set the mode of device-owned slot `i`; ERR_BAD_STATE for a slot the backend holds. */
export function nmr_slot_set_mode(h: i32, i: u32, mode: u32): i32 {
  const r = rtGet(h, RING_KIND_NETMAP);
  if (r != 0 && rtRefs(h) != 0) return Status.ERR_BAD_STATE; // its device side belongs to a port
  return r == 0 ? Status.ERR_BAD_HANDLE : nmSlotSetMode(r, i, mode);
}
/** The device's private index `f` (0 hwcur, 1 hwtail, 2 head it last accepted, 3 cur, 4 tail it published), or -Status. */
export function nmr_kfield(h: i32, f: u32): i32 {
  const r = rtGet(h, RING_KIND_NETMAP);
  if (r == 0) return -Status.ERR_BAD_HANDLE;
  const v = nmKField(r, f);
  return v == 0xffffffff ? -Status.ERR_INVALID_ARG : <i32>v;
}

// ---- Backend side of a netmap ring (for a backend in an attached instance) ---------------------------

/** Backend side of a TX ring: put frames from the frame array at `ioOff` (`len` bytes) into slots and pass them to the device. Returns frames sent or -Status. */
export function nmr_user_send(h: i32, ioOff: u32, len: u32): i32 {
  const r = rtGet(h, RING_KIND_NETMAP);
  if (r == 0) return -Status.ERR_BAD_HANDLE;
  if (!ioRangeOk(ioOff, len)) return -Status.ERR_INVALID_ARG;
  const p = ioPtr() + ioOff;
  const frames = faCount(p, len, 0xffff);
  if (frames < 0) return -Status.ERR_INVALID_ARG;
  return nmuSend(r, p, <u32>frames);
}
/** Backend side of an RX ring: take received frames into a frame array at `ioOff` (up to `cap` bytes) and release their slots. Returns frames taken or -Status. */
export function nmr_user_recv(h: i32, ioOff: u32, cap: u32): i32 {
  const r = rtGet(h, RING_KIND_NETMAP);
  if (r == 0) return -Status.ERR_BAD_HANDLE;
  if (!ioRangeOk(ioOff, cap)) return -Status.ERR_INVALID_ARG;
  return nmuRecv(r, ioPtr() + ioOff, cap);
}

// ---- Element queues ---------------------------------------------------------------------------------

/** A queue of `size` u32 cells (a power of two, 2..1048576); mp = 1 for multiple producers. Returns a handle or -Status. */
export function rq_create(size: u32, mp: u32): i32 {
  if (!gmReady()) return -Status.ERR_NOT_READY;
  if (!pow2(size) || size < RQ_MIN_SIZE || size > RQ_MAX_SIZE || mp > 1) return -Status.ERR_INVALID_ARG;
  const q = rqCreate(size, mp == 1);
  if (q == 0) return -Status.ERR_NO_MEMORY;
  const h = rtInsert(RING_KIND_QUEUE, q, <u32>rqBytes(size, mp == 1));
  if (h == 0) { rqDestroy(q); return -Status.ERR_FULL; }
  return h;
}
/** Linear memory an rq_create(size, mp) takes, or -status for arguments it would refuse. */
export function rq_memory_bytes(size: u32, mp: u32): i64 {
  return !pow2(size) || size < RQ_MIN_SIZE || size > RQ_MAX_SIZE || mp > 1 ? -<i64>Status.ERR_INVALID_ARG : <i64>rqCost(size, mp == 1);
}
/** Enqueue `n` u32s from the I/O buffer at `ioOff` (mode RQ_BULK or RQ_BURST). Returns the number enqueued or -Status (-ERR_CORRUPT: the consumer's index is impossible). */
export function rq_enqueue(h: i32, ioOff: u32, n: u32, mode: u32): i32 {
  const q = rtGet(h, RING_KIND_QUEUE);
  if (q == 0) return -Status.ERR_BAD_HANDLE;
  if (mode != RQ_BULK && mode != RQ_BURST || !ioRangeOk(ioOff, <u64>n << 2)) return -Status.ERR_INVALID_ARG;
  const k = rqEnqueue(q, ioPtr() + ioOff, n, mode);
  return k < 0 ? -Status.ERR_CORRUPT : k;
}
/** Dequeue up to `n` u32s into the I/O buffer at `ioOff`. Returns the number taken or -Status. */
export function rq_dequeue(h: i32, ioOff: u32, n: u32, mode: u32): i32 {
  const q = rtGet(h, RING_KIND_QUEUE);
  if (q == 0) return -Status.ERR_BAD_HANDLE;
  if (mode != RQ_BULK && mode != RQ_BURST || !ioRangeOk(ioOff, <u64>n << 2)) return -Status.ERR_INVALID_ARG;
  const k = rqDequeue(q, ioPtr() + ioOff, n, mode);
  return k < 0 ? -Status.ERR_CORRUPT : k;
}
/** Values waiting (consumer's view), or -Status. */
export function rq_count(h: i32): i32 {
  const q = rtGet(h, RING_KIND_QUEUE);
  return q == 0 ? -Status.ERR_BAD_HANDLE : <i32>rqCount(q);
}

// ---- TX queues ---------------------------------------------------------------------------------------

/**
 * A TX queue of `variant` (TXQ_MP_RING, TXQ_LOCK, TXQ_LOCK_RING; 0 = the
 * default) holding frames up to `maxFrame` bytes: `slots` cells for mp_ring,
 * `ringSlots` for the lock's bounded ring (powers of two, 2..32768; the other
 * is ignored). Its sink is the built-in log of `logCap` records. Returns a
 * handle or -Status.
 */
export function txq_create(variant: u32, slots: u32, ringSlots: u32, maxFrame: u32, logCap: u32): i32 {
  if (!gmReady()) return -Status.ERR_NOT_READY;
  const v = variant == 0 ? TXQ_DEFAULT : variant;
  if (!txqArgsOk(v, slots, ringSlots, maxFrame, logCap)) return -Status.ERR_INVALID_ARG;
  const q = txqCreate(v, slots, ringSlots, maxFrame, logCap);
  if (q == 0) return -Status.ERR_NO_MEMORY;
  const h = rtInsert(RING_KIND_TXQ, q, <u32>txqBytes(v, slots, ringSlots, maxFrame, logCap));
  if (h == 0) { txqDestroy(q); return -Status.ERR_FULL; }
  return h;
}
function txqArgsOk(v: u32, slots: u32, ringSlots: u32, maxFrame: u32, logCap: u32): bool {
  if (v != TXQ_MP_RING && v != TXQ_LOCK && v != TXQ_LOCK_RING) return false;
  if (v == TXQ_MP_RING && (!pow2(slots) || slots < TXQ_MIN_SLOTS || slots > TXQ_MAX_SLOTS)) return false;
  if (v == TXQ_LOCK_RING && (!pow2(ringSlots) || ringSlots < TXQ_MIN_SLOTS || ringSlots > TXQ_MAX_SLOTS)) return false;
  return maxFrame >= 1 && maxFrame <= 65535 && logCap <= 1 << 24;
}
/** Linear memory a txq_create with these arguments takes, or -status for arguments it would refuse. */
export function txq_memory_bytes(variant: u32, slots: u32, ringSlots: u32, maxFrame: u32, logCap: u32): i64 {
  const v = variant == 0 ? TXQ_DEFAULT : variant;
  return txqArgsOk(v, slots, ringSlots, maxFrame, logCap) ? <i64>txqCost(v, slots, ringSlots, maxFrame, logCap) : -<i64>Status.ERR_INVALID_ARG;
}
/** The variant TXQ_DEFAULT names. */
export function txq_default_variant(): u32 { return TXQ_DEFAULT; }
/** Variant of queue `h`, or -Status. */
export function txq_variant(h: i32): i32 {
  const q = rtGet(h, RING_KIND_TXQ);
  return q == 0 ? -Status.ERR_BAD_HANDLE : <i32>txqVariant(q);
}

/**
 * Submit the frame of `len` bytes at `ioOff` in the I/O buffer. flags:
 * TXQ_MAY_WAIT (the caller may sleep: a worker), TXQ_ABDICATE (mp_ring: do
 * not drain). `budget`: frames an mp_ring consumer forwards before it may
 * hand over. Returns OK, ERR_FULL (not taken: retry), ERR_INVALID_ARG,
 * ERR_BAD_STATE (the queue is broken).
 */
export function txq_submit(h: i32, ioOff: u32, len: u32, flags: u32, budget: u32): i32 {
  const q = rtGet(h, RING_KIND_TXQ);
  if (q == 0) return Status.ERR_BAD_HANDLE;
  if ((flags & ~(TXQ_MAY_WAIT | TXQ_ABDICATE)) != 0 || !ioRangeOk(ioOff, len)) return Status.ERR_INVALID_ARG;
  return txqSubmit(q, ioPtr() + ioOff, len, flags, budget, logSink, q);
}
/** Forward what waits in queue `h` (a STALLED or ABDICATED mp_ring; the lock's ring). Returns frames forwarded or -Status. */
export function txq_drain(h: i32, budget: u32, flags: u32): i32 {
  const q = rtGet(h, RING_KIND_TXQ);
  if (q == 0) return -Status.ERR_BAD_HANDLE;
  return txqDrain(q, budget, (flags & TXQ_MAY_WAIT) != 0, logSink, q);
}
/** mp_ring state word (producer head | tail << 16 | consumer index << 32 | state << 48); 0 for other variants. */
export function txq_state(h: i32): u64 {
  const q = rtGet(h, RING_KIND_TXQ);
  return q == 0 ? 0 : txqState(q);
}
/** Frames waiting in queue `h`, or -Status. */
export function txq_pending(h: i32): i32 {
  const q = rtGet(h, RING_KIND_TXQ);
  return q == 0 ? -Status.ERR_BAD_HANDLE : <i32>txqPending(q);
}
/** Address of the log's records (TXQ_LOG_RECORD bytes each), 0 if none. */
export function txq_log_ptr(h: i32): usize {
  const q = rtGet(h, RING_KIND_TXQ);
  return q == 0 ? 0 : txqLog(q);
}
/** Records in the TX queue's log sink, or -status. */
export function txq_log_count(h: i32): i32 {
  const q = rtGet(h, RING_KIND_TXQ);
  return q == 0 ? -Status.ERR_BAD_HANDLE : <i32>txqLogCount(q);
}
/** Empty the TX queue's log sink; status. */
export function txq_log_reset(h: i32): i32 {
  const q = rtGet(h, RING_KIND_TXQ);
  if (q == 0) return Status.ERR_BAD_HANDLE;
  txqLogReset(q);
  return Status.OK;
}

// ---- Backend ports ---------------------------------------------------------------------------------

/**
 * A NIC backend port (port.ts) over `egress` (an RX ring: device → backend)
 * and `ingress` (a TX ring: backend → device), in copy mode, both rings
 * frozen. The rings' device side belongs to the port from now on (their
 * nmr_txsync / nmr_rxsync / nmr_freeze / nmr_slot_set_mode refuse) and
 * neither can be destroyed before the port. Returns a handle or -Status.
 */
export function port_create(egress: i32, ingress: i32): i32 {
  const e = rtGet(egress, RING_KIND_NETMAP), i = rtGet(ingress, RING_KIND_NETMAP);
  if (e == 0 || i == 0) return -Status.ERR_BAD_HANDLE;
  if (egress == ingress || load<u32>(e + NMR_OFF_DIR) != NMR_RX || load<u32>(i + NMR_OFF_DIR) != NMR_TX) return -Status.ERR_INVALID_ARG;
  if (rtRefs(egress) != 0 || rtRefs(ingress) != 0) return -Status.ERR_BAD_STATE;
  const p = portCreate(e, <u32>egress, i, <u32>ingress);
  if (p == 0) return -Status.ERR_NO_MEMORY;
  const h = rtInsert(RING_KIND_PORT, p, <u32>PORT_BYTES);
  if (h == 0) { portDestroy(p); return -Status.ERR_FULL; }
  rtRef(egress, 1);
  rtRef(ingress, 1);
  return h;
}
/** PORT_COPY or PORT_RING, or -Status. */
export function port_mode(h: i32): i32 { const p = rtGet(h, RING_KIND_PORT); return p == 0 ? -Status.ERR_BAD_HANDLE : <i32>portMode(p); }
/** PORT_RUNNING or PORT_LEAVING, or -Status. */
export function port_phase(h: i32): i32 { const p = rtGet(h, RING_KIND_PORT); return p == 0 ? -Status.ERR_BAD_HANDLE : <i32>portPhase(p); }
/** Handle of the device bound to port `h` (0: none), or -Status. */
export function port_device(h: i32): i32 { const p = rtGet(h, RING_KIND_PORT); return p == 0 ? -Status.ERR_BAD_HANDLE : <i32>portDev(p); }
