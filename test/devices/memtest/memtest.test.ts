// The memtest device's window against the guest-memory layout: it is checked
// at create, then written with unchecked stores, so a hole that appears over
// it later must stop the writes (ERR_HOLE) instead of landing inside the hole.
import { describe, it, expect } from "vitest";
import { ConfigTree } from "../../../src/config/tree.js";
import { Machine } from "../../../src/machine/machine.js";
import type { MemtestDevice } from "../../../src/devices/memtest/device.js";
import { Status, createVmCore, type VmCore, type WasmVariant } from "../../../src/index.js";
import { debugWasm } from "../../support/core.js";

const raw = (core: VmCore, gpa: number, len: number) => core.u8().slice((core.exports.gm_ram_ptr() >>> 0) + gpa, (core.exports.gm_ram_ptr() >>> 0) + gpa + len);

describe.each<WasmVariant>(["debug", "release"])("memtest window (%s build)", (variant) => {
  it("regression_hole_over_memtest_window: after a hole over the window a tick writes nothing and returns ERR_HOLE", async () => {
    const core = await createVmCore({ ramBytes: 1 << 20, variant });
    const e = core.exports;
    const h = e.memtest_create(0x10000n, 8192);
    expect(h).toBeGreaterThan(0);
    expect(e.memtest_tick(h, 16)).toBe(Status.OK);
    core.guest.addHole(0x11000, 4096);
    const before = raw(core, 0x10000, 8192);
    expect(e.memtest_tick(h, 4096)).toBe(Status.ERR_HOLE);
    expect(raw(core, 0x10000, 8192)).toEqual(before);
    expect(e.memtest_ticks(h)).toBe(16n);
    // A hole elsewhere leaves another window working.
    const other = e.memtest_create(0x20000n, 4096);
    expect(e.memtest_tick(other, 8)).toBe(Status.OK);
    core.guest.addHole(0x80000, 4096);
    expect(e.memtest_tick(other, 8)).toBe(Status.OK);
    expect(e.memtest_ticks(other)).toBe(16n);
  });
});

describe("memtest on a timer", () => {
  it("a tick refused for a hole is counted, not thrown out of the timer", async () => {
    const c = new ConfigTree();
    c.load("memory.size=1M\npci.0.3.0.device=memtest\npci.0.3.0.gpa=64K\npci.0.3.0.size=8K\npci.0.3.0.interval_ms=1\n");
    const m = await Machine.create(c, { module: debugWasm(), variant: "debug", startVcpus: false });
    try {
      const dev = m.devicesByNode.get("pci.0.3.0") as MemtestDevice;
      m.core.guest.addHole(0x11000, 4096);
      const end = performance.now() + 10_000;
      while (dev.failedTicks < 3 && performance.now() < end) await new Promise((r) => setTimeout(r, 2));
      expect(dev.failedTicks).toBeGreaterThanOrEqual(3);
    } finally { await m.destroy(); }
  });
});
