// The host's e1000 constants (src/devices/e1000/defs.ts) are the generated
// mirror of assembly/e1000/defs.ts (test/abi pins the values); these check
// what the host builds from them.
import { describe, it, expect } from "vitest";
import * as defs from "../../../src/devices/e1000/defs.js";
import { E1000Defs } from "../../../src/generated/constants.js";

describe("e1000 host constants", () => {
  it("the counter names cover indices 0 .. E1K_COUNTERS-1, each once", () => {
    const idx = Object.values(defs.E1000_COUNTERS).sort((a, b) => a - b);
    expect(idx).toEqual([...Array(defs.E1K_COUNTERS).keys()]);
    expect(defs.E1000_COUNTERS.rxDropped).toBe(E1000Defs.E1kCounter.RX_DROPPED);
  });

  it("the BAR list describes the function's BARs", () => {
    expect(defs.E1000_BARS).toEqual([{ index: 0, size: 0x20000, kind: "mem32" }, { index: 1, size: 0x40, kind: "io" }]);
  });
});
