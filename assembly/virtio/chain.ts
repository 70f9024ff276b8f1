// Bounded walk of one descriptor chain (virtio 1.2 §2.7.5, §2.7.5.3 indirect).
// The walk collects the chain's buffers into a scatter-gather list in a fixed
// region and proves every hostile-guest rule before the device touches a byte:
//  * at most queue-size descriptors in total, indirect ones included
//    (§2.7.5.3.1; this also ends loops, including a table that points at itself);
//  * no indirect descriptor inside an indirect table, none with NEXT set, an
//    indirect length that is a non-zero multiple of 16, indirect only when
//    negotiated;
//  * every next index inside its table, every buffer inside guest RAM;
//  * device-writable descriptors only after the readable ones (§2.7.4.2);
//  * readable and writable totals fit in 32 bits.
// A chain that breaks a rule is "malformed": the device completes it with
// length 0 and counts it (the queue never stalls on one bad chain).

import { gmCheck } from "../core/guestmem";
import { Status } from "../core/status";
import { regionAlloc, regionCost } from "../core/layout";
import { MAX_QUEUE_SIZE, DESC_SIZE, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_INDIRECT } from "./defs";
import { descRead, descAddr, descLen, descFlags, descNext } from "./desc";
import { Queue, QF_INDIRECT } from "./queue";

// Why a chain was rejected (negative results of chainWalk).
export const CHAIN_TOO_LONG: i32 = -1;
export const CHAIN_BAD_NEXT: i32 = -2;
export const CHAIN_NESTED_INDIRECT: i32 = -3;
export const CHAIN_BAD_INDIRECT: i32 = -4;
export const CHAIN_BAD_BUFFER: i32 = -5;
export const CHAIN_ORDER: i32 = -6;
export const CHAIN_OVERFLOW: i32 = -7;

// Scatter-gather list: per segment u64 gpa, u32 len, u32 flags (bit 0 = device-writable).
export const SG_ENTRY: u32 = 16;
let sgBase: usize = 0;

/** Make this instance's scatter-gather region (once, before its first device). Returns false without memory. */
export function sgReserve(): bool {
  if (sgBase == 0) sgBase = regionAlloc(<u64>MAX_QUEUE_SIZE * SG_ENTRY, 16);
  return sgBase != 0;
}

/** The most linear memory sgReserve carves. */
export function sgCost(): u64 { return regionCost(<u64>MAX_QUEUE_SIZE * SG_ENTRY, 16); }

/** The scatter-gather region (one per instance: chains are walked one at a time). Set once sgReserve succeeded, which every device's create does. */
// @ts-ignore: decorator
@inline export function sgList(): usize { return sgBase; }

/** Readable bytes of the last chain walked. */
export let chainReadable: u32 = 0;
/** Writable bytes of the last chain walked. */
export let chainWritable: u32 = 0;
/** Index of the first writable segment of the last chain walked. */
export let chainFirstWritable: u32 = 0;

/**
 * Walk the chain starting at `head` (< q.size, checked by the caller). Returns
 * the segment count (≥ 1) with chainReadable/chainWritable set, or a CHAIN_* error.
 * The returned list is in `sgList()` until the next walk.
 */
export function chainWalk(q: Queue, head: u32): i32 {
  const sg = sgList();
  if (sg == 0) return CHAIN_TOO_LONG;
  let table = q.desc;
  let tableSize = q.size;
  let idx = head;
  let inIndirect = false;
  let count: u32 = 0;
  let rd: u64 = 0;
  let wr: u64 = 0;
  let firstWr: u32 = 0xffffffff;
  // Bounded: each iteration returns, adds a segment (at most q.size of them) or
  // enters the one indirect table, so q.size + 1 iterations cover every valid chain.
  for (let steps: u32 = 0; steps <= q.size; steps++) {
    // idx < tableSize and the table passed gmCheck (at ready, or below for an indirect
    // table); the port checks the entry again, so a table a hole now covers is refused.
    if (!descRead(table + <u64>idx * DESC_SIZE)) return CHAIN_BAD_BUFFER;
    const addr = descAddr;
    const len = descLen;
    const flags = descFlags;
    const next = descNext;
    if (flags & VIRTQ_DESC_F_INDIRECT) {
      // §2.7.5.3.1: only when negotiated, never nested, never with NEXT, length a multiple of 16.
      if (inIndirect) return CHAIN_NESTED_INDIRECT;
      if ((q.flags & QF_INDIRECT) == 0 || (flags & VIRTQ_DESC_F_NEXT) != 0) return CHAIN_BAD_INDIRECT;
      if (len == 0 || (len & (DESC_SIZE - 1)) != 0) return CHAIN_BAD_INDIRECT;
      if (gmCheck(addr, len) != Status.OK) return CHAIN_BAD_INDIRECT;
      table = addr; tableSize = len / DESC_SIZE; idx = 0; inIndirect = true;
      continue;
    }
    if (gmCheck(addr, len) != Status.OK) return CHAIN_BAD_BUFFER;
    if (flags & VIRTQ_DESC_F_WRITE) {
      if (firstWr == 0xffffffff) firstWr = count;
      wr += len;
    } else {
      // §2.7.4.2: readable descriptors precede writable ones.
      if (firstWr != 0xffffffff) return CHAIN_ORDER;
      rd += len;
    }
    if (rd > 0xffffffff || wr > 0xffffffff) return CHAIN_OVERFLOW;
    if (count >= q.size) return CHAIN_TOO_LONG;
    const s = sg + <usize>count * SG_ENTRY;
    store<u64>(s, addr);
    store<u32>(s, len, 8);
    store<u32>(s, (flags & VIRTQ_DESC_F_WRITE) ? 1 : 0, 12);
    count++;
    if ((flags & VIRTQ_DESC_F_NEXT) == 0) {
      chainReadable = <u32>rd; chainWritable = <u32>wr;
      chainFirstWritable = firstWr == 0xffffffff ? count : firstWr;
      return <i32>count;
    }
    idx = next;
    if (idx >= tableSize) return CHAIN_BAD_NEXT;
  }
  return CHAIN_TOO_LONG;
}

// @ts-ignore: decorator
@inline export function sgAddr(i: u32): u64 { return load<u64>(sgBase + <usize>i * SG_ENTRY); }
// @ts-ignore: decorator
@inline export function sgLen(i: u32): u32 { return load<u32>(sgBase + <usize>i * SG_ENTRY, 8); }
