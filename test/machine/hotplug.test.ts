// Hot-unplug and hot-plug of NICs in a running Machine (vCPU workers
// writing guest RAM outside the drivers' heaps): the function leaves the PCI
// bus (config reads all ones), its interrupt lines go low, traffic to it
// stops cleanly, its wasm handle and memory are reused by the next plug, and
// a NIC plugged at the same address carries traffic again.
import { describe, it, expect } from "vitest";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine, MemoryBudgetError } from "../../src/index.js";
import { machinePciBus } from "../../src/machine/pci-bus.js";
import { MachineVirtioNet } from "../../src/devices/virtio-net/machine.js";
import { MachineE1000 } from "../../src/devices/e1000/machine.js";
import { MachineNe2k } from "../../src/devices/ne2k/machine.js";
import { GuestRam } from "../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../../src/guest/virtio/net-driver.js";
import { PciTransport } from "../../src/guest/virtio/transport.js";
import { frame, seqOf } from "../../src/guest/virtio/frames.js";
import { debugWasm } from "../support/core.js";

const MIB = 1 << 20;
// vCPUs write only the first 4 MiB; the drivers' rings and buffers live above.
const CFG = "memory.size=32M\ncpus=1\nworkload.rate=2000\nworkload.pages=1024\n" +
  "pci.0.3.0.device=virtio-net\npci.0.3.0.backend=switch:lan\npci.0.3.0.mac=52:54:00:00:00:03\n" +
  "pci.0.4.0.device=virtio-net\npci.0.4.0.backend=switch:lan\npci.0.4.0.mac=52:54:00:00:00:04\n";

async function machine(cfg = CFG): Promise<Machine> {
  const c = new ConfigTree();
  c.load(cfg);
  return Machine.create(c, { module: debugWasm(), variant: "debug", startVcpus: true });
}

/** A guest driver for the virtio-net at `slot`, its interrupts taken from the machine's router. */
function driver(m: Machine, slot: number, heap: [number, number]): { drv: VirtioNetDriver; stop: () => void } {
  const irq = new InterruptRecorder();
  const name = m.devicesByNode.get(`pci.0.${slot}.0`)!.name;
  const stop = m.interrupts.listen({ msi: (s, msg) => { if (s === name) irq.msi(msg); }, intx: (s, pin, level) => { if (s === name) irq.intx(pin, level); } });
  const drv = new VirtioNetDriver(new PciTransport(machinePciBus(m).find(0, slot, 0)!.fn, { msixVectors: 64 }), new GuestRam(m.core), irq, { heap });
  drv.init();
  return { drv, stop };
}

const mac = (last: number) => Uint8Array.of(0x52, 0x54, 0, 0, 0, last);

/** Send `n` frames from `a` to `b` (switch), sequence numbers from `seq`; what `b` received. */
function exchange(a: VirtioNetDriver, b: VirtioNetDriver, to: number, seq: number, n: number): number[] {
  for (let i = 0; i < n; i++) expect(a.transmit(frame({ dst: mac(to), seq: seq + i }))).toBe(true);
  a.service(); b.service();
  return b.takeReceived().map((f) => seqOf(f.data));
}

describe("machine hot-plug", () => {
  it("unplug a NIC with traffic flowing: its function reads all ones, lines low, frames to it go nowhere; re-plug at the same address reuses its handle and carries traffic", async () => {
    const m = await machine();
    try {
      const bus = machinePciBus(m);
      const a = driver(m, 3, [8 * MIB, 16 * MIB]);
      let b = driver(m, 4, [16 * MIB, 24 * MIB]);
      // Traffic both ways through the switch.
      expect(exchange(a.drv, b.drv, 4, 0, 32)).toEqual([...Array(32).keys()]);
      expect(exchange(b.drv, a.drv, 3, 100, 8)).toEqual([...Array(8).keys()].map((i) => 100 + i));
      const old = m.devicesByNode.get("pci.0.4.0") as MachineVirtioNet;
      const handle = old.nic.handle;
      const fn = bus.find(0, 4, 0)!.fn;
      expect(fn.configRead(0, 4)).toBe(0x10411af4);
      // Frames in flight toward the NIC about to go: in its receive ring, not yet taken by its driver.
      for (let i = 0; i < 4; i++) a.drv.transmit(frame({ dst: mac(4), seq: 200 + i }));
      a.drv.service();

      await m.unplug("pci.0.4.0");
      b.stop();
      // Gone from the bus, from the machine and its config; a driver's stale function reads all ones too.
      expect(bus.find(0, 4, 0)).toBeUndefined();
      expect(bus.configRead({ bus: 0, slot: 4, func: 0 }, 0, 4)).toBe(0xffffffff);
      expect(fn.configRead(0, 4)).toBe(0xffffffff);
      expect(fn.barRead(0, 0, 4)).toBe(0xffffffff);
      expect(m.devicesByNode.has("pci.0.4.0")).toBe(false);
      expect(m.devices.includes(old)).toBe(false);
      expect(m.config.children("pci.0.4.0")).toEqual([]);
      expect(old.nic.destroyed).toBe(true);
      expect(m.core.exports.vnet_in_flight(handle)).toBeLessThan(0);
      // No line of it stays asserted.
      expect(m.interrupts.countsFor(old.name).intxLevels).toEqual([false, false, false, false]);
      // Traffic toward it: the sender's TX completes, the frames are dropped at the switch (no port), nothing throws.
      const sender = (m.devicesByNode.get("pci.0.3.0") as MachineVirtioNet).nic;
      const tx0 = sender.counters().txFrames;
      for (let i = 0; i < 4; i++) expect(a.drv.transmit(frame({ dst: mac(4), seq: 300 + i }))).toBe(true);
      a.drv.service();
      expect(sender.counters().txFrames - tx0).toBe(4n);
      expect(sender.status & 0x40).toBe(0); // not broken
      expect(old.nic.receive(frame({ dst: mac(4), seq: 1 }))).toBe(3); // ERR_BAD_HANDLE, not a throw

      // Re-plug at the same address: same wasm handle, a fresh instance name, traffic again.
      const plugged = await m.plug("pci.0.4.0", { device: "virtio-net", backend: "switch:lan", mac: "52:54:00:00:00:04" }) as MachineVirtioNet;
      expect(plugged.nic.handle).toBe(handle);
      expect(plugged.name).not.toBe(old.name);
      expect(m.devicesByNode.get("pci.0.4.0")).toBe(plugged);
      expect([...m.devicesByNode.keys()].slice(0, 2)).toEqual(["pci.0.3.0", "pci.0.4.0"]);
      expect(bus.find(0, 4, 0)!.fn.configRead(0, 4)).toBe(0x10411af4);
      expect(m.config.get("pci.0.4.0.device")).toBe("virtio-net");
      b = driver(m, 4, [16 * MIB, 24 * MIB]);
      expect(exchange(a.drv, b.drv, 4, 400, 16)).toEqual([...Array(16).keys()].map((i) => 400 + i));
      expect(exchange(b.drv, a.drv, 3, 500, 4)).toEqual([500, 501, 502, 503]);
      // The unplugged NIC's frames never reached the new one.
      expect(plugged.nic.counters().rxFrames).toBe(16n);
      // The vCPUs kept running through it.
      expect(m.vcpuStats()[0].writes).toBeGreaterThan(0);
    } finally { await m.destroy(); }
  }, 60_000);

  it("unplug and plug of an e1000 and an NE2000; a plug is refused at a used address, for an unknown device, and when its memory cannot fit", async () => {
    const m = await machine("memory.size=32M\ncpus=1\nworkload.rate=100\nworkload.pages=256\npci.0.5.0.device=e1000\npci.0.6.0.device=ne2k\n");
    try {
      const bus = machinePciBus(m);
      const e = m.devicesByNode.get("pci.0.5.0") as MachineE1000;
      const n = m.devicesByNode.get("pci.0.6.0") as MachineNe2k;
      expect(bus.find(0, 5, 0)!.fn.configRead(0, 4)).toBe(0x100e8086);
      expect(bus.find(0, 6, 0)!.fn.configRead(0, 4)).toBe(0x802910ec);
      const [eh, nh] = [e.nic.handle, n.nic.handle];
      await m.unplug("pci.0.5.0");
      await m.unplug("pci.0.6.0");
      expect(bus.configRead({ bus: 0, slot: 5, func: 0 }, 0, 4)).toBe(0xffffffff);
      expect(bus.configRead({ bus: 0, slot: 6, func: 0 }, 0, 2)).toBe(0xffff);
      await expect(m.unplug("pci.0.5.0")).rejects.toThrow(/no PCI function/);
      const e2 = await m.plug("pci.0.5.0", { device: "e1000" }) as MachineE1000;
      const n2 = await m.plug("pci.0.6.0", { device: "ne2k" }) as MachineNe2k;
      expect([e2.nic.handle, n2.nic.handle]).toEqual([eh, nh]);
      expect(bus.find(0, 5, 0)!.fn.configRead(0, 4)).toBe(0x100e8086);
      expect(bus.find(0, 6, 0)!.fn.configRead(0, 4)).toBe(0x802910ec);
      await expect(m.plug("pci.0.5.0", { device: "e1000" })).rejects.toThrow(/in use/);
      await expect(m.plug("pci.0.7.0", { device: "nope" })).rejects.toThrow(/unknown device/);
      await expect(m.plug("pci.0.7.0", { device: "virtio-net", backlog: "65536", mtu: "65500" })).rejects.toBeInstanceOf(MemoryBudgetError);
      expect(m.devicesByNode.has("pci.0.7.0")).toBe(false);
    } finally { await m.destroy(); }
  }, 60_000);
});
