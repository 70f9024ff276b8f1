// The multicast reconcile of a 64-entry list with one change per
// replacement (src/net/reconcile.ts): the shadow list re-marked, one join
// and one leave sent to a backend that answers at once. Baseline, same run,
// same lists, same requests: the set difference computed directly against
// the previous list (two Set walks), the join and the leave issued — no
// marks, no in-flight states, no validation, no events.
import { Reconciler } from "../src/net/reconcile.js";
import type { GroupBackend, MulticastWant } from "../src/net/control.js";
import { medianMs, type BenchRow } from "./support.js";

const N = 64, REPS = 2000;

export async function run(): Promise<BenchRow[]> {
  const g = (i: number) => `01:00:5e:${((i >> 16) & 0xff).toString(16).padStart(2, "0")}:${((i >> 8) & 0xff).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`;
  // Want k holds groups k .. k+63: each step drops one group and adds one.
  const wants: MulticastWant[] = Array.from({ length: REPS + 1 }, (_, k) => ({ all: false, groups: Array.from({ length: N }, (_, i) => g(k + i)) }));
  let adds = 0, removes = 0;
  const backend: GroupBackend = { add: () => { adds++; return true; }, remove: () => { removes++; return true; }, setAllMulticast: () => true };

  let rec = new Reconciler(backend, { bound: N });
  const recMs = medianMs(() => {
    for (let k = 1; k <= REPS; k++) rec.replace(wants[k]);
  }, 15, 3, () => { rec = new Reconciler(backend, { bound: N }); rec.replace(wants[0]); adds = 0; removes = 0; });
  if (adds !== REPS || removes !== REPS || rec.inFlight !== 0) throw new Error(`reconcile sent ${adds} adds, ${removes} removes`);

  let cur = new Set<string>();
  const baseMs = medianMs(() => {
    for (let k = 1; k <= REPS; k++) {
      const next = new Set(wants[k].groups);
      for (const x of next) if (!cur.has(x)) backend.add(x);
      for (const x of cur) if (!next.has(x)) backend.remove(x);
      cur = next;
    }
  }, 15, 3, () => { cur = new Set(wants[0].groups); adds = 0; removes = 0; });
  if (adds !== REPS || removes !== REPS) throw new Error(`baseline sent ${adds} adds, ${removes} removes`);

  const per = (ms: number) => (ms * 1e6) / REPS;
  return [{
    name: "multicast reconcile, 64-entry list, 1 change (1 join + 1 leave)", value: per(recMs), unit: "ns", baseline: per(baseMs), ratio: baseMs / recMs,
    note: "baseline: the set difference computed directly with two Sets and the same two requests issued; the reconcile also validates and canonicalizes each group, keeps marks and in-flight states, orders adds before removes",
  }];
}
