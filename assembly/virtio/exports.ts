// Exports of the virtio transports, for any virtio device type: the
// virtio-pci function (configuration space, BARs, MSI-X table), the
// virtio-mmio register window and the queue internals. Devices are named by
// the handles their type's create returned; an unknown handle reads as a
// missing device (all ones on PCI, 0 on MMIO) and is counted (BAD_HANDLE).

import { Status } from "../core/status";
import { TRANSPORT_MMIO } from "./defs";
import { devLookup, devQueue } from "./device";
import { pciConfigRead, pciConfigWrite, pciBarRead, pciBarWrite } from "./pci";
import { mmioRead, mmioWrite } from "./mmio";

// ---- Queue internals (tests, diagnostics) -------------------------------------------

/** Field of queue `qi`: 0 size, 1 ready, 2 lastAvail, 3 usedIdx, 4 inflight, 5 msixVector, 6 maxSize. -Status on a bad handle/queue. */
export function vq_field(h: i32, qi: u32, field: u32): i32 {
  const d = devLookup(h, 0); if (d == null) return -Status.ERR_BAD_HANDLE;
  if (qi >= d.numQueues) return -Status.ERR_INVALID_ARG;
  const q = devQueue(d, qi);
  if (field == 0) return <i32>q.size;
  if (field == 1) return <i32>q.ready;
  if (field == 2) return <i32>q.lastAvail;
  if (field == 3) return <i32>q.usedIdx;
  if (field == 4) return <i32>q.inflight;
  if (field == 5) return <i32>q.msixVector;
  if (field == 6) return <i32>q.maxSize;
  return -Status.ERR_INVALID_ARG;
}
export function vq_count(h: i32): i32 { const d = devLookup(h, 0); return d == null ? -Status.ERR_BAD_HANDLE : <i32>d.numQueues; }

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
export function vpci_msix_count(h: i32): i32 { const d = devLookup(h, 0); return d == null ? -Status.ERR_BAD_HANDLE : <i32>d.msixCount; }

export function vmmio_read(h: i32, off: u32, width: u32): u32 {
  const d = devLookup(h, 0); if (d == null || d.transport != TRANSPORT_MMIO) return 0;
  return mmioRead(d, off, width);
}
export function vmmio_write(h: i32, off: u32, width: u32, v: u32): void {
  const d = devLookup(h, 0); if (d == null || d.transport != TRANSPORT_MMIO) return;
  mmioWrite(d, off, width, v);
}
