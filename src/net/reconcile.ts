// The multicast reconcile between a NIC's receive filter and a network
// backend. The guest replaces whole tables (control.ts); the backend takes
// one join or leave at a time. The reconciler keeps a shadow list of groups,
// each with a mark and an in-flight state:
//
//   replace(want):  mark every entry REMOVE; walk the new list, marking an
//                   entry KEEP when it is joined or being joined, ADD when it
//                   is absent or being left (a new entry starts as ADD);
//   then:           send ADDs (and all-multicast on) first, and REMOVEs (and
//                   all-multicast off) only once no add is wanted or in
//                   flight, so a group moving from one table to the next is
//                   never missing in between (the order of Intel's ice).
//
// Requests may answer at once or later, and out of order. At most one request
// per group is in flight (the GroupBackend contract); an entry whose request
// is in flight is never sent again, and when its answer comes its mark
// decides what follows. That is the in-flight state Linux i40e lacked
// (CVE-2024-53088): a replacement that arrives while an add is in flight and
// no longer wants the group gets a remove after the add's ack; one that
// arrives while a remove is in flight and wants the group back gets a fresh
// add after the remove's ack. Nothing is lost, nothing duplicated.
//
// Replacements are serialized by the shadow list itself: each one only
// re-marks entries, and the pump always works towards the latest marks, so
// any interleaving of guest and host replacements settles in the state of the
// latest one. A replacement may carry a source sequence number (two threads
// posting to one reconciler): one older than the latest applied is stale and
// dropped.
//
// Fallback to all-multicast ("the NIC says so": `allMulticast`, `reason`, a
// "fallback" event):
//   - the want itself asks for every group (promiscuous, allmulti,
//     hash-filter, the model's own overflow): leave every group;
//   - the want lists more than `bound` groups (default 64; ixl uses 128):
//     "overflow", leave every group;
//   - the backend refuses a join: "backend-refused"; the groups that did
//     join stay joined. The refused group is retried on the next replace (a
//     backend never sees a retry loop it did not ask for); all-multicast is
//     turned off again once every wanted group has joined.
// All-multicast goes on before the leaves that the fallback brings, and off
// only after the joins that end it (make before break).
//
// A refused leave keeps the group joined (the backend says it still
// delivers it: the NIC's own filter drops what it does not want) and is
// retried on the next replace. A backend that throws or rejects refuses.
//
// Bounds: a want's walk stops at `bound` + 1 groups; at most `maxInFlight`
// group requests are outstanding; entries still joined but no longer wanted
// are at most `bound` before leaves go ahead of joins (leaving is then safe
// because the backend is told all-multicast first, reason "overflow"), so the
// shadow list holds about 2 × bound + maxInFlight entries.

import type { AllMulticastReason, GroupBackend, MacString, MulticastWant } from "./control.js";

/** Tri-state mark of a shadow entry (FreeBSD iflib discussion). */
export type Mark = "REMOVE" | "KEEP" | "ADD";
/** Where an entry stands with the backend: acked out, acked in, or a request in flight. */
export type EntryState = "out" | "in" | "adding" | "removing";
/** A request the reconciler makes of the backend. */
export type RequestOp = "add" | "remove" | "all-on" | "all-off";

/** What the reconciler reports through `onEvent`; `seq` numbers requests, `gen` replacements. */
export type ReconcileEvent =
  | { type: "replace"; gen: number; all: boolean; reason?: AllMulticastReason; groups: number; source?: number }
  | { type: "stale"; source: number; latest: number }
  | { type: "send"; seq: number; gen: number; op: RequestOp; group?: MacString }
  | { type: "ack"; seq: number; gen: number; op: RequestOp; group?: MacString; ok: boolean }
  | { type: "fallback"; reason: AllMulticastReason }
  | { type: "fallback-end" }
  | { type: "settled"; gen: number; joined: number; allMulticast: boolean };

/** Options of a {@link Reconciler}. */
export interface ReconcilerOptions {
  /** Most groups followed one by one; past it the NIC falls back to all-multicast ("overflow"). Default 64. */
  bound?: number;
  /** Most group requests outstanding at the backend at once (at most one per group). Default 16. */
  maxInFlight?: number;
  /** Every replacement, request, answer, fallback and settle, in order. */
  onEvent?: (e: ReconcileEvent) => void;
  /** Name in trace lines. */
  name?: string;
  /** Called once when close() starts (attachReconciler unhooks the NIC there). */
  onClose?: () => void;
  /**
   * The address class followed (default "multicast"): "unicast" follows a
   * NIC's extra unicast addresses instead (the want's `groups` are then
   * unicast addresses; any other entry is counted invalid).
   */
  addresses?: "multicast" | "unicast";
}

/** The reconciler's event counters. */
export interface ReconcileCounters {
  replaces: number;
  /** Replacements that arrived while requests were in flight (their work merged into the pass under way). */
  coalesced: number;
  /** Replacements older (by source sequence) than one already applied. */
  stale: number;
  /** Groups of a want that were not canonical multicast MacStrings, or repeated. */
  invalidGroups: number;
  addsSent: number;
  addsRefused: number;
  removesSent: number;
  removesRefused: number;
  allOnSent: number;
  allOffSent: number;
  allRefused: number;
  fallbacks: number;
  /** Replacements after close(), ignored. */
  afterClose: number;
  /** Exceptions thrown by the onEvent hook (caught, so the reconcile goes on). */
  hookErrors: number;
}

interface Entry {
  group: MacString;
  mark: Mark;
  state: EntryState;
  /** Generation whose request for this entry the backend refused (not retried until the next replace). */
  refusedGen: number;
}

/** Value of hex digit code `c` (either case), or -1. */
function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  c |= 0x20;
  return c >= 97 && c <= 102 ? c - 87 : -1;
}

/** `s` as a canonical multicast MacString, or null (unicast, broadcast, malformed). */
export function canonicalGroup(s: unknown): MacString | null { return canonicalAddress(s, true); }

/** `s` as a canonical unicast address (not all zero), or null. */
export function canonicalUnicast(s: unknown): MacString | null { return canonicalAddress(s, false); }

function canonicalAddress(s: unknown, group: boolean): MacString | null {
  if (typeof s !== "string" || s.length !== 17) return null;
  let upper = false, ones = true;
  // Bounded: 17 characters.
  for (let i = 0; i < 17; i++) {
    const c = s.charCodeAt(i);
    if (i % 3 === 2) { if (c !== 58) return null; continue; }
    const v = hexVal(c);
    if (v < 0) return null;
    if (c >= 65 && c <= 70) upper = true;
    if (v !== 15) ones = false;
  }
  if (group ? (hexVal(s.charCodeAt(1)) & 1) === 0 || ones : (hexVal(s.charCodeAt(1)) & 1) !== 0 || /^[0:]*$/.test(s)) return null;
  return upper ? s.toLowerCase() : s;
}

/** One NIC's multicast reconcile into a {@link GroupBackend}. */
export class Reconciler {
  readonly name: string;
  readonly bound: number;
  readonly maxInFlight: number;
  readonly counters: ReconcileCounters = {
    replaces: 0, coalesced: 0, stale: 0, invalidGroups: 0, addsSent: 0, addsRefused: 0, removesSent: 0, removesRefused: 0,
    allOnSent: 0, allOffSent: 0, allRefused: 0, fallbacks: 0, afterClose: 0, hookErrors: 0,
  };
  onEvent: ((e: ReconcileEvent) => void) | null;

  /** The shadow list, in the order groups were first wanted. */
  private readonly entries = new Map<MacString, Entry>();
  private gen = 0;
  private seq = 0;
  private lastSource = -Infinity;
  /** What the latest want asks of the all-multicast switch, and why. */
  private wantAll = false;
  private wantReason: AllMulticastReason | undefined;
  /** All-multicast as the backend acked it, and whether a request for it is in flight. */
  private backendAll = false;
  private allBusy = false;
  private allRefusedGen = -1;
  /** Latest generation in which a join was refused (the fallback test is skipped for every other). */
  private addRefusedGen = -1;
  /** The reason last reported with a fallback event (kept until all-multicast is off at the backend). */
  private shownReason: AllMulticastReason | null = null;
  private groupsInFlight = 0;
  private pumping = false;
  private again = false;
  private closed = false;
  private waiters: (() => void)[] = [];
  private settledGen = -1;
  private readonly onClose: (() => void) | null;
  private readonly canonical: (s: unknown) => MacString | null;

  constructor(private readonly backend: GroupBackend, opts: ReconcilerOptions = {}) {
    this.canonical = opts.addresses === "unicast" ? canonicalUnicast : canonicalGroup;
    this.bound = Math.max(0, Math.floor(opts.bound ?? 64));
    this.maxInFlight = Math.max(1, Math.floor(opts.maxInFlight ?? 16));
    this.onEvent = opts.onEvent ?? null;
    this.name = opts.name ?? "nic";
    this.onClose = opts.onClose ?? null;
  }

  /**
   * Make the backend follow `want` (the NIC's whole multicast filter, as
   * control.ts describes it). Returns at once; {@link idle} resolves when
   * everything settled. `source` orders replacements made on different
   * threads: one lower than a source already applied is dropped as stale.
   */
  replace(want: MulticastWant, source?: number): void {
    if (this.closed) { this.counters.afterClose++; return; }
    if (source !== undefined) {
      if (source < this.lastSource) {
        this.counters.stale++;
        this.emit({ type: "stale", source, latest: this.lastSource });
        return;
      }
      this.lastSource = source;
    }
    this.counters.replaces++;
    if (this.inFlight > 0) this.counters.coalesced++;
    const gen = ++this.gen;
    for (const e of this.entries.values()) e.mark = "REMOVE";
    let all = want.all === true;
    let reason: AllMulticastReason | undefined = all ? (want.reason ?? "allmulti") : undefined;
    let listed = 0;
    if (!all) {
      const groups = Array.isArray(want.groups) ? want.groups : [];
      // Bounded: the walk stops at the first group past `bound` (overflow).
      for (let i = 0; i < groups.length; i++) {
        const x = groups[i];
        // A shadow entry's key is canonical already: only new strings are checked.
        let e = typeof x === "string" ? this.entries.get(x) : undefined;
        if (e === undefined) {
          const c = this.canonical(x);
          if (c === null) { this.counters.invalidGroups++; continue; }
          e = this.entries.get(c);
          if (e === undefined) {
            if (listed === this.bound) { all = true; reason = "overflow"; break; }
            this.entries.set(c, { group: c, mark: "ADD", state: "out", refusedGen: -1 });
            listed++;
            continue;
          }
        }
        // Entries not walked yet are still REMOVE: any other mark is a repeat in this list.
        if (e.mark !== "REMOVE") { this.counters.invalidGroups++; continue; }
        if (listed === this.bound) { all = true; reason = "overflow"; break; }
        listed++;
        e.mark = e.state === "in" || e.state === "adding" ? "KEEP" : "ADD";
      }
      // Overflow: nothing is followed one by one (the fresh entries go at the next step).
      if (all) for (const e of this.entries.values()) e.mark = "REMOVE";
    }
    this.wantAll = all;
    this.wantReason = reason;
    this.emit({ type: "replace", gen, all, reason, groups: all ? 0 : listed, source });
    this.pump();
  }

  /**
   * Leave every group and turn all-multicast off (the NIC detaches). Later
   * replacements are ignored. Resolves when the backend answered everything.
   */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.onClose?.();
      this.gen++;
      for (const e of this.entries.values()) e.mark = "REMOVE";
      this.wantAll = false;
      this.wantReason = undefined;
      this.pump();
    }
    return this.idle();
  }

  /** Resolves once no request is in flight and nothing is left to send. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  /** {@link idle} as a property. */
  get settled(): Promise<void> { return this.idle(); }

  /** Groups the backend acked as joined (leaves in flight included until acked). */
  get joined(): MacString[] {
    const out: MacString[] = [];
    for (const e of this.entries.values()) if (e.state === "in" || e.state === "removing") out.push(e.group);
    return out.sort();
  }
  /** All-multicast as the backend last acked it. */
  get allMulticast(): boolean { return this.backendAll; }
  /** Why all-multicast is on (or being turned on), else null. */
  get reason(): AllMulticastReason | null {
    const r = this.targetReason();
    return r ?? (this.backendAll ? this.shownReason : null);
  }
  /** Requests in flight (groups and all-multicast). */
  get inFlight(): number { return this.groupsInFlight + (this.allBusy ? 1 : 0); }
  /** The shadow list: each group with its mark and state. */
  entriesView(): { group: MacString; mark: Mark; state: EntryState }[] {
    return [...this.entries.values()].map((e) => ({ group: e.group, mark: e.mark, state: e.state }));
  }
  /** Whether the reconciler was closed. */
  get isClosed(): boolean { return this.closed; }

  // ---- internals -----------------------------------------------------------

  /** Why the target has all-multicast on, or undefined for "off". */
  private targetReason(): AllMulticastReason | undefined {
    if (this.closed) return undefined;
    if (this.wantAll) return this.wantReason;
    if (this.addRefusedGen !== this.gen) return undefined;
    for (const e of this.entries.values()) if (e.mark === "ADD" && e.state === "out" && e.refusedGen === this.gen) return "backend-refused";
    return undefined;
  }

  private emit(e: ReconcileEvent): void {
    const f = this.onEvent;
    if (!f) return;
    try { f(e); } catch { this.counters.hookErrors++; }
  }

  private isIdle(): boolean { return this.inFlight === 0 && !this.work(); }

  /** Whether a request could be sent now or later without a new replace. */
  private work(): boolean {
    for (const e of this.entries.values()) {
      if (e.refusedGen === this.gen) continue;
      if (e.mark === "ADD" && e.state === "out") return true;
      if (e.mark === "REMOVE" && (e.state === "in" || e.state === "out")) return true;
    }
    const t = this.targetReason() !== undefined;
    return t !== this.backendAll && this.allRefusedGen !== this.gen;
  }

  private pump(): void {
    if (this.pumping) { this.again = true; return; }
    this.pumping = true;
    try {
      // Bounded: each round sends at least one request or stops; requests are bounded by entries and maxInFlight.
      do { this.again = false; this.step(); } while (this.again);
    } finally {
      this.pumping = false;
    }
    if (!this.isIdle()) return;
    if (this.settledGen !== this.gen) {
      this.settledGen = this.gen;
      if (this.onEvent) {
        let joined = 0;
        for (const e of this.entries.values()) if (e.state === "in" || e.state === "removing") joined++;
        this.emit({ type: "settled", gen: this.gen, joined, allMulticast: this.backendAll });
      }
    }
    const w = this.waiters; this.waiters = [];
    for (const f of w) f();
  }

  /** Send what the marks call for, in order: all-multicast on, joins, then leaves and all-multicast off. */
  private step(): void {
    const gen = this.gen;
    const reason = this.targetReason();
    const targetAll = reason !== undefined;
    if (targetAll && reason !== this.shownReason) {
      this.shownReason = reason;
      this.counters.fallbacks++;
      this.emit({ type: "fallback", reason });
    }
    // Make: all-multicast on first.
    if (targetAll && !this.backendAll && !this.allBusy && this.allRefusedGen !== gen) this.sendAll(true);
    let addsPending = this.allBusy && targetAll;
    // A Map iterates safely while entries are deleted (skipped) or added by a re-entrant replace (visited).
    let stale = 0;
    for (const e of this.entries.values()) {
      if (this.entries.get(e.group) !== e) continue;
      if (e.mark === "REMOVE" && e.state === "out") { this.entries.delete(e.group); continue; }
      if (e.mark === "REMOVE" && (e.state === "in" || e.state === "adding")) stale++;
      if (e.state === "adding") { addsPending = true; continue; }
      if (e.mark !== "ADD" || e.state !== "out" || e.refusedGen === gen) continue;
      addsPending = true;
      if (this.groupsInFlight >= this.maxInFlight) continue;
      this.sendGroup(e, "add");
      if (this.gen !== gen) { this.again = true; return; }
    }
    // Past `bound` groups joined but no longer wanted (joins that keep coming
    // hold their leaves back), all-multicast goes on so the leaves can go
    // ahead of the joins without missing a frame.
    const crowded = stale > this.bound;
    if (crowded && !this.backendAll && !this.allBusy && this.allRefusedGen !== gen) {
      if (this.shownReason !== "overflow") { this.shownReason = "overflow"; this.counters.fallbacks++; this.emit({ type: "fallback", reason: "overflow" }); }
      this.sendAll(true);
      if (this.gen !== gen) { this.again = true; return; }
    }
    // Break: leaves once no join is wanted or in flight, or once all-multicast
    // is on at the backend (nothing can be missed then); if the backend
    // refused all-multicast, a crowded list still leaves (the bound holds).
    if (addsPending && !this.backendAll && !(crowded && this.allRefusedGen === gen)) return;
    for (const e of this.entries.values()) {
      if (this.entries.get(e.group) !== e) continue;
      if (e.mark !== "REMOVE" || e.state !== "in" || e.refusedGen === gen) continue;
      if (this.groupsInFlight >= this.maxInFlight) break;
      this.sendGroup(e, "remove");
      if (this.gen !== gen) { this.again = true; return; }
    }
    if (!targetAll && this.backendAll && !this.allBusy && !addsPending && this.allRefusedGen !== gen) this.sendAll(false);
  }

  private sendGroup(e: Entry, op: "add" | "remove"): void {
    const seq = ++this.seq, gen = this.gen;
    e.state = op === "add" ? "adding" : "removing";
    this.groupsInFlight++;
    if (op === "add") this.counters.addsSent++; else this.counters.removesSent++;
    this.emit({ type: "send", seq, gen, op, group: e.group });
    this.call(() => (op === "add" ? this.backend.add(e.group) : this.backend.remove(e.group)), (ok) => this.groupDone(e, op, seq, gen, ok));
  }

  private sendAll(on: boolean): void {
    const seq = ++this.seq, gen = this.gen, op: RequestOp = on ? "all-on" : "all-off";
    this.allBusy = true;
    if (on) this.counters.allOnSent++; else this.counters.allOffSent++;
    this.emit({ type: "send", seq, gen, op });
    this.call(() => this.backend.setAllMulticast(on), (ok) => {
      this.allBusy = false;
      this.emit({ type: "ack", seq, gen: this.gen, op, ok });
      if (ok) {
        this.backendAll = on;
        if (!on && this.shownReason !== null) { this.shownReason = null; this.emit({ type: "fallback-end" }); }
      } else {
        // The refusal answers the want of the generation that sent it: a later want asks again.
        this.counters.allRefused++;
        this.allRefusedGen = gen;
      }
      this.pump();
    });
  }

  /** The answer to request `seq`, sent under generation `sentGen` (a refusal is not retried before the next generation). */
  private groupDone(e: Entry, op: "add" | "remove", seq: number, sentGen: number, ok: boolean): void {
    this.groupsInFlight--;
    this.emit({ type: "ack", seq, gen: this.gen, op, group: e.group, ok });
    if (op === "add") {
      e.state = ok ? "in" : "out";
      if (ok) { if (e.mark === "ADD") e.mark = "KEEP"; }
      else {
        // A later want that found the join in flight marked it KEEP; it is not joined: ADD again.
        this.counters.addsRefused++;
        e.refusedGen = sentGen;
        if (sentGen > this.addRefusedGen) this.addRefusedGen = sentGen;
        if (e.mark === "KEEP") e.mark = "ADD";
      }
    } else {
      e.state = ok ? "out" : "in";
      if (ok) { if (e.mark === "KEEP") e.mark = "ADD"; }
      else { this.counters.removesRefused++; e.refusedGen = sentGen; if (e.mark === "ADD") e.mark = "KEEP"; }
    }
    this.pump();
  }

  /** Call the backend; a synchronous answer is handled at once, a promise when it settles; a throw or rejection refuses. */
  private call(req: () => boolean | Promise<boolean>, done: (ok: boolean) => void): void {
    let r: boolean | Promise<boolean>;
    try { r = req(); } catch { done(false); return; }
    if (r !== null && typeof r === "object" && typeof (r as Promise<boolean>).then === "function") {
      let once = false;
      (r as Promise<boolean>).then((v) => { if (!once) { once = true; done(v === true); } }, () => { if (!once) { once = true; done(false); } });
    } else done(r === true);
  }
}

/** One trace line for an event: "#12 send add 01:00:5e:00:00:fb (gen 3)". */
export function formatEvent(e: ReconcileEvent): string {
  switch (e.type) {
    case "replace": return `replace gen ${e.gen}: ${e.all ? `all (${e.reason})` : `${e.groups} groups`}${e.source !== undefined ? ` source ${e.source}` : ""}`;
    case "stale": return `stale source ${e.source} < ${e.latest}: dropped`;
    case "send": return `#${e.seq} send ${e.op}${e.group ? " " + e.group : ""} (gen ${e.gen})`;
    case "ack": return `#${e.seq} ack  ${e.op}${e.group ? " " + e.group : ""} ${e.ok ? "ok" : "REFUSED"}`;
    case "fallback": return `fallback to all-multicast: ${e.reason}`;
    case "fallback-end": return "all-multicast off: following groups again";
    case "settled": return `settled gen ${e.gen}: ${e.joined} joined, all-multicast ${e.allMulticast ? "on" : "off"}`;
  }
}
