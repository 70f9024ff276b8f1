// The NE2000's numbers reach the host through the generated mirror
// (src/generated/constants.ts Ne2kDefs, pinned by test/abi); what the host
// glue builds from them must still fit the device.
import { describe, expect, it } from "vitest";
import { NE2K_DEFS, NE2K_COUNTERS } from "../../../src/devices/ne2k/defs.js";

describe("NE2000 constants on the host", () => {
  it("every named counter has its own index inside the device's block of NE2K_COUNTERS", () => {
    const idx = Object.values(NE2K_COUNTERS);
    expect(idx.length).toBe(Object.keys(NE2K_DEFS.Ne2kCounter).length);
    expect(new Set(idx).size).toBe(idx.length);
    for (const i of idx) { expect(i).toBeGreaterThanOrEqual(0); expect(i).toBeLessThan(NE2K_DEFS.NE2K_COUNTERS); }
  });
  it("the counter names are Ne2kCounter's in camelCase", () => {
    expect(NE2K_COUNTERS.rxDropped).toBe(NE2K_DEFS.Ne2kCounter.RX_DROPPED);
    expect(NE2K_COUNTERS.rxMulticastFiltered).toBe(NE2K_DEFS.Ne2kCounter.RX_MULTICAST_FILTERED);
  });
});
