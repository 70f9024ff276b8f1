// virtio-pci modern transport (virtio 1.2 §4.1): a type-0 PCI function with
// the virtio vendor capabilities (common, notify, ISR, device, PCI config
// access) and MSI-X. Layout:
//   BAR1 (mem32, 4 KiB): MSI-X table at 0x000, pending-bit array at 0x800;
//   BAR4 (mem64, 16 KiB): common cfg 0x0000, ISR 0x1000, device cfg 0x2000,
//                         notify 0x3000 + queue × 4 (notify_off_multiplier 4).
// Every access is validated: width 1/2/4, naturally aligned, inside a
// register; anything else reads as all-ones, writes are dropped, and the
// device's BAD_ACCESS counter goes up. Nothing traps.

import { regionAlloc, regionCost } from "../core/layout";
import {
  NO_VECTOR, VCounter, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE, BAR_MSIX, BAR_MSIX_SIZE, MSIX_PBA_OFF,
  BAR_VIRTIO, BAR_VIRTIO_SIZE, COMMON_OFF, ISR_OFF, DEVICE_OFF, NOTIFY_OFF, NOTIFY_MULT,
} from "./defs";
import {
  VDev, PCI_COMMAND, PCI_CMD_MEMORY, count, devSelected, devQueueWritable,
  devFeatureWord, devWriteDriverFeatures, devDriverFeatureWord, devWriteQueueSize, devEnableQueue,
  devIntxLevel, devMsixUnmasked,
} from "./device";
import { MSIX_CAP, MSIX_ENTRY, MSIX_PBA, msixReset } from "./msix";
import { dispNotify, dispConfigBytes, dispConfigRead, dispConfigWrite, dispWriteStatus, dispPciClass } from "./dispatch";

// Capability offsets in configuration space.
const CAP_COMMON: usize = 0x40;
const CAP_NOTIFY: usize = 0x50;
const CAP_ISR: usize = 0x64;
const CAP_DEVICE: usize = 0x74;
const CAP_PCICFG: usize = 0x84;
// MSIX_CAP = 0x98 (msix.ts).

let wmask: usize = 0; // byte-wise writable masks of configuration space (same for every function)

function vendorCap(c: usize, at: usize, next: u32, len: u32, type: u32, bar: u32, off: u32, length: u32): void {
  store<u8>(c + at, 0x09);          // PCI_CAP_ID_VNDR
  store<u8>(c + at + 1, <u8>next);
  store<u8>(c + at + 2, <u8>len);
  store<u8>(c + at + 3, <u8>type);  // cfg_type (§4.1.4)
  store<u8>(c + at + 4, <u8>bar);
  store<u32>(c + at + 8, off);
  store<u32>(c + at + 12, length);
}

/** Make this instance's writable-mask table (once, before the first PCI function). Returns false without memory. */
export function pciReserve(): bool {
  if (wmask == 0) {
    const m = regionAlloc(256, 16);
    if (m == 0) return false;
    wmask = m;
    store<u16>(wmask + PCI_COMMAND, 0x0406);             // memory space, bus master, INTx disable
    store<u32>(wmask + 0x14, ~(BAR_MSIX_SIZE - 1));      // BAR1
    store<u32>(wmask + 0x20, ~(BAR_VIRTIO_SIZE - 1));    // BAR4 low
    store<u32>(wmask + 0x24, 0xffffffff);                // BAR4 high
    store<u8>(wmask + 0x3c, 0xff);                       // interrupt line
    store<u8>(wmask + CAP_PCICFG + 4, 0xff);             // pci_cfg cap: bar
    store<u32>(wmask + CAP_PCICFG + 8, 0xffffffff);      //              offset
    store<u32>(wmask + CAP_PCICFG + 12, 0xffffffff);     //              length
    store<u16>(wmask + MSIX_CAP + 2, 0xc000);            // MSI-X enable, function mask
  }
  return true;
}

/** Build the function's configuration space (power-on values); pciReserve succeeded first. */
export function pciInit(d: VDev): void {
  pciResetConfig(d);
}

export function pciResetConfig(d: VDev): void {
  const c = d.cfg;
  memory.fill(c, 0, 256);
  store<u16>(c, <u16>VIRTIO_PCI_VENDOR);
  store<u16>(c + 2, <u16>(VIRTIO_PCI_DEVICE_BASE + d.type));
  store<u16>(c + 6, 0x10);                 // status: capabilities list
  store<u8>(c + 8, 1);                     // revision 1: modern (§4.1.2.1)
  const cls = dispPciClass(d);             // class code: the device type's
  store<u8>(c + 0x09, <u8>cls);            // programming interface
  store<u16>(c + 0x0a, <u16>(cls >> 8));   // sub-class, base class
  store<u32>(c + 0x20, 0x4);               // BAR4: 64-bit memory
  store<u16>(c + 0x2c, <u16>VIRTIO_PCI_VENDOR);
  store<u16>(c + 0x2e, 0x1100);            // subsystem id ≥ 0x40 (§4.1.2.1 SHOULD)
  store<u8>(c + 0x34, <u8>CAP_COMMON);
  store<u8>(c + 0x3d, 1);                  // INTA#
  vendorCap(c, CAP_COMMON, <u32>CAP_NOTIFY, 16, 1, BAR_VIRTIO, COMMON_OFF, 0x1000);
  vendorCap(c, CAP_NOTIFY, <u32>CAP_ISR, 20, 2, BAR_VIRTIO, NOTIFY_OFF, d.numQueues * NOTIFY_MULT);
  store<u32>(c + CAP_NOTIFY + 16, NOTIFY_MULT);
  vendorCap(c, CAP_ISR, <u32>CAP_DEVICE, 16, 3, BAR_VIRTIO, ISR_OFF, 0x1000);
  vendorCap(c, CAP_DEVICE, <u32>CAP_PCICFG, 16, 4, BAR_VIRTIO, DEVICE_OFF, 0x1000);
  vendorCap(c, CAP_PCICFG, <u32>MSIX_CAP, 20, 5, 0, 0, 0);
  store<u8>(c + MSIX_CAP, 0x11);           // PCI_CAP_ID_MSIX
  store<u8>(c + MSIX_CAP + 1, 0);
  store<u16>(c + MSIX_CAP + 2, <u16>(d.msixCount - 1));
  store<u32>(c + MSIX_CAP + 4, 0 | BAR_MSIX);
  store<u32>(c + MSIX_CAP + 8, MSIX_PBA_OFF | BAR_MSIX);
  msixReset(d.msix);
}

// @ts-ignore: decorator
@inline function ones(width: u32): u32 { return width == 4 ? 0xffffffff : ((<u32>1 << (width * 8)) - 1); }
// @ts-ignore: decorator
@inline function widthOk(off: u32, width: u32): bool { return (width == 1 || width == 2 || width == 4) && (off & (width - 1)) == 0; }

function bad(d: VDev, width: u32): u32 { count(d, VCounter.BAD_ACCESS); return widthOk(0, width) ? ones(width) : 0xffffffff; }

// ---- Configuration space ------------------------------------------------------

export function pciConfigRead(d: VDev, off: u32, width: u32): u32 {
  if (!widthOk(off, width) || off + width > 256) return bad(d, width);
  const c = d.cfg;
  if (off >= <u32>CAP_PCICFG + 16 && off < <u32>CAP_PCICFG + 20) return pciCfgWindow(d, off, width, 0, false);
  let v: u32 = width == 1 ? <u32>load<u8>(c + off) : width == 2 ? <u32>load<u16>(c + off) : load<u32>(c + off);
  // Status bit 3: interrupt status (INTx asserted).
  if (off <= 6 && off + width > 6 && devIntxLevel(d)) v |= 8 << ((6 - off) * 8);
  return v;
}

export function pciConfigWrite(d: VDev, off: u32, width: u32, v: u32): void {
  if (!widthOk(off, width) || off + width > 256) { bad(d, width); return; }
  if (off >= <u32>CAP_PCICFG + 16 && off < <u32>CAP_PCICFG + 20) { pciCfgWindow(d, off, width, v, true); return; }
  const c = d.cfg;
  for (let i: u32 = 0; i < width; i++) {
    const m = <u32>load<u8>(wmask + off + i);
    if (m == 0) continue;
    const b = (v >> (i * 8)) & 0xff;
    const old = <u32>load<u8>(c + off + i);
    store<u8>(c + off + i, <u8>((old & ~m) | (b & m)));
  }
  if ((off < <u32>MSIX_CAP + 4 && off + width > <u32>MSIX_CAP + 2) || (off < <u32>PCI_COMMAND + 2 && off + width > <u32>PCI_COMMAND)) devMsixUnmasked(d);
}

/** VIRTIO_PCI_CAP_PCI_CFG (§4.1.4.9): an access to pci_cfg_data goes to the BAR window the capability names. */
function pciCfgWindow(d: VDev, off: u32, width: u32, v: u32, write: bool): u32 {
  const c = d.cfg + CAP_PCICFG;
  const bar = <u32>load<u8>(c + 4);
  const boff = load<u32>(c + 8);
  const blen = load<u32>(c + 12);
  // §4.1.4.9.1: length 1, 2 or 4, offset aligned to it; the data access must cover it.
  if (off != <u32>CAP_PCICFG + 16 || width < blen || !widthOk(boff, blen)) return write ? 0 : bad(d, width);
  // §4.1.4.9: this window reaches the BAR whether or not memory decoding is on.
  if (write) { barWrite(d, bar, boff, blen, v & ones(blen)); return 0; }
  return barRead(d, bar, boff, blen);
}

// ---- BARs ---------------------------------------------------------------------

/** BAR read from the bus: only while memory decoding is on (command bit 1); otherwise a master abort (all-ones). */
export function pciBarRead(d: VDev, bar: u32, off: u32, width: u32): u32 {
  if ((<u32>load<u16>(d.cfg + PCI_COMMAND) & PCI_CMD_MEMORY) == 0) return bad(d, width);
  return barRead(d, bar, off, width);
}

export function pciBarWrite(d: VDev, bar: u32, off: u32, width: u32, v: u32): void {
  if ((<u32>load<u16>(d.cfg + PCI_COMMAND) & PCI_CMD_MEMORY) == 0) { bad(d, width); return; }
  barWrite(d, bar, off, width, v);
}

function barRead(d: VDev, bar: u32, off: u32, width: u32): u32 {
  if (!widthOk(off, width)) return bad(d, width);
  if (bar == BAR_MSIX) {
    if (width != 4) return bad(d, width);
    if (off < d.msixCount * MSIX_ENTRY) return load<u32>(d.msix + off);
    if (off == MSIX_PBA_OFF) return load<u32>(d.msix + MSIX_PBA);
    if (off == MSIX_PBA_OFF + 4) return 0;
    return bad(d, width);
  }
  if (bar != BAR_VIRTIO) return bad(d, width);
  if (off < ISR_OFF) return commonRead(d, off, width);
  if (off < DEVICE_OFF) {
    if (off != ISR_OFF) return bad(d, width);
    // §4.1.4.5: reading the ISR clears it and deasserts INTx.
    const v = d.isr; d.isr = 0;
    return v;
  }
  if (off < NOTIFY_OFF) {
    const o = off - DEVICE_OFF;
    if (o + width > dispConfigBytes(d)) return bad(d, width);
    return dispConfigRead(d, o, width);
  }
  if (off < NOTIFY_OFF + d.numQueues * NOTIFY_MULT) return 0;
  return bad(d, width);
}

function barWrite(d: VDev, bar: u32, off: u32, width: u32, v: u32): void {
  if (!widthOk(off, width)) { bad(d, width); return; }
  if (bar == BAR_MSIX) {
    if (width != 4 || off >= d.msixCount * MSIX_ENTRY) { bad(d, width); return; }
    const reg = off & 15;
    if (reg == 12) {
      const p = d.msix + off;
      const was = load<u32>(p) & 1;
      store<u32>(p, v & 1);
      if (was != 0 && (v & 1) == 0) devMsixUnmasked(d);
    } else {
      store<u32>(d.msix + off, v);
    }
    return;
  }
  if (bar != BAR_VIRTIO) { bad(d, width); return; }
  if (off < ISR_OFF) { commonWrite(d, off, width, v); return; }
  if (off < DEVICE_OFF) { bad(d, width); return; }
  if (off < NOTIFY_OFF) {
    const o = off - DEVICE_OFF;
    if (o + width > dispConfigBytes(d)) { bad(d, width); return; }
    dispConfigWrite(d, o, width, v);
    return;
  }
  const o = off - NOTIFY_OFF;
  const qi = o / NOTIFY_MULT;
  // §4.1.5.2: the driver writes the 16-bit queue index at the queue's notify address.
  if (qi < d.numQueues && (width == 2 || width == 4) && (o % NOTIFY_MULT) == 0) { dispNotify(d, qi); return; }
  bad(d, width);
}

// ---- Common configuration (§4.1.4.3) ---------------------------------------------

function vectorOk(d: VDev, v: u32): u32 { return v < d.msixCount ? v : NO_VECTOR; }

function commonRead(d: VDev, off: u32, width: u32): u32 {
  const q = devSelected(d);
  if (width == 4) {
    if (off == 0x00) return d.devFeatSel;
    if (off == 0x04) return devFeatureWord(d, d.devFeatSel);
    if (off == 0x08) return d.drvFeatSel;
    if (off == 0x0c) return devDriverFeatureWord(d, d.drvFeatSel);
    if (off >= 0x20 && off < 0x38) {
      if (q == null) return 0;
      const a = off < 0x28 ? q.desc : off < 0x30 ? q.avail : q.used;
      return (off & 4) ? <u32>(a >> 32) : <u32>a;
    }
  } else if (width == 2) {
    if (off == 0x10) return d.configVector;
    if (off == 0x12) return d.numQueues;
    if (off == 0x16) return d.queueSel;
    if (off == 0x18) return q == null ? 0 : q.size;
    if (off == 0x1a) return q == null ? NO_VECTOR : q.msixVector;
    if (off == 0x1c) return q == null ? 0 : q.ready;
    if (off == 0x1e) return q == null ? 0 : d.queueSel; // queue_notify_off: the queue index
  } else {
    if (off == 0x14) return d.status;
    if (off == 0x15) return d.configGen & 0xff;
  }
  return bad(d, width);
}

function commonWrite(d: VDev, off: u32, width: u32, v: u32): void {
  if (width == 4) {
    if (off == 0x00) { d.devFeatSel = v; return; }
    if (off == 0x08) { d.drvFeatSel = v; return; }
    if (off == 0x0c) { devWriteDriverFeatures(d, d.drvFeatSel, v); return; }
    if (off >= 0x20 && off < 0x38) {
      const q = devQueueWritable(d);
      if (q == null) return;
      const hi = (off & 4) != 0;
      if (off < 0x28) q.desc = hi ? (q.desc & 0xffffffff) | (<u64>v << 32) : (q.desc & 0xffffffff00000000) | <u64>v;
      else if (off < 0x30) q.avail = hi ? (q.avail & 0xffffffff) | (<u64>v << 32) : (q.avail & 0xffffffff00000000) | <u64>v;
      else q.used = hi ? (q.used & 0xffffffff) | (<u64>v << 32) : (q.used & 0xffffffff00000000) | <u64>v;
      return;
    }
  } else if (width == 2) {
    if (off == 0x10) { d.configVector = vectorOk(d, v); return; }
    if (off == 0x16) { d.queueSel = v; return; }
    if (off == 0x18) { devWriteQueueSize(d, v); return; }
    if (off == 0x1a) { const q = devSelected(d); if (q != null) q.msixVector = vectorOk(d, v); else count(d, VCounter.BAD_REGISTER_VALUE); return; }
    if (off == 0x1c) {
      // §4.1.4.3.2: the driver MUST NOT write 0 to queue_enable.
      if (v == 1) devEnableQueue(d); else count(d, VCounter.BAD_REGISTER_VALUE);
      return;
    }
  } else if (width == 1) {
    if (off == 0x14) { dispWriteStatus(d, v); return; }
  }
  bad(d, width);
}

/** Writable fields of configuration space (restore copies only these from a saved image). */
export function pciWritableMask(): usize { return wmask; }

/** The most linear memory pciInit carves: the write mask of config space, on first use. */
export function pciCost(): u64 { return regionCost(256, 16); }
