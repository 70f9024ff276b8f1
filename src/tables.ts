// Host views of the wasm's constant tables (src/generated/constants.ts,
// generated from assembly/**/defs.ts): the same numbers under camelCase
// names, and the one way a host reads any area's counters.

/** `GM_RANGE_ERRORS` → `gmRangeErrors`. */
type Camel<S extends string> = S extends `${infer H}_${infer T}` ? `${Lowercase<H>}${Capitalize<Camel<T>>}` : Lowercase<S>;

/** A table with its keys in camelCase. */
export type CamelTable<T> = { readonly [K in keyof T & string as Camel<K>]: T[K] };

/** A generated table (`CoreDefs.Counter`) with camelCase keys (`gmRangeErrors`), values unchanged. */
export function camelTable<T extends Readonly<Record<string, number>>>(table: T): CamelTable<T> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(table)) out[k.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())] = v;
  return out as CamelTable<T>;
}

/**
 * Read an area's counters: every area exports `<area>_counters_ptr(...)`,
 * the address of its u64 counters in linear memory, and names them in its
 * defs.ts table. `memory` views the VM's linear memory (VmCore.dv()). Every
 * counter reads 0n when `ptr` is 0 (the area does not exist yet).
 */
export function readCounters<T extends Readonly<Record<string, number>>>(memory: DataView, ptr: number, table: T): Record<keyof T, bigint> {
  const out = {} as Record<keyof T, bigint>;
  const dv = memory;
  for (const [name, idx] of Object.entries(table)) out[name as keyof T] = ptr === 0 ? 0n : dv.getBigUint64(ptr + idx * 8, true);
  return out;
}

/** A counter value in JSON: a number up to 2^53 − 1 (every count a device reaches by counting), else its decimal string. */
export type JsonCounter = number | string;

/**
 * Counters as JSON-safe values (`JSON.stringify` refuses bigints): each a
 * number while it is at most Number.MAX_SAFE_INTEGER, so exact; a larger one
 * (only a restored state can carry it: 2^53 events take centuries) is given
 * as its decimal string rather than rounded. Keys and order unchanged.
 */
export function countersJson<K extends string>(counters: Readonly<Record<K, bigint>>): Record<K, JsonCounter> {
  const out = {} as Record<K, JsonCounter>;
  for (const k of Object.keys(counters) as K[]) {
    const v = counters[k];
    out[k] = v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  return out;
}
