// The machine's wasm-memory budget: guest RAM, devices and vCPU workers share
// one 4 GiB linear memory that is never freed. Machine.create adds up what
// every part can take (the wasm module's sizing queries) before it creates a
// device: a config that cannot fit is refused naming the key and the largest
// value that fits; one that fits is created, used, and does not run out.
import { describe, it, expect } from "vitest";
import { ConfigTree, ConfigError } from "../../src/config/tree.js";
import { Machine } from "../../src/machine/machine.js";
import { MemoryBudgetError, planMachineMemory } from "../../src/machine/memory.js";
import { createDefaultRegistry } from "../../src/machine/machine.js";
import { machinePciBus } from "../../src/machine/pci-bus.js";
import { VmCore } from "../../src/index.js";
import { GuestRam } from "../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../../src/guest/virtio/net-driver.js";
import { PciTransport } from "../../src/guest/virtio/transport.js";
import { frame, seqOf } from "../../src/guest/virtio/frames.js";
import { debugWasm } from "../support/core.js";

const config = (lines: string) => { const c = new ConfigTree(); c.load(lines); return c; };
const create = (c: ConfigTree, startVcpus = false) => Machine.create(c, { module: debugWasm(), variant: "debug", startVcpus });
const refusal = async (c: ConfigTree, startVcpus = false): Promise<MemoryBudgetError> => {
  try { const m = await create(c, startVcpus); await m.destroy(); } catch (e) { if (e instanceof MemoryBudgetError) return e; throw e; }
  throw new Error("expected the config to be refused");
};
const bigNic = (backlog: number | string, extra = "") =>
  config(`memory.size=64M\ncpus=2\npci.0.3.0.device=virtio-net\npci.0.3.0.mtu=65500\npci.0.3.0.backlog=${backlog}\npci.0.3.0.backend=loopback\npci.0.4.0.device=memtest\n${extra}`);

describe("machine memory budget", () => {
  it("regression_backlog_no_memory_at_create: a backlog too big for the wasm memory is refused up front, naming pci.0.3.0.backlog", async () => {
    // It passed the schema, then failed in vnet_create: "pci.0.3.0.device: vnet_create: ERR_NO_MEMORY".
    const e = await refusal(config("pci.0.3.0.device=virtio-net\npci.0.3.0.backlog=65536\npci.0.3.0.mtu=65500\n"));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.key).toBe("pci.0.3.0.backlog");
    expect(e.message).toMatch(/^pci\.0\.3\.0\.backlog: backlog=65536 .* at most backlog=\d+ fits$/);
    expect(e.largest).toBeGreaterThan(60000);
    expect(e.largest).toBeLessThan(65536);
  });

  it("the largest backlog that fits creates a working machine (vCPU workers, APICs, traffic); one more frame is refused", async () => {
    // The refusal of the schema's largest backlog names the largest that fits.
    const largest = (await refusal(bigNic(65536), true)).largest!;
    const over = await refusal(bigNic(largest + 1), true);
    expect(over.key).toBe("pci.0.3.0.backlog");
    expect(over.largest).toBe(largest);

    const m = await create(bigNic(largest), true);
    try {
      expect(m.vcpus.count).toBe(2);
      // First use carves the device's lazy scratch: that fits too, a frame goes round the loopback.
      const bus = machinePciBus(m);
      const irq = new InterruptRecorder();
      m.interrupts.listen({ msi: (_s, msg) => irq.msi(msg), intx: (_s, pin, level) => irq.intx(pin, level) });
      const drv = new VirtioNetDriver(new PciTransport(bus.find(0, 3, 0)!.fn, { msixVectors: 64 }), new GuestRam(m.core), irq, { heap: [4 << 20, 60 << 20] });
      drv.init();
      drv.setRxMode(1, true);
      expect(drv.transmit(frame({ dst: Uint8Array.of(2, 0, 0, 0, 0, 9), seq: 5 }))).toBe(true);
      drv.service();
      expect(drv.takeReceived().map((f) => seqOf(f.data))).toEqual([5]);
    } finally { await m.destroy(); }
  });

  it("the plan counts every part: devices, per-vCPU devices, vCPU workers; without workers more fits", async () => {
    const c = bigNic(16);
    const core = await VmCore.create({ module: debugWasm(), variant: "debug", ramBytes: 64 << 20 });
    const nodes = ["pci.0.3.0", "pci.0.4.0"];
    const plan = planMachineMemory(c, core, createDefaultRegistry(), nodes, { startVcpus: true });
    expect(plan.parts.map((p) => p.node)).toEqual(["pci.0.3.0", "pci.0.4.0", "lapic", "ioapic", "cpus"]);
    expect(plan.parts.every((p) => p.bytes > 0)).toBe(true);
    expect(plan.need).toBe(plan.parts.reduce((a, p) => a + p.bytes, 0));
    const noWorkers = planMachineMemory(c, core, createDefaultRegistry(), nodes, { startVcpus: false });
    expect(noWorkers.need).toBe(plan.need - plan.parts[4].bytes);
    const largestWith = (await refusal(bigNic(65536), true)).largest!;
    const largestWithout = (await refusal(bigNic(65536), false)).largest!;
    expect(largestWithout).toBeGreaterThanOrEqual(largestWith);
  });

  it("what a running machine took is within its plan: every allocation of create and first use is counted", async () => {
    // One NIC (a second would count its one-time scratch again, hiding small parts) and
    // enough vCPUs and threads that their APICs and threads each outweigh what the plan holds back.
    const c = config("memory.size=32M\ncpus=8\nvcpu.threads=8\nworkload.rate=10\npci.0.3.0.device=virtio-net\npci.0.3.0.backend=loopback\npci.0.3.0.queues=4\n" +
      "pci.0.5.0.device=memtest\npci.0.5.0.size=8K\n");
    // The same RAM on a fresh core: the layout before the devices is the machine's.
    const probe = await VmCore.create({ module: debugWasm(), variant: "debug", ramBytes: 32 << 20 });
    const before = probe.exports.vm_memory_used() >>> 0;
    const plan = planMachineMemory(c, probe, createDefaultRegistry(), ["pci.0.3.0", "pci.0.5.0"], { startVcpus: true });
    const m = await create(c, true);
    try {
      const irq = new InterruptRecorder();
      m.interrupts.listen({ msi: (_s, msg) => irq.msi(msg), intx: (_s, pin, level) => irq.intx(pin, level) });
      const drv = new VirtioNetDriver(new PciTransport(machinePciBus(m).find(0, 3, 0)!.fn, { msixVectors: 64 }), new GuestRam(m.core), irq, { heap: [4 << 20, 12 << 20] });
      drv.init();
      drv.setRxMode(1, true);
      for (let i = 0; i < 8; i++) expect(drv.transmit(frame({ dst: Uint8Array.of(2, 0, 0, 0, 0, 9), seq: i }))).toBe(true);
      drv.service();
      expect(drv.takeReceived().map((f) => seqOf(f.data))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      const took = (m.core.exports.vm_memory_used() >>> 0) - before;
      expect(took).toBeLessThanOrEqual(plan.need);
      // What the plan holds back beyond that is the switch tables this NIC never made and alignment padding.
      const spare = await VmCore.create({ module: debugWasm(), variant: "debug", ramBytes: 1 << 20 });
      const unused = spare.exports.vm_memory_used() >>> 0;
      expect(spare.exports.nsw_create()).toBeGreaterThan(0);
      const switchTables = (spare.exports.vm_memory_used() >>> 0) - unused;
      const [lapic, workers] = [plan.parts.find((p) => p.node === "lapic")!.bytes, plan.parts.find((p) => p.node === "cpus")!.bytes];
      expect(plan.need - took).toBeLessThan(switchTables + Math.min(lapic, workers));
    } finally { await m.destroy(); }
  });

  it("names memory.size when no one device's knob can make room", async () => {
    // Fifteen NICs of 64 MiB backlogs: at 3.5 GiB of RAM no single backlog can shrink enough.
    const lines = ["memory.size=3584M"];
    for (let s = 1; s <= 15; s++) lines.push(`pci.0.${s}.0.device=virtio-net`, `pci.0.${s}.0.mtu=65500`, `pci.0.${s}.0.backlog=1024`);
    const e = await refusal(config(lines.join("\n")));
    expect(e.key).toBe("memory.size");
    expect(e.message).toMatch(/at most memory\.size=\d+K fits/);
    // And that much RAM does fit with them.
    const fits = config(lines.join("\n"));
    fits.set("memory.size", `${e.largest! / 1024}K`);
    const m = await create(fits);
    await m.destroy();
  });

  it("a backlog given through %(var) is named by its own key", async () => {
    const e = await refusal(config("var.frames=65536\npci.0.3.0.device=virtio-net\npci.0.3.0.mtu=65500\npci.0.3.0.backlog=%(var.frames)\n"));
    expect(e.key).toBe("pci.0.3.0.backlog");
  });
});
