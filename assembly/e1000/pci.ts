// PCI configuration space of the 82540EM function (§4.1, PCI Local Bus 3.0
// §6): a type-0 header with BAR0 (32-bit memory, 128 KiB, non-prefetchable),
// BAR1 (I/O, 64 ports), INTA#, and the power-management capability at DCh
// (version 1.1; PMCSR power state and PME_En are stored, a D3 state does not
// stop the function). No MSI: the 82540EM has none. BARs 2-5 and the
// expansion ROM read as 0. Accesses are 1, 2 or 4 bytes, naturally aligned,
// below 256; anything else reads all ones and is counted.

import { E1k, CFG_BYTES, count } from "./device";
import { E1K_VENDOR, E1K_DEVICE, E1K_MMIO_BYTES, E1K_IO_BYTES, E1kCounter } from "./defs";
import { E1K_SUBSYS, E1K_REVISION, E1K_PM_CAP } from "./regs";

export const PCI_COMMAND: u32 = 0x04;
export const CMD_IO: u32 = 1 << 0;
export const CMD_MEMORY: u32 = 1 << 1;
export const CMD_BUS_MASTER: u32 = 1 << 2;
export const CMD_INTX_DISABLE: u32 = 1 << 10;

/** Bytes of configuration space the guest may change, per byte. */
function writableMask(off: u32): u32 {
  if (off == 0x04) return 0x57;                          // command: I/O, memory, master, MWI, parity
  if (off == 0x05) return 0x05;                          // command: SERR#, INTx disable
  if (off == 0x0c || off == 0x0d) return 0xff;           // cache line size, latency timer
  if (off == 0x10) return 0x00;                          // BAR0: bits 16:0 are size bits and type
  if (off == 0x11) return 0x00;
  if (off == 0x12) return 0xfe;                          // 128 KiB: address bits 31:17
  if (off == 0x13) return 0xff;
  if (off == 0x14) return 0xc0;                          // BAR1: 64 ports, address bits 31:6
  if (off >= 0x15 && off <= 0x17) return 0xff;
  if (off == 0x3c) return 0xff;                          // interrupt line
  if (off == E1K_PM_CAP + 4) return 0x03;                // PMCSR: power state
  if (off == E1K_PM_CAP + 5) return 0x01;                // PMCSR: PME_En
  return 0;
}

/** The function's configuration space at power-on. */
export function pciReset(d: E1k): void {
  for (let off: u32 = 0; off < CFG_BYTES; off++) store<u8>(d.cfg + <usize>off, <u8>powerOnByte(off));
}

// @ts-ignore: decorator
@inline function widthOk(off: u32, width: u32): bool {
  return (width == 1 || width == 2 || width == 4) && (off & (width - 1)) == 0 && off + width <= CFG_BYTES;
}

export function cfgRead(d: E1k, off: u32, width: u32, intx: bool): u32 {
  if (!widthOk(off, width)) { count(d, E1kCounter.BAD_ACCESS); return 0xffffffff; }
  const c = d.cfg + <usize>off;
  let v: u32 = width == 1 ? <u32>load<u8>(c) : width == 2 ? <u32>load<u16>(c) : load<u32>(c);
  // Status bit 3: interrupt status, the internal INTx state before the disable bit.
  if (intx && off <= 6 && off + width > 6) v |= 8 << ((6 - off) * 8);
  return v;
}

export function cfgWrite(d: E1k, off: u32, width: u32, v: u32): void {
  if (!widthOk(off, width)) { count(d, E1kCounter.BAD_ACCESS); return; }
  // Bounded by width ≤ 4.
  for (let i: u32 = 0; i < width; i++) {
    const m = writableMask(off + i);
    if (m == 0) continue;
    const p = d.cfg + <usize>(off + i);
    store<u8>(p, <u8>((<u32>load<u8>(p) & ~m) | (((v >> (i * 8)) & 0xff) & m)));
  }
}

/** Restore-time check: `img` differs from the power-on image only in writable bits. */
export function cfgImageOk(img: usize): bool {
  for (let off: u32 = 0; off < CFG_BYTES; off++) {
    const m = writableMask(off);
    if (((<u32>load<u8>(img + off) ^ powerOnByte(off)) & ~m & 0xff) != 0) return false;
  }
  return true;
}

/** Power-on configuration space, byte by byte: IDs, status (capabilities list, DEVSEL medium), class 020000h, BAR types, INTA#, PM capability. */
function powerOnByte(off: u32): u32 {
  if (off == 0) return E1K_VENDOR & 0xff;
  if (off == 1) return E1K_VENDOR >> 8;
  if (off == 2) return E1K_DEVICE & 0xff;
  if (off == 3) return E1K_DEVICE >> 8;
  if (off == 6) return 0x10;
  if (off == 7) return 0x02;
  if (off == 8) return E1K_REVISION;
  if (off == 0x0b) return 0x02;
  if (off == 0x14) return 0x01;
  if (off == 0x2c) return E1K_VENDOR & 0xff;
  if (off == 0x2d) return E1K_VENDOR >> 8;
  if (off == 0x2e) return E1K_SUBSYS & 0xff;
  if (off == 0x2f) return E1K_SUBSYS >> 8;
  if (off == 0x34) return E1K_PM_CAP;
  if (off == 0x3d) return 1;
  if (off == 0x3e) return 0xff;
  if (off == E1K_PM_CAP) return 0x01;
  if (off == E1K_PM_CAP + 2) return 0x02;
  return 0;
}

// @ts-ignore: decorator
@inline export function pciCommand(d: E1k): u32 { return <u32>load<u16>(d.cfg + PCI_COMMAND); }
// @ts-ignore: decorator
@inline export function busMaster(d: E1k): bool { return (pciCommand(d) & CMD_BUS_MASTER) != 0; }
// @ts-ignore: decorator
@inline export function memDecode(d: E1k): bool { return (pciCommand(d) & CMD_MEMORY) != 0; }
// @ts-ignore: decorator
@inline export function ioDecode(d: E1k): bool { return (pciCommand(d) & CMD_IO) != 0; }
// @ts-ignore: decorator
@inline export function intxDisabled(d: E1k): bool { return (pciCommand(d) & CMD_INTX_DISABLE) != 0; }

/** BAR sizes, for hosts that place the BARs. */
export const MMIO_BYTES: u32 = E1K_MMIO_BYTES;
export const IO_BYTES: u32 = E1K_IO_BYTES;
