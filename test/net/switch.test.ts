// The virtual switch with every NIC model as a port: a virtio-net, an e1000
// and an NE2000, each driven by its guest driver model, exchanging unicast,
// broadcast and multicast; multicast pruned by group membership, with the
// per-port counters and the membership events.
import { describe, expect, it } from "vitest";
import { Status, VmdevError } from "../../src/status.js";
import { VirtualSwitch, ALL_MULTICAST, type MembershipEvent } from "../../src/net/switch.js";
import { NetDefs } from "../../src/generated/constants.js";
import { parseMac } from "../../src/net/mac.js";
import { lan, frame, seqOf, ne2kNic, e1000Nic, BCAST, V_MAC, E_MAC, N_MAC } from "./switch-lan.js";
import { ipv4Frame, payloadOf, checksumsOk } from "../devices/e1000/packets.js";
import { E1000 } from "../../src/devices/e1000/device.js";
import { Ne2k } from "../../src/devices/ne2k/device.js";
import { IrqLine } from "../../src/guest/ne2k/index.js";
import { newCore, debugWasm } from "../support/core.js";
import { VmCore } from "../../src/vm-core.js";

const G1 = "01:00:5e:00:00:fb";
const G2 = "33:33:00:00:00:01";
const G3 = "01:00:5e:7f:00:01";

describe("virtual switch: every NIC model as a port", () => {
  it("virtio-net, e1000 and NE2000 exchange broadcast, unicast and multicast through their guest drivers, with interrupts", async () => {
    const { sw, v, e, n } = await lan([G1]);
    expect(sw.portCount).toBe(3);
    // Broadcast from each reaches the two others, never the sender, and raises their interrupts.
    for (const [from, others] of [[n, [v, e]], [e, [v, n]], [v, [e, n]]] as const) {
      from.send(frame(BCAST, from.mac, 100));
      for (const o of others) {
        expect(o.interrupted()).toBe(true);
        expect(o.rx().map(seqOf)).toEqual([100]);
      }
      expect(from.rx()).toEqual([]);
    }
    // Every source is learned now: unicast goes to its one port only.
    v.send(frame(E_MAC, V_MAC, 1));
    e.send(frame(N_MAC, E_MAC, 2));
    n.send(frame(V_MAC, N_MAC, 3));
    expect(e.rx().map(seqOf)).toEqual([1]);
    expect(n.rx().map(seqOf)).toEqual([2]);
    expect(v.rx().map(seqOf)).toEqual([3]);
    // Multicast: every port starts all-multicast, so all the others get it (their filters accept G1).
    e.send(frame(G1, E_MAC, 4));
    expect(v.rx().map(seqOf)).toEqual([4]);
    expect(n.rx().map(seqOf)).toEqual([4]);
    // Nothing reached the hosts: frames between ports stay inside wasm.
    expect([v.host.length, e.host.length, n.host.length]).toEqual([0, 0, 0]);
    expect(sw.membership(v.dev).counters.mcDelivered).toBe(1n);
    expect(sw.membership(n.dev).counters.mcDelivered).toBe(1n);
  });

  it("multicast goes only to the ports that joined the group; the others count it as pruned", async () => {
    const { sw, v, e, n } = await lan([G1, G2]);
    const events: MembershipEvent[] = [];
    sw.onMembership((ev) => events.push(ev));
    for (const nic of [v, e, n]) sw.setAllMulticast(nic.dev, false);
    expect(sw.join(v.dev, G1)).toBe(true);
    expect(sw.join(n.dev, G2)).toBe(true);
    expect(sw.join(n.dev, G1.toUpperCase())).toBe(true);
    expect(sw.join(n.dev, G1)).toBe(true); // already a member: no second event, no second count
    e.send(frame(G1, E_MAC, 1));
    e.send(frame(G2, E_MAC, 2));
    v.send(frame(G2, V_MAC, 3));
    expect(v.rx().map(seqOf)).toEqual([1]); // v joined G1 only
    expect(n.rx().map(seqOf)).toEqual([1, 2, 3]);
    expect(e.rx()).toEqual([]); // e joined nothing
    const mv = sw.membership(v.dev), me = sw.membership(e.dev), mn = sw.membership(n.dev);
    expect(mv).toMatchObject({ all: false, groups: [G1] });
    expect(mn.all).toBe(false);
    expect([...mn.groups].sort()).toEqual([G1, G2].sort());
    expect(me).toMatchObject({ all: false, groups: [] });
    // v: G1 from e delivered; G2 from e pruned (its own G2 never comes back to it).
    expect(mv.counters).toMatchObject({ groupsJoined: 1n, joins: 1n, leaves: 0n, joinsRefused: 0n, mcDelivered: 1n, mcPruned: 1n });
    expect(mn.counters).toMatchObject({ groupsJoined: 2n, joins: 2n, mcDelivered: 3n, mcPruned: 0n });
    expect(me.counters).toMatchObject({ groupsJoined: 0n, joins: 0n, mcDelivered: 0n, mcPruned: 1n });
    // Broadcast and unknown unicast still flood, whatever the membership.
    n.send(frame(BCAST, N_MAC, 9));
    n.send(frame("52:54:00:00:00:99", N_MAC, 10));
    expect(e.rx().map(seqOf)).toEqual([9]); // the unknown unicast reaches e's filter, which drops it
    expect(events).toEqual([
      { port: "v", group: ALL_MULTICAST, joined: false },
      { port: "e", group: ALL_MULTICAST, joined: false },
      { port: "n", group: ALL_MULTICAST, joined: false },
      { port: "v", group: G1, joined: true },
      { port: "n", group: G2, joined: true },
      { port: "n", group: G1, joined: true },
    ]);
    // Leaving stops the frames; all-multicast brings every group back.
    sw.leave(n.dev, G2);
    sw.leave(n.dev, G2); // not a member any more: nothing happens
    e.send(frame(G2, E_MAC, 11));
    expect(n.rx()).toEqual([]);
    sw.setAllMulticast(e.dev, true);
    n.send(frame(G2, N_MAC, 12));
    expect(e.rx().map(seqOf)).toEqual([12]);
    expect(events.slice(6)).toEqual([{ port: "n", group: G2, joined: false }, { port: "e", group: ALL_MULTICAST, joined: true }]);
    expect(sw.membership(n.dev).counters).toMatchObject({ groupsJoined: 1n, leaves: 1n });
  });

  it("a full group table refuses a join with ERR_FULL (counted); a leave makes room again", async () => {
    const { sw, v, e } = await lan();
    const group = (i: number) => `01:00:5e:${((i >> 16) & 0x7f).toString(16).padStart(2, "0")}:${((i >> 8) & 0xff).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`;
    const max = NetDefs.SWITCH_MAX_GROUPS;
    for (let i = 0; i < max; i++) expect(sw.join(i % 2 ? v.dev : e.dev, group(i))).toBe(true);
    // A group the table already holds can still be joined by another port: it takes no new entry.
    expect(sw.join(v.dev, group(0))).toBe(true);
    expect(sw.join(v.dev, group(max))).toBe(false);
    const backend = sw.groupBackend(e.dev);
    expect(backend.add(group(max + 1))).toBe(false);
    expect(sw.membership(v.dev).counters.joinsRefused).toBe(1n);
    expect(sw.membership(e.dev).counters.joinsRefused).toBe(1n);
    expect(e.dev.core.exports.nsw_join(sw.id, v.dev.kind, v.dev.handle, 0x0100, 0x5e7fffff)).toBe(Status.ERR_FULL);
    // Leaving a group shared by two ports frees nothing; leaving its last member does.
    sw.leave(e.dev, group(0));
    expect(sw.join(v.dev, group(max))).toBe(false);
    expect(backend.remove(group(2))).toBe(true);
    expect(sw.join(v.dev, group(max))).toBe(true);
    expect(sw.membership(v.dev).groups).toHaveLength(max / 2 + 2);
  });

  it("a port leaving the switch drops its memberships (events, freed table entries); back on it starts all-multicast with clean counters", async () => {
    const { sw, v, e, n } = await lan([G1, G3]);
    const events: MembershipEvent[] = [];
    sw.setAllMulticast(v.dev, false);
    sw.join(v.dev, G1);
    sw.join(v.dev, G3);
    sw.join(n.dev, G3);
    sw.onMembership((ev) => events.push(ev));
    sw.detach(v.dev);
    expect(events).toEqual([{ port: "v", group: G1, joined: false }, { port: "v", group: G3, joined: false }]);
    expect(() => sw.membership(v.dev)).toThrow(VmdevError);
    expect(sw.groupBackend(n.dev).add(G2)).toBe(true);
    // Off the switch, v sends to its host again.
    v.send(frame(BCAST, V_MAC, 1));
    expect(v.host.map(seqOf)).toEqual([1]);
    expect(n.rx()).toEqual([]);
    sw.attach(v.dev, { reconcile: false });
    const m = sw.membership(v.dev);
    expect(m).toMatchObject({ all: true, groups: [] });
    expect(Object.values(m.counters).every((c) => c === 0n)).toBe(true);
    expect(events.at(-1)).toEqual({ port: "v", group: ALL_MULTICAST, joined: true });
    e.send(frame(G1, E_MAC, 2));
    expect(v.rx().map(seqOf)).toEqual([2]);
    // n's G3 membership survived v's leaving.
    expect(sw.membership(n.dev).groups.sort()).toEqual([G2, G3].sort());
  });

  it("a destroyed port leaves the switch inside wasm: its handle, reused by a new device, is no port", async () => {
    const { core, sw, v, e, n } = await lan();
    const events: MembershipEvent[] = [];
    sw.setAllMulticast(n.dev, false);
    sw.join(n.dev, G1);
    sw.onMembership((ev) => events.push(ev));
    const h = n.dev.handle, kind = n.dev.kind;
    n.dev.destroy();
    expect(events).toEqual([{ port: "n", group: G1, joined: false }]);
    expect(sw.portCount).toBe(2);
    expect(core.exports.nsw_port_switch(kind, h)).toBe(0);
    e.dev.destroy();
    expect(sw.portCount).toBe(1);
    // Frames from v now reach no port (and none of the destroyed devices).
    v.send(frame(BCAST, V_MAC, 5));
    expect(v.dev.core.exports.nsw_port_switch(v.dev.kind, v.dev.handle)).toBe(sw.id);
    expect(v.host).toEqual([]);
    // A new NE2000 gets the destroyed one's handle: it is on no switch and sends to its host.
    const again = ne2kNic(core);
    expect(again.dev.handle).toBe(h);
    expect(core.exports.nsw_port_switch(kind, h)).toBe(0);
    again.send(frame(BCAST, N_MAC, 6));
    expect(again.host.map(seqOf)).toEqual([6]);
    expect(v.rx()).toEqual([]);
  });

  it("the GroupBackend of a port answers synchronously and refuses once the device is no port", async () => {
    const { sw, v, e } = await lan([G1]);
    const b = sw.groupBackend(v.dev);
    expect(b.setAllMulticast(false)).toBe(true);
    expect(b.add(G1)).toBe(true);
    expect(b.add("52:54:00:00:00:01")).toBe(false); // a unicast address is no group
    expect(b.add(BCAST)).toBe(false);
    e.send(frame(G1, E_MAC, 1));
    expect(v.rx().map(seqOf)).toEqual([1]);
    expect(b.remove(G1)).toBe(true);
    e.send(frame(G1, E_MAC, 2));
    expect(v.rx()).toEqual([]);
    sw.detach(v.dev);
    expect([b.add(G1), b.remove(G1), b.setAllMulticast(true)]).toEqual([false, false, false]);
    expect(() => sw.groupBackend(v.dev)).toThrow(VmdevError);
  });

  it("the switch API refuses what is not a port or not a group, with statuses, never a trap", async () => {
    const { core, sw, v } = await lan();
    const x = core.exports;
    const other = VirtualSwitch.create(core);
    expect(() => other.join(v.dev, G1)).toThrow(expect.objectContaining({ status: Status.ERR_BAD_STATE }));
    expect(() => sw.join(v.dev, "not a mac")).toThrow(expect.objectContaining({ status: Status.ERR_INVALID_ARG }));
    expect(() => sw.join(v.dev, V_MAC)).toThrow(expect.objectContaining({ status: Status.ERR_INVALID_ARG }));
    // Raw exports with hostile arguments.
    expect(x.nsw_join(sw.id, v.dev.kind, v.dev.handle, 0x10000, 0)).toBe(Status.ERR_INVALID_ARG);
    expect(x.nsw_join(sw.id, v.dev.kind, v.dev.handle, 0xffff, 0xffffffff)).toBe(Status.ERR_INVALID_ARG);
    expect(x.nsw_join(sw.id, 0, 1, 0x0100, 0x5e000001)).toBe(Status.ERR_BAD_HANDLE);
    expect(x.nsw_join(sw.id, 15, 15, 0x0100, 0x5e000001)).toBe(Status.ERR_BAD_HANDLE);
    expect(x.nsw_join(sw.id, 0xffffffff, 0xffffffff, 0x0100, 0x5e000001)).toBe(Status.ERR_BAD_HANDLE);
    expect(x.nsw_join(99, v.dev.kind, v.dev.handle, 0x0100, 0x5e000001)).toBe(Status.ERR_BAD_HANDLE);
    expect(x.nsw_join(-1, v.dev.kind, v.dev.handle, 0x0100, 0x5e000001)).toBe(Status.ERR_BAD_HANDLE);
    expect(x.nsw_join(other.id, v.dev.kind, v.dev.handle, 0x0100, 0x5e000001)).toBe(Status.ERR_BAD_STATE);
    expect(x.nsw_allmulti(sw.id, v.dev.kind, v.dev.handle, 2)).toBe(Status.ERR_INVALID_ARG);
    expect(x.nsw_groups(sw.id, v.dev.kind, v.dev.handle, 0xffffff00, 64)).toBe(-Status.ERR_RANGE);
    expect(x.nsw_groups(sw.id, v.dev.kind, v.dev.handle, 0, 0xffffffff)).toBe(-Status.ERR_RANGE);
    expect(x.nsw_counters_ptr(other.id, v.dev.kind, v.dev.handle)).toBe(0);
    expect(x.nsw_attach(sw.id, 1, 1)).toBe(Status.ERR_BAD_HANDLE); // a kind no NIC model registered
    expect(x.nsw_attach(sw.id, v.dev.kind, 14)).toBe(Status.ERR_BAD_HANDLE); // no such device
    expect(x.nsw_detach(0xffffffff, 0xffffffff)).toBe(Status.OK);
    expect(x.nsw_destroy(0)).toBe(Status.ERR_BAD_HANDLE);
    other.destroy();
    expect(() => other.attach(v.dev)).toThrow(expect.objectContaining({ status: Status.ERR_BAD_HANDLE }));
  });

  it("hostile frames: shorter than a header, a group source, the broadcast bit pattern in a multicast source are forwarded or refused without a trap", async () => {
    const { sw, v, e, n } = await lan([G1]);
    // A 6-byte frame from the virtio guest: the switch refuses it (counted by the sender), nobody receives.
    v.send(new Uint8Array([1, 2, 3, 4, 5, 6]));
    expect((v.dev as unknown as { counters(): Record<string, bigint> }).counters().txSwitchDropped).toBe(1n);
    // A frame whose source is a group address is forwarded but not learned.
    e.send(frame(BCAST, G1, 7));
    expect(v.rx().map(seqOf)).toEqual([7]);
    expect(n.rx().map(seqOf)).toEqual([7]);
    n.send(frame(G1, N_MAC, 8));
    // Nobody "is" G1: the frame to G1 went by group (both are all-multicast), not to e as a learned unicast.
    expect(e.rx().map(seqOf)).toEqual([8]);
    expect(v.rx().map(seqOf)).toEqual([8]);
    // A 14-byte e1000 frame (header only): delivered; the NE2000 stores it padded to 60.
    e.send(frame(BCAST, E_MAC, 0, 14));
    expect(n.rx().map((f) => f.length)).toEqual([60]);
    expect(v.rx()).toHaveLength(1);
    expect(sw.portCount).toBe(3);
  });
});

describe("virtual switch under sustained traffic", () => {
  it("3 × 600 frames of unicast, pruned multicast and broadcast between the three models: each frame arrives once, in order, where it should", async () => {
    const { sw, v, e, n } = await lan([G1, G2]);
    const nics = [v, e, n];
    for (const x of nics) sw.setAllMulticast(x.dev, false);
    sw.join(e.dev, G1);        // G1: e only
    sw.join(v.dev, G2); sw.join(n.dev, G2); // G2: v and n
    const members: Record<string, string[]> = { [G1]: ["e"], [G2]: ["v", "n"] };
    // Everyone speaks once, so every unicast destination is learned.
    for (const x of nics) x.send(frame(BCAST, x.mac, 0));
    for (const x of nics) x.rx();
    const want = new Map<string, number[]>(nics.map((x) => [x.dev.name, []]));
    const got = new Map<string, number[]>(nics.map((x) => [x.dev.name, []]));
    const delivered = new Map<string, bigint>(nics.map((x) => [x.dev.name, 0n]));
    const pruned = new Map<string, bigint>(nics.map((x) => [x.dev.name, 0n]));
    const take = () => { for (const x of nics) got.get(x.dev.name)!.push(...x.rx().map(seqOf)); };
    let seq = 1;
    for (let i = 0; i < 600; i++) {
      for (let k = 0; k < 3; k++) {
        const from = nics[k], to = nics[(k + 1 + (i % 2)) % 3];
        const kind = i % 5;
        const dst = kind < 3 ? to.mac : kind === 3 ? (i % 2 ? G1 : G2) : BCAST;
        const s = seq++;
        from.send(frame(dst, from.mac, s, 60 + (s % 1400)));
        const at = kind < 3 ? [to.dev.name] : kind === 3 ? members[dst] : nics.map((x) => x.dev.name);
        for (const name of at) if (name !== from.dev.name) want.get(name)!.push(s);
        if (kind === 3) {
          for (const x of nics) {
            if (x === from) continue;
            const m = at.includes(x.dev.name) ? delivered : pruned;
            m.set(x.dev.name, m.get(x.dev.name)! + 1n);
          }
        }
      }
      // The guests take their frames now and then; the rings and backlogs hold the rest meanwhile.
      if (i % 8 === 7) take();
    }
    take();
    for (const x of nics) expect(got.get(x.dev.name), x.dev.name).toEqual(want.get(x.dev.name));
    for (const x of nics) {
      const c = sw.membership(x.dev).counters;
      expect({ mcDelivered: c.mcDelivered, mcPruned: c.mcPruned }, x.dev.name).toEqual({ mcDelivered: delivered.get(x.dev.name), mcPruned: pruned.get(x.dev.name) });
      expect(c.mcPruned, x.dev.name).toBeGreaterThan(0n);
    }
  });
});

describe("virtual switch: e1000 segmentation", () => {
  it("TCP segments an e1000 builds in its shared scratch reach another e1000 and a virtio-net intact, as the host would get them", async () => {
    // The 82540EM builds each segment in the instance's scratch, which its receive path also uses to store a frame:
    // segments go into the switch from the sender's own outbox space, so a receiving e1000 never writes over the frame being flooded.
    const { core, sw, v, e } = await lan();
    const b = e1000Nic(core, [20 << 20, 26 << 20], "52:54:00:00:00:0b", "b");
    const ref = e1000Nic(core, [26 << 20, 32 << 20], "52:54:00:00:00:0c", "c");
    sw.attach(b.dev);
    const packet = ipv4Frame({ dst: parseMac(BCAST), src: parseMac(E_MAC), proto: 6, payload: payloadOf(9000, 5), seq: 1000, flags: 0x18 });
    ref.sendTso!(packet, 1000);
    expect(ref.host.length).toBe(9);
    e.sendTso!(packet, 1000);
    const atB = b.rx(), atV = v.rx();
    expect(atB).toEqual(ref.host);
    expect(atV).toEqual(ref.host);
    for (const f of atB) expect(checksumsOk(f)).toEqual({ ip: true, l4: true });
    expect(e.host).toEqual([]);
  });
});

describe("virtual switch: regressions", () => {
  it("regression_switch_tables_shared_between_instances: a second instance on the same memory with its own switch and ports leaves the first one's ports, groups and kinds alone", async () => {
    // The port map and the kind registry were static data, which every instance on the memory shares
    // (and re-initialises): another instance's attach and detach rewrote this instance's ports.
    const { core, sw, v, e } = await lan([G1]);
    sw.setAllMulticast(v.dev, false);
    sw.join(v.dev, G1);
    const other = await VmCore.attach({ module: debugWasm(), memory: core.memory, variant: "debug" }, 64 * 1024);
    const x = other.exports;
    const h = x.e1k_create(0x5254, 0x00000077, 16, 32 * 1024);
    // Handle tables are shared by every instance on the memory (core/lifecycle.ts): a new e1000 gets the next handle.
    expect(h).toBeGreaterThan(0);
    expect(h).not.toBe(e.dev.handle);
    const osw = x.nsw_create();
    expect(osw).toBeGreaterThan(0);
    expect(x.nsw_attach(osw, e.dev.kind, h)).toBe(Status.OK);
    expect(x.nsw_detach(e.dev.kind, h)).toBe(Status.OK);
    expect(x.e1k_destroy(h)).toBe(Status.OK);
    expect(core.exports.nsw_port_switch(e.dev.kind, e.dev.handle)).toBe(sw.id);
    expect(sw.membership(v.dev)).toMatchObject({ all: false, groups: [G1] });
    e.send(frame(G1, E_MAC, 1));
    expect(v.rx().map(seqOf)).toEqual([1]);
    expect(e.host).toEqual([]);
  });
});

describe("virtual switch on its own core", () => {
  it("attach throws ERR_FULL past SWITCH_MAX_PORTS, the device then on no switch; a freed port takes it", async () => {
    const core = await newCore(1 << 20);
    const sw = VirtualSwitch.create(core);
    const line = new IrqLine();
    const mac = (i: number) => `52:54:00:00:01:${i.toString(16).padStart(2, "0")}`;
    const ne = Array.from({ length: 7 }, (_, i) => Ne2k.create(core, { mac: mac(i), interrupts: line, backlogFrames: 1 }));
    const ee = Array.from({ length: 10 }, (_, i) => E1000.create(core, { mac: mac(16 + i), interrupts: line, timers: "manual", backlogFrames: 1, backlogBytes: 32 * 1024 }));
    const all = [...ne, ...ee];
    for (const d of all.slice(0, NetDefs.SWITCH_MAX_PORTS)) sw.attach(d);
    expect(sw.portCount).toBe(16);
    const last = all[16];
    expect(() => sw.attach(last)).toThrow(expect.objectContaining({ status: Status.ERR_FULL }));
    expect(core.exports.nsw_port_switch(last.kind, last.handle)).toBe(0);
    expect(() => sw.membership(last)).toThrow(expect.objectContaining({ status: Status.ERR_BAD_STATE }));
    sw.detach(all[3]);
    sw.attach(last);
    expect(sw.portCount).toBe(16);
    expect(core.exports.nsw_port_switch(last.kind, last.handle)).toBe(sw.id);
    sw.destroy();
    for (const d of all) expect(core.exports.nsw_port_switch(d.kind, d.handle)).toBe(0);
  });
});
