// virtio-net's exclusive-operation target: what may change live (virtio 1.2
// §5.1.4) and what is refused, seen through the driver model.
import { describe, expect, it } from "vitest";
import { Exclusive, Status, virtioNetExclusive } from "../../../src/index.js";
import { NetCfg } from "../../../src/guest/virtio/defs.js";
import { frame, mac } from "../../../src/guest/virtio/frames.js";
import { netRig, OWN_MAC } from "./rig.js";

describe("virtio-net exclusive operations", () => {
  it("mtu changes only while the device is reset, never above the created MTU; the driver then reads the new value", async () => {
    const r = await netRig({ transport: "pci", noInit: true });
    const ex = new Exclusive(virtioNetExclusive(r.dev));
    expect((await ex.setMtu(1400)).ok).toBe(true);
    const before = r.dev.saveState();
    const over = await ex.setMtu(1600);
    expect([over.ok, over.status]).toEqual([false, Status.ERR_INVALID_ARG]);
    expect(over.timeline.map((m) => m.phase)).toEqual(["start", "rollback"]); // refused by prepare, never quiesced
    expect(r.dev.saveState()).toEqual(before);
    r.drv.init();
    expect(r.drv.mtu).toBe(1400);
    expect(r.dev.receive(frame({ dst: mac(OWN_MAC), length: 1400 + 14 }))).toBe(Status.OK);
    expect(r.dev.receive(frame({ dst: mac(OWN_MAC), length: 1400 + 19 }))).toBe(Status.ERR_INVALID_ARG);
    const live = await ex.setMtu(1300);
    expect([live.ok, live.status]).toEqual([false, Status.ERR_BAD_STATE]);
  });

  it("a live MAC change moves the config generation and raises a config interrupt (and the announce another); the driver re-reads the new mac", async () => {
    const r = await netRig({ transport: "pci" });
    const gen = r.drv.transport.configGeneration();
    const changes = r.drv.configChanges, acks = r.drv.announceAcks;
    const res = await new Exclusive(virtioNetExclusive(r.dev)).setMac(mac("52:54:00:aa:bb:cc"));
    expect(res.ok).toBe(true);
    expect(r.drv.transport.configGeneration()).not.toBe(gen);
    r.drv.service();
    expect(r.drv.configChanges).toBe(changes + 2);
    expect(r.drv.announceAcks).toBe(acks + 1);
    expect([0, 1, 2, 3, 4, 5].map((i) => r.drv.transport.cfgRead(NetCfg.MAC + i, 1))).toEqual([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
    expect([...r.drv.mac]).toEqual([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
    expect(res.announced).toBe("guest");
    // A device reset (the driver's re-init writes status 0) keeps the host's address: it is the configured one now.
    r.drv.mac.fill(0);
    r.drv.init();
    expect([...r.drv.mac]).toEqual([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
  });
});
