// A GroupBackend for tests: it records every request, answers at once or
// holds the answer for the test to release (late, in any order), refuses on
// demand, and checks the contract as it goes: no join of a joined group, no
// leave of a group not joined, never two requests in flight for one group.

import type { GroupBackend, MacString } from "../../src/net/control.js";
import { attachReconciler, type FilteredNic } from "../../src/net/attach.js";
import type { Reconciler, ReconcilerOptions } from "../../src/net/reconcile.js";

export type Answer = "ok" | "refuse" | "hold" | "throw" | "reject";

export interface HeldRequest { id: number; op: "add" | "remove" | "all"; group?: MacString; on?: boolean; resolve(ok: boolean): void }

export class FakeGroupBackend implements GroupBackend {
  readonly joined = new Set<MacString>();
  all = false;
  readonly log: string[] = [];
  readonly held: HeldRequest[] = [];
  /** Contract violations seen (a test asserts this stays empty). */
  readonly violations: string[] = [];
  readonly counts = { add: 0, remove: 0, all: 0, refused: 0 };
  /** Decides how each request is answered; default: at once, yes. */
  answer: (op: "add" | "remove" | "all", group?: MacString) => Answer = () => "ok";
  private readonly busy = new Set<string>();
  private nextId = 0;

  add(group: MacString): boolean | Promise<boolean> {
    this.counts.add++;
    if (this.joined.has(group)) this.violations.push(`add of joined ${group}`);
    return this.request("add", group, () => { this.joined.add(group); });
  }
  remove(group: MacString): boolean | Promise<boolean> {
    this.counts.remove++;
    if (!this.joined.has(group)) this.violations.push(`remove of absent ${group}`);
    return this.request("remove", group, () => { this.joined.delete(group); });
  }
  setAllMulticast(on: boolean): boolean | Promise<boolean> {
    this.counts.all++;
    return this.request("all", on ? "on" : "off", () => { this.all = on; }, on);
  }

  /** Answer held request `i` (index into `held`). */
  release(i: number, ok = true): void {
    const [r] = this.held.splice(i, 1);
    r.resolve(ok);
  }
  releaseAll(ok = true): void { while (this.held.length) this.release(0, ok); }

  private request(op: "add" | "remove" | "all", key: string, apply: () => void, on?: boolean): boolean | Promise<boolean> {
    const k = `${op === "all" ? "all" : "g"}:${key}`;
    if (this.busy.has(k)) this.violations.push(`overlapping requests for ${key}`);
    const a = this.answer(op, op === "all" ? undefined : key);
    this.log.push(`${op} ${key} ${a}`);
    const finish = (ok: boolean) => { this.busy.delete(k); if (ok) apply(); else this.counts.refused++; return ok; };
    if (a === "ok") return finish(true);
    if (a === "refuse") return finish(false);
    if (a === "throw") { finish(false); throw new Error("backend down"); }
    if (a === "reject") { finish(false); return Promise.reject(new Error("backend down")); }
    this.busy.add(k);
    return new Promise<boolean>((resolve) => {
      this.held.push({ id: this.nextId++, op, group: op === "all" ? undefined : key, on, resolve: (ok) => resolve(finish(ok)) });
    });
  }
}

/** Let promise continuations run (no timers involved). */
export async function drain(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise<void>((r) => setImmediate(r));
}

/**
 * `nic` attached to a fake backend, with a listener counting the model's
 * filter-change signals installed first (attachReconciler keeps it).
 */
export function attachFake(nic: FilteredNic, opts: Omit<ReconcilerOptions, "onClose"> = {}): { be: FakeGroupBackend; rec: Reconciler; changes: () => number } {
  const be = new FakeGroupBackend();
  let changes = 0;
  nic.onFilterChange = () => { changes++; };
  const rec = attachReconciler(nic, be, opts);
  return { be, rec, changes: () => changes };
}
