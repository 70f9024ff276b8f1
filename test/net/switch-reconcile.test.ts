// The switch following each guest's own receive filter: the virtio-net
// driver's MAC_TABLE_SET, the e1000's MTA and the NE2000's MAR reach the
// switch through each port's Reconciler as individual joins and leaves (or
// all-multicast where the model filters by hash), and multicast is then
// forwarded only where a guest asked for it.
import { describe, expect, it } from "vitest";
import { ALL_MULTICAST, type MembershipEvent } from "../../src/net/switch.js";
import { formatReconcileEvent, type ReconcileEvent } from "../../src/index.js";
import { lan, frame, seqOf, V_MAC, E_MAC, N_MAC } from "./switch-lan.js";

const G1 = "01:00:5e:00:00:01", G2 = "01:00:5e:00:00:02", G3 = "33:33:00:00:00:fb";

describe("virtual switch following the guests' filters (reconcile)", () => {
  it("virtio-net: each MAC_TABLE_SET becomes the port's joins and leaves; multicast reaches it only for the groups it listed", async () => {
    const { sw, v, e, n } = await lan([], { reconcile: true });
    const events: MembershipEvent[] = [];
    sw.onMembership((ev) => { if (ev.port === "v") events.push(ev); });
    const trace: ReconcileEvent[] = [];
    sw.reconcilerOf(v.dev)!.onEvent = (ev) => trace.push(ev);
    v.acceptGroups([G1, G2]);
    await sw.reconcilerOf(v.dev)!.idle();
    expect(sw.membership(v.dev)).toMatchObject({ all: false });
    expect(sw.membership(v.dev).groups.sort()).toEqual([G1, G2]);
    // The guest replaces the whole table: one leave and one join, adds first.
    v.acceptGroups([G2, G3]);
    await sw.reconcilerOf(v.dev)!.idle();
    expect(sw.membership(v.dev).groups.sort()).toEqual([G3, G2].sort());
    expect(events.slice(-2)).toEqual([{ port: "v", group: G3, joined: true }, { port: "v", group: G1, joined: false }]);
    expect(trace.map(formatReconcileEvent).join("\n")).toMatch(/send add 33:33:00:00:00:fb[\s\S]*send remove 01:00:5e:00:00:01/);
    // Frames: G2 and G3 reach v; G1 is pruned before it.
    const before = sw.membership(v.dev).counters;
    e.send(frame(G1, E_MAC, 1));
    e.send(frame(G2, E_MAC, 2));
    n.send(frame(G3, N_MAC, 3));
    expect(v.rx().map(seqOf)).toEqual([2, 3]);
    const after = sw.membership(v.dev).counters;
    expect(after.mcPruned - before.mcPruned).toBe(1n);
    expect(after.mcDelivered - before.mcDelivered).toBe(2n);
  });

  it("e1000: groups in exact receive-address entries are joined one by one; past them the MTA hash makes the port all-multicast (hash-filter)", async () => {
    const { sw, v, e } = await lan([], { reconcile: true });
    e.acceptGroups([G1, G3]);
    await sw.reconcilerOf(e.dev)!.idle();
    expect(sw.membership(e.dev)).toMatchObject({ all: false });
    expect(sw.membership(e.dev).groups.sort()).toEqual([G1, G3]);
    v.send(frame(G2, V_MAC, 1));
    v.send(frame(G1, V_MAC, 2));
    expect(e.rx().map(seqOf)).toEqual([2]);
    // The driver model keeps 14 groups in RAR[1..14]; more go to the MTA, whose hash names no group.
    const many = Array.from({ length: 16 }, (_, i) => `01:00:5e:00:01:${i.toString(16).padStart(2, "0")}`);
    e.acceptGroups(many);
    await sw.reconcilerOf(e.dev)!.idle();
    expect(sw.membership(e.dev)).toMatchObject({ all: true, groups: [] });
    expect(sw.reconcilerOf(e.dev)!.reason).toBe("hash-filter");
    v.send(frame(many[15], V_MAC, 3));
    expect(e.rx().map(seqOf)).toEqual([3]);
  });

  it("NE2000: MAR all zero takes no group (multicast pruned before it); a programmed hash makes the port all-multicast (hash-filter)", async () => {
    const { sw, v, n } = await lan([], { reconcile: true });
    n.acceptGroups([]);
    await sw.reconcilerOf(n.dev)!.idle();
    expect(sw.membership(n.dev)).toMatchObject({ all: false, groups: [] });
    v.send(frame(G1, V_MAC, 1));
    expect(n.rx()).toEqual([]);
    expect(sw.membership(n.dev).counters.mcPruned).toBe(1n);
    n.acceptGroups([G1]);
    await sw.reconcilerOf(n.dev)!.idle();
    expect(sw.membership(n.dev).all).toBe(true);
    expect(sw.reconcilerOf(n.dev)!.reason).toBe("hash-filter");
    v.send(frame(G1, V_MAC, 2));
    expect(n.rx().map(seqOf)).toEqual([2]);
  });

  it("a port leaving closes its reconciler: the guest's later filter changes no longer reach the switch", async () => {
    const { sw, v } = await lan([], { reconcile: true });
    v.acceptGroups([G1]);
    const rec = sw.reconcilerOf(v.dev)!;
    await rec.idle();
    const events: MembershipEvent[] = [];
    sw.onMembership((ev) => events.push(ev));
    sw.detach(v.dev);
    expect(rec.isClosed).toBe(true);
    expect(sw.reconcilerOf(v.dev)).toBeNull();
    expect(events).toEqual([{ port: "v", group: G1, joined: false }]);
    v.acceptGroups([G2]);
    expect(events.length).toBe(1);
    // Back on the switch: a new reconciler takes the guest's current table at once.
    sw.attach(v.dev);
    await sw.reconcilerOf(v.dev)!.idle();
    expect(sw.membership(v.dev)).toMatchObject({ all: false, groups: [G2] });
    expect(events.filter((ev) => ev.group === ALL_MULTICAST).map((ev) => ev.joined)).toEqual([true, false]);
  });

  it("virtio-net's extra unicast addresses (MAC_TABLE_SET's unicast table) reach the switch through a second reconciler: frames to them go to that port, not flooded", async () => {
    const { sw, v, e, n } = await lan([], { reconcile: true });
    const U1 = "52:54:00:00:77:01";
    e.promisc!(true); // sees every frame the switch floods to it
    e.rx();
    v.acceptUnicast!([U1]);
    await sw.reconcilerOf(v.dev)!.idle();
    n.send(frame(U1, N_MAC, 1));
    expect(v.rx().map(seqOf)).toEqual([1]);
    expect(e.rx()).toEqual([]); // not flooded: the switch knows U1 is on v's port
    // Withdrawn: unknown again, so flooded (v's filter now drops it; the promiscuous e1000 sees it).
    v.acceptUnicast!([]);
    await sw.reconcilerOf(v.dev)!.idle();
    n.send(frame(U1, N_MAC, 2));
    expect(e.rx().map(seqOf)).toEqual([2]);
    expect(v.rx()).toEqual([]);
  });
});
