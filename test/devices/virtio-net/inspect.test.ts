// The inspector on real virtio-net states, made by the spec-written driver
// model: features and status as negotiated, queue indices as the driver posted
// them, live chains read from guest RAM, the MAC/VLAN tables the control queue
// set, and the backlog count.
import { describe, it, expect } from "vitest";
import { defaultDecoders, inspectBlob, inspectDevice, type GuestReader } from "../../../src/index.js";
import { le16 } from "../../../src/guest/virtio/net-driver.js";
import { Ctrl } from "../../../src/guest/virtio/defs.js";
import { netRig, Rig, OWN_MAC, F, frame } from "./rig.js";

type Queue = { index: number; role: string; size: number; ready: boolean; lastAvail: number; usedIdx: number; desc: string; avail: string; used: string;
  live?: { availIdx: number; usedIdx: number; pendingChains: number; chains: Array<{ head: number; descriptors: Array<{ addr: string; len: number; flags: string[] }> }> } };
type Net = { acked: { names: string[] }; status: { names: string[] }; queues: Queue[]; mac: string; linkStatus: string[];
  filter: { rxModes: string[]; unicast: { entries: string[] }; multicast: { entries: string[] }; vlanFilter: boolean; vlans: number[] }; backlog: { frames: number } };

const UC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x07), MC = Uint8Array.of(0x01, 0, 0x5e, 0, 0, 0x09);

describe("inspect: virtio-net", () => {
  it("dumps what the driver set up: features, status, queue addresses and indices, filter tables; live chains from guest RAM", async () => {
    const { core, dev, drv } = await netRig({ transport: "pci" });
    expect(drv.setMacTable([UC], [MC])).toBe(0);
    expect(drv.sendCtrl(Ctrl.VLAN, Ctrl.VLAN_ADD, le16(5))).toBe(0);
    expect(drv.sendCtrl(Ctrl.VLAN, Ctrl.VLAN_ADD, le16(4000))).toBe(0);
    expect(drv.sendCtrl(Ctrl.RX, Ctrl.RX_PROMISC, Uint8Array.of(0))).toBe(0);
    expect(drv.sendCtrl(Ctrl.RX, Ctrl.RX_ALLMULTI, Uint8Array.of(1))).toBe(0);
    const f = frame("02:00:00:00:00:0a", 60, 1);
    expect(drv.transmit(f, 0, { kick: false })).toBe(true);   // posted, not yet seen by the device
    const guest: GuestReader = core.guest;
    const [dump] = await inspectDevice(dev, { guest });
    expect(dump.state.errors).toEqual([]);
    const d = dump.state.device as Net;
    expect(d.acked.names).toEqual(expect.arrayContaining(["VERSION_1", "CTRL_VQ", "CTRL_RX", "CTRL_VLAN"]));
    expect(d.status.names).toEqual(["ACKNOWLEDGE", "DRIVER", "DRIVER_OK", "FEATURES_OK"]);
    expect(d.mac).toBe(OWN_MAC);
    expect(d.linkStatus).toContain("LINK_UP");
    const [rx, tx] = [d.queues[0], d.queues[1]];
    const ctrl = d.queues.find((q) => q.role === "controlq")!;
    expect([rx.role, tx.role]).toEqual(["receiveq0", "transmitq0"]);
    const pair = drv.pairs[0];
    expect(rx).toMatchObject({ ready: true, size: pair.rx.size, desc: `0x${pair.rx.desc.toString(16)}`, avail: `0x${pair.rx.avail.toString(16)}`, used: `0x${pair.rx.used.toString(16)}` });
    // The avail index is what the driver posted; the device has taken none of the RX buffers yet.
    expect(rx.live!.availIdx).toBe(pair.rx.availIdx);
    expect(rx.lastAvail).toBe(0);
    expect(rx.live!.pendingChains).toBe(pair.rx.availIdx);
    expect(rx.live!.chains[0].descriptors[0].flags).toContain("WRITE");
    // TX: one chain posted without a kick, so the device's last-seen index is one behind.
    expect(tx.live!.availIdx).toBe(pair.tx.availIdx);
    expect(tx.lastAvail).toBe(pair.tx.availIdx - 1);
    expect(tx.live!.pendingChains).toBe(1);
    const chain = tx.live!.chains[0];
    expect(chain.descriptors.reduce((n, x) => n + x.len, 0)).toBe(12 + f.length);
    expect(chain.descriptors.every((x) => !x.flags.includes("WRITE"))).toBe(true);
    // Five control commands, each completed.
    expect(ctrl.lastAvail).toBe(5);
    expect(ctrl.usedIdx).toBe(5);
    expect(ctrl.live!.pendingChains).toBe(0);
    expect(d.filter.unicast.entries).toEqual(["02:00:00:00:00:07"]);
    expect(d.filter.multicast.entries).toEqual(["01:00:5e:00:00:09"]);
    expect(d.filter.vlanFilter).toBe(true);
    expect(d.filter.vlans).toEqual([5, 4000]);
    expect(d.filter.rxModes).toEqual(["allmulti"]);
    expect(d.backlog.frames).toBe(0);
    // The offline form of the same blob has the saved indices but no chains.
    const offline = (await inspectBlob(dev.saveState(), { decoders: defaultDecoders() })).device as Net;
    expect(offline.queues[1].lastAvail).toBe(tx.lastAvail);
    expect(offline.queues[1].live).toBeUndefined();
  });

  it("counts the backlog: frames that found no receive buffer", async () => {
    const r = await Rig.create("mmio", { backlogFrames: 8 });
    r.init([F.VERSION_1, F.MAC, F.STATUS, F.CTRL_VQ, F.CTRL_RX, F.MRG_RXBUF]);
    r.postRx(0, 2, 2048);
    for (let i = 0; i < 5; i++) r.dev.receive(frame(OWN_MAC, 100 + i, i));
    const d = (await inspectBlob(r.dev.saveState(), { decoders: defaultDecoders() })).device as Net & { backlog: { frames: number; bytes: number; listed: Array<{ length: number; dst: string }> }; transport: string };
    expect(d.transport).toBe("mmio");
    expect(d.backlog.frames).toBe(3);
    expect(d.backlog.listed.map((x) => x.length)).toEqual([102, 103, 104]);
    expect(d.backlog.listed[0].dst).toBe(OWN_MAC);
    expect(d.queues[0].usedIdx).toBe(2);
  });

  it("a hostile guest's rings (a loop, bad indirect tables, a head out of range) are reported per chain, never thrown", async () => {
    const { core, dev, drv } = await netRig({ transport: "pci" });
    expect(drv.transmit(frame("02:00:00:00:00:0a", 60, 1), 0, { kick: false })).toBe(true);
    const tx = drv.pairs[0].tx, g = core.guest;
    const desc = (i: number, addr: number, len: number, flags: number, next: number) => {
      g.writeU64(tx.desc + 16 * i, addr); g.writeU32(tx.desc + 16 * i + 8, len); g.writeU16(tx.desc + 16 * i + 12, flags); g.writeU16(tx.desc + 16 * i + 14, next);
    };
    const TABLE = 0x700000;
    desc(200, 0x1000, 16, 1, 200);                 // NEXT to itself
    desc(201, TABLE, 7, 4, 0);                     // indirect table of 7 bytes
    desc(202, TABLE, 32, 4, 0);                    // indirect table holding an indirect descriptor
    g.writeU64(TABLE, 0x2000); g.writeU32(TABLE + 8, 16); g.writeU16(TABLE + 12, 4); g.writeU16(TABLE + 14, 0);
    desc(203, 0xffff_0000, 64, 4, 0);              // indirect table outside guest RAM
    const heads = [200, 201, 202, 203, 999];
    heads.forEach((h, k) => g.writeU16(tx.avail + 4 + 2 * ((tx.availIdx + k) % tx.size), h));
    g.writeU16(tx.avail + 2, (tx.availIdx + heads.length) & 0xffff);
    const before = dev.saveState();
    const [dump] = await inspectDevice(dev, { guest: g });
    expect(dev.saveState()).toEqual(before);          // inspecting changes nothing
    const q = (dump.state.device as Net).queues[1] as unknown as { live: { pendingChains: number; chains: Array<{ head?: number; error?: string; descriptors?: Array<{ indirect?: { error: string } }> }> } };
    expect(q.live.pendingChains).toBe(1 + heads.length);
    const [ok, loop, short, nested, outside, wild] = q.live.chains;
    expect(ok.error).toBeUndefined();
    expect(loop.error).toMatch(/longer than the queue size 256/);
    expect(loop.descriptors).toHaveLength(256);
    expect(short.descriptors![0].indirect!.error).toMatch(/7 bytes is not a non-zero multiple of 16/);
    expect(nested.descriptors![0].indirect!.error).toMatch(/indirect descriptor inside an indirect table/);
    expect(outside.descriptors![0].indirect!.error).toMatch(/not in guest RAM/);
    expect(wild.error).toMatch(/descriptor index 999 outside a queue of 256/);
  });
});
