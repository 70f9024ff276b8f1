// A split virtqueue as the device sees it (virtio 1.2 §2.7): the registers the
// driver programs, the device-private indices, and the avail/used operations.
// The queue owns no guest memory; every access goes through the guest-memory
// port. Ring ranges are validated once, when the driver makes the queue ready
// (`queueValidate`); afterwards the ring accessors use the port's unchecked
// loads and stores, whose invariant is "the range passed gmCheck at ready".

import { gmCheck, gmLoad16, gmLoad16Acquire, gmStore64, gmStore16Release } from "../core/guestmem";
import { Status } from "../core/status";
import {
  MAX_QUEUE_SIZE, DESC_ALIGN, AVAIL_ALIGN, USED_ALIGN, AVAIL_IDX, AVAIL_RING, AVAIL_FLAGS,
  USED_IDX, USED_RING, USED_ELEM, VIRTQ_AVAIL_F_NO_INTERRUPT, NO_VECTOR, descBytes, availBytes, usedBytes,
} from "./defs";

/** Queue flag bits (what the driver negotiated that changes ring handling). */
export const QF_EVENT_IDX: u32 = 1;
export const QF_INDIRECT: u32 = 2;

// @ts-ignore: decorator
@unmanaged export class Queue {
  /** Largest size the device offers (QueueNumMax / initial queue_size). */
  maxSize: u32;
  /** Size the driver chose (a power of two ≤ maxSize once validated). */
  size: u32;
  /** 1 once the driver enabled the queue and its rings validated. */
  ready: u32;
  msixVector: u32;
  desc: u64;
  avail: u64;
  used: u64;
  /** Next available-ring slot to fetch (free-running, 16 bits). */
  lastAvail: u32;
  /** Device-private used index (free-running, 16 bits); published with a release store. */
  usedIdx: u32;
  /** Used index at the last interrupt (EVENT_IDX, §2.7.7.2). */
  signalled: u32;
  signalledValid: u32;
  /** Chains fetched from the avail ring whose used entries are not written yet. */
  inflight: u32;
  flags: u32;
  /** Pending used entries not yet published. */
  unpublished: u32;
  /** 1 when used entries were published since the last interrupt decision. */
  published: u32;
}

export const QUEUE_BYTES: u32 = offsetof<Queue>();

/** Reset a queue to its power-on registers (§2.7, §4.1.4.3: queue_size reads the maximum). */
export function queueReset(q: Queue, maxSize: u32): void {
  q.maxSize = maxSize; q.size = maxSize; q.ready = 0; q.msixVector = NO_VECTOR;
  q.desc = 0; q.avail = 0; q.used = 0;
  q.lastAvail = 0; q.usedIdx = 0; q.signalled = 0; q.signalledValid = 0; q.inflight = 0;
  q.flags = 0; q.unpublished = 0; q.published = 0;
}

/** A queue size the device accepts: a power of two, 1..maxSize (≤ 32768). */
export function queueSizeValid(size: u32, maxSize: u32): bool {
  return size != 0 && size <= maxSize && size <= MAX_QUEUE_SIZE && (size & (size - 1)) == 0;
}

/**
 * Check the three ring areas before the queue goes live (§2.7: alignment 16/2/4;
 * every byte inside guest RAM). Returns a Status; nothing changes.
 */
export function queueValidate(size: u32, maxSize: u32, desc: u64, avail: u64, used: u64): i32 {
  if (!queueSizeValid(size, maxSize)) return Status.ERR_INVALID_ARG;
  if ((desc & (DESC_ALIGN - 1)) != 0 || (avail & (AVAIL_ALIGN - 1)) != 0 || (used & (USED_ALIGN - 1)) != 0) return Status.ERR_INVALID_ARG;
  if (gmCheck(desc, descBytes(size)) != Status.OK) return Status.ERR_RANGE;
  if (gmCheck(avail, availBytes(size)) != Status.OK) return Status.ERR_RANGE;
  if (gmCheck(used, usedBytes(size)) != Status.OK) return Status.ERR_RANGE;
  return Status.OK;
}

/** Start a validated queue: indices from zero (§2.7.13.1). */
export function queueStart(q: Queue, flags: u32): void {
  q.ready = 1; q.flags = flags;
  q.lastAvail = 0; q.usedIdx = 0; q.signalled = 0; q.signalledValid = 0; q.inflight = 0; q.unpublished = 0; q.published = 0;
}

/**
 * Chains the driver made available and the device has not fetched, or -1 if
 * the avail index moved by more than the queue size (a driver bug the device
 * cannot recover from: §2.7.13.3 limits the distance to the queue size).
 */
export function queuePending(q: Queue): i32 {
  // §2.7.13.4: read idx with acquire so the ring entries it covers are visible.
  const idx = gmLoad16Acquire(q.avail + AVAIL_IDX);
  const n = (idx - q.lastAvail) & 0xffff;
  if (n > q.size) return -1;
  return <i32>n;
}

/** Head descriptor index of the next available chain (not yet range-checked against size). */
export function queuePeekHead(q: Queue): u32 {
  // In range: slot < size and [avail, avail + 6 + 2·size) passed gmCheck at ready.
  return gmLoad16(q.avail + AVAIL_RING + (<u64>(q.lastAvail & (q.size - 1)) << 1));
}

/** Consume the chain queuePeekHead returned. */
// @ts-ignore: decorator
@inline export function queueAdvance(q: Queue): void {
  q.lastAvail = (q.lastAvail + 1) & 0xffff;
  q.inflight++;
}

/** Give back `n` fetched chains (rewind lastAvail), e.g. a frame that did not fit. */
export function queueRewind(q: Queue, n: u32): void {
  q.lastAvail = (q.lastAvail - n) & 0xffff;
  q.inflight -= n;
}

/** Write one used element (not yet visible to the driver: see queuePublish). */
export function queuePushUsed(q: Queue, id: u32, len: u32): void {
  // In range: slot < size and the device area passed gmCheck at ready.
  const e = q.used + USED_RING + <u64>(q.usedIdx & (q.size - 1)) * USED_ELEM;
  gmStore64(e, <u64>id | (<u64>len << 32)); // le32 id, le32 len in one store
  q.usedIdx = (q.usedIdx + 1) & 0xffff;
  if (q.inflight != 0) q.inflight--;
  q.unpublished++;
}

/**
 * Make the written used elements visible (§2.7.8.2: the used elements must be
 * visible before the index; release store after a full fence), and with
 * EVENT_IDX ask for a kick once the driver goes past what we consumed
 * (§2.7.10: avail_event).
 */
export function queuePublish(q: Queue): void {
  if (q.flags & QF_EVENT_IDX) gmStore16Release(q.used + USED_RING + <u64>q.size * USED_ELEM, q.lastAvail);
  if (q.unpublished == 0) return;
  // §2.7.8.2 / §2.7.13.3: the element stores above must be visible before idx.
  // A wasm atomic store is sequentially consistent, so it orders every earlier store.
  gmStore16Release(q.used + USED_IDX, q.usedIdx);
  q.unpublished = 0;
  q.published = 1;
}

/**
 * Whether the driver wants an interrupt for what was just published
 * (§2.7.7.2): with EVENT_IDX the wrap-safe used_event comparison
 * vring_need_event(event, new, old), else the NO_INTERRUPT flag.
 */
export function queueNeedsInterrupt(q: Queue): bool {
  q.published = 0;
  // §2.7.7.2: the used idx store must be visible before reading flags/used_event:
  // the store was sequentially consistent and these loads are too (store→load ordered).
  if (q.flags & QF_EVENT_IDX) {
    const ev = gmLoad16Acquire(q.avail + AVAIL_RING + (<u64>q.size << 1));
    const nw = q.usedIdx;
    const old = q.signalled;
    const valid = q.signalledValid;
    q.signalled = nw; q.signalledValid = 1;
    if (!valid) return true;
    return ((nw - ev - 1) & 0xffff) < ((nw - old) & 0xffff);
  }
  return (gmLoad16Acquire(q.avail + AVAIL_FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT) == 0;
}
