// Packet-ring layouts and constants shared by the wasm library, the
// TypeScript API (the build generates RingsDefs in src/generated/constants.ts
// from this file) and any other program given the memory: a backend in a
// worker, another wasm module. Only the shared parts of each object are
// described here; every object also has a private part (the owner's copies
// of its indices, the buffer ownership table, counters) that the other side
// never writes.
//
// All offsets are bytes from the object's address (ring_ptr). Fields written
// by different sides sit on different 64-byte lines. Every index is a u32
// accessed with 32-bit atomics (JS: Atomics on an Int32Array); slot and cell
// contents are plain memory ordered by those atomics.

// ---- Object table ----------------------------------------------------------------

/** Ring objects per VM (pools, netmap rings, element queues, TX queues); handles are 1..RING_MAX_OBJECTS. */
export const RING_MAX_OBJECTS: u32 = 64;
export const RING_KIND_POOL: u32 = 1;
export const RING_KIND_NETMAP: u32 = 2;
export const RING_KIND_QUEUE: u32 = 3;
export const RING_KIND_TXQ: u32 = 4;
export const RING_KIND_PORT: u32 = 5;

// ---- Buffer pool ---------------------------------------------------------------------
// Fixed-size buffers named by index 0..bufs-1; buffer i is at base + i * bufSize.

export const RP_MAGIC: u32 = 0x4c4f5052;          // "RPOL"
export const RP_OFF_MAGIC: u32 = 0;
export const RP_OFF_BUFS: u32 = 4;
export const RP_OFF_BUF_SIZE: u32 = 8;
/** u32: address of buffer 0 in linear memory. */
export const RP_OFF_BASE: u32 = 12;
export const RP_MAX_BUFS: u32 = 1048576;
export const RP_MIN_BUF_SIZE: u32 = 64;
/** Largest buffer: a slot's length is 16 bits. Sizes are multiples of 64. */
export const RP_MAX_BUF_SIZE: u32 = 65472;
/** Who holds a buffer (the pool's private table). */
export const RP_FREE: u32 = 0;
/** In a ring slot: whoever owns the slot owns the buffer. */
export const RP_RING: u32 = 1;
/** Held by a backend outside any slot (allocated to it, or swapped out of a slot). */
export const RP_USER: u32 = 2;

// ---- Netmap-style ring -----------------------------------------------------------------
// netmap(4) semantics with the device in the kernel's place and the backend
// in the application's: the backend owns slots [head, tail), the device owns
// the rest, one slot always stays empty. Directions are named from the
// backend's side as netmap names them from the application's: on a TX ring
// the backend sends frames to the device, on an RX ring the device delivers
// frames to the backend.

export const NMR_MAGIC: u32 = 0x474e524e;         // "NRNG"
export const NMR_TX: u32 = 0;
export const NMR_RX: u32 = 1;
export const NMR_OFF_MAGIC: u32 = 0;
export const NMR_OFF_NUM_SLOTS: u32 = 4;
export const NMR_OFF_BUF_SIZE: u32 = 8;
export const NMR_OFF_DIR: u32 = 12;
/** u32: address of pool buffer 0. */
export const NMR_OFF_BUF_BASE: u32 = 16;
/** u32: buffers in the pool (valid buffer indices are below it). */
export const NMR_OFF_BUF_COUNT: u32 = 20;
/** u32: handle of the pool. */
export const NMR_OFF_POOL: u32 = 24;
/** u32, device-written: NMR_F_* */
export const NMR_OFF_FLAGS: u32 = 28;
/** u32, backend-written: first slot the backend owns. */
export const NMR_OFF_HEAD: u32 = 64;
/** u32, backend-written: wakeup point (head <= cur <= tail). */
export const NMR_OFF_CUR: u32 = 68;
/** u32, backend-written: non-zero while the backend waits on TAIL (the device then notifies it). */
export const NMR_OFF_USER_WAIT: u32 = 72;
/** u32, device-written: first slot the device owns. */
export const NMR_OFF_TAIL: u32 = 128;
/** u32, device-written: non-zero while the device side waits on HEAD (the backend then notifies it). */
export const NMR_OFF_DEV_WAIT: u32 = 132;
export const NMR_OFF_SLOTS: u32 = 192;
/** Slot: u32 buffer index, u16 length, u16 flags. */
export const NMR_SLOT_BYTES: u32 = 8;
export const NMR_SLOT_BUF: u32 = 0;
export const NMR_SLOT_LEN: u32 = 4;
export const NMR_SLOT_FLAGS: u32 = 6;
/** Slot flag: the backend put another buffer in this slot (a buffer it holds: RP_USER). */
export const NS_BUF_CHANGED: u32 = 1;
export const NMR_MIN_SLOTS: u32 = 2;
export const NMR_MAX_SLOTS: u32 = 32768;
/** Ring flag: the device hands out no new slots (a mode switch is draining the ring). */
export const NMR_F_FROZEN: u32 = 1;
/** Per-slot mode (device-private): the slot holds a pool buffer. */
export const NMR_SLOT_RING: u32 = 0;
/** Per-slot mode: the slot holds no pool buffer (the device still copies for it). */
export const NMR_SLOT_NORMAL: u32 = 1;

// ---- Element queue (SPSC / MPSC) -----------------------------------------------------------
// A ring of u32 values with free-running u32 positions (cell = position & (size - 1)).
// Values are at CELLS (size × u32). Single producer: the producer publishes
// PROD_TAIL after writing them. Multiple producers: a producer reserves a run
// of positions by CAS on PROD_HEAD, writes the values and the run's length
// (RUNS + 4 × cell of its first position), then publishes the run by writing
// the first cell's sequence word (SEQS + 4 × cell) = first position + 1. The
// consumer takes runs in order while the sequence matches, and marks each
// run's first cell consumed (sequence = its position). No producer waits for
// another. The consumer publishes CONS_TAIL; producers never pass it by more
// than size.

export const RQ_MAGIC: u32 = 0x51455551;          // "QUEQ"
export const RQ_F_MP: u32 = 1;
export const RQ_OFF_MAGIC: u32 = 0;
export const RQ_OFF_SIZE: u32 = 4;
export const RQ_OFF_FLAGS: u32 = 8;
/** Bytes per cell: 4 (value) single-producer, 12 (value, sequence, run length) multi-producer. */
export const RQ_OFF_CELL_BYTES: u32 = 12;
export const RQ_OFF_PROD_HEAD: u32 = 64;
export const RQ_OFF_PROD_TAIL: u32 = 68;
export const RQ_OFF_CONS_TAIL: u32 = 128;
export const RQ_OFF_CELLS: u32 = 512;
export const RQ_MIN_SIZE: u32 = 2;
export const RQ_MAX_SIZE: u32 = 1048576;
/** Enqueue/dequeue mode: all n or nothing. */
export const RQ_BULK: u32 = 0;
/** Enqueue/dequeue mode: as many as possible, up to n. */
export const RQ_BURST: u32 = 1;

// ---- TX queue ------------------------------------------------------------------------------------
// Several producers (vCPU threads) hand frames to one consumer context (a
// switch port). Three ways, chosen at create.

/** mp_ring: lock-free multi-producer ring, one 64-bit state word; a producer that finds it idle drains it. */
export const TXQ_MP_RING: u32 = 1;
/** A short lock; the producer forwards its frame inline. */
export const TXQ_LOCK: u32 = 2;
/** The lock, plus a small bounded ring where producers leave frames while the lock is held. */
export const TXQ_LOCK_RING: u32 = 3;
/**
 * The variant TxQueue uses unless told otherwise: TXQ_LOCK, the fastest at 2
 * and 4 producers in bench/rings-txq.bench.ts (docs/rings.md has the table).
 */
export const TXQ_DEFAULT: u32 = 2;
/** mp_ring consumer states (the state word's top 16 bits). */
export const TXQ_IDLE: u32 = 0;
export const TXQ_BUSY: u32 = 1;
export const TXQ_STALLED: u32 = 2;
export const TXQ_ABDICATED: u32 = 3;
/** Submit flag: the caller may block in memory.atomic.wait (a worker; never a browser's main thread). */
export const TXQ_MAY_WAIT: u32 = 1;
/** Submit flag (mp_ring): enqueue only; never become the consumer (someone calls txq_drain). */
export const TXQ_ABDICATE: u32 = 2;
export const TXQ_MIN_SLOTS: u32 = 2;
export const TXQ_MAX_SLOTS: u32 = 32768;
/** Frames a consumer forwards before it publishes its index (mp_ring's batched publication). */
export const TXQ_PUBLISH_BATCH: u32 = 64;
/** Built-in sink of the exported queues: one 16-byte record per frame (u32 at frame+14, u32 at frame+18, length, FNV-1a of the frame); refuses frames when full. */
export const TXQ_LOG_RECORD: u32 = 16;

// ---- Frame arrays --------------------------------------------------------------------------------
// Many frames in one window (an I/O buffer range, a NIC's host outbox):
// records of u32 length then the bytes, each record padded to 4 bytes.

export const FA_LEN_BYTES: u32 = 4;
export const FA_ALIGN: u32 = 4;
/**
 * Flag of the *_receive_frames exports: stop after the first frame the NIC
 * did not take with OK (its status is the last one written), so the host can
 * retry it before any later frame goes in.
 */
export const FA_STOP_AT_REFUSAL: u32 = 1;

// ---- Counters ----------------------------------------------------------------------------------------

/** Netmap ring counters (u64 each, ring_counters_ptr). */
export namespace NmrCounter {
  /** The backend's head was outside [last head, tail]: the ring was reset to the device's view. */
  export const BAD_HEAD = 0;
  /** The backend's cur was outside [head, tail]. */
  export const BAD_CUR = 1;
  /** The backend wrote TAIL (a device-owned field): rewritten. */
  export const TAIL_REPAIRED = 2;
  /** A slot named a buffer index outside the pool. */
  export const BAD_BUF_INDEX = 3;
  /** NS_BUF_CHANGED with a buffer the backend does not hold. */
  export const BAD_SWAP = 4;
  /** A slot's buffer index changed without NS_BUF_CHANGED. */
  export const SLOT_MISMATCH = 5;
  /** A TX slot's length was above the buffer size. */
  export const BAD_LEN = 6;
  /** Frames moved through the ring. */
  export const FRAMES = 7;
  export const BYTES = 8;
  /** Buffer swaps accepted. */
  export const SWAPS = 9;
  /** Sync calls (either side). */
  export const SYNCS = 10;
  /** Frames the device could not deliver into the ring (larger than a buffer). */
  export const DROPPED = 11;
  /** TX slots passed with length 0 (returned without a frame). */
  export const EMPTY_SLOTS = 12;
}
export const NMR_COUNTERS: u32 = 13;

/** Element queue counters. */
export namespace RqCounter {
  /** An index the other side published was out of range (more than size apart): refused. */
  export const PEER_BAD = 0;
  /** Enqueues refused or cut short for lack of room. */
  export const FULL = 1;
  /** CAS retries on the producer head (multi-producer contention). */
  export const CAS_RETRIES = 2;
}
export const RQ_COUNTERS: u32 = 3;

/** TX queue counters. */
export namespace TxqCounter {
  /** Frames the sink took. */
  export const FORWARDED = 0;
  /** Submits refused because the ring was full (the caller keeps the frame). */
  export const FULL = 1;
  /** mp_ring: a producer became the consumer from IDLE. */
  export const STARTS = 2;
  /** mp_ring: the consumer stopped because the sink took nothing. */
  export const STALLS = 3;
  export const RESTARTS = 4;
  /** mp_ring: the consumer handed over with work left (budget spent, a producer still enqueuing). */
  export const ABDICATIONS = 5;
  /** Lock paths: frames forwarded by their own producer under the lock. */
  export const INLINE = 6;
  /** Lock + ring: frames left in the bounded ring for the lock holder. */
  export const QUEUED = 7;
  /** Waits on the lock or on an earlier producer that went past spinning. */
  export const WAITS = 8;
  /** A wait that never ended (a producer or lock holder that died): the queue is broken. */
  export const STUCK = 9;
  /** Frames the log sink refused because the log was full. */
  export const LOG_FULL = 10;
  /** Frames longer than the queue's frame size. */
  export const TOO_LONG = 11;
}
export const TXQ_COUNTERS: u32 = 12;

// ---- Backend port ---------------------------------------------------------------------------------
// A NIC's backend port over a netmap ring pair: egress (an NMR_RX ring: the
// device delivers what the guest sent) and ingress (an NMR_TX ring: the
// backend sends frames for the guest). In copy mode the NIC's frames go
// to and from the host's callbacks as without a port; in ring mode through
// the rings.

/** Port modes. */
export const PORT_COPY: u32 = 0;
export const PORT_RING: u32 = 1;
/** Port phases: running in its mode, or leaving ring mode (no new egress slots; draining). */
export const PORT_RUNNING: u32 = 0;
export const PORT_LEAVING: u32 = 1;

/** Port counters. */
export namespace PortCounter {
  /** Frames the device put in the egress ring. */
  export const EGRESS_FRAMES = 0;
  /** Times the device found no free egress slot (its TX waits: back-pressure, nothing dropped). */
  export const EGRESS_STALLS = 1;
  /** Frames taken from the ingress ring and handed to the device. */
  export const INGRESS_FRAMES = 2;
  /** Ingress syncs that stopped because the device could not take a frame (it stays in the ring). */
  export const INGRESS_HELD = 3;
  /** Switches completed to ring mode and to copy mode. */
  export const TO_RING = 4;
  export const TO_COPY = 5;
  /** Polls of a switch to copy mode that found the backend still holding egress slots. */
  export const DRAIN_POLLS = 6;
  /** Syncs the backend failed with an impossible head or cur (the ring was reset; see its counters). */
  export const RING_CORRUPT = 7;
}
export const PORT_COUNTERS: u32 = 8;
