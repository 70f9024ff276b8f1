// The NE2000's multicast filter through the reconcile, driven by the driver
// model: the DP8390 filters groups by a 64-bit hash (MAR0-7), so no list of
// groups can be named: MAR all zero (or RCR.AM clear) is none, all ones is
// allmulti, anything else hash-filter; RCR.PRO promiscuous.
import { describe, expect, it } from "vitest";
import { ne2kRig } from "../../support/ne2k/rig.js";
import { parseMac } from "../../../src/net/mac.js";
import { attachFake } from "../../support/group-backend.js";

async function rig() {
  const r = await ne2kRig();
  return { ...r, ...attachFake(r.dev) };
}

describe("NE2000 → reconcile", () => {
  it("MAR and RCR: none, hash-filter, allmulti, promiscuous, and back", async () => {
    const { dev, drv, be, rec } = await rig();
    await rec.idle();
    expect([be.all, be.joined.size]).toEqual([false, 0]);
    drv.setMulticast([parseMac("01:00:5e:00:00:fb")]);
    await rec.idle();
    expect([be.all, rec.reason]).toEqual([true, "hash-filter"]);
    drv.setMulticast([]);
    await rec.idle();
    expect(be.all).toBe(false);
    drv.setAllMulti(true);
    await rec.idle();
    expect([be.all, rec.reason]).toEqual([true, "allmulti"]);
    drv.setPromiscuous(true);
    expect(dev.multicastWant()).toEqual({ all: true, reason: "promiscuous", groups: [] });
    await rec.idle();
    drv.setPromiscuous(false);
    await rec.idle();
    expect([be.all, be.joined.size]).toEqual([false, 0]);
    expect(be.violations).toEqual([]);
  });

  it("MAR bits with RCR.AM clear take no group: none", async () => {
    const { dev, drv } = await rig();
    drv.setMulticast([parseMac("01:00:5e:00:00:fb")]);
    drv.setRcr(0x04); // AB only
    expect(dev.multicastWant()).toEqual({ all: false, groups: [] });
  });

  it("a MAR write of the value it holds signals nothing; a change signals once per port access", async () => {
    const { drv, changes } = await rig();
    const m = [parseMac("01:00:5e:00:00:fb")];
    drv.setMulticast(m);
    const n = changes();
    drv.setMulticast(m);
    expect(changes()).toBe(n);
  });

  it("restore signals a change", async () => {
    const { dev, drv, be, rec } = await rig();
    drv.setAllMulti(true);
    await rec.idle();
    const blob = dev.saveState();
    drv.setAllMulti(false);
    await rec.idle();
    expect(be.all).toBe(false);
    expect(dev.restoreState(blob)).toBe(0);
    await rec.idle();
    expect(be.all).toBe(true);
  });
});
