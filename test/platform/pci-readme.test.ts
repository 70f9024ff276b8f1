// The README's PCI platform example, run as written (imports from the sources).
import { expect, it } from "vitest";
import { createVmCore, VirtioNet, VirtualSwitch, PciRoot, PciBridge, virtioNetSriov, assignPci } from "../../src/index.js";
import { InterruptRecorder, PciScanner } from "../../src/testing/index.js";

it("README: a virtio-net PF behind a bridge enables two VFs on the bus behind it, both ports of its switch", async () => {
  const core = await createVmCore({ ramBytes: 32 << 20 });
  const sw = VirtualSwitch.create(core);
  const pf = VirtioNet.create(core, { mac: "52:54:00:00:00:10", transport: "pci", interrupts: new InterruptRecorder() });
  sw.attach(pf);
  const sriov = virtioNetSriov(pf, sw, { mac: "52:54:00:00:00:10", totalVfs: 4, firstVfOffset: 0x100, interrupts: () => new InterruptRecorder() });
  const root = new PciRoot();
  const bridge = new PciBridge();
  root.bus.attach(1, 0, bridge);        // 00:01.0
  bridge.bus.attach(0, 0, sriov);       // the PF behind it; its VFs land on the next bus

  assignPci(root);                      // firmware: buses 1..2 behind the bridge, BARs in its window
  const scan = new PciScanner(root);
  const pfFound = scan.scan().functions.find((f) => f.sriov)!;
  const r = scan.enableVfs(pfFound, 2);
  expect(r.ok && r.vfs.map((v) => `${v.bus}:${v.dev}.${v.func}`)).toEqual(["2:0.0", "2:0.1"]);
  expect(sw.portCount).toBe(3);         // the PF and two VFs
});
