// Buffer pools: fixed-size buffers named by index, that netmap-style rings
// point their slots into (assembly/rings/pool.ts).

import { Status, VmdevError } from "../status.js";
import type { VmCore } from "../vm-core.js";
import { RingsDefs } from "../generated/constants.js";
import { RingObject, handleOf } from "./object.js";

const { RING_KIND_POOL, RP_FREE, RP_RING, RP_USER } = RingsDefs;

export type BufferHolder = "free" | "ring" | "user";
const HOLDER: Record<BufferHolder, number> = { free: RP_FREE, ring: RP_RING, user: RP_USER };
const HOLDER_NAME = new Map<number, BufferHolder>(Object.entries(HOLDER).map(([k, v]) => [v, k as BufferHolder]));

export interface RingPoolOptions {
  buffers: number;
  /** Bytes per buffer: a multiple of 64, 64..65472. Default 2048. */
  bufferSize?: number;
}

export class RingPool extends RingObject {
  readonly buffers: number;
  readonly bufferSize: number;
  private constructor(core: VmCore, handle: number, opts: Required<RingPoolOptions>) {
    super(core, handle, RING_KIND_POOL);
    this.buffers = opts.buffers;
    this.bufferSize = opts.bufferSize;
  }

  static create(core: VmCore, opts: RingPoolOptions): RingPool {
    const o = { buffers: opts.buffers, bufferSize: opts.bufferSize ?? 2048 };
    return new RingPool(core, handleOf(core.exports.ring_pool_create(o.buffers, o.bufferSize), "ring_pool_create"), o);
  }

  /** Linear memory a pool of these sizes can take (throws for sizes create refuses). */
  static memoryBytes(core: VmCore, opts: RingPoolOptions): number {
    const n = core.exports.ring_pool_memory_bytes(opts.buffers, opts.bufferSize ?? 2048);
    if (n < 0n) throw new VmdevError(Number(-n), "ring_pool_memory_bytes");
    return Number(n);
  }

  /** Buffer `i` as a view into wasm memory. */
  buffer(i: number): Uint8Array {
    const p = this.core.exports.ring_pool_buf_ptr(this.handle, i) >>> 0;
    if (p === 0) throw new RangeError(`pool buffer ${i} out of range`);
    return this.core.u8().subarray(p, p + this.bufferSize);
  }

  /** Take a free buffer for a backend (what it may swap into a slot with NS_BUF_CHANGED); null when none is free. */
  alloc(): number | null {
    const i = this.core.exports.ring_pool_alloc(this.handle);
    return i < 0 ? null : i;
  }

  /** Give back a buffer the backend holds. Returns a Status (ERR_INVALID_ARG: it does not hold it). */
  free(i: number): number { return this.core.exports.ring_pool_free(this.handle, i); }

  /** Buffers held as `holder` now (a scan). */
  count(holder: BufferHolder): number { return this.core.exports.ring_pool_count(this.handle, HOLDER[holder]); }

  /** Who holds buffer `i`. */
  holder(i: number): BufferHolder {
    const h = this.core.exports.ring_pool_holder(this.handle, i);
    if (h < 0) throw new RangeError(`pool buffer ${i}: ${h === -Status.ERR_INVALID_ARG ? "out of range" : "no pool"}`);
    return HOLDER_NAME.get(h)!;
  }
}
