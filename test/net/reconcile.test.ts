// The multicast reconcile's rules one by one: marks, adds before removes,
// the in-flight states (the i40e NEW_SYNC race), the all-multicast fallback
// and how it ends, close, stale sources, and a backend that calls back in.

import { describe, expect, it } from "vitest";
import { Reconciler, formatEvent, canonicalGroup, type ReconcileEvent } from "../../src/net/reconcile.js";
import { FakeGroupBackend, drain } from "../support/group-backend.js";

const g = (i: number) => `01:00:5e:00:00:${i.toString(16).padStart(2, "0")}`;
const list = (...ids: number[]) => ({ all: false, groups: ids.map(g) });

function rig(opts: { bound?: number; maxInFlight?: number } = {}) {
  const be = new FakeGroupBackend();
  const events: ReconcileEvent[] = [];
  const rec = new Reconciler(be, { ...opts, onEvent: (e) => events.push(e) });
  const sends = () => events.filter((e) => e.type === "send").map((e) => { const s = e as { op: string; group?: string }; return `${s.op}${s.group ? " " + s.group : ""}`; });
  return { be, rec, events, sends };
}

describe("reconcile: marks and order", () => {
  it("a first table joins each group once; one change is one add then one remove", async () => {
    const { be, rec, sends } = rig();
    rec.replace(list(1, 2, 3));
    await rec.idle();
    expect([...be.joined].sort()).toEqual([g(1), g(2), g(3)]);
    expect(sends()).toEqual([`add ${g(1)}`, `add ${g(2)}`, `add ${g(3)}`]);
    rec.replace(list(1, 2, 4));
    await rec.idle();
    expect(sends().slice(3)).toEqual([`add ${g(4)}`, `remove ${g(3)}`]);
    expect(rec.joined).toEqual([g(1), g(2), g(4)]);
    expect(rec.counters).toMatchObject({ replaces: 2, addsSent: 4, removesSent: 1 });
    expect(be.violations).toEqual([]);
  });

  it("removes wait until every add of the pass was answered (make before break)", async () => {
    const { be, rec } = rig();
    rec.replace(list(1));
    await rec.idle();
    be.answer = () => "hold";
    rec.replace(list(2, 3));
    expect(be.held.map((h) => h.op)).toEqual(["add", "add"]);
    be.release(1);
    await drain();
    expect(be.held.map((h) => h.op), "one add still unanswered: no remove yet").toEqual(["add"]);
    be.release(0);
    await drain();
    expect(be.held.map((h) => `${h.op} ${h.group}`)).toEqual([`remove ${g(1)}`]);
    be.releaseAll();
    await rec.idle();
    expect([...be.joined].sort()).toEqual([g(2), g(3)]);
  });

  it("the shadow list shows each group's mark and in-flight state", () => {
    const { be, rec } = rig();
    rec.replace(list(1, 2));
    be.answer = () => "hold";
    rec.replace(list(2, 3));
    expect(rec.entriesView()).toEqual([
      { group: g(1), mark: "REMOVE", state: "in" },
      { group: g(2), mark: "KEEP", state: "in" },
      { group: g(3), mark: "ADD", state: "adding" },
    ]);
  });

  it("groups are canonicalized; unicast, broadcast, malformed and repeated entries are counted and skipped", async () => {
    const { be, rec } = rig();
    rec.replace({ all: false, groups: ["01:00:5E:00:00:FB", "01:00:5e:00:00:fb", "02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff", "nonsense", 7 as unknown as string] });
    await rec.idle();
    expect([...be.joined]).toEqual(["01:00:5e:00:00:fb"]);
    expect(rec.counters.invalidGroups).toBe(5);
    expect(canonicalGroup("33:33:00:00:00:01")).toBe("33:33:00:00:00:01");
  });
});

describe("reconcile: in-flight states (the i40e NEW_SYNC race, CVE-2024-53088)", () => {
  it("a replacement that drops a group while its add is in flight removes it after the ack", async () => {
    const { be, rec, sends } = rig();
    be.answer = () => "hold";
    rec.replace(list(1));
    rec.replace(list());
    expect(rec.entriesView()).toEqual([{ group: g(1), mark: "REMOVE", state: "adding" }]);
    be.release(0);
    await drain();
    expect(be.held.map((h) => `${h.op} ${h.group}`)).toEqual([`remove ${g(1)}`]);
    be.releaseAll();
    await rec.idle();
    expect(be.joined.size).toBe(0);
    expect(sends()).toEqual([`add ${g(1)}`, `remove ${g(1)}`]);
    expect(be.violations).toEqual([]);
  });

  it("a replacement that keeps a group while its add is in flight sends no second add", async () => {
    const { be, rec } = rig();
    be.answer = () => "hold";
    rec.replace(list(1));
    rec.replace(list(1, 2));
    rec.replace(list(2, 1));
    be.releaseAll();
    await drain();
    be.releaseAll();
    await rec.idle();
    expect(be.counts.add).toBe(2);
    expect([...be.joined].sort()).toEqual([g(1), g(2)]);
  });

  it("a replacement that wants a group back while its remove is in flight re-adds it after the ack", async () => {
    const { be, rec, sends } = rig();
    rec.replace(list(1, 2));
    await rec.idle();
    be.answer = () => "hold";
    rec.replace(list(2));
    expect(be.held.map((h) => `${h.op} ${h.group}`)).toEqual([`remove ${g(1)}`]);
    rec.replace(list(1, 2));
    expect(rec.entriesView()[0]).toEqual({ group: g(1), mark: "ADD", state: "removing" });
    expect(be.held.length, "no add while the remove is in flight").toBe(1);
    be.release(0);
    await drain();
    expect(be.held.map((h) => `${h.op} ${h.group}`)).toEqual([`add ${g(1)}`]);
    be.releaseAll();
    await rec.idle();
    expect([...be.joined].sort()).toEqual([g(1), g(2)]);
    expect(sends().slice(2)).toEqual([`remove ${g(1)}`, `add ${g(1)}`]);
    expect(rec.counters.coalesced).toBe(1);
    expect(be.violations).toEqual([]);
  });

  it("late answers in any order: each request has one answer with its sequence number", async () => {
    const { be, rec, events } = rig({ maxInFlight: 4 });
    be.answer = () => "hold";
    rec.replace(list(1, 2, 3, 4));
    be.release(3); be.release(0); be.release(1); be.release(0);
    await rec.idle();
    const acks = events.filter((e) => e.type === "ack").map((e) => (e as { seq: number }).seq);
    expect(acks).toEqual([4, 1, 3, 2]);
  });
});

describe("reconcile: all-multicast fallback", () => {
  it("past the bound: all-multicast on first, then every group left; back under it: joins first, then off", async () => {
    const { be, rec, events, sends } = rig({ bound: 3 });
    rec.replace(list(1, 2));
    await rec.idle();
    rec.replace(list(1, 2, 3, 4));
    await rec.idle();
    expect(sends().slice(2)).toEqual(["all-on", `remove ${g(1)}`, `remove ${g(2)}`]);
    expect(rec.allMulticast).toBe(true);
    expect(rec.reason).toBe("overflow");
    expect(be.all).toBe(true);
    expect(be.joined.size).toBe(0);
    expect(events.some((e) => e.type === "fallback" && e.reason === "overflow")).toBe(true);
    rec.replace(list(5));
    await rec.idle();
    expect(sends().slice(5)).toEqual([`add ${g(5)}`, "all-off"]);
    expect(rec.allMulticast).toBe(false);
    expect(rec.reason).toBe(null);
    expect(events.at(-2)?.type).toBe("fallback-end");
    expect(rec.counters.fallbacks).toBe(1);
  });

  it("a want for every group (promiscuous, allmulti, hash-filter) is passed on with its reason", async () => {
    const { be, rec } = rig();
    rec.replace(list(1));
    await rec.idle();
    rec.replace({ all: true, reason: "hash-filter", groups: [] });
    await rec.idle();
    expect(be.all).toBe(true);
    expect(be.joined.size).toBe(0);
    expect(rec.reason).toBe("hash-filter");
  });

  it("a refused add: all-multicast with reason backend-refused, the others stay joined; the next replace retries and ends it", async () => {
    const { be, rec } = rig();
    be.answer = (op, grp) => (op === "add" && grp === g(2) ? "refuse" : "ok");
    rec.replace(list(1, 2, 3));
    await rec.idle();
    expect([...be.joined].sort()).toEqual([g(1), g(3)]);
    expect(be.all).toBe(true);
    expect(rec.reason).toBe("backend-refused");
    expect(be.counts.add, "no retry without a new replace").toBe(3);
    be.answer = () => "ok";
    rec.replace(list(1, 2, 3));
    await rec.idle();
    expect([...be.joined].sort()).toEqual([g(1), g(2), g(3)]);
    expect(be.all).toBe(false);
    expect(rec.reason).toBe(null);
    expect(rec.counters).toMatchObject({ addsRefused: 1, fallbacks: 1, allOnSent: 1, allOffSent: 1 });
  });

  it("a backend that throws or rejects refuses, and the host keeps going", async () => {
    const { be, rec } = rig();
    be.answer = (op) => (op === "add" ? "throw" : "ok");
    rec.replace(list(1));
    await rec.idle();
    be.answer = (op) => (op === "add" ? "reject" : "ok");
    rec.replace(list(2));
    await rec.idle();
    expect(rec.counters.addsRefused).toBe(2);
    expect(be.all).toBe(true);
  });

  it("a refused remove keeps the group joined and is retried on the next replace", async () => {
    const { be, rec } = rig();
    rec.replace(list(1));
    await rec.idle();
    be.answer = (op) => (op === "remove" ? "refuse" : "ok");
    rec.replace(list());
    await rec.idle();
    expect(rec.joined).toEqual([g(1)]);
    expect(be.counts.remove).toBe(1);
    be.answer = () => "ok";
    rec.replace(list());
    await rec.idle();
    expect(be.joined.size).toBe(0);
    expect(rec.counters.removesRefused).toBe(1);
  });
});

describe("reconcile: bounds", () => {
  it("regression_leaves_past_the_bound_wait_for_all_multicast: joins that never stop coming do not hold leaves back, and the leaves that go first go after all-multicast is on", async () => {
    const { be, rec, events, sends } = rig({ bound: 2, maxInFlight: 2 });
    be.answer = (op) => (op === "add" ? "hold" : "ok");
    // Each new table names one new group; its join is answered only once the next table arrived.
    for (let i = 1; i <= 12; i++) {
      rec.replace(list(i));
      const j = be.held.findIndex((h) => h.group === g(i - 1));
      if (j >= 0) be.release(j);
      await drain();
      expect(rec.entriesView().length, `table ${i}`).toBeLessThanOrEqual(2 * 2 + 2 + 1);
    }
    const s = sends();
    expect(s.indexOf("all-on")).toBeGreaterThan(0);
    expect(s.indexOf("all-on"), "all-multicast before the first leave").toBeLessThan(s.findIndex((x) => x.startsWith("remove")));
    expect(events.some((e) => e.type === "fallback" && e.reason === "overflow")).toBe(true);
    be.answer = () => "ok";
    be.releaseAll();
    await rec.idle();
    expect([be.all, [...be.joined]]).toEqual([false, [g(12)]]);
    expect(be.violations).toEqual([]);
  });
});

describe("reconcile: serialization, close, hooks", () => {
  it("a replacement with an older source sequence than one applied is dropped as stale", async () => {
    const { be, rec } = rig();
    rec.replace(list(1), 2);
    rec.replace(list(2), 1);
    await rec.idle();
    expect([...be.joined]).toEqual([g(1)]);
    expect(rec.counters.stale).toBe(1);
  });

  it("a backend that replaces the table from inside its own answer (synchronous re-entry) still settles on the latest", async () => {
    const be = new FakeGroupBackend();
    let rec: Reconciler | null = null;
    let once = true;
    be.answer = (op) => { if (op === "add" && once) { once = false; rec!.replace(list(3)); } return "ok"; };
    rec = new Reconciler(be);
    rec.replace(list(1, 2));
    await rec.idle();
    expect([...be.joined]).toEqual([g(3)]);
    expect(be.violations).toEqual([]);
  });

  it("close leaves every group and turns all-multicast off; later replacements are ignored", async () => {
    const { be, rec } = rig({ bound: 1 });
    rec.replace(list(1));
    await rec.idle();
    be.answer = () => "hold";
    rec.replace(list(1, 2));
    const closed = rec.close();
    be.releaseAll();
    await drain();
    be.releaseAll();
    await closed;
    expect(be.all).toBe(false);
    expect(be.joined.size).toBe(0);
    rec.replace(list(4));
    expect(rec.counters.afterClose).toBe(1);
    expect(be.held.length).toBe(0);
  });

  it("an event hook that throws is counted, not propagated", async () => {
    const be = new FakeGroupBackend();
    const rec = new Reconciler(be, { onEvent: () => { throw new Error("hook"); } });
    rec.replace(list(1));
    await rec.idle();
    expect([...be.joined]).toEqual([g(1)]);
    expect(rec.counters.hookErrors).toBeGreaterThan(0);
  });

  it("trace lines name each request by sequence number", async () => {
    const { rec, events } = rig();
    rec.replace(list(1));
    await rec.idle();
    expect(events.map(formatEvent)).toEqual([
      "replace gen 1: 1 groups", `#1 send add ${g(1)} (gen 1)`, `#1 ack  add ${g(1)} ok`, "settled gen 1: 1 joined, all-multicast off",
    ]);
  });
});

describe("reconcile: regressions found by the model test", () => {
  it("regression_all_on_refusal_answers_the_generation_that_sent_it", async () => {
    // An all-on sent for an older want was refused after a newer want that
    // needs all-multicast (a refused add) arrived: the newer want must ask again.
    const { be, rec } = rig();
    be.answer = () => "hold";
    rec.replace({ all: true, reason: "allmulti", groups: [] });
    expect(be.held.map((h) => h.op)).toEqual(["all"]);
    be.answer = (op) => (op === "add" ? "refuse" : "hold");
    rec.replace(list(1));
    be.release(0, false);
    await drain();
    expect(be.held.map((h) => `${h.op} ${h.on}`), "the refused fallback asks for all-multicast again").toEqual(["all true"]);
    be.releaseAll();
    await rec.idle();
    expect(be.all).toBe(true);
    expect(rec.reason).toBe("backend-refused");
  });

  it("regression_add_refused_after_a_later_want_kept_it_is_retried", async () => {
    // A later want found the add in flight and marked it KEEP; the add was
    // then refused. The group must go back to ADD, not sit unjoined as KEEP.
    const { be, rec } = rig();
    be.answer = () => "hold";
    rec.replace(list(1));
    rec.replace(list(1, 2));
    be.release(0, false);
    await drain();
    be.answer = () => "ok";
    be.releaseAll();
    await rec.idle();
    expect([...be.joined].sort()).toEqual([g(1), g(2)]);
    expect(be.all).toBe(false);
    expect(rec.entriesView().map((e) => e.mark)).toEqual(["KEEP", "KEEP"]);
  });
});
