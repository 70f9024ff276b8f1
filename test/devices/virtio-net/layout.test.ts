// The guest-memory layout against live rings: a hole that appears over an
// enabled virtqueue (gm_add_hole, or a layout restore after the devices) must
// not let the device write inside it. The device notices at its next access,
// counts ringInHole and sets DEVICE_NEEDS_RESET; rings outside the holes keep
// working. Run on the debug build (traps visible) and the release build.
import { describe, it, expect } from "vitest";
import { Status, createVmCore, type VmCore, type WasmVariant } from "../../../src/index.js";
import { Rig, F, QBASE, frame, OWN_MAC } from "./rig.js";

const BASE = [F.VERSION_1, F.MAC];
const RAM = 32 << 20;
/** The rig's default ring layout: queue qi's used ring is at QBASE + qi·0x40000 + 0x30000. */
const usedRing = (qi: number) => QBASE + qi * 0x40000 + 0x30000;

/** Guest RAM bytes [gpa, gpa+len) read straight from linear memory (the port refuses holes). */
const raw = (core: VmCore, gpa: number, len: number) => core.u8().slice((core.exports.gm_ram_ptr() >>> 0) + gpa, (core.exports.gm_ram_ptr() >>> 0) + gpa + len);

describe.each<WasmVariant>(["debug", "release"])("holes over live rings (%s build)", (variant) => {
  for (const transport of ["pci", "mmio"] as const) {
    it(`regression_hole_over_enabled_virtqueue (${transport}): after gm_add_hole over the TX used ring a kick writes nothing inside it and the device needs reset`, async () => {
      const core = await createVmCore({ ramBytes: RAM, variant });
      const r = await Rig.create(transport, {}, 0, core);
      r.init(BASE);
      const f = frame("02:00:00:00:00:02", 100);
      r.send(f);
      expect(r.tx).toEqual([f]);
      core.guest.addHole(usedRing(1), 4096);
      const before = raw(core, usedRing(1), 4096);
      r.send(f);
      expect(raw(core, usedRing(1), 4096)).toEqual(before);
      expect(r.tx).toEqual([f]);
      expect(r.dev.needsReset).toBe(true);
      expect(r.dev.counters().ringInHole).toBe(1n);
      // The driver's recovery: reset, rings elsewhere (a ring inside the hole is refused at enable).
      r.setStatus(0);
      expect(r.dev.needsReset).toBe(false);
      r.init(BASE, { queues: 1 });
      r.setupQueue(1, 64, { desc: 0x600000, avail: 0x620000, used: 0x630000 });
      r.setupQueue(2, 64, { desc: 0x640000, avail: 0x650000, used: usedRing(1) });
      expect(r.dev.needsReset).toBe(true); // queue 2 in the hole: refused
      expect(r.dev.counters().queueRejected).toBe(1n);
    });

    it(`regression_layout_restore_over_enabled_virtqueue (${transport}): a layout restored after the device, with a hole over the RX used ring, is caught before the next frame`, async () => {
      const core = await createVmCore({ ramBytes: RAM, variant });
      const r = await Rig.create(transport, {}, 0, core);
      r.init(BASE);
      r.postRx(0, 4, 2048);
      const peer = await createVmCore({ ramBytes: RAM, variant, holes: [[usedRing(0), 4096]] });
      expect(core.restoreLayout(peer.saveLayout())).toBe(Status.OK);
      const before = raw(core, usedRing(0), 4096);
      r.dev.receive(frame(OWN_MAC, 80));
      expect(raw(core, usedRing(0), 4096)).toEqual(before);
      expect(r.dev.needsReset).toBe(true);
      expect(r.dev.counters().ringInHole).toBe(1n);
      expect(r.dev.counters().rxFrames).toBe(0n);
    });
  }

  it("a hole away from the rings changes nothing: the device keeps transmitting and receiving", async () => {
    const core = await createVmCore({ ramBytes: RAM, variant });
    const r = await Rig.create("pci", {}, 0, core);
    r.init(BASE);
    r.postRx(0, 4, 2048);
    core.guest.addHole(RAM - (1 << 20), 1 << 20);
    const f = frame("02:00:00:00:00:02", 100);
    r.send(f);
    expect(r.tx).toEqual([f]);
    expect(r.dev.receive(frame(OWN_MAC, 80))).toBe(Status.OK);
    expect(r.takeUsed(0).length).toBe(1);
    expect(r.dev.needsReset).toBe(false);
    expect(r.dev.counters().ringInHole).toBe(0n);
  });

  it("a device restored after the layout validates its rings against the holes (the migration order)", async () => {
    const src = await createVmCore({ ramBytes: RAM, variant });
    const a = await Rig.create("pci", {}, 0, src);
    a.init(BASE);
    a.dev.quiesce();
    const blob = a.dev.saveState();
    const dst = await createVmCore({ ramBytes: RAM, variant, holes: [[usedRing(1), 4096]] });
    const b = await Rig.create("pci", {}, 0, dst);
    expect(b.dev.restoreState(blob)).toBe(Status.ERR_STATE_INVALID);
    expect(b.dev.status).toBe(0);
  });
});
