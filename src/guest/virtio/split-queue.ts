// Driver side of a split virtqueue (virtio 1.2 §2.7), laid out in guest RAM.
// Free-running 16-bit indices; EVENT_IDX handled with the wrap-safe test in
// both directions (used_event written by us, avail_event read from the device).
import {
  VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE,
  VIRTQ_USED_F_NO_NOTIFY, vringNeedEvent,
} from "./defs.js";
import type { GuestAllocator, GuestRam } from "./guest-ram.js";

/** One buffer of a chain: guest address, length, device-writable or not. */
export interface Segment { addr: number; len: number; write: boolean }

/** A completed chain as the used ring reports it. */
export interface UsedEntry<T> { id: number; len: number; token: T }

/** Where the three parts of a split queue live (alignment: 16 / 2 / 4, §2.7). */
export interface QueueLayout { size: number; desc: number; avail: number; used: number }

/** Bytes of the three areas for `size` entries (§2.7: 16·size, 6+2·size, 6+8·size). */
export function queueBytes(size: number): { desc: number; avail: number; used: number } {
  return { desc: 16 * size, avail: 6 + 2 * size, used: 6 + 8 * size };
}

/** Lay a queue of `size` entries out in guest RAM. */
export function allocQueue(alloc: GuestAllocator, size: number): QueueLayout {
  const b = queueBytes(size);
  return { size, desc: alloc.alloc(b.desc, 16), avail: alloc.alloc(b.avail, 2), used: alloc.alloc(b.used, 4) };
}

export class SplitQueue<T = unknown> {
  readonly size: number;
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  /** Next avail index we will publish (free-running, mod 2^16). */
  availIdx = 0;
  /** Next used index we will consume. */
  lastUsed = 0;
  /** avail idx at our last kick decision, for the EVENT_IDX test (§2.7.10). */
  private kickedAt = 0;
  private readonly nextFree: Int32Array;
  private freeHead = 0;
  private freeCount: number;
  private readonly tokens: (T | undefined)[];
  /** Chain length per head, so the free list gets every descriptor back. */
  private readonly chainLen: Uint16Array;
  /** Indirect table per head (address in guest RAM), or -1. */
  private readonly indirectOf: Float64Array;
  private readonly indirectPool: number[] = [];
  /** Kicks the device asked for / we skipped. */
  kicks = 0;
  kicksSuppressed = 0;

  constructor(public ram: GuestRam, layout: QueueLayout, readonly eventIdx: boolean, private readonly indirectAlloc?: GuestAllocator) {
    const { size } = layout;
    if (size < 1 || size > 32768 || (size & (size - 1)) !== 0) throw new RangeError(`queue size ${size} is not a power of two ≤ 32768`);
    this.size = size;
    this.desc = layout.desc; this.avail = layout.avail; this.used = layout.used;
    this.nextFree = new Int32Array(size);
    for (let i = 0; i < size; i++) this.nextFree[i] = i + 1 < size ? i + 1 : -1;
    this.freeCount = size;
    this.tokens = new Array(size);
    this.chainLen = new Uint16Array(size);
    this.indirectOf = new Float64Array(size).fill(-1);
    // §2.7: the driver zeroes the rings before making the queue live.
    ram.fill(this.desc, 0, 16 * size);
    ram.fill(this.avail, 0, 6 + 2 * size);
    ram.fill(this.used, 0, 6 + 8 * size);
  }

  get free(): number { return this.freeCount; }
  /** Chains the driver has made available and the device has not yet used. */
  get inFlight(): number { return (this.availIdx - this.lastUsed) & 0xffff; }

  private writeDesc(at: number, addr: number, len: number, flags: number, next: number): void {
    // Two 32-bit halves: addresses are < 2^53 and this avoids BigInt on the hot path.
    this.ram.w32(at, addr >>> 0);
    this.ram.w32(at + 4, Math.floor(addr / 4294967296));
    this.ram.w32(at + 8, len);
    this.ram.w16(at + 12, flags);
    this.ram.w16(at + 14, next);
  }

  /**
   * Put a chain on the descriptor table and the avail ring (readable segments
   * first, §2.7.4.2). With `indirect` the chain goes in one indirect table
   * (§2.7.5.3) and takes one descriptor. Returns the head, or -1 if full.
   * The avail idx is published at once; call `kickNeeded()` afterwards.
   */
  add(segs: readonly Segment[], token: T, indirect = false): number {
    if (segs.length === 0) throw new RangeError("empty chain");
    let sawWrite = false;
    for (const s of segs) { if (s.write) sawWrite = true; else if (sawWrite) throw new RangeError("readable segment after a writable one"); }
    if (indirect) {
      if (!this.indirectAlloc) throw new Error("queue has no allocator for indirect tables");
      if (this.freeCount < 1) return -1;
      const head = this.takeFree();
      // Tables are sized for the queue so they can be reused for any chain.
      const table = this.indirectPool.pop() ?? this.indirectAlloc.alloc(16 * this.size, 16);
      if (segs.length > this.size) throw new RangeError("indirect chain longer than the queue");
      for (let i = 0; i < segs.length; i++) {
        const s = segs[i];
        const last = i === segs.length - 1;
        // §2.7.5.3.1: descriptors in an indirect table are numbered from 0 and chained by `next`.
        this.writeDesc(table + 16 * i, s.addr, s.len, (s.write ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT), last ? 0 : i + 1);
      }
      this.writeDesc(this.desc + 16 * head, table, 16 * segs.length, VIRTQ_DESC_F_INDIRECT, 0);
      this.indirectOf[head] = table;
      this.chainLen[head] = 1;
      this.tokens[head] = token;
      this.publish(head);
      return head;
    }
    if (this.freeCount < segs.length) return -1;
    const ids: number[] = [];
    for (let i = 0; i < segs.length; i++) ids.push(this.takeFree());
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      const last = i === segs.length - 1;
      this.writeDesc(this.desc + 16 * ids[i], s.addr, s.len, (s.write ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT), last ? 0 : ids[i + 1]);
    }
    const head = ids[0];
    this.indirectOf[head] = -1;
    this.chainLen[head] = segs.length;
    this.tokens[head] = token;
    this.publish(head);
    return head;
  }

  private takeFree(): number {
    const d = this.freeHead;
    if (d < 0) throw new Error("descriptor free list empty");
    this.freeHead = this.nextFree[d];
    this.freeCount--;
    return d;
  }

  /** §2.7.13: ring[idx % size] = head, then (after a write barrier) idx += 1. */
  private publish(head: number): void {
    this.ram.w16(this.avail + 4 + 2 * (this.availIdx % this.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.ram.w16(this.avail + 2, this.availIdx);
  }

  /**
   * Whether the device wants a notification for what was added since the last
   * call (§2.7.13.4): with EVENT_IDX the avail_event test, else used.flags.
   * Counts kicks and suppressed kicks.
   */
  kickNeeded(): boolean {
    const old = this.kickedAt;
    const now = this.availIdx;
    this.kickedAt = now;
    if (old === now) return false;
    let need: boolean;
    if (this.eventIdx) {
      const availEvent = this.ram.r16(this.used + 4 + 8 * this.size);
      need = vringNeedEvent(availEvent, now, old);
    } else {
      need = (this.ram.r16(this.used) & VIRTQ_USED_F_NO_NOTIFY) === 0;
    }
    if (need) this.kicks++; else this.kicksSuppressed++;
    return need;
  }

  /** The device's used idx. */
  usedIdx(): number { return this.ram.r16(this.used + 2); }

  /** Take one used entry (§2.7.14), returning its descriptors to the free list. */
  pop(): UsedEntry<T> | null {
    if (this.usedIdx() === this.lastUsed) return null;
    const slot = this.used + 4 + 8 * (this.lastUsed % this.size);
    const id = this.ram.r32(slot);
    const len = this.ram.r32(slot + 4);
    if (id >= this.size || this.tokens[id] === undefined) throw new Error(`device used id ${id} that is not in flight`);
    this.lastUsed = (this.lastUsed + 1) & 0xffff;
    const token = this.tokens[id] as T;
    this.tokens[id] = undefined;
    this.release(id);
    return { id, len, token };
  }

  private release(head: number): void {
    const table = this.indirectOf[head];
    if (table >= 0) { this.indirectPool.push(table); this.indirectOf[head] = -1; }
    // Walk our own record of the chain, not the (device-visible) table.
    let d = head;
    for (let i = 0; i < this.chainLen[head]; i++) {
      const flags = this.ram.r16(this.desc + 16 * d + 12);
      const next = this.ram.r16(this.desc + 16 * d + 14);
      const nf = this.freeHead;
      this.freeHead = d;
      this.nextFree[d] = nf;
      this.freeCount++;
      if (table >= 0 || !(flags & VIRTQ_DESC_F_NEXT)) break;
      d = next;
    }
  }

  /**
   * Ask for an interrupt when the next used entry arrives (§2.7.10): with
   * EVENT_IDX write used_event = lastUsed, else clear NO_INTERRUPT. Returns
   * true if entries are already pending (the caller should poll again).
   */
  enableInterrupts(): boolean {
    if (this.eventIdx) this.ram.w16(this.avail + 4 + 2 * this.size, this.lastUsed);
    else this.ram.w16(this.avail, 0);
    return this.usedIdx() !== this.lastUsed;
  }

  /** Ask for an interrupt only after `n` more used entries (EVENT_IDX) — the delayed form virtio drivers use for TX. */
  enableInterruptsAfter(n: number): void {
    if (!this.eventIdx) throw new Error("enableInterruptsAfter needs EVENT_IDX");
    this.ram.w16(this.avail + 4 + 2 * this.size, (this.lastUsed + n - 1) & 0xffff);
  }

  /** Suppress interrupts (§2.7.10): NO_INTERRUPT without EVENT_IDX; with it, park used_event far behind. */
  disableInterrupts(): void {
    if (this.eventIdx) this.ram.w16(this.avail + 4 + 2 * this.size, (this.lastUsed - 1) & 0xffff);
    else this.ram.w16(this.avail, VIRTQ_AVAIL_F_NO_INTERRUPT);
  }
}
