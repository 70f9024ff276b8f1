// Element queues: bounded rings of u32 values, single- or multi-producer,
// one consumer (assembly/rings/queue.ts). Values cross through the calling
// instance's I/O buffer, so a worker uses its own attached VmCore.

import type { VmCore } from "../vm-core.js";
import { RingsDefs } from "../generated/constants.js";
import { RingObject, handleOf } from "./object.js";

const { RING_KIND_QUEUE, RQ_BULK, RQ_BURST, RQ_OFF_SIZE, RQ_OFF_FLAGS, RQ_F_MP } = RingsDefs;

export type QueueMode = "bulk" | "burst";
const MODE: Record<QueueMode, number> = { bulk: RQ_BULK, burst: RQ_BURST };

export interface ElementQueueOptions {
  /** Cells, a power of two 2..1048576. */
  size: number;
  /** Several producers at once (CAS on the producer head). Default false. */
  multiProducer?: boolean;
}

export class ElementQueue extends RingObject {
  readonly size: number;
  readonly multiProducer: boolean;
  private constructor(core: VmCore, handle: number, size: number, mp: boolean) {
    super(core, handle, RING_KIND_QUEUE);
    this.size = size;
    this.multiProducer = mp;
  }

  static create(core: VmCore, opts: ElementQueueOptions): ElementQueue {
    const mp = opts.multiProducer ?? false;
    return new ElementQueue(core, handleOf(core.exports.rq_create(opts.size, mp ? 1 : 0), "rq_create"), opts.size, mp);
  }

  /** The same queue seen from another instance attached to the memory (a worker's VmCore). */
  static attach(core: VmCore, handle: number): ElementQueue {
    const p = core.exports.ring_ptr(handle) >>> 0;
    if (core.exports.ring_kind(handle) !== RING_KIND_QUEUE || p === 0) throw new RangeError(`no element queue ${handle}`);
    const dv = core.dv();
    return new ElementQueue(core, handle, dv.getUint32(p + RQ_OFF_SIZE, true), (dv.getUint32(p + RQ_OFF_FLAGS, true) & RQ_F_MP) !== 0);
  }

  /**
   * Enqueue values (bulk: all or none; burst: as many as fit). Returns the
   * number enqueued, or a negative Status (-ERR_CORRUPT: the consumer's
   * published index was impossible, counted).
   */
  enqueue(values: ArrayLike<number>, mode: QueueMode = "bulk"): number {
    this.core.ensureIo(values.length * 4);
    new Uint32Array(this.core.memory.buffer, this.core.ioPtr(), values.length).set(values);
    return this.core.exports.rq_enqueue(this.handle, 0, values.length, MODE[mode]);
  }

  /** Dequeue up to `max` values (bulk: exactly max or none); `lastStatus` tells an impossible producer index (ERR_CORRUPT) from an empty queue. */
  dequeue(max: number, mode: QueueMode = "burst"): Uint32Array {
    this.core.ensureIo(max * 4);
    const n = this.core.exports.rq_dequeue(this.handle, 0, max, MODE[mode]);
    this.lastStatus = n < 0 ? -n : 0;
    return n <= 0 ? new Uint32Array(0) : new Uint32Array(this.core.memory.buffer, this.core.ioPtr(), n).slice();
  }

  /** Status of the last dequeue (0, or ERR_CORRUPT when the producer's index was impossible). */
  lastStatus = 0;

  /** Values waiting (the consumer's view). */
  get count(): number { return this.core.exports.rq_count(this.handle); }
}
