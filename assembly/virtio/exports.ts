// Exports of the virtio transports, for any virtio device type: the
// virtio-pci function (configuration space, BARs, MSI-X table) and the
// virtio-mmio register window. Devices are named by the handles their type's
// create returned; an unknown handle reads as a missing device (all ones on
// PCI, 0 on MMIO) and is counted (BAD_HANDLE).

import { TRANSPORT_MMIO } from "./defs";
import { devLookup } from "./device";
import { pciConfigRead, pciConfigWrite, pciBarRead, pciBarWrite } from "./pci";
import { mmioRead, mmioWrite } from "./mmio";

export function vpci_cfg_read(h: i32, off: u32, width: u32): u32 {
  const d = devLookup(h, 0); if (d == null || d.cfg == 0) return 0xffffffff;
  return pciConfigRead(d, off, width);
}
export function vpci_cfg_write(h: i32, off: u32, width: u32, v: u32): void {
  const d = devLookup(h, 0); if (d == null || d.cfg == 0) return;
  pciConfigWrite(d, off, width, v);
}
export function vpci_bar_read(h: i32, bar: u32, off: u32, width: u32): u32 {
  const d = devLookup(h, 0); if (d == null || d.cfg == 0) return 0xffffffff;
  return pciBarRead(d, bar, off, width);
}
export function vpci_bar_write(h: i32, bar: u32, off: u32, width: u32, v: u32): void {
  const d = devLookup(h, 0); if (d == null || d.cfg == 0) return;
  pciBarWrite(d, bar, off, width, v);
}
/** Address of the MSI-X table (16 bytes per vector: address lo, hi, data, control). */
export function vpci_msix_ptr(h: i32): usize { const d = devLookup(h, 0); return d == null ? 0 : d.msix; }

export function vmmio_read(h: i32, off: u32, width: u32): u32 {
  const d = devLookup(h, 0); if (d == null || d.transport != TRANSPORT_MMIO) return 0;
  return mmioRead(d, off, width);
}
export function vmmio_write(h: i32, off: u32, width: u32, v: u32): void {
  const d = devLookup(h, 0); if (d == null || d.transport != TRANSPORT_MMIO) return;
  mmioWrite(d, off, width, v);
}
