// The backend's side of a netmap-style ring, for a backend running in wasm
// (an attached instance in a worker). It uses only the shared fields
// (defs.ts), as any other program given the memory would, and checks what the
// device wrote before it follows it (tail inside the ring, buffer indices
// inside the pool, lengths inside a buffer).

import { Status } from "../core/status";
import {
  NMR_OFF_NUM_SLOTS, NMR_OFF_BUF_SIZE, NMR_OFF_BUF_BASE, NMR_OFF_BUF_COUNT, NMR_OFF_HEAD, NMR_OFF_CUR, NMR_OFF_TAIL,
  NMR_OFF_DEV_WAIT, NMR_OFF_SLOTS, NMR_SLOT_BYTES, NMR_SLOT_BUF, NMR_SLOT_LEN, NMR_SLOT_FLAGS, FA_LEN_BYTES,
} from "./defs";
import { faRecordBytes } from "./batch";

// @ts-ignore: decorator
@inline function slotAt(r: usize, i: u32): usize { return r + NMR_OFF_SLOTS + <usize>i * NMR_SLOT_BYTES; }

function passHead(r: usize, head: u32): void {
  atomic.store<u32>(r + NMR_OFF_CUR, head);
  atomic.store<u32>(r + NMR_OFF_HEAD, head);
  if (atomic.load<u32>(r + NMR_OFF_DEV_WAIT) != 0) atomic.notify(r + NMR_OFF_HEAD, 1);
}

/** TX ring: copy `count` records of the frame array at `fa` into the free slots from head on and pass them to the device. Returns frames sent (fewer when the ring is full; frames larger than a buffer are skipped) or -Status. */
export function nmuSend(r: usize, fa: usize, count: u32): i32 {
  const n = load<u32>(r + NMR_OFF_NUM_SLOTS);
  const bufSize = load<u32>(r + NMR_OFF_BUF_SIZE);
  const base = <usize>load<u32>(r + NMR_OFF_BUF_BASE);
  const bufs = load<u32>(r + NMR_OFF_BUF_COUNT);
  const tail = atomic.load<u32>(r + NMR_OFF_TAIL);
  let head = atomic.load<u32>(r + NMR_OFF_HEAD);
  if (tail >= n || head >= n) return -Status.ERR_CORRUPT;
  let off: usize = 0;
  let sent: u32 = 0;
  // Bounded by count and by the free slots [head, tail).
  for (let i: u32 = 0; i < count && head != tail; i++) {
    const len = load<u32>(fa + off);
    const src = fa + off + FA_LEN_BYTES;
    off += <usize>faRecordBytes(len);
    if (len > bufSize) continue;
    const s = slotAt(r, head);
    const b = load<u32>(s + NMR_SLOT_BUF);
    if (b >= bufs) return -Status.ERR_CORRUPT;
    memory.copy(base + <usize>b * bufSize, src, len);
    store<u16>(s + NMR_SLOT_LEN, <u16>len);
    store<u16>(s + NMR_SLOT_FLAGS, 0);
    head = head + 1 == n ? 0 : head + 1;
    sent++;
  }
  if (sent != 0) passHead(r, head);
  return <i32>sent;
}

/** RX ring: copy the received frames [head, tail) into a frame array at `out` (up to `cap` bytes) and release their slots. Returns frames taken or -Status. */
export function nmuRecv(r: usize, out: usize, cap: u32): i32 {
  const n = load<u32>(r + NMR_OFF_NUM_SLOTS);
  const bufSize = load<u32>(r + NMR_OFF_BUF_SIZE);
  const base = <usize>load<u32>(r + NMR_OFF_BUF_BASE);
  const bufs = load<u32>(r + NMR_OFF_BUF_COUNT);
  const tail = atomic.load<u32>(r + NMR_OFF_TAIL);
  let head = atomic.load<u32>(r + NMR_OFF_HEAD);
  if (tail >= n || head >= n) return -Status.ERR_CORRUPT;
  let off: u32 = 0;
  let got: u32 = 0;
  // Bounded by the filled slots [head, tail).
  while (head != tail) {
    const s = slotAt(r, head);
    const b = load<u32>(s + NMR_SLOT_BUF);
    const len = <u32>load<u16>(s + NMR_SLOT_LEN);
    if (b >= bufs || len > bufSize) return -Status.ERR_CORRUPT;
    const rec = faRecordBytes(len);
    if (rec > cap - off) break;
    store<u32>(out + off, len);
    memory.copy(out + off + FA_LEN_BYTES, base + <usize>b * bufSize, len);
    off += rec;
    head = head + 1 == n ? 0 : head + 1;
    got++;
  }
  if (got != 0) passHead(r, head);
  return <i32>got;
}
