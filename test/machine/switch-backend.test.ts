// `backend=switch:NAME` for every NIC model in a Machine: a virtio-net, an
// e1000 and two NE2000s naming one switch are ports of one in-wasm
// VirtualSwitch (made by the first, destroyed with the last); frames between
// the NE2000s' guest drivers cross it, and an unplugged NIC leaves it.
import { describe, it, expect } from "vitest";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine } from "../../src/index.js";
import { machinePciBus } from "../../src/machine/pci-bus.js";
import { namedSwitch } from "../../src/net/named-switches.js";
import { MachineNe2k } from "../../src/devices/ne2k/machine.js";
import { MachineE1000 } from "../../src/devices/e1000/machine.js";
import { Ne2kDriver } from "../../src/guest/ne2k/driver.js";
import { pciPortIo } from "../../src/guest/ne2k/port-io.js";
import { parseMac } from "../../src/net/mac.js";
import { debugWasm } from "../support/core.js";

const cfg = (lines: string[]) => {
  const c = new ConfigTree();
  for (const l of lines) { const i = l.indexOf("="); c.set(l.slice(0, i), l.slice(i + 1)); }
  return c;
};

describe("Machine NICs on a named switch", () => {
  it("virtio-net, e1000 and NE2000 naming switch:lan share one switch; NE2000 drivers exchange frames through it; unplug leaves it, the last port takes it away", async () => {
    const m = await Machine.create(cfg([
      "memory.size=32M", "cpus=1",
      "pci.0.3.0.device=virtio-net", "pci.0.3.0.backend=switch:lan",
      "pci.0.4.0.device=e1000", "pci.0.4.0.backend=switch:lan",
      "pci.0.5.0.device=ne2k", "pci.0.5.0.backend=switch:lan", "pci.0.5.0.mac=52:54:00:00:05:05",
      "pci.0.6.0.device=ne2k", "pci.0.6.0.backend=switch:lan", "pci.0.6.0.mac=52:54:00:00:06:06",
    ]), { module: debugWasm(), variant: "debug" });
    try {
      const sw = namedSwitch(m.core, "lan")!;
      expect(sw).not.toBeNull();
      expect(sw.portCount).toBe(4);
      const e = m.devicesByNode.get("pci.0.4.0") as MachineE1000;
      expect(m.core.exports.nsw_port_switch(e.nic.kind, e.nic.handle)).toBe(sw.id);
      const drivers = [5, 6].map((slot) => {
        const fn = machinePciBus(m).find(0, slot, 0)!.fn;
        fn.configWrite(4, 2, 1); // I/O space
        const d = new Ne2kDriver(pciPortIo(fn));
        d.probe(); d.init();
        return d;
      });
      const f = new Uint8Array(64);
      f.set(parseMac("52:54:00:00:06:06"), 0); f.set(parseMac("52:54:00:00:05:05"), 6); f[12] = 0x88; f[13] = 0xb5; f[20] = 0x5a;
      expect(drivers[0].transmit(f)).toBe(true);
      drivers[0].service();
      drivers[1].service();
      const got = drivers[1].takeReceived();
      expect(got.length).toBe(1);
      expect(got[0][20]).toBe(0x5a);
      expect((m.devicesByNode.get("pci.0.5.0") as MachineNe2k).nic.onTransmit).toBeNull();
      await m.unplug("pci.0.4.0");
      expect(sw.portCount).toBe(3);
      await m.unplug("pci.0.3.0");
      await m.unplug("pci.0.5.0");
      expect(namedSwitch(m.core, "lan")).toBe(sw);
      await m.unplug("pci.0.6.0");
      expect(namedSwitch(m.core, "lan")).toBeNull();
    } finally { await m.destroy(); }
  });

  it("backend is checked for every model: e1000 takes host, switch:NAME, relay: or vde:, NE2000 also loopback", async () => {
    await expect(Machine.create(cfg(["memory.size=16M", "pci.0.4.0.device=e1000", "pci.0.4.0.backend=loopback"]), { module: debugWasm(), variant: "debug" }))
      .rejects.toThrow(/want host, switch:NAME, relay:ws:\/\/HOST:PORT\/ or vde:SOCKET/);
    await expect(Machine.create(cfg(["memory.size=16M", "pci.0.4.0.device=ne2k", "pci.0.4.0.backend=switch:"]), { module: debugWasm(), variant: "debug" }))
      .rejects.toThrow(/want host, loopback, switch:NAME, relay:ws:\/\/HOST:PORT\/ or vde:SOCKET/);
  });
});
