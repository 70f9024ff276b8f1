// e1k_memory_bytes: what an e1000 can take in linear memory over create and
// first use (scratch, CRC tables, the saved-register list), pinned against
// what it really takes, and against e1k_create's own argument checks.
import { describe, it, expect } from "vitest";
import { E1000 } from "../../../src/devices/e1000/device.js";
import { E1000Driver } from "../../../src/guest/e1000/driver.js";
import { GuestRam } from "../../../src/guest/virtio/guest-ram.js";
import { Status } from "../../../src/status.js";
import { frame, mac } from "../../../src/guest/virtio/frames.js";
import { newCore } from "../../support/core.js";

const PAD_SLACK = 8 * 63; // worst alignment padding per allocation it stands for

describe("e1k_memory_bytes", () => {
  it("bounds what a device takes at create and on first use, within alignment padding", async () => {
    for (const c of [{ backlogFrames: 256, backlogBytes: 512 * 1024 }, { backlogFrames: 1, backlogBytes: 32768 }, { backlogFrames: 65536, backlogBytes: 16 << 20 }]) {
      const core = await newCore(16 << 20);
      const estimate = E1000.memoryBytes(core, c);
      const before = core.exports.vm_memory_used() >>> 0;
      const dev = E1000.create(core, { mac: "52:54:00:00:00:01", interrupts: { msi() {}, intx() {} }, timers: "manual", ...c });
      const drv = new E1000Driver(dev.pci, new GuestRam(core), { heap: [1 << 20, 8 << 20] });
      drv.init();
      drv.transmit(frame({ dst: mac("02:00:00:00:00:01"), length: 64 }));
      dev.receive(frame({ dst: drv.mac, length: 64 }));
      // The I/O buffer a save needs is the host's (VmCore.ensureIo), not the device's: leave it out.
      const beforeIo = core.exports.vm_memory_used() >>> 0;
      core.ensureIo(core.exports.e1k_state_bound(dev.handle));
      const io = (core.exports.vm_memory_used() >>> 0) - beforeIo;
      dev.saveState();
      const took = (core.exports.vm_memory_used() >>> 0) - before - io;
      expect(took, JSON.stringify(c)).toBeLessThanOrEqual(estimate);
      expect(estimate - took, JSON.stringify(c)).toBeLessThanOrEqual(PAD_SLACK);
    }
  });

  it("refuses what e1k_create refuses", async () => {
    const core = await newCore(1 << 20);
    for (const c of [{ backlogFrames: 0 }, { backlogFrames: 65537 }, { backlogBytes: 1000 }, { backlogBytes: 32770 }, { backlogBytes: (64 << 20) + 4 }]) {
      expect(() => E1000.memoryBytes(core, c), JSON.stringify(c)).toThrow();
      expect(() => E1000.create(core, { mac: "52:54:00:00:00:01", interrupts: { msi() {}, intx() {} }, ...c }), JSON.stringify(c)).toThrow();
    }
    expect(() => E1000.create(core, { mac: "53:54:00:00:00:01", interrupts: { msi() {}, intx() {} } })).toThrow();
    expect(core.exports.e1k_create(0x5254, 1, 1, 1000)).toBe(-Status.ERR_INVALID_ARG);
  });

  it("destroy gives the handle and the memory back; 15 devices fit, the 16th is refused", async () => {
    const core = await newCore(1 << 20);
    const make = () => E1000.create(core, { mac: "52:54:00:00:00:01", interrupts: { msi() {}, intx() {} }, timers: "manual", backlogBytes: 32768, backlogFrames: 8 });
    const devs = Array.from({ length: 15 }, make);
    expect(() => make()).toThrow(/ERR_FULL|24/);
    const used = core.exports.vm_memory_used() >>> 0;
    const h = devs[3].handle;
    devs[3].destroy();
    expect(core.exports.e1k_cfg_read(h, 0, 4) >>> 0).toBe(0xffffffff);
    const again = make();
    expect(again.handle).toBe(h);
    expect(core.exports.vm_memory_used() >>> 0).toBe(used);
    expect(core.exports.e1k_cfg_read(h, 0, 4) >>> 0).toBe(0x100e8086);
    expect(core.exports.e1k_cfg_read(99, 0, 4) >>> 0).toBe(0xffffffff);
  });
});
