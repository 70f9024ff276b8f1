// Loops for the ring benches (bench/rings.bench.ts), so the timed work stays
// inside wasm, and the baselines they are compared against.
import { regionAlloc } from "../../assembly/core/layout";
import { rtGet } from "../../assembly/rings/table";
import { RING_KIND_QUEUE, RQ_BULK } from "../../assembly/rings/defs";
import { rqSpEnqueue, rqMpEnqueue, rqDequeue } from "../../assembly/rings/queue";

let src: usize = 0;
let dst: usize = 0;
let plain: usize = 0;
function scratch(): void {
  if (src != 0) return;
  src = regionAlloc(4096 * 4, 64);
  dst = regionAlloc(4096 * 4, 64);
  plain = regionAlloc(4096 * 4, 64);
  for (let i: u32 = 0; i < 4096; i++) store<u32>(src + (<usize>i << 2), i);
}

/** Single thread: `rounds` × (enqueue `burst` values in bulk, dequeue them in bulk). Returns a checksum of what came out. */
export function bench_rq_roundtrip(h: i32, burst: u32, rounds: u32): u32 {
  scratch();
  const q = rtGet(h, RING_KIND_QUEUE);
  let acc: u32 = 0;
  const mp = (load<u32>(q + 8) & 1) != 0;
  for (let r: u32 = 0; r < rounds; r++) {
    const a = mp ? rqMpEnqueue(q, src, burst, RQ_BULK) : rqSpEnqueue(q, src, burst, RQ_BULK);
    const b = rqDequeue(q, dst, burst, RQ_BULK);
    acc += <u32>a + <u32>b + load<u32>(dst);
  }
  return acc;
}

/** Baseline: the same data movement without a ring (copy `burst` u32s into a buffer and back out, v128 as the ring does). */
export function bench_rq_copy_baseline(burst: u32, rounds: u32): u32 {
  scratch();
  let acc: u32 = 0;
  for (let r: u32 = 0; r < rounds; r++) {
    let i: u32 = 0;
    for (; i + 4 <= burst; i += 4) v128.store(plain + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
    for (; i < burst; i++) store<u32>(plain + (<usize>i << 2), load<u32>(src + (<usize>i << 2)));
    i = 0;
    for (; i + 4 <= burst; i += 4) v128.store(dst + (<usize>i << 2), v128.load(plain + (<usize>i << 2)));
    for (; i < burst; i++) store<u32>(dst + (<usize>i << 2), load<u32>(plain + (<usize>i << 2)));
    acc += load<u32>(dst);
  }
  return acc;
}

/** Producer thread: enqueue `count` values tagged (producer << 24 | seq) in bursts of `burst`, retrying while full. Returns retries. */
export function bench_rq_produce(h: i32, producer: u32, burst: u32, count: u32): u32 {
  scratch();
  const q = rtGet(h, RING_KIND_QUEUE);
  const mp = (load<u32>(q + 8) & 1) != 0;
  let sent: u32 = 0, spins: u32 = 0;
  while (sent < count) {
    const n = min<u32>(burst, count - sent);
    for (let i: u32 = 0; i < n; i++) store<u32>(src + (<usize>i << 2), producer << 24 | (sent + i));
    const k = mp ? rqMpEnqueue(q, src, n, RQ_BULK) : rqSpEnqueue(q, src, n, RQ_BULK);
    if (k <= 0) { spins++; continue; }
    sent += <u32>k;
  }
  return spins;
}

/** Consumer thread: dequeue `count` values in bursts of `burst`; checks each producer's values arrive in order. Returns the number out of order (0). */
export function bench_rq_consume(h: i32, burst: u32, count: u32): u32 {
  scratch();
  const q = rtGet(h, RING_KIND_QUEUE);
  const next = plain; // next expected sequence per producer (up to 256)
  memory.fill(next, 0, 1024);
  let got: u32 = 0, bad: u32 = 0;
  while (got < count) {
    const k = rqDequeue(q, dst, burst, 1);
    if (k <= 0) continue;
    for (let i: u32 = 0; i < <u32>k; i++) {
      const v = load<u32>(dst + (<usize>i << 2));
      const p = next + (<usize>(v >> 24) << 2);
      if ((v & 0xffffff) != load<u32>(p)) bad++;
      store<u32>(p, (v & 0xffffff) + 1);
    }
    got += <u32>k;
  }
  return bad;
}
