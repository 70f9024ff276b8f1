// What every ring object shares: a handle in the VM's ring table (valid in
// every instance attached to the memory), its address, counters, destroy.

import { check, Status, VmdevError } from "../status.js";
import type { VmCore } from "../vm-core.js";
import { RingsDefs } from "../generated/constants.js";
import { camelTable, readCounters, countersJson, type JsonCounter } from "../tables.js";

const {
  RING_KIND_NETMAP, RING_KIND_QUEUE, RING_KIND_TXQ, RING_KIND_PORT, NmrCounter, RqCounter, TxqCounter,
  PortCounter,
} = RingsDefs;

/** Counter tables (camelCase of defs.ts: `badHead`, ...) by object kind; pools have none. */
const COUNTERS: Readonly<Record<number, Readonly<Record<string, number>>>> = {
  [RING_KIND_NETMAP]: camelTable(NmrCounter),
  [RING_KIND_QUEUE]: camelTable(RqCounter),
  [RING_KIND_TXQ]: camelTable(TxqCounter),
  [RING_KIND_PORT]: camelTable(PortCounter),
};

/** Counter names (camelCase of defs.ts) by object kind. */
export const RING_COUNTER_NAMES: Readonly<Record<number, ReadonlyArray<[string, number]>>> =
  Object.fromEntries(Object.entries(COUNTERS).map(([kind, t]) => [kind, Object.entries(t)]));

/** A handle from a create export: ≥ 1, or -Status. */
export function handleOf(h: number, op: string): number {
  if (h < 0) throw new VmdevError(-h, op);
  if (h === 0) throw new VmdevError(Status.ERR_BAD_HANDLE, op);
  return h;
}

export abstract class RingObject {
  protected destroyed = false;
  protected constructor(readonly core: VmCore, readonly handle: number, readonly kind: number) {}

  /** Address of the object in linear memory (its shared fields: assembly/rings/defs.ts). */
  get ptr(): number { return this.core.exports.ring_ptr(this.handle) >>> 0; }

  /** The object's event counters by name. */
  counters(): Record<string, bigint> {
    const base = this.core.exports.ring_counters_ptr(this.handle) >>> 0;
    if (base === 0) return {};
    return readCounters(this.core.dv(), base, COUNTERS[this.kind] ?? {});
  }
  /** {@link counters} as JSON-safe numbers (src/tables.ts countersJson: a number up to 2^53 − 1, else a decimal string). */
  countersJSON(): Record<string, JsonCounter> { return countersJson(this.counters()); }

  /** Free the object (no thread may use it any more). Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    check(this.core.exports.ring_destroy(this.handle), "ring_destroy");
    this.destroyed = true;
  }
}
