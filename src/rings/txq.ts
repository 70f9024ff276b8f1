// TX queues: several producers (vCPU worker threads) hand frames to one
// consumer context (assembly/rings/txq.ts). The exported queues forward into
// a built-in log sink (one record per frame), which is what lets tests check
// that no frame was lost, duplicated, reordered or changed; a NIC's TX path
// calls txqSubmit inside wasm with its own sink.

import type { VmCore } from "../vm-core.js";
import { isSharedVariant } from "../wasm.js";
import { RingsDefs } from "../generated/constants.js";
import { RingObject, handleOf } from "./object.js";

const {
  RING_KIND_TXQ, TXQ_MP_RING, TXQ_LOCK, TXQ_LOCK_RING, TXQ_MAY_WAIT, TXQ_ABDICATE, TXQ_LOG_RECORD,
} = RingsDefs;

export type TxQueueVariant = "mp_ring" | "lock" | "lock_ring";
export const TXQ_VARIANT: Record<TxQueueVariant, number> = { mp_ring: TXQ_MP_RING, lock: TXQ_LOCK, lock_ring: TXQ_LOCK_RING };
const VARIANT_NAME = new Map<number, TxQueueVariant>(Object.entries(TXQ_VARIANT).map(([k, v]) => [v, k as TxQueueVariant]));

export interface TxQueueOptions {
  /** Default: the measured default (txq_default_variant). */
  variant?: TxQueueVariant;
  /** mp_ring cells (a power of two). Default 1024. */
  slots?: number;
  /** The lock's bounded ring (a power of two). Default 64. */
  ringSlots?: number;
  /** Largest frame. Default 1518. */
  maxFrame?: number;
  /** Records the log sink keeps. Default 0. */
  logRecords?: number;
}

export interface SubmitOptions {
  /** mp_ring: only enqueue; someone calls drain(). */
  abdicate?: boolean;
  /** Frames an mp_ring consumer forwards before it may hand over. Default 64. */
  budget?: number;
}

export interface TxLogRecord { w0: number; w1: number; len: number; hash: number }

/** FNV-1a of the bytes, as the log sink computes it. */
export function fnv1a(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193) >>> 0;
  return h >>> 0;
}

/** May this thread sleep in memory.atomic.wait? (Shared memory, and not a browser's main thread.) */
function mayWait(core: VmCore): boolean {
  if (!isSharedVariant(core.variant)) return false;
  const g = globalThis as { window?: unknown; document?: unknown };
  return !(typeof g.window !== "undefined" && typeof g.document !== "undefined");
}

export class TxQueue extends RingObject {
  readonly variant: TxQueueVariant;
  private readonly flags: number;
  private constructor(core: VmCore, handle: number) {
    super(core, handle, RING_KIND_TXQ);
    this.variant = VARIANT_NAME.get(core.exports.txq_variant(handle))!;
    this.flags = mayWait(core) ? TXQ_MAY_WAIT : 0;
  }

  static create(core: VmCore, opts: TxQueueOptions = {}): TxQueue {
    const v = opts.variant ? TXQ_VARIANT[opts.variant] : 0;
    const h = core.exports.txq_create(v, opts.slots ?? 1024, opts.ringSlots ?? 64, opts.maxFrame ?? 1518, opts.logRecords ?? 0);
    return new TxQueue(core, handleOf(h, "txq_create"));
  }

  /** The same queue from another instance attached to the memory (a worker's VmCore). */
  static attach(core: VmCore, handle: number): TxQueue {
    if (core.exports.ring_kind(handle) !== RING_KIND_TXQ) throw new RangeError(`no TX queue ${handle}`);
    return new TxQueue(core, handle);
  }

  /** The variant a queue gets when none is named. */
  static defaultVariant(core: VmCore): TxQueueVariant { return VARIANT_NAME.get(core.exports.txq_default_variant())!; }

  /** Submit one frame. Returns a Status: OK, ERR_FULL (not taken: retry), ERR_INVALID_ARG (too long), ERR_BAD_STATE (broken). */
  submit(frame: Uint8Array, opts: SubmitOptions = {}): number {
    this.core.ensureIo(frame.length);
    return this.core.ioBuffer.use("ring frames", 0, frame.length, (w) => {
      w.bytes().set(frame);
      return this.core.exports.txq_submit(this.handle, 0, frame.length, this.flags | (opts.abdicate ? TXQ_ABDICATE : 0), opts.budget ?? 64);
    });
  }

  /** Forward what waits (a stalled or abdicated mp_ring, the lock's ring). Returns frames forwarded or a negative Status. */
  drain(budget = 1 << 20): number { return this.core.exports.txq_drain(this.handle, budget, this.flags); }

  /** Frames waiting in the queue. */
  get pending(): number { return this.core.exports.txq_pending(this.handle); }

  /** mp_ring's state word, decoded (zeros for the lock variants). */
  state(): { head: number; tail: number; cidx: number; state: number } {
    const s = BigInt.asUintN(64, this.core.exports.txq_state(this.handle));
    return { head: Number(s & 0xffffn), tail: Number((s >> 16n) & 0xffffn), cidx: Number((s >> 32n) & 0xffffn), state: Number(s >> 48n) };
  }

  /** The log sink's records so far. */
  log(): TxLogRecord[] {
    const n = this.core.exports.txq_log_count(this.handle);
    const p = this.core.exports.txq_log_ptr(this.handle) >>> 0;
    const dv = this.core.dv();
    const out: TxLogRecord[] = [];
    for (let i = 0; i < n; i++) {
      const r = p + i * TXQ_LOG_RECORD;
      out.push({ w0: dv.getUint32(r, true), w1: dv.getUint32(r + 4, true), len: dv.getUint32(r + 8, true), hash: dv.getUint32(r + 12, true) });
    }
    return out;
  }

  resetLog(): void { this.core.exports.txq_log_reset(this.handle); }
}
