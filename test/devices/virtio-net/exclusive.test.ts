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

  it("waits for a call in progress on another thread (a wasm reference on the device) before it applies, and rolls back when it never drains", async () => {
    const r = await netRig({ transport: "pci" });
    const e = r.dev.core.exports as unknown as { lc_hold(t: number, h: number): number; lc_release(t: number, h: number): void };
    const LC_VIRTIO = 0;
    expect(e.lc_hold(LC_VIRTIO, r.dev.handle)).toBe(1);
    const phases: string[] = [];
    let released = false;
    const run = new Exclusive(virtioNetExclusive(r.dev), {
      drainTimeoutMs: 600_000,
      onPhase: (_op, p) => {
        phases.push(p);
        // The held call finishes only once the operation is waiting for it.
        if (p === "quiesce") setImmediate(() => setImmediate(() => { released = true; e.lc_release(LC_VIRTIO, r.dev.handle); }));
      },
    }).setMac(mac("52:54:00:aa:bb:01"));
    const res = await run;
    expect(res.ok).toBe(true);
    expect(released).toBe(true);
    expect(res.drainChecks).toBeGreaterThan(1);
    expect(phases.indexOf("drained")).toBeGreaterThan(phases.indexOf("quiesce"));
    // A reference that never goes away: the drain times out and the device is left as it was.
    expect(e.lc_hold(LC_VIRTIO, r.dev.handle)).toBe(1);
    const before = r.dev.saveState();
    const stuck = await new Exclusive(virtioNetExclusive(r.dev), { drainTimeoutMs: 20 }).setMac(mac("52:54:00:aa:bb:02"));
    expect(stuck.ok).toBe(false);
    expect(stuck.timeline.map((m) => m.phase)).toContain("rollback");
    e.lc_release(LC_VIRTIO, r.dev.handle);
    expect(r.dev.saveState()).toEqual(before);
    expect(r.dev.inFlight).toBe(0);
  });
});
