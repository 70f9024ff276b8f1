// Exports of the virtio transports, for any virtio device type: the
// virtio-pci function (configuration space, BARs, MSI-X table) and the
// virtio-mmio register window. Devices are named by the handles their type's
// create returned; an unknown or destroyed handle reads as a missing device
// (all ones on PCI, 0 on MMIO) and is counted (BAD_HANDLE). Each access holds
// a reference on the device (dispatch.ts dispEnter), so a destroy on another thread waits
// for it.

import { TRANSPORT_MMIO } from "./defs";
import { devLeave, devOut } from "./device";
import { dispEnter } from "./dispatch";
import { pciConfigRead, pciConfigWrite, pciBarRead, pciBarWrite } from "./pci";
import { mmioRead, mmioWrite } from "./mmio";

/** Read `width` (1, 2, 4) bytes of PCI configuration space at `off` (all ones for a missing function). */
export function vpci_cfg_read(h: i32, off: u32, width: u32): u32 {
  const d = dispEnter(h, 0); if (d == null) return 0xffffffff;
  return devOut(d, d.cfg == 0 ? 0xffffffff : pciConfigRead(d, off, width));
}
/** Write `width` bytes of PCI configuration space at `off` (BARs, command, MSI-X control, ...). */
export function vpci_cfg_write(h: i32, off: u32, width: u32, v: u32): void {
  const d = dispEnter(h, 0); if (d == null) return;
  if (d.cfg != 0) pciConfigWrite(d, off, width, v);
  devLeave(d);
}
/** Read `width` bytes at `off` in BAR `bar` (the virtio-pci capability structures and the MSI-X table). */
export function vpci_bar_read(h: i32, bar: u32, off: u32, width: u32): u32 {
  const d = dispEnter(h, 0); if (d == null) return 0xffffffff;
  return devOut(d, d.cfg == 0 ? 0xffffffff : pciBarRead(d, bar, off, width));
}
/** Write `width` bytes at `off` in BAR `bar` (common config, notify, ISR, device config, MSI-X). */
export function vpci_bar_write(h: i32, bar: u32, off: u32, width: u32, v: u32): void {
  const d = dispEnter(h, 0); if (d == null) return;
  if (d.cfg != 0) pciBarWrite(d, bar, off, width, v);
  devLeave(d);
}
/** Address of the MSI-X table (16 bytes per vector: address lo, hi, data, control). */
export function vpci_msix_ptr(h: i32): usize { const d = dispEnter(h, 0); return d == null ? 0 : devOut(d, d.msix); }

/** Read `width` bytes at `off` of the virtio-mmio register window (0 for a missing device). */
export function vmmio_read(h: i32, off: u32, width: u32): u32 {
  const d = dispEnter(h, 0); if (d == null) return 0;
  return devOut(d, d.transport != TRANSPORT_MMIO ? 0 : mmioRead(d, off, width));
}
/** Write `width` bytes at `off` of the virtio-mmio register window. */
export function vmmio_write(h: i32, off: u32, width: u32, v: u32): void {
  const d = dispEnter(h, 0); if (d == null) return;
  if (d.transport == TRANSPORT_MMIO) mmioWrite(d, off, width, v);
  devLeave(d);
}
