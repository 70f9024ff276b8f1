// virtio-net as an SR-IOV physical function: the PF's PCI function wrapped
// with the SR-IOV capability (src/platform/pci/sriov.ts), each VF a full
// virtio-net device on virtio-pci, a port of the PF's switch. A VF gets a
// locally administered MAC derived from the PF's (byte 0 | 0x02, the last two
// bytes + VF index + 1), its MSI-X messages go where `interrupts` says, and
// its teardown is the device's own destroy (src/lifecycle.ts order: switch
// port and reconciler detached, stopped, freed).

import type { InterruptSink } from "../../device.js";
import { formatMac, parseMac } from "../../net/mac.js";
import type { VirtualSwitch } from "../../net/switch.js";
import { SriovFunction, type SriovVf } from "../../platform/pci/sriov.js";
import { VirtioNet } from "./device.js";

/** Options of {@link virtioNetSriov}. */
export interface VirtioNetSriovOptions {
  /** The PF's MAC (the VFs' are derived from it, {@link vfMac}). */
  mac: string | Uint8Array;
  /** TotalVFs (1..256). */
  totalVfs: number;
  /** First VF Offset and VF Stride of the capability (defaults 1 and 1). */
  firstVfOffset?: number;
  vfStride?: number;
  /** Where VF `index`'s interrupts go (MSI-X; a VF has no INTx). */
  interrupts(index: number, rid: number): InterruptSink;
  /** Queue pairs and queue size of each VF (defaults 1 and 256). */
  queuePairs?: number;
  queueSize?: number;
}

/** The MAC of VF `index` of a PF with `pfMac`. */
export function vfMac(pfMac: string | Uint8Array, index: number): string {
  const m = parseMac(pfMac).slice();
  m[0] = (m[0] | 0x02) & 0xfe;
  const tail = (((m[4] << 8) | m[5]) + index + 1) & 0xffff;
  m[4] = tail >> 8; m[5] = tail & 0xff;
  return formatMac(m);
}

/** A VF of a virtio-net PF: the device itself is `device`. */
export interface VirtioNetVf extends SriovVf { readonly device: VirtioNet }

/** `pf` (on virtio-pci, a port of `sw`) as an SR-IOV PF whose VFs join `sw`. */
export function virtioNetSriov(pf: VirtioNet, sw: VirtualSwitch, o: VirtioNetSriovOptions): SriovFunction {
  if (!pf.pci) throw new Error(`${pf.name}: SR-IOV needs the virtio-pci transport`);
  const pfMac = parseMac(o.mac);
  return new SriovFunction(pf.pci, {
    name: `${pf.name}.sriov`,
    totalVfs: o.totalVfs,
    firstVfOffset: o.firstVfOffset,
    vfStride: o.vfStride,
    vfDeviceId: pf.pci.configRead(2, 2),
    vfBars: pf.pci.bars,
    provider: {
      create(index, rid): VirtioNetVf {
        const dev = VirtioNet.create(pf.core, {
          mac: vfMac(pfMac, index), transport: "pci", interrupts: o.interrupts(index, rid),
          queuePairs: o.queuePairs, queueSize: o.queueSize, name: `${pf.name}vf${index}`,
        });
        try { sw.attach(dev); } catch (err) { dev.destroy(); throw err; }
        return { pci: dev.pci!, name: dev.name, saveState: () => dev.saveState(), restoreState: (b) => dev.restoreState(b), destroy: () => dev.destroy(), device: dev };
      },
    },
  });
}
