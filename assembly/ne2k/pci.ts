// PCI configuration space of the RTL8029AS (PCI Local Bus 3.0 §6.1-6.2,
// type 0 header): vendor 10ec, device 8029, class 02 00 00 (Ethernet), BAR0 an
// I/O window of 32 ports, interrupt pin INTA#, no capabilities. Writable:
// command bits 0 (I/O space) and 10 (INTx disable), BAR0 bits 31-5, the
// interrupt line. Memory space and bus master stay 0: the board has no memory
// BAR and never masters the bus (its "DMA" is port I/O into on-card RAM).
// Status bit 3 reports the interrupt line before the INTx-disable gate.

import { PCI_VENDOR, PCI_DEVICE, PCI_CLASS_ETHERNET, BAR0_SIZE, IMR_MASK, Ne2kCounter } from "./defs";
import { Ne2k, count, updateLine } from "./device";

export const PCI_CMD_IO: u32 = 0x001;
export const PCI_CMD_INTX_DISABLE: u32 = 0x400;
const CMD_WRITABLE: u32 = PCI_CMD_IO | PCI_CMD_INTX_DISABLE;

function dword(d: Ne2k, off: u32): u32 {
  switch (off) {
    case 0x00: return PCI_VENDOR | (PCI_DEVICE << 16);
    case 0x04: return d.pciCmd | (((d.isr & d.imr & IMR_MASK) != 0 ? 0x08 : 0) << 16);
    case 0x08: return PCI_CLASS_ETHERNET << 8; // revision 0
    case 0x10: return d.bar0;
    case 0x2c: return PCI_VENDOR | (PCI_DEVICE << 16); // subsystem
    case 0x3c: return d.pciIntLine | (1 << 8); // interrupt pin INTA#
    default: return 0;
  }
}

function widthOk(d: Ne2k, off: u32, width: u32): bool {
  if ((width == 1 || width == 2 || width == 4) && off < 256 && (off & (width - 1)) == 0) return true;
  count(d, Ne2kCounter.BAD_ACCESS);
  return false;
}

export function pciConfigRead(d: Ne2k, off: u32, width: u32): u32 {
  if (!widthOk(d, off, width)) return width == 4 ? 0xffffffff : (1 << (width << 3)) - 1;
  const v = dword(d, off & 0xfc) >> ((off & 3) << 3);
  return width == 4 ? v : v & ((1 << (width << 3)) - 1);
}

export function pciConfigWrite(d: Ne2k, off: u32, width: u32, v: u32): void {
  if (!widthOk(d, off, width)) return;
  // Bounded: width ≤ 4 bytes, each merged into its register.
  for (let k: u32 = 0; k < width; k++) {
    const o = off + k, b = (v >> (k << 3)) & 0xff;
    if (o == 0x04 || o == 0x05) {
      const s = (o - 0x04) << 3;
      d.pciCmd = ((d.pciCmd & ~(0xff << s)) | (b << s)) & CMD_WRITABLE;
    } else if (o >= 0x10 && o < 0x14) {
      const s = (o - 0x10) << 3;
      d.bar0 = (((d.bar0 & ~(0xff << s)) | (b << s)) & ~(BAR0_SIZE - 1)) | 1;
    } else if (o == 0x3c) d.pciIntLine = b;
  }
  updateLine(d);
}

/** Whether the function answers port accesses to its BAR (command register I/O space enable). */
export function pciIoEnabled(d: Ne2k): bool { return (d.pciCmd & PCI_CMD_IO) != 0; }
