// The TypeScript mirror of the NE2000 constants (src/devices/ne2k/defs.ts)
// equals the wasm source they come from (assembly/ne2k/defs.ts).
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { NE2K_DEFS, NE2K_COUNTERS } from "../../../src/devices/ne2k/defs.js";
import { newCore } from "../../support/core.js";

const src = readFileSync(new URL("../../../assembly/ne2k/defs.ts", import.meta.url), "utf8");
const consts = new Map<string, number>();
for (const m of src.matchAll(/export const (\w+): u32 = ([^;]+);/g)) {
  const expr = m[2].replace(/\b([A-Z_][A-Z0-9_]*)\b/g, (n) => String(consts.get(n) ?? NaN));
  consts.set(m[1], Number(Function(`return (${expr});`)()));
}
const counterBlock = src.slice(src.indexOf("export namespace Ne2kCounter"));
const counters = Object.fromEntries([...counterBlock.matchAll(/export const (\w+) = (\d+);/g)]
  .map(([, name, v]) => [name.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), Number(v)]));

describe("NE2000 constants shared by wasm and TypeScript", () => {
  it("every value in the TS mirror equals assembly/ne2k/defs.ts", () => {
    for (const [k, v] of Object.entries(NE2K_DEFS)) expect(consts.get(k), k).toBe(v);
  });
  it("the counter names and indices equal Ne2kCounter", async () => {
    expect(NE2K_COUNTERS).toEqual(counters);
    const core = await newCore(1 << 16);
    expect(core.exports.ne2k_counter_count()).toBe(NE2K_DEFS.NE2K_COUNTERS);
    expect(Math.max(...Object.values(NE2K_COUNTERS))).toBeLessThan(NE2K_DEFS.NE2K_COUNTERS);
  });
});
