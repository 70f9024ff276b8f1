// Model-based test of the multicast reconcile: random sequences of table
// replacements against a backend that answers at once, late, out of order,
// or refuses; the reference is the plain meaning of the latest want. Each
// sequence prints its seed on failure.

import { describe, expect, it } from "vitest";
import { Reconciler, formatEvent, type ReconcileEvent } from "../../src/net/reconcile.js";
import type { MulticastWant } from "../../src/net/control.js";
import { FakeGroupBackend, drain, type Answer } from "../support/group-backend.js";

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return (s >>> 0) / 2 ** 32; };
}

const POOL = Array.from({ length: 14 }, (_, i) => `01:00:5e:00:00:${i.toString(16).padStart(2, "0")}`);

function randomWant(r: () => number): MulticastWant {
  const k = r();
  if (k < 0.08) return { all: true, reason: "allmulti", groups: [] };
  if (k < 0.12) return { all: true, reason: "promiscuous", groups: [] };
  const n = Math.floor(r() * 11);
  const groups: string[] = [];
  for (let i = 0; i < n; i++) groups.push(POOL[Math.floor(r() * POOL.length)]);
  if (r() < 0.1) groups.push("02:00:00:00:00:01"); // unicast: not a group
  if (r() < 0.1) groups.push(groups[0]?.toUpperCase() ?? "01:00:5E:00:00:01");
  return { all: false, groups };
}

/** The reference: what the backend holds once the latest want settled with a willing backend. */
function expected(want: MulticastWant, bound: number): { all: boolean; groups: string[] } {
  if (want.all) return { all: true, groups: [] };
  const g = [...new Set(want.groups.map((x) => x.toLowerCase()).filter((x) => (parseInt(x.slice(0, 2), 16) & 1) === 1))].sort();
  return g.length > bound ? { all: true, groups: [] } : { all: false, groups: g };
}

/** The last all-multicast answer: "all-on refused", "all-on ok", ... */
function lastAllAck(events: readonly ReconcileEvent[]): string {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.type === "ack" && (e.op === "all-on" || e.op === "all-off")) return `${e.op} ${e.ok ? "ok" : "refused"}`;
  }
  return "none";
}

/**
 * Answer (yes) whatever the backend holds until rec.idle() resolves; a
 * failure if it does not come while the backend holds nothing (a hang).
 */
async function settle(rec: Reconciler, be: FakeGroupBackend, seed: number, r: () => number): Promise<void> {
  let done = false;
  void rec.idle().then(() => { done = true; });
  // Bounded: each round answers what is held; requests are bounded by the wants.
  for (let i = 0; i < 500 && !done; i++) {
    while (be.held.length) be.release(Math.floor(r() * be.held.length), true);
    await drain();
  }
  if (!done) throw new Error(`seed ${seed}: not idle with nothing held (inFlight ${rec.inFlight}, held ${be.held.length}): ${JSON.stringify(rec.entriesView())}`);
}

async function runSequence(seed: number): Promise<void> {
  const r = rng(seed);
  const bound = 3 + Math.floor(r() * 6);
  const refuseP = r() < 0.5 ? 0 : r() * 0.3;
  const holdP = r() * 0.8;
  const be = new FakeGroupBackend();
  be.answer = (): Answer => {
    const k = r();
    if (k < refuseP) return r() < 0.3 ? (r() < 0.5 ? "throw" : "reject") : "refuse";
    return k < refuseP + holdP ? "hold" : "ok";
  };
  const events: ReconcileEvent[] = [];
  const rec = new Reconciler(be, { bound, maxInFlight: 1 + Math.floor(r() * 6), onEvent: (e) => events.push(e) });
  let latest: MulticastWant = { all: false, groups: [] };
  const steps = 10 + Math.floor(r() * 40);
  for (let i = 0; i < steps; i++) {
    const k = r();
    if (k < 0.4) { latest = randomWant(r); rec.replace(latest); }
    else if (k < 0.8 && be.held.length) {
      // A held answer is a late yes, or (as often as the backend refuses) a late no.
      be.release(Math.floor(r() * be.held.length), r() >= refuseP);
      await drain();
    } else await drain();
    expect(be.violations, `seed ${seed}`).toEqual([]);
    // The shadow list stays bounded at every step: the bound's worth of stale entries (one more while all-multicast is asked), a want, the requests in flight.
    expect(rec.entriesView().length, `seed ${seed}: shadow list size`).toBeLessThanOrEqual(2 * bound + 1 + rec.maxInFlight + 1);
  }
  // Let everything answered so far settle, then check the honest report:
  // what the reconciler says is what the backend holds.
  await settle(rec, be, seed, r);
  expect(be.violations, `seed ${seed}`).toEqual([]);
  expect(rec.joined, `seed ${seed}`).toEqual([...be.joined].sort());
  expect(rec.allMulticast, `seed ${seed}`).toBe(be.all);
  const ref = expected(latest, bound);
  // Every wanted group the backend did not refuse is joined; a refused one means all-multicast.
  if (!ref.all) {
    const missing = ref.groups.filter((g) => !be.joined.has(g));
    if (missing.length && process.env.RECONCILE_TRACE) console.log(events.map(formatEvent).join("\n"), be.log.join("\n"));
    if (missing.length) {
      expect(rec.reason, `seed ${seed}`).toBe("backend-refused");
      if (!be.all) expect(lastAllAck(events), `seed ${seed}: ${missing} missing, all-multicast off, and not because the backend refused it`).toBe("all-on refused");
    }
  } else if (!be.all) expect(lastAllAck(events), `seed ${seed}: all-multicast wanted but off`).toBe("all-on refused");
  // A willing backend and the latest want once more (a refusal is retried on the next replace): exact equality.
  be.answer = () => "ok";
  rec.replace(latest);
  await settle(rec, be, seed, r);
  expect({ all: be.all, groups: [...be.joined].sort() }, `seed ${seed}`).toEqual(ref);
  expect(rec.joined, `seed ${seed}`).toEqual(ref.groups);
  expect(rec.allMulticast, `seed ${seed}`).toBe(ref.all);
  expect(rec.inFlight).toBe(0);
  expect(be.violations, `seed ${seed}`).toEqual([]);
  // Each send has exactly one ack, with the same sequence number.
  const sent = events.filter((e) => e.type === "send").map((e) => (e as { seq: number }).seq);
  const acked = events.filter((e) => e.type === "ack").map((e) => (e as { seq: number }).seq);
  expect([...acked].sort((a, b) => a - b), `seed ${seed}`).toEqual(sent);
  expect(new Set(sent).size).toBe(sent.length);
  // The shadow list stays within its bound.
  expect(rec.entriesView().length).toBeLessThanOrEqual(2 * bound + rec.maxInFlight);
  await rec.close();
  expect({ all: be.all, groups: [...be.joined] }, `seed ${seed}: close leaves everything`).toEqual({ all: false, groups: [] });
}

describe("reconcile against a reference", () => {
  const base = Number(process.env.RECONCILE_SEED ?? 0x5eed);
  it("random replacements, refusals, late and out-of-order answers: 400 sequences end in the latest want", async () => {
    for (let i = 0; i < 400; i++) {
      const seed = (base + i * 7919) >>> 0;
      try { await runSequence(seed); } catch (err) { throw new Error(`seed ${seed} (RECONCILE_SEED=${seed}): ${(err as Error).message}`); }
    }
  });
});
