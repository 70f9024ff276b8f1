// virtio-net's multicast filter through the reconcile, driven by the
// spec-written driver model: MAC_TABLE_SET and the receive-mode commands on
// the control queue → the device's filter-changed bit → onFilterChange →
// individual joins and leaves at a backend.
import { describe, expect, it } from "vitest";
import { netRig } from "./rig.js";
import { formatEvent, type ReconcileEvent } from "../../../src/net/reconcile.js";
import { parseMac } from "../../../src/net/mac.js";
import { Ctrl } from "../../../src/guest/virtio/defs.js";
import { attachFake } from "../../support/group-backend.js";

const RX = { PROMISC: 0, ALLMULTI: 1, NOMULTI: 3 };
const G = (i: number) => `01:00:5e:00:00:${i.toString(16).padStart(2, "0")}`;
const macs = (...ids: number[]) => ids.map((i) => parseMac(G(i)));

async function rig() {
  const r = await netRig({ transport: "pci" });
  const events: ReconcileEvent[] = [];
  const { be, rec, changes } = attachFake(r.dev, { onEvent: (e) => events.push(e) });
  const sends = () => events.filter((e) => e.type === "send").map((e) => formatEvent(e).replace(/^#\d+ send /, "").replace(/ \(gen \d+\)$/, ""));
  return { ...r, be, rec, events, sends, changes };
}

describe("virtio-net → reconcile", () => {
  it("power-on promiscuous, then MAC_TABLE_SET tables become individual joins and leaves, adds first", async () => {
    const { drv, be, rec, sends, changes } = await rig();
    await rec.idle();
    expect(be.all).toBe(true);
    expect(rec.reason).toBe("promiscuous");
    expect(drv.setRxMode(RX.PROMISC, false)).toBe(Ctrl.OK);
    await rec.idle();
    expect(be.all).toBe(false);
    expect(drv.setMacTable([], macs(1, 2))).toBe(Ctrl.OK);
    await rec.idle();
    expect([...be.joined].sort()).toEqual([G(1), G(2)]);
    expect(drv.setMacTable([parseMac("02:00:00:00:00:09")], macs(2, 3))).toBe(Ctrl.OK);
    await rec.idle();
    expect([...be.joined].sort()).toEqual([G(2), G(3)]);
    expect(sends()).toEqual(["all-on", "all-off", `add ${G(1)}`, `add ${G(2)}`, `add ${G(3)}`, `remove ${G(1)}`]);
    expect(changes()).toBe(3);
    expect(be.violations).toEqual([]);
  });

  it("ALLMULTI, NOMULTI and a table past the device's 64 entries each say what the filter does", async () => {
    const { drv, be, rec } = await rig();
    drv.setRxMode(RX.PROMISC, false);
    drv.setMacTable([], macs(1));
    await rec.idle();
    drv.setRxMode(RX.ALLMULTI, true);
    await rec.idle();
    expect([be.all, be.joined.size, rec.reason]).toEqual([true, 0, "allmulti"]);
    drv.setRxMode(RX.NOMULTI, true);
    await rec.idle();
    expect([be.all, be.joined.size]).toEqual([false, 0]);
    drv.setRxMode(RX.NOMULTI, false);
    drv.setRxMode(RX.ALLMULTI, false);
    await rec.idle();
    expect([...be.joined]).toEqual([G(1)]);
    expect(drv.setMacTable([], Array.from({ length: 65 }, (_, i) => parseMac(`01:00:5e:00:01:${i.toString(16).padStart(2, "0")}`)))).toBe(Ctrl.OK);
    await rec.idle();
    expect([be.all, be.joined.size, rec.reason]).toEqual([true, 0, "overflow"]);
  });

  it("a refused command changes nothing and signals nothing; unicast and broadcast entries of the multicast table are not groups", async () => {
    const { dev, drv, be, rec, changes } = await rig();
    drv.setRxMode(RX.PROMISC, false);
    await rec.idle();
    const before = changes();
    // MAC_TABLE_SET whose multicast count runs past the data: NET_ERR.
    expect(drv.sendCtrl(Ctrl.MAC, Ctrl.MAC_TABLE_SET, Uint8Array.of(0, 0, 0, 0, 5, 0, 0, 0))).toBe(Ctrl.ERR);
    expect(changes()).toBe(before);
    drv.setMacTable([], [parseMac("ff:ff:ff:ff:ff:ff"), parseMac("02:00:00:00:00:01"), ...macs(7, 7)]);
    await rec.idle();
    expect(dev.multicastWant()).toEqual({ all: false, groups: [G(7)], allUnicast: false, unicast: [] });
    expect([...be.joined]).toEqual([G(7)]);
  });

  it("device reset and restore signal a change (the filter is back at power-on, or whatever the blob holds)", async () => {
    const { dev, drv, be, rec } = await rig();
    drv.setRxMode(RX.PROMISC, false);
    drv.setMacTable([], macs(1, 2));
    await rec.idle();
    const blob = dev.saveState();
    dev.reset();
    await rec.idle();
    expect([be.all, be.joined.size]).toEqual([true, 0]);
    expect(dev.restoreState(blob)).toBe(0);
    await rec.idle();
    expect([be.all, [...be.joined].sort()]).toEqual([false, [G(1), G(2)]]);
  });

  it("a MAC_TABLE_SET while the previous table's join is in flight: the group is left after the late ack, never lost or joined twice", async () => {
    const { drv, be, rec, sends } = await rig();
    drv.setRxMode(RX.PROMISC, false);
    await rec.idle();
    be.answer = () => "hold";
    drv.setMacTable([], macs(1));
    drv.setMacTable([], macs(2));
    expect(be.held.map((h) => `${h.op} ${h.group}`)).toEqual([`add ${G(1)}`, `add ${G(2)}`]);
    be.answer = () => "ok";
    be.release(1);
    await Promise.resolve();
    be.release(0);
    await rec.idle();
    expect([...be.joined]).toEqual([G(2)]);
    expect(sends().slice(2)).toEqual([`add ${G(1)}`, `add ${G(2)}`, `remove ${G(1)}`]);
    expect(be.violations).toEqual([]);
  });

  it("close (detach) leaves every group and unhooks the device, restoring its earlier listener", async () => {
    const { dev, drv, be, rec, changes } = await rig();
    drv.setRxMode(RX.PROMISC, false);
    drv.setMacTable([], macs(1, 2));
    await rec.idle();
    await rec.close();
    expect([be.all, be.joined.size]).toEqual([false, 0]);
    const n = changes(), adds = be.counts.add;
    drv.setMacTable([], macs(3));
    expect(changes()).toBe(n + 1);
    expect(be.counts.add).toBe(adds);
    expect(dev.onFilterChange).not.toBe(null);
  });
});
