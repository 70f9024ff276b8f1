// Buffer pool: `bufs` buffers of `bufSize` bytes named by index, the memory
// netmap rings point their slots into. The pool records who holds each
// buffer (RP_FREE, RP_RING: in some ring's slot, RP_USER: held by a backend
// outside any slot), so a backend can only swap into a slot a buffer it was
// given, never one another ring or the free list holds. Holder changes are
// CAS on the buffer's holder byte, so rings on different threads may share
// one pool. Free buffers sit on a lock-free stack (index + ABA tag in one
// 64-bit word).
//
// Block: header (shared, defs.ts RP_OFF_*) | private: free-stack word, holder
// bytes, next links | buffers (64-byte aligned).

import { blockAlloc, blockCost, blockFree } from "../core/layout";
import {
  RP_MAGIC, RP_OFF_MAGIC, RP_OFF_BUFS, RP_OFF_BUF_SIZE, RP_OFF_BASE, RP_FREE, RP_RING, RP_USER,
  RP_MAX_BUFS, RP_MIN_BUF_SIZE, RP_MAX_BUF_SIZE,
} from "./defs";

const OFF_FREE: usize = 64;     // u64: (tag << 32) | (index + 1), 0 = empty
const OFF_HOLDER: usize = 128;  // holder table address
const OFF_NEXT: usize = 132;    // next-link table address
const HEADER: u64 = 192;

// @ts-ignore: decorator
@inline function a64(n: u64): u64 { return (n + 63) & ~<u64>63; }

export function poolBytes(bufs: u32, bufSize: u32): u64 {
  return HEADER + a64(<u64>bufs) + a64(<u64>bufs << 2) + <u64>bufs * bufSize;
}

export function poolCost(bufs: u32, bufSize: u32): u64 { return blockCost(poolBytes(bufs, bufSize), 64); }

export function poolSizeOk(bufs: u32, bufSize: u32): bool {
  return bufs >= 1 && bufs <= RP_MAX_BUFS && bufSize >= RP_MIN_BUF_SIZE && bufSize <= RP_MAX_BUF_SIZE && (bufSize & 63) == 0;
}

// @ts-ignore: decorator
@inline export function poolBufs(p: usize): u32 { return load<u32>(p + RP_OFF_BUFS); }
// @ts-ignore: decorator
@inline export function poolBufSize(p: usize): u32 { return load<u32>(p + RP_OFF_BUF_SIZE); }
// @ts-ignore: decorator
@inline export function poolBase(p: usize): usize { return <usize>load<u32>(p + RP_OFF_BASE); }
// @ts-ignore: decorator
@inline function holderAt(p: usize, i: u32): usize { return <usize>load<u32>(p + OFF_HOLDER) + <usize>i; }
// @ts-ignore: decorator
@inline function nextAt(p: usize, i: u32): usize { return <usize>load<u32>(p + OFF_NEXT) + (<usize>i << 2); }

/** Address of buffer `i`; the caller checked i < poolBufs(p). */
// @ts-ignore: decorator
@inline export function poolBuf(p: usize, i: u32): usize { return poolBase(p) + <usize>i * <usize>poolBufSize(p); }

/** A new pool with every buffer free, or 0 without memory. */
export function poolCreate(bufs: u32, bufSize: u32): usize {
  const bytes = poolBytes(bufs, bufSize);
  const p = blockAlloc(bytes, 64);
  if (p == 0) return 0;
  const holder = p + <usize>HEADER;
  const next = holder + <usize>a64(<u64>bufs);
  const base = next + <usize>a64(<u64>bufs << 2);
  memory.fill(p, 0, <usize>HEADER);
  memory.fill(holder, <u8>RP_FREE, <usize>bufs);
  store<u32>(p + RP_OFF_MAGIC, RP_MAGIC);
  store<u32>(p + RP_OFF_BUFS, bufs);
  store<u32>(p + RP_OFF_BUF_SIZE, bufSize);
  store<u32>(p + RP_OFF_BASE, <u32>base);
  store<u32>(p + OFF_HOLDER, <u32>holder);
  store<u32>(p + OFF_NEXT, <u32>next);
  // Stack: 0 on top, then 1, 2, ... (links are index + 1; 0 ends the list).
  for (let i: u32 = 0; i < bufs; i++) store<u32>(next + (<usize>i << 2), i + 2 <= bufs ? i + 2 : 0);
  atomic.store<u64>(p + OFF_FREE, 1);
  return p;
}

export function poolDestroy(p: usize): void {
  blockFree(p, poolBytes(poolBufs(p), poolBufSize(p)), 64);
}

/** Take a free buffer and mark it held by `holder` (RP_RING or RP_USER). Returns its index or -1 when none is free. */
export function poolTake(p: usize, holder: u32): i32 {
  const top = p + OFF_FREE;
  // Lock-free pop; each failed CAS means another thread moved the stack.
  for (let tries = 0; tries < 1 << 20; tries++) {
    const w = atomic.load<u64>(top);
    const link = <u32>w;
    if (link == 0) return -1;
    const i = link - 1;
    const nw = ((w >> 32) + 1) << 32 | <u64>load<u32>(nextAt(p, i));
    if (atomic.cmpxchg<u64>(top, w, nw) != w) continue;
    atomic.store<u8>(holderAt(p, i), <u8>holder);
    return <i32>i;
  }
  return -1;
}

function push(p: usize, i: u32): void {
  const top = p + OFF_FREE;
  // Bounded in practice by contention; each failed CAS means another thread moved the stack.
  for (;;) {
    const w = atomic.load<u64>(top);
    store<u32>(nextAt(p, i), <u32>w);
    if (atomic.cmpxchg<u64>(top, w, ((w >> 32) + 1) << 32 | <u64>(i + 1)) == w) return;
  }
}

/** Return buffer `i` held as `from` to the free list. False (nothing changes) if i is out of range or not held so. */
export function poolGive(p: usize, i: u32, from: u32): bool {
  if (i >= poolBufs(p)) return false;
  if (atomic.cmpxchg<u8>(holderAt(p, i), <u8>from, <u8>RP_FREE) != <u8>from) return false;
  push(p, i);
  return true;
}

/** Move buffer `i` from holder `from` to `to` (CAS). False if i is out of range or not held by `from`. */
export function poolMove(p: usize, i: u32, from: u32, to: u32): bool {
  if (i >= poolBufs(p)) return false;
  return atomic.cmpxchg<u8>(holderAt(p, i), <u8>from, <u8>to) == <u8>from;
}

export function poolHolder(p: usize, i: u32): u32 {
  return i < poolBufs(p) ? <u32>atomic.load<u8>(holderAt(p, i)) : 0xffffffff;
}

/** Buffers held as `holder` now (a scan: for diagnostics and drain checks, not the hot path). */
export function poolCount(p: usize, holder: u32): u32 {
  const n = poolBufs(p);
  const h = <usize>load<u32>(p + OFF_HOLDER);
  let c: u32 = 0;
  for (let i: u32 = 0; i < n; i++) if (<u32>atomic.load<u8>(h + <usize>i) == holder) c++;
  return c;
}

export { RP_RING, RP_USER };
