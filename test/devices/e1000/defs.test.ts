// The TypeScript mirror of the e1000 constants (src/devices/e1000/defs.ts)
// must equal the AssemblyScript source it mirrors (assembly/e1000/defs.ts).
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import * as mirror from "../../../src/devices/e1000/defs.js";
import { newCore } from "../../support/core.js";

const src = readFileSync(new URL("../../../assembly/e1000/defs.ts", import.meta.url), "utf8");

function asConst(name: string): bigint {
  const m = new RegExp(`export const ${name}: u(?:32|64) = ([^;]+);`).exec(src);
  if (!m) throw new Error(`${name} is not in assembly/e1000/defs.ts`);
  const expr = m[1].replace(/_/g, "").trim();
  const shift = /^(\d+) << (\d+)$/.exec(expr);
  if (shift) return BigInt(shift[1]) << BigInt(shift[2]);
  return BigInt(expr);
}

describe("e1000 constants mirror", () => {
  it("every mirrored number equals its AssemblyScript definition", () => {
    for (const name of ["E1K_VENDOR", "E1K_DEVICE", "E1K_BAR_MMIO", "E1K_MMIO_BYTES", "E1K_BAR_IO", "E1K_IO_BYTES", "E1K_MAX_RX_FRAME",
      "E1K_MIN_BACKLOG_FRAMES", "E1K_MAX_BACKLOG_FRAMES", "E1K_MIN_BACKLOG_BYTES", "E1K_MAX_BACKLOG_BYTES", "E1K_COUNTERS", "E1K_NO_DEADLINE"] as const) {
      expect(BigInt(mirror[name]), name).toBe(asConst(name));
    }
  });

  it("the counter names map to the E1kCounter indices, all of them, and the module agrees on the count", async () => {
    const block = /export namespace E1kCounter \{([\s\S]*?)\n\}/.exec(src)![1];
    const asCounters = Object.fromEntries([...block.matchAll(/export const (\w+) = (\d+);/g)].map((m) => [m[1], Number(m[2])]));
    const camel = (s: string) => s.toLowerCase().replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
    expect(Object.fromEntries(Object.entries(asCounters).map(([k, v]) => [camel(k), v]))).toEqual({ ...mirror.E1000_COUNTERS });
    const core = await newCore(1 << 20);
    expect(core.exports.e1k_counter_count()).toBe(mirror.E1K_COUNTERS);
    expect(Object.keys(mirror.E1000_COUNTERS).length).toBe(mirror.E1K_COUNTERS);
  });

  it("the BAR list describes the function's BARs", () => {
    expect(mirror.E1000_BARS).toEqual([{ index: 0, size: 0x20000, kind: "mem32" }, { index: 1, size: 0x40, kind: "io" }]);
  });
});
