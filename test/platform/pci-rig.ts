// A PCI hierarchy for the platform tests, built as a board would be:
//   00:01.0  bridge A ── 01:00.0 virtio-net PF with SR-IOV (VFs at PF + 0x100 + n: bus 2)
//   00:02.0  e1000       (multi-function device: memory and I/O BARs)
//   00:02.1  virtio-net
//   00:03.0  bridge B ── 00.0 bridge C ── 00.0 virtio-net   (two levels of type 1 forwarding)
// The PF and every VF are ports of one switch; each device's interrupts go to its own recorder.
import { VirtioNet } from "../../src/devices/virtio-net/device.js";
import { virtioNetSriov, type VirtioNetVf } from "../../src/devices/virtio-net/sriov.js";
import { E1000 } from "../../src/devices/e1000/device.js";
import { VirtualSwitch } from "../../src/net/switch.js";
import { PciRoot } from "../../src/platform/pci/root.js";
import { PciBridge } from "../../src/platform/pci/bridge.js";
import type { SriovFunction } from "../../src/platform/pci/sriov.js";
import { InterruptRecorder } from "../../src/guest/virtio/interrupts.js";
import { ManualClock } from "../../src/clock.js";
import { newCore, type DebugCore } from "../support/core.js";

export const PF_MAC = "52:54:00:aa:00:10";

export interface Rig {
  core: DebugCore;
  root: PciRoot;
  a: PciBridge; b: PciBridge; c: PciBridge;
  pf: VirtioNet;
  sriov: SriovFunction;
  e1000: E1000;
  mfNet: VirtioNet;
  deep: VirtioNet;
  sw: VirtualSwitch;
  pfIrq: InterruptRecorder;
  /** Recorders of the VFs by index (made when a VF is built). */
  vfIrq: Map<number, InterruptRecorder>;
  /** VF builds asked of the provider. */
  vfBuilds: () => number;
}

export async function pciRig(o: { totalVfs?: number; firstVfOffset?: number; vfStride?: number; core?: DebugCore } = {}): Promise<Rig> {
  const core = o.core ?? await newCore(48 << 20);
  const root = new PciRoot();
  const a = new PciBridge({ name: "A" }), b = new PciBridge({ name: "B" }), c = new PciBridge({ name: "C" });
  const sw = VirtualSwitch.create(core);
  const pfIrq = new InterruptRecorder();
  const pf = VirtioNet.create(core, { mac: PF_MAC, transport: "pci", interrupts: pfIrq, name: "pf" });
  sw.attach(pf);
  const vfIrq = new Map<number, InterruptRecorder>();
  let builds = 0;
  const sriov = virtioNetSriov(pf, sw, {
    mac: PF_MAC, totalVfs: o.totalVfs ?? 4, firstVfOffset: o.firstVfOffset ?? 0x100, vfStride: o.vfStride ?? 1,
    interrupts: (i) => { builds++; const r = new InterruptRecorder(); vfIrq.set(i, r); return r; },
  });
  const e1000 = E1000.create(core, { mac: "52:54:00:aa:00:20", interrupts: new InterruptRecorder(), clock: new ManualClock(), timers: "manual", name: "e" });
  const mfNet = VirtioNet.create(core, { mac: "52:54:00:aa:00:21", transport: "pci", interrupts: new InterruptRecorder(), name: "mf" });
  const deep = VirtioNet.create(core, { mac: "52:54:00:aa:00:30", transport: "pci", interrupts: new InterruptRecorder(), name: "deep" });
  root.bus.attach(1, 0, a);
  a.bus.attach(0, 0, sriov);
  root.bus.attach(2, 0, e1000.pci);
  root.bus.attach(2, 1, mfNet.pci!);
  root.bus.attach(3, 0, b);
  b.bus.attach(0, 0, c);
  c.bus.attach(0, 0, deep.pci!);
  return { core, root, a, b, c, pf, sriov, e1000, mfNet, deep, sw, pfIrq, vfIrq, vfBuilds: () => builds };
}

/** The VirtioNet behind each live VF. */
export const vfDevices = (s: SriovFunction): VirtioNet[] => (s.vfs as VirtioNetVf[]).map((v) => v.device);
