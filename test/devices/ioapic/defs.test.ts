// The host's names for the IOAPIC constants (src/devices/ioapic/defs.ts,
// re-exported from the generated mirror) against their one source,
// assembly/ioapic/defs.ts: every constant is there, with the same value.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import * as defs from "../../../src/devices/ioapic/defs.js";

const src = readFileSync(new URL("../../../assembly/ioapic/defs.ts", import.meta.url), "utf8");
const camel = (s: string) => s.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

describe("IOAPIC constants mirror", () => {
  it("every top-level constant has the same value in TypeScript", () => {
    const top = [...src.matchAll(/^export const (\w+): \w+ = (0x[0-9A-Fa-f]+|\d+);/gm)].map((m) => [m[1], Number(m[2])] as const);
    expect(top.length).toBe(26); // every one of them: a constant the regex missed would escape the check
    const ts = defs as unknown as Record<string, number>;
    expect(Object.fromEntries(top.map(([k]) => [k, ts[k]]))).toEqual(Object.fromEntries(top));
  });

  it("the counter indices match IoapicStat, and IOAPIC_STATS counts them", () => {
    const ns = /export namespace IoapicStat \{([\s\S]*?)\}/.exec(src)![1];
    const stats = Object.fromEntries([...ns.matchAll(/export const (\w+) = (\d+);/g)].map((m) => [camel(m[1]), Number(m[2])]));
    expect({ ...defs.IoApicCounter }).toEqual(stats);
    expect(Number(/export const IOAPIC_STATS: i32 = (\d+);/.exec(src)![1])).toBe(Object.keys(stats).length);
  });
});
