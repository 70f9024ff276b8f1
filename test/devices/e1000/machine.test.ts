// The e1000 as a Machine device: built from the config tree
// (pci.B.S.F.device=e1000 and its keys), found on the machine's PCI bus by a
// guest driver, its INTA# through the machine's interrupt router, its
// moderation timers on the machine's guest clock, and its memory in the
// machine's budget.
import { describe, it, expect } from "vitest";
import { ConfigTree } from "../../../src/config/tree.js";
import { Machine } from "../../../src/machine/machine.js";
import { machinePciBus } from "../../../src/machine/pci-bus.js";
import { MachineE1000 } from "../../../src/devices/e1000/machine.js";
import { E1000Driver } from "../../../src/guest/e1000/driver.js";
import { GuestRam } from "../../../src/guest/virtio/guest-ram.js";
import { frame, mac, seqOf } from "../../../src/guest/virtio/frames.js";
import { debugWasm } from "../../support/core.js";
import { until } from "../../support/wait.js";

const machine = (cfg: string) => { const c = new ConfigTree(); c.load(cfg); return Machine.create(c, { module: debugWasm(), variant: "debug", startVcpus: false }); };

describe("e1000 in a Machine", () => {
  it("pci.0.3.0.device=e1000 with its keys: found on the bus, driven by the guest driver, INTA# through the router", async () => {
    const m = await machine("memory.size=16M\npci.0.3.0.device=e1000\npci.0.3.0.mac=52:54:00:aa:bb:cc\npci.0.3.0.backlog=32\n");
    try {
      const dev = m.devicesByNode.get("pci.0.3.0");
      expect(dev).toBeInstanceOf(MachineE1000);
      const nic = (dev as MachineE1000).nic;
      const e = machinePciBus(m).findById(0x8086, 0x100e);
      expect(e.map((x) => x.node)).toEqual(["pci.0.3.0"]);
      const sent: Uint8Array[] = [];
      nic.onTransmit = (f) => sent.push(f.slice());
      const drv = new E1000Driver(e[0].fn, new GuestRam(m.core), { heap: [8 << 20, 16 << 20], itr: 200, rdtr: 0 });
      drv.init();
      expect(Array.from(drv.mac)).toEqual(Array.from(mac("52:54:00:aa:bb:cc")));
      drv.transmit(frame({ dst: mac("02:00:00:00:00:01"), length: 64, seq: 1 }));
      expect(sent.map(seqOf)).toEqual([1]);
      nic.receive(frame({ dst: drv.mac, length: 64, seq: 2 }));
      expect(m.interrupts.countsFor(nic.name).intxLevels[0]).toBe(true);
      drv.service();
      expect(drv.takeReceived().map((x) => seqOf(x.data))).toEqual([2]);
      expect(m.interrupts.countsFor(nic.name).intxLevels[0]).toBe(false);
      // ITR holds the next assertion back; the machine's guest clock and the host timer let it out.
      nic.receive(frame({ dst: drv.mac, length: 64, seq: 3 }));
      await until(() => m.interrupts.countsFor(nic.name).intxLevels[0]);
      expect(Number(nic.counters().irqRaised)).toBeGreaterThanOrEqual(2);
    } finally {
      await m.destroy();
    }
  });

  it("refuses bad keys naming them, and a backlog too large for the memory naming backlog_bytes", async () => {
    await expect(machine("pci.0.3.0.device=e1000\npci.0.3.0.mac=01:00:00:00:00:01\n")).rejects.toThrow(/pci\.0\.3\.0\.mac.*unicast/);
    await expect(machine("pci.0.3.0.device=e1000\npci.0.3.0.backlog_bytes=1001\n")).rejects.toThrow(/backlog_bytes/);
    await expect(machine("pci.0.3.0.device=e1000\npci.0.3.0.queues=2\n")).rejects.toThrow(/unknown key for device e1000/);
    // 3.5 GiB of RAM leaves about 256 MiB: eight 64 MiB backlogs do not fit; the error names the key and what would.
    const many = Array.from({ length: 8 }, (_, i) => `pci.0.${i + 1}.0.device=e1000\npci.0.${i + 1}.0.backlog_bytes=67108864\n`).join("");
    await expect(machine(`memory.size=3584M\n${many}`)).rejects.toThrow(/pci\.0\.\d\.0\.backlog_bytes.*\d/);
  });

  it("link=false starts with the cable unplugged", async () => {
    const m = await machine("pci.0.3.0.device=e1000\npci.0.3.0.link=false\n");
    try {
      const e = machinePciBus(m).find(0, 3, 0)!;
      e.fn.configWrite(4, 2, 7);
      expect(e.fn.barRead(0, 8, 4) & 2).toBe(0);
    } finally { await m.destroy(); }
  });
});
