// The machine's local APICs (one per vCPU from the registry, MSI routing,
// timer pump on the guest clock), the guest clock's saved state, and a
// machine created stopped (a migration destination).
import { describe, it, expect } from "vitest";
import { ConfigTree } from "../../../src/config/tree.js";
import { Machine } from "../../../src/machine/machine.js";
import { LapicDevice } from "../../../src/devices/apic/machine.js";
import type { MemtestDevice } from "../../../src/devices/memtest/device.js";
import { ApicMsr, ApicReg } from "../../../src/devices/apic/index.js";
import { Status } from "../../../src/index.js";
import { debugWasm, rng, testSeed } from "../../support/core.js";
import { until } from "../../support/wait.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const create = (text: string, o: { startVcpus?: boolean; startFrozen?: boolean } = {}) => {
  const c = new ConfigTree(); c.load(text);
  return Machine.create(c, { module: debugWasm(), variant: "debug", startVcpus: o.startVcpus ?? false, startFrozen: o.startFrozen });
};
const lapics = (m: Machine) => m.devices.filter((d): d is LapicDevice => d instanceof LapicDevice);
const irr = (d: LapicDevice, v: number) => ((d.apic.mmioRead(ApicReg.irr + 0x10 * (v >> 5)) >>> (v & 31)) & 1) === 1;

describe("local APICs in the machine", () => {
  it("every vCPU has one; a PCI device's MSI reaches the addressed vCPU's IRR only", async () => {
    const m = await create("memory.size=1M\ncpus=3\npci.0.3.0.device=memtest\npci.0.3.0.msi=48\n");
    try {
      expect(lapics(m).map((d) => d.name)).toEqual(["lapic0", "lapic1", "lapic2"]);
      for (const d of lapics(m)) d.apic.mmioWrite(ApicReg.svr, 4, 0x1ff);
      (m.devicesByNode.get("pci.0.3.0") as MemtestDevice).tick(1); // MSI address 0xfee00000: APIC ID 0
      m.interrupts.sinkFor("nic").msi({ addressLo: 0xfee02000, addressHi: 0, data: 0x61 }); // APIC ID 2
      const [a, b, c] = lapics(m);
      expect([irr(a, 48), irr(b, 48), irr(c, 48)]).toEqual([true, false, false]);
      expect([irr(a, 0x61), irr(b, 0x61), irr(c, 0x61)]).toEqual([false, false, true]);
      expect(m.interrupts.countsFor("memtest0").msi).toBe(1);
    } finally { await m.destroy(); }
  });

  it("lapic.x2apic=true starts every APIC in x2APIC mode; unknown lapic keys are errors naming the key", async () => {
    const m = await create("memory.size=1M\ncpus=2\nlapic.x2apic=true\n");
    try {
      for (const d of lapics(m)) expect(d.apic.base & 0xc00n).toBe(0xc00n);
      expect(lapics(m)[1].apic.rdmsr(ApicMsr.x2apicFirst + 2).value).toBe(1n); // x2APIC ID register (MSR 0x802)
    } finally { await m.destroy(); }
    await expect(create("memory.size=1M\nlapic.colour=1\n")).rejects.toThrow("lapic.colour: unknown key for device lapic");
    await expect(create("memory.size=1M\nlapic.x2apic=maybe\n")).rejects.toThrow(/^lapic\.x2apic: want a boolean/);
  });

  it("the timer pump fires an armed one-shot timer on the guest clock", async () => {
    const m = await create("memory.size=1M\n");
    try {
      const [d] = lapics(m);
      d.apic.mmioWrite(ApicReg.svr, 4, 0x1ff);
      d.apic.mmioWrite(ApicReg.timerDivide, 4, 0xb);
      d.apic.mmioWrite(ApicReg.lvtTimer, 4, 0x40);
      d.apic.mmioWrite(ApicReg.timerInitial, 4, 5_000_000); // 5 ms at 1 GHz
      const deadline = d.apic.nextDeadline()!;
      expect(irr(d, 0x40)).toBe(false);
      await until(() => d.pump.fired > 0, "the timer pump to fire");
      expect(d.pump.fired).toBe(1);
      expect(irr(d, 0x40)).toBe(true);
      expect(m.clock.now()).toBeGreaterThanOrEqual(deadline);
    } finally { await m.destroy(); }
  });
});

describe("guest clock state", () => {
  it("save → restore → save is identity; the restored clock stands at the saved time until started", async () => {
    const a = await create("memory.size=1M\n");
    const b = await create("memory.size=1M\n", { startFrozen: true });
    try {
      await sleep(5);
      const before = a.clock.now();
      const blob = a.clock.saveState();
      const after = a.clock.now();
      expect(b.clock.restoreState(blob)).toBe(Status.OK);
      expect(b.clock.running).toBe(false);
      // The guest time at the save: a's clock between the two readings around it.
      const t = b.clock.now();
      expect(t).toBeGreaterThan(0n);
      expect(t).toBeGreaterThanOrEqual(before);
      expect(t).toBeLessThanOrEqual(after);
      await sleep(3);
      expect(b.clock.now()).toBe(t);
      expect(b.clock.saveState()).toEqual(blob);
      b.resume();
      await sleep(3);
      expect(b.clock.now()).toBeGreaterThan(t);
    } finally { await a.destroy(); await b.destroy(); }
  });

  it("fuzzed blobs never trap and never change the clock", async () => {
    const seed = testSeed();
    const r = rng(seed);
    const m = await create("memory.size=1M\n", { startFrozen: true });
    try {
      const good = m.clock.saveState();
      for (let i = 0; i < 300; i++) {
        const blob = good.slice(0, r() < 0.2 ? Math.floor(r() * good.length) : good.length);
        // Flips at distinct bytes: two flips of one byte could cancel and leave the good blob.
        const at = new Set<number>();
        for (let flips = Math.min(blob.length, 1 + Math.floor(r() * 3)); at.size < flips;) at.add(Math.floor(r() * blob.length));
        for (const p of at) blob[p] ^= 1 + Math.floor(r() * 255);
        const s = m.clock.restoreState(blob);
        expect(s, `seed ${seed}, case ${i}`).not.toBe(Status.OK);
        expect(m.clock.now(), `seed ${seed}, case ${i}`).toBe(0n);
      }
    } finally { await m.destroy(); }
  });
});

describe("a machine created stopped (migration destination)", () => {
  it("no vCPU writes, no device-side writes and no guest time until resume", async () => {
    const m = await create("memory.size=2M\ncpus=2\npci.0.3.0.device=memtest\npci.0.3.0.interval_ms=1\n", { startVcpus: true, startFrozen: true });
    try {
      m.core.dirty.enable();
      await sleep(40);
      expect(m.paused).toBe(true);
      expect(m.vcpuStats().every((s) => s.writes === 0)).toBe(true);
      expect(m.core.dirty.count()).toBe(0); // the memtest timer found no lease while the machine is held
      expect(m.clock.now()).toBe(0n);
      m.resume();
      expect(m.paused).toBe(false);
      await until(() => m.vcpuStats().every((s) => s.writes > 0), "every vCPU to write after resume");
      expect(m.clock.now()).toBeGreaterThan(0n);
    } finally { await m.destroy(); }
  });
});
