// Loops for the TX-queue bench (bench/rings-txq.bench.ts): vCPU worker
// threads submit frames to one queue whose consumer forwards each frame into
// a receiving virtio-net NIC, as the in-wasm link does (netReceive: RX filter,
// virtqueue chain walk, copy into the guest's buffers, used ring, interrupt
// decision). The switch's FDB lookup is not part of it (the switch tables are
// per instance). The receiving guest's RX ring is laid out once with fixed
// buffers; the sink re-posts 64 buffers every 64 frames, as a guest driver
// that keeps up would.
import { regionAlloc } from "../../assembly/core/layout";
import { gmStore16Release } from "../../assembly/core/guestmem";
import { VDev, devGet } from "../../assembly/virtio/device";
import { sgReserve } from "../../assembly/virtio/chain";
import { netScratch } from "../../assembly/virtio-net/device";
import { netReceive } from "../../assembly/virtio-net/rx";
import { rtGet } from "../../assembly/rings/table";
import { RING_KIND_TXQ } from "../../assembly/rings/defs";
import { Status } from "../../assembly/core/status";
import { txqSubmit } from "../../assembly/rings/txq";

// Sink context (shared memory, made on the main thread): u32 device address,
// u32 guest address of the RX avail index, u32 frames delivered, u32 avail index.
const C_DEV: usize = 0, C_AVAIL: usize = 4, C_COUNT: usize = 8, C_IDX: usize = 12;

/** Main thread: the sink context for device `h` whose RX avail ring is at guest address `avail` (its index already at `idx`). */
export function bench_txq_ctx(h: i32, avail: u32, idx: u32): usize {
  const c = regionAlloc(64, 64);
  store<u32>(c + C_DEV, <u32>devGet(h));
  store<u32>(c + C_AVAIL, avail);
  store<u32>(c + C_IDX, idx);
  return c;
}

export function bench_txq_delivered(ctx: usize): u32 { return load<u32>(ctx + C_COUNT); }

/** Every instance that may become the consumer needs the NIC's per-instance scratch. */
export function bench_worker_init(): i32 { return netScratch() && sgReserve() ? 0 : 1; }

function nicSink(ctx: usize, frame: usize, len: u32): bool {
  netReceive(changetype<VDev>(<usize>load<u32>(ctx + C_DEV)), frame, len);
  const n = load<u32>(ctx + C_COUNT) + 1;
  store<u32>(ctx + C_COUNT, n);
  if ((n & 63) == 0) {
    const idx = (load<u32>(ctx + C_IDX) + 64) & 0xffff;
    store<u32>(ctx + C_IDX, idx);
    gmStore16Release(<u64>load<u32>(ctx + C_AVAIL) + 2, idx);
  }
  return true;
}

let frame: usize = 0;

/**
 * One vCPU's TX: submit `count` frames of `len` bytes (destination the NIC's
 * MAC, sequence at offset 18) to queue `h`, retrying a refused frame.
 * Returns the number of refusals.
 */
export function bench_txq_produce(h: i32, ctx: usize, producer: u32, count: u32, len: u32, flags: u32, budget: u32): u32 {
  if (frame == 0) frame = regionAlloc(65536, 64);
  const q = rtGet(h, RING_KIND_TXQ);
  // 52:54:00:00:00:0b ← 52:54:00:00:01:<producer>, IPv4 ethertype.
  store<u32>(frame, 0x00005452); store<u16>(frame, 0x0b00, 4);
  store<u32>(frame, 0x00005452, 6); store<u16>(frame, <u16>(0x0001 | (producer << 8)), 10);
  store<u16>(frame, 0x0008, 12);
  for (let i: u32 = 14; i < len; i++) store<u8>(frame + i, <u8>i);
  store<u32>(frame + 14, producer);
  let refused: u32 = 0;
  for (let s: u32 = 0; s < count; s++) {
    store<u32>(frame + 18, s);
    for (;;) {
      const r = txqSubmit(q, frame, len, flags, budget, nicSink, ctx);
      if (r == Status.OK) break;
      if (r != Status.ERR_FULL) return 0xffffffff;
      refused++;
    }
  }
  return refused;
}

/** Baseline: the same producer loop calling the sink directly (one thread, no queue, no lock). */
export function bench_sink_direct(ctx: usize, count: u32, len: u32): u32 {
  if (frame == 0) frame = regionAlloc(65536, 64);
  store<u32>(frame, 0x00005452); store<u16>(frame, 0x0b00, 4);
  store<u32>(frame, 0x00005452, 6); store<u16>(frame, 0x0001, 10);
  store<u16>(frame, 0x0008, 12);
  for (let i: u32 = 14; i < len; i++) store<u8>(frame + i, <u8>i);
  for (let s: u32 = 0; s < count; s++) { store<u32>(frame + 18, s); nicSink(ctx, frame, len); }
  return count;
}
