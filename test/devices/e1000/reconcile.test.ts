// The 82540EM's multicast filter through the reconcile, driven by the
// driver model: RAR entries holding group addresses become individual joins,
// MTA bits (the inexact hash) and RCTL.MPE/UPE all-multicast.
import { describe, expect, it } from "vitest";
import { e1000Rig } from "./rig.js";
import { parseMac } from "../../../src/net/mac.js";
import { attachFake } from "../../support/group-backend.js";

const G = (i: number) => `01:00:5e:00:00:${i.toString(16).padStart(2, "0")}`;
const macs = (...ids: number[]) => ids.map((i) => parseMac(G(i)));

async function rig() {
  const r = await e1000Rig();
  return { ...r, ...attachFake(r.dev) };
}

describe("e1000 → reconcile", () => {
  it("group addresses in RAR1..14 are joined one by one; a change leaves only what went", async () => {
    const { drv, be, rec } = await rig();
    await rec.idle();
    expect([be.all, be.joined.size], "after init: RAR0 is the unicast MAC, MTA clear").toEqual([false, 0]);
    drv.setMulticast(macs(1, 2, 3));
    await rec.idle();
    expect([...be.joined].sort()).toEqual([G(1), G(2), G(3)]);
    const adds = be.counts.add;
    drv.setMulticast(macs(1, 3));
    await rec.idle();
    expect([...be.joined].sort()).toEqual([G(1), G(3)]);
    expect(be.counts.add - adds, "RAR2 took 03, RAR3 was cleared: no group left and re-joined").toBe(0);
    expect(be.violations).toEqual([]);
  });

  it("a list past the exact entries sets MTA bits: every group, reason hash-filter; MPE allmulti, UPE promiscuous", async () => {
    const { dev, drv, be, rec } = await rig();
    drv.setMulticast(macs(...Array.from({ length: 15 }, (_, i) => i + 1)));
    await rec.idle();
    expect([be.all, be.joined.size, rec.reason]).toEqual([true, 0, "hash-filter"]);
    drv.setMulticast(macs(4));
    await rec.idle();
    expect([be.all, [...be.joined]]).toEqual([false, [G(4)]]);
    drv.setRxMode({ allmulti: true });
    await rec.idle();
    expect([be.all, rec.reason]).toEqual([true, "allmulti"]);
    drv.setRxMode({ promisc: true });
    expect(dev.multicastWant()).toEqual({ all: true, reason: "promiscuous", groups: [], allUnicast: true, unicast: [] });
    drv.setRxMode({});
    await rec.idle();
    expect([be.all, [...be.joined]]).toEqual([false, [G(4)]]);
  });

  it("rewriting a register with the value it holds signals nothing", async () => {
    const { drv, changes } = await rig();
    drv.setMulticast(macs(1));
    const n = changes();
    drv.setMulticast(macs(1));
    expect(changes()).toBe(n);
  });

  it("reset and restore signal a change", async () => {
    const { dev, drv, be, rec } = await rig();
    drv.setMulticast(macs(1, 2));
    await rec.idle();
    const blob = dev.saveState();
    dev.reset();
    await rec.idle();
    expect(be.joined.size).toBe(0);
    expect(dev.restoreState(blob)).toBe(0);
    await rec.idle();
    expect([...be.joined].sort()).toEqual([G(1), G(2)]);
  });
});
