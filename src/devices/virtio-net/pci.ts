// virtio-net on virtio-pci modern (virtio 1.2 §4.1) as the PCI function an
// emulator's bus sees: its BARs (assembly/virtio/defs.ts lays them out).

import type { BarInfo, RegisterSpan } from "../../pci.js";
import { VirtioDefs } from "../../generated/constants.js";

/** PCI BARs of a virtio-pci function (assembly/virtio/defs.ts). */
export const VIRTIO_PCI_BARS: readonly BarInfo[] = [
  { index: VirtioDefs.BAR_MSIX, size: VirtioDefs.BAR_MSIX_SIZE, kind: "mem32" },
  { index: VirtioDefs.BAR_VIRTIO, size: VirtioDefs.BAR_VIRTIO_SIZE, kind: "mem64" },
];

/**
 * Field layout of the virtio-pci common configuration structure (virtio 1.2
 * §4.1.4.3) as [offset, width]; 64-bit fields are accessed as two 32-bit halves.
 */
const COMMON_FIELDS: ReadonlyArray<readonly [number, 1 | 2 | 4]> = [
  [0x00, 4], [0x04, 4], [0x08, 4], [0x0c, 4], [0x10, 2], [0x12, 2], [0x14, 1], [0x15, 1],
  [0x16, 2], [0x18, 2], [0x1a, 2], [0x1c, 2], [0x1e, 2], [0x20, 4], [0x24, 4], [0x28, 4],
  [0x2c, 4], [0x30, 4], [0x34, 4], [0x38, 2], [0x3a, 2],
];

/**
 * The register holding byte `offset` of BAR `bar` (PciFunction.mmioRegister):
 * the device accepts only a common-config field's own width (§4.1.3.1), so
 * these are reported; elsewhere any width goes (null).
 */
export function virtioPciRegister(bar: number, offset: number): RegisterSpan | null {
  if (bar !== VirtioDefs.BAR_VIRTIO) return null;
  const o = offset - VirtioDefs.COMMON_OFF;
  for (const [start, width] of COMMON_FIELDS) {
    if (o >= start && o < start + width) return { start: VirtioDefs.COMMON_OFF + start, width };
  }
  return null;
}
