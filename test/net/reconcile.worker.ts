// One side of the two-thread reconcile test: a stream of whole-table
// replacements, each stamped with a sequence number taken from a counter
// shared with the other side (Atomics), posted to the thread that owns the
// reconciler.
import { parentPort, workerData } from "node:worker_threads";

const { id, counter, count, seed, pool } = workerData.data as { id: string; counter: SharedArrayBuffer; count: number; seed: number; pool: string[] };
const seqs = new Int32Array(counter);
let s = seed >>> 0 || 1;
const r = () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return (s >>> 0) / 2 ** 32; };
for (let i = 0; i < count; i++) {
  const groups = pool.filter(() => r() < 0.4);
  const all = r() < 0.05;
  const seq = Atomics.add(seqs, 0, 1);
  parentPort!.postMessage({ id, seq, want: all ? { all: true, reason: "allmulti", groups: [] } : { all: false, groups } });
}
parentPort!.postMessage({ id, done: true });
