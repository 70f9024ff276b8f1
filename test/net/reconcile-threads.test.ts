// Two threads replace one NIC's multicast table at once — one plays the
// guest's control queue, the other the host API — against one reconciler
// whose backend answers late and out of order. Each replacement carries a
// sequence number from a counter both threads share; whatever order the
// messages arrive in, the backend ends in the want with the highest number,
// and no group was ever joined twice or left when not joined.
import { describe, expect, it } from "vitest";
import { Reconciler } from "../../src/net/reconcile.js";
import type { MulticastWant } from "../../src/net/control.js";
import { FakeGroupBackend, drain } from "../support/group-backend.js";
import { tsWorker } from "../support/workers.js";

const POOL = Array.from({ length: 10 }, (_, i) => `01:00:5e:00:01:${i.toString(16).padStart(2, "0")}`);
const PER_THREAD = 300;

describe("reconcile from two threads", () => {
  it("guest and host streams interleaved: the end state is the later want by sequence, nothing duplicated", async () => {
    const counter = new SharedArrayBuffer(4);
    const be = new FakeGroupBackend();
    let k = 7;
    const r = () => { k ^= k << 13; k ^= k >>> 17; k ^= k << 5; return (k >>> 0) / 2 ** 32; };
    be.answer = () => (r() < 0.6 ? "hold" : "ok");
    const rec = new Reconciler(be, { bound: 16, maxInFlight: 3 });
    const latest = { seq: -1, want: { all: false, groups: [] } as MulticastWant };
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      let done = 0;
      for (const id of ["guest", "host"]) {
        const w = tsWorker(new URL("./reconcile.worker.ts", import.meta.url), { id, counter, count: PER_THREAD, seed: id === "guest" ? 11 : 23, pool: POOL });
        w.on("message", (m: { done?: boolean; seq: number; want: MulticastWant }) => {
          if (m.done) { if (++done === 2) resolve(); return; }
          received++;
          if (m.seq > latest.seq) { latest.seq = m.seq; latest.want = m.want; }
          rec.replace(m.want, m.seq);
          // Answer some held requests now, late and in any order.
          while (be.held.length && r() < 0.5) be.release(Math.floor(r() * be.held.length), true);
        });
        w.once("error", reject);
      }
    });
    expect(received).toBe(2 * PER_THREAD);
    be.answer = () => "ok";
    // Bounded: each round answers everything held.
    for (let i = 0; i < 100 && (be.held.length || rec.inFlight); i++) { be.releaseAll(); await drain(); }
    await rec.idle();
    const want = latest.want;
    const expected = want.all ? { all: true, groups: [] } : { all: false, groups: [...want.groups].sort() };
    expect({ all: be.all, groups: [...be.joined].sort() }).toEqual(expected);
    expect(be.violations).toEqual([]);
    expect(rec.counters.replaces + rec.counters.stale).toBe(2 * PER_THREAD);
    expect(be.counts.add).toBe(rec.counters.addsSent);
    expect(be.counts.remove).toBe(rec.counters.removesSent);
    await rec.close();
    expect([be.all, be.joined.size]).toEqual([false, 0]);
  });
});
