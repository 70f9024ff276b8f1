// virtio-net on virtio-pci modern (virtio 1.2 §4.1) as the PCI function an
// emulator's bus sees: its BARs (assembly/virtio/pci.ts lays them out).

import type { BarInfo } from "../../pci.js";

/** PCI BARs of a virtio-pci function (assembly/virtio/pci.ts). */
export const VIRTIO_PCI_BARS: readonly BarInfo[] = [
  { index: 1, size: 0x1000, kind: "mem32" },
  { index: 4, size: 0x4000, kind: "mem64" },
];
