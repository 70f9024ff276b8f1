// A backend written as a separate wasm module: it knows nothing of vmdev but
// the ring layout (assembly/rings/defs.ts) and is given vmdev's memory. It
// echoes frames from an RX ring to a TX ring, checking everything the device
// wrote, or plays a hostile backend that scribbles over the shared fields.
// Compiled by test/rings/peer.test.ts with no static data, so instantiating
// it writes nothing into the memory it is given.
import {
  NMR_OFF_NUM_SLOTS, NMR_OFF_BUF_SIZE, NMR_OFF_BUF_BASE, NMR_OFF_BUF_COUNT, NMR_OFF_HEAD, NMR_OFF_CUR, NMR_OFF_TAIL,
  NMR_OFF_SLOTS, NMR_SLOT_BYTES, NMR_SLOT_BUF, NMR_SLOT_LEN, NMR_SLOT_FLAGS,
} from "../../../assembly/rings/defs";

@inline function slot(r: usize, i: u32): usize { return r + NMR_OFF_SLOTS + <usize>i * NMR_SLOT_BYTES; }
@inline function nxt(r: usize, i: u32): u32 { return i + 1 == load<u32>(r + NMR_OFF_NUM_SLOTS) ? 0 : i + 1; }
@inline function buf(r: usize, b: u32): usize { return <usize>load<u32>(r + NMR_OFF_BUF_BASE) + <usize>b * <usize>load<u32>(r + NMR_OFF_BUF_SIZE); }

/** Move up to `max` received frames from ring `rx` to ring `tx` (copying). Returns frames moved, or -1 if the device wrote something impossible. */
export function echo(rx: usize, tx: usize, max: u32): i32 {
  const n = load<u32>(rx + NMR_OFF_NUM_SLOTS), m = load<u32>(tx + NMR_OFF_NUM_SLOTS);
  let rh = atomic.load<u32>(rx + NMR_OFF_HEAD), rt = atomic.load<u32>(rx + NMR_OFF_TAIL);
  let th = atomic.load<u32>(tx + NMR_OFF_HEAD), tt = atomic.load<u32>(tx + NMR_OFF_TAIL);
  if (rh >= n || rt >= n || th >= m || tt >= m) return -1;
  let moved: u32 = 0;
  while (moved < max && rh != rt && th != tt) {
    const rs = slot(rx, rh), ts = slot(tx, th);
    const rb = load<u32>(rs + NMR_SLOT_BUF), len = <u32>load<u16>(rs + NMR_SLOT_LEN), tb = load<u32>(ts + NMR_SLOT_BUF);
    if (rb >= load<u32>(rx + NMR_OFF_BUF_COUNT) || tb >= load<u32>(tx + NMR_OFF_BUF_COUNT)) return -1;
    if (len > load<u32>(rx + NMR_OFF_BUF_SIZE) || len > load<u32>(tx + NMR_OFF_BUF_SIZE)) return -1;
    memory.copy(buf(tx, tb), buf(rx, rb), len);
    store<u16>(ts + NMR_SLOT_LEN, <u16>len);
    store<u16>(ts + NMR_SLOT_FLAGS, 0);
    rh = nxt(rx, rh); th = nxt(tx, th);
    moved++;
  }
  atomic.store<u32>(tx + NMR_OFF_CUR, th); atomic.store<u32>(tx + NMR_OFF_HEAD, th);
  atomic.store<u32>(rx + NMR_OFF_CUR, rh); atomic.store<u32>(rx + NMR_OFF_HEAD, rh);
  return <i32>moved;
}

let x: u32 = 1;
@inline function rand(): u32 { x ^= x << 13; x ^= x >> 17; x ^= x << 5; return x; }

/** Write `k` random values over ring `r`'s backend-visible fields and slots (and its tail, which it must not). */
export function scribble(r: usize, seed: u32, k: u32): void {
  x = seed | 1;
  const n = load<u32>(r + NMR_OFF_NUM_SLOTS);
  for (let i: u32 = 0; i < k; i++) {
    const v = rand();
    const w = rand() % 8;
    const small = rand() % (n + 2);
    if (w == 0) atomic.store<u32>(r + NMR_OFF_HEAD, v & 1 ? small : v);
    else if (w == 1) atomic.store<u32>(r + NMR_OFF_CUR, v & 1 ? small : v);
    else if (w == 2) atomic.store<u32>(r + NMR_OFF_TAIL, small);
    else {
      const s = slot(r, rand() % n);
      if (w == 3) store<u32>(s + NMR_SLOT_BUF, v & 1 ? v % 80 : v);
      else if (w == 4) store<u16>(s + NMR_SLOT_LEN, <u16>v);
      else if (w == 5) store<u16>(s + NMR_SLOT_FLAGS, <u16>(v & 3));
      else store<u16>(s + NMR_SLOT_LEN, <u16>(v % 300));
    }
  }
}
