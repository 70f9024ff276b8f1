// virtio-net on virtio-pci modern (virtio 1.2 §4.1) as the PCI function an
// emulator's bus sees: its BARs (assembly/virtio/defs.ts lays them out).

import type { BarInfo } from "../../pci.js";
import { VirtioDefs } from "../../generated/constants.js";

/** PCI BARs of a virtio-pci function (assembly/virtio/defs.ts). */
export const VIRTIO_PCI_BARS: readonly BarInfo[] = [
  { index: VirtioDefs.BAR_MSIX, size: VirtioDefs.BAR_MSIX_SIZE, kind: "mem32" },
  { index: VirtioDefs.BAR_VIRTIO, size: VirtioDefs.BAR_VIRTIO_SIZE, kind: "mem64" },
];
