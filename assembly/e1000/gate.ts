// The register gate: every BAR access of the function comes through here,
// gets its width and offset checked, and reaches the register's behaviour.
// BAR0 is the 128 KiB register space (§13.4); BAR1 the I/O window, IOADDR at
// 0 selecting a register and IODATA at 4 accessing it (§13.2). Registers are
// 32 bits; an aligned 1- or 2-byte access reads the containing register
// (with its read effects) or merges into it, and is counted as a bad access
// (the manual asks for 32-bit accesses). Unmodelled offsets read 0 and
// ignore writes, counted. Each access first brings the timers to `now`.

import { E1k, reg, setReg, count, macReset, STATS_BEGIN, STATS_END, MTA_END, VFTA_END, RAR_END } from "./device";
import { E1K_MMIO_BYTES, E1K_IO_BYTES, E1K_BAR_MMIO, E1K_BAR_IO, E1kCounter } from "./defs";
import {
  R_CTRL, R_STATUS, R_EECD, R_EERD, R_CTRL_EXT, R_FLA, R_MDIC, R_FCAL, R_FCAH, R_FCT, R_VET, R_ICR, R_ITR, R_ICS,
  R_IMS, R_IMC, R_RCTL, R_FCTTV, R_TXCW, R_RXCW, R_TCTL, R_TIPG, R_AIT, R_LEDCTL, R_PBA, R_FCRTL, R_FCRTH, R_RDFH,
  R_RDFT, R_RDFHS, R_RDFTS, R_RDFPC, R_RDBAL, R_RDBAH, R_RDLEN, R_RDH, R_RDT, R_RDTR, R_RXDCTL, R_RADV, R_RSRPD,
  R_TXDMAC, R_TDFH, R_TDFT, R_TDFHS, R_TDFTS, R_TDFPC, R_TDBAL, R_TDBAH, R_TDLEN, R_TDH, R_TDT, R_TIDV, R_TXDCTL,
  R_TADV, R_TSPMT, R_RXCSUM, R_MTA, R_RAL0, R_VFTA, R_WUC, R_WUFC, R_WUS, R_MANC, R_IPAV, R_IP4AT, R_IP6AT, R_WUPL,
  R_WUPM, R_FFLT, R_FFMT, R_FFVT, S_GORCL, S_GORCH, S_GOTCL, S_GOTCH, S_TORL, S_TORH, S_TOTL, S_TOTH, CTRL_RST,
  CTRL_PHY_RST, CTRL_EXT_EE_RST, STATUS_FD, STATUS_LU, STATUS_SPEED_1000, STATUS_ASDV_1000, ICR_VALID, ICR_LSC,
  RCTL_EN, RCTL_UPE, RCTL_MPE, TCTL_EN, DELAY_FPD,
} from "./regs";
import { eecdRead, eecdWrite, eerdWrite } from "./eeprom";
import { mdicWrite, linkUp, phyRefresh, phyReset } from "./phy";
import { irqUpdate, irqCause, irqAdvance, rxFlush, txFlush } from "./irq";
import { ringsRecheck } from "./rings";
import { rxDrain, rxDmtCheck } from "./rx";
import { txKick } from "./tx";
import { memDecode, ioDecode } from "./pci";
import { filterRegWritten } from "./filter";

/** Writable bits of a register that is plain storage, or 0 when `off` is not one. */
function plainMask(off: u32): u32 {
  if (off >= R_MTA && off < MTA_END) return 0xffffffff;
  if (off >= R_VFTA && off < VFTA_END) return 0xffffffff;
  if (off >= R_RAL0 && off < RAR_END) return (off & 4) != 0 ? 0x8003ffff : 0xffffffff;
  if (off >= R_IP4AT && off < R_IP4AT + 0x20) return (off & 4) == 0 ? 0xffffffff : 0;
  if (off >= R_IP6AT && off < R_IP6AT + 0x10) return 0xffffffff;
  if (off >= R_WUPM && off < R_WUPM + 0x80) return 0xffffffff;
  if (off >= R_FFLT && off < R_FFLT + 0x20) return (off & 4) == 0 ? 0x7ff : 0;
  if (off >= R_FFMT && off < R_FFMT + 0x400) return (off & 4) == 0 ? 0xf : 0;
  if (off >= R_FFVT && off < R_FFVT + 0x400) return (off & 4) == 0 ? 0xff : 0;
  switch (off) {
    case R_CTRL_EXT: return 0xffffffff & ~CTRL_EXT_EE_RST;
    case R_FLA: return 0xffffffff;
    case R_FCAL: return 0xffffffff;
    case R_FCAH: case R_FCT: case R_VET: case R_FCTTV: return 0xffff;
    case R_TXCW: case R_LEDCTL: case R_TIPG: case R_AIT: return 0xffffffff;
    case R_FCRTL: case R_FCRTH: return 0x8000fff8;
    case R_RDFH: case R_RDFT: case R_RDFHS: case R_RDFTS: case R_RDFPC: return 0x1fff;
    case R_TDFH: case R_TDFT: case R_TDFHS: case R_TDFTS: case R_TDFPC: return 0x1fff;
    case R_RXDCTL: case R_TXDCTL: case R_TXDMAC: case R_TSPMT: return 0xffffffff;
    case R_RADV: case R_TADV: return 0xffff;
    case R_RSRPD: return 0xfff;
    case R_RXCSUM: return 0x3ff;
    case R_WUC: case R_WUFC: case R_WUS: case R_MANC: case R_IPAV: case R_WUPL: return 0xffffffff;
  }
  return 0;
}

/** Registers with behaviour on access (handled by name below). */
function special(off: u32): bool {
  switch (off) {
    case R_CTRL: case R_STATUS: case R_EECD: case R_EERD: case R_MDIC: case R_ICR: case R_ITR: case R_ICS: case R_IMS:
    case R_IMC: case R_RCTL: case R_RXCW: case R_TCTL: case R_PBA: case R_RDBAL: case R_RDBAH: case R_RDLEN:
    case R_RDH: case R_RDT: case R_RDTR: case R_TDBAL: case R_TDBAH: case R_TDLEN: case R_TDH: case R_TDT: case R_TIDV:
      return true;
  }
  return off >= STATS_BEGIN && off < STATS_END;
}

/** Whether `off` names a register the model holds (for restore: only these may appear in a blob). */
export function isRegister(off: u32): bool { return (off & 3) == 0 && off < E1K_MMIO_BYTES && (special(off) || plainMask(off) != 0); }

/** Writable bits of a stored register, for restore (special registers take any value their writes store). */
export function storeMask(off: u32): u32 {
  const m = plainMask(off);
  if (m != 0) return m;
  switch (off) {
    case R_CTRL: return ~CTRL_RST;
    case R_EECD: case R_EERD: case R_MDIC: return 0xffffffff;
    case R_ITR: case R_RDTR: case R_TIDV: case R_RDH: case R_RDT: case R_TDH: case R_TDT: return 0xffff;
    case R_RDLEN: case R_TDLEN: return 0xfffff;
    case R_RDBAL: case R_TDBAL: return 0xfffffff0;
    case R_RDBAH: case R_TDBAH: case R_RCTL: case R_TCTL: case R_PBA: return 0xffffffff;
  }
  return 0;
}

/** Guest time moves forward only; a call with an earlier time keeps the latest one (counted). */
export function tick(d: E1k, now: u64): u64 {
  if (now < d.lastNow) { count(d, E1kCounter.CLOCK_BACKWARDS); now = d.lastNow; }
  d.lastNow = now;
  irqAdvance(d, now);
  return now;
}

function statusRead(d: E1k): u32 {
  let v: u32 = STATUS_FD | STATUS_SPEED_1000 | STATUS_ASDV_1000 | 0x80000000; // 33 MHz, 32-bit PCI; bit 31: reserved-set
  if (linkUp(d)) v |= STATUS_LU;
  return v;
}

/** Read of register `off` (aligned, < 128 KiB) with its effects. */
export function regRead(d: E1k, off: u32, now: u64): u32 {
  switch (off) {
    case R_STATUS: return statusRead(d);
    case R_EECD: return eecdRead(d);
    case R_ICR: {
      const v = d.icr;
      d.icr = 0;
      irqUpdate(d, now);
      return v;
    }
    case R_ICS: return d.icr;
    case R_IMS: return d.ims;
    case R_IMC: return 0;
    case R_RXCW: return 0;
  }
  if (off >= STATS_BEGIN && off < STATS_END) {
    const v = reg(d, off);
    // 64-bit counters: the low half reads alone; reading the high half clears both (§13.7).
    if (off == S_GORCL || off == S_GOTCL || off == S_TORL || off == S_TOTL) return v;
    if (off == S_GORCH || off == S_GOTCH || off == S_TORH || off == S_TOTH) { setReg(d, off - 4, 0); setReg(d, off, 0); return v; }
    setReg(d, off, 0);
    return v;
  }
  if (special(off) || plainMask(off) != 0) return reg(d, off);
  count(d, E1kCounter.BAD_ACCESS);
  return 0;
}

/** The value a read would return, without its effects (narrow writes merge into it; tests peek with it). */
export function regPeek(d: E1k, off: u32): u32 {
  if (off == R_STATUS) return statusRead(d);
  if (off == R_EECD) return eecdRead(d);
  if (off == R_ICR || off == R_ICS) return d.icr;
  if (off == R_IMS) return d.ims;
  if (off == R_IMC || off == R_RXCW) return 0;
  if (special(off) || plainMask(off) != 0) return reg(d, off);
  return 0;
}

/** A link change: LSC, and the units that waited for the link go on. */
function linkChanged(d: E1k, now: u64): void {
  irqCause(d, ICR_LSC, now);
  if (linkUp(d)) { txKick(d, now); rxDrain(d, now); }
}

/** Write of register `off` (aligned, < 128 KiB) with its effects. */
export function regWrite(d: E1k, off: u32, v: u32, now: u64): void {
  switch (off) {
    case R_CTRL: {
      if (v & CTRL_RST) {
        // Software reset (§13.4.1): the MAC, not PCI configuration, not the PHY; the link is as the PHY says.
        macReset(d);
        if (phyRefresh(d)) irqCause(d, ICR_LSC, now);
        irqUpdate(d, now);
        return;
      }
      const was = reg(d, R_CTRL);
      setReg(d, R_CTRL, v);
      // Leaving PHY reset (§13.4.1 PHY_RST) brings the PHY back with its defaults.
      if ((was & CTRL_PHY_RST) != 0 && (v & CTRL_PHY_RST) == 0) phyReset(d);
      if (phyRefresh(d)) linkChanged(d, now);
      return;
    }
    case R_STATUS: case R_RXCW: return;
    case R_EECD: eecdWrite(d, v); return;
    case R_EERD: eerdWrite(d, v); return;
    case R_MDIC: {
      const causes = mdicWrite(d, v);
      if (causes & ICR_LSC) linkChanged(d, now);
      if (causes & ~ICR_LSC) irqCause(d, causes & ~ICR_LSC, now);
      return;
    }
    case R_ICR: d.icr &= ~v; irqUpdate(d, now); return;
    case R_ICS: irqCause(d, v & ICR_VALID, now); return;
    case R_IMS: d.ims |= v & ICR_VALID; irqUpdate(d, now); return;
    case R_IMC: d.ims &= ~v; irqUpdate(d, now); return;
    case R_ITR: setReg(d, off, v & 0xffff); return;
    case R_RCTL: {
      const was = reg(d, R_RCTL);
      setReg(d, off, v & 0x07fffffe);
      if (((was ^ v) & (RCTL_UPE | RCTL_MPE)) != 0) d.filterChanged = 1;
      ringsRecheck(d);
      if ((was & RCTL_EN) == 0 && (v & RCTL_EN) != 0) rxDrain(d, now);
      return;
    }
    case R_TCTL: {
      setReg(d, off, v);
      ringsRecheck(d);
      if (v & TCTL_EN) txKick(d, now);
      return;
    }
    case R_PBA: {
      // RXA in KiB (bits 6:0 of the 64 KiB packet buffer); TXA reads as the rest (§13.4.29).
      const rxa = min<u32>(v & 0x7f, 64);
      setReg(d, off, ((64 - rxa) << 16) | rxa);
      return;
    }
    // A ring that becomes valid is used at once: the units look at it after every change.
    case R_RDBAL: setReg(d, off, v & 0xfffffff0); ringsRecheck(d); rxDrain(d, now); return;
    case R_TDBAL: setReg(d, off, v & 0xfffffff0); ringsRecheck(d); txKick(d, now); return;
    case R_RDBAH: setReg(d, off, v); ringsRecheck(d); rxDrain(d, now); return;
    case R_TDBAH: setReg(d, off, v); ringsRecheck(d); txKick(d, now); return;
    case R_RDLEN: setReg(d, off, v & 0xfffff); ringsRecheck(d); rxDrain(d, now); return; // the 128-byte multiple is checked in rings.ts
    case R_TDLEN: setReg(d, off, v & 0xfffff); ringsRecheck(d); txKick(d, now); return;
    case R_RDH: setReg(d, off, v & 0xffff); ringsRecheck(d); rxDrain(d, now); return;
    case R_TDH: setReg(d, off, v & 0xffff); ringsRecheck(d); txKick(d, now); return;
    case R_RDT: {
      setReg(d, off, v & 0xffff);
      ringsRecheck(d);
      rxDrain(d, now);
      if (d.rxRingOk == 1) rxDmtCheck(d, now);
      return;
    }
    case R_TDT: setReg(d, off, v & 0xffff); ringsRecheck(d); txKick(d, now); return;
    case R_RDTR: setReg(d, off, v & 0xffff); if (v & DELAY_FPD) rxFlush(d, now); return;
    case R_TIDV: setReg(d, off, v & 0xffff); if (v & DELAY_FPD) txFlush(d, now); return;
  }
  if (off >= STATS_BEGIN && off < STATS_END) return; // read-only counters
  const m = plainMask(off);
  if (m == 0) { count(d, E1kCounter.BAD_ACCESS); return; }
  const old = reg(d, off);
  setReg(d, off, v & m);
  // MTA and RAR decide which groups the NIC takes: a change is the host's to reconcile (PENDING_FILTER).
  if (off >= R_MTA && off < RAR_END && old != (v & m)) d.filterChanged = 1;
  if (off >= R_MTA && off < RAR_END || off >= R_VFTA && off < VFTA_END) filterRegWritten(d, off);
}

// @ts-ignore: decorator
@inline function widthOk(off: u32, width: u32): bool { return (width == 1 || width == 2 || width == 4) && (off & (width - 1)) == 0; }

/** A BAR read from the bus; all ones when the BAR is not decoded or the access is bad. */
export function barRead(d: E1k, bar: u32, off: u32, width: u32, now: u64): u32 {
  now = tick(d, now);
  const ones: u32 = width == 4 ? 0xffffffff : width == 2 ? 0xffff : 0xff;
  if (!widthOk(off, width)) { count(d, E1kCounter.BAD_ACCESS); return 0xffffffff; }
  let r: u32 = 0;
  if (bar == E1K_BAR_MMIO) {
    if (!memDecode(d) || off >= E1K_MMIO_BYTES) { count(d, E1kCounter.BAD_ACCESS); return ones; }
    if (width != 4) count(d, E1kCounter.BAD_ACCESS);
    r = regRead(d, off & ~<u32>3, now);
  } else if (bar == E1K_BAR_IO) {
    if (!ioDecode(d) || off >= E1K_IO_BYTES) { count(d, E1kCounter.BAD_ACCESS); return ones; }
    if (width != 4 || (off != 0 && off != 4)) { count(d, E1kCounter.BAD_ACCESS); return ones; }
    if (off == 0) return d.ioAddr;
    const a = d.ioAddr;
    if (a >= E1K_MMIO_BYTES || (a & 3) != 0) { count(d, E1kCounter.BAD_ACCESS); return 0; }
    return regRead(d, a, now);
  } else {
    count(d, E1kCounter.BAD_ACCESS);
    return ones;
  }
  return (r >> ((off & 3) * 8)) & ones;
}

export function barWrite(d: E1k, bar: u32, off: u32, width: u32, v: u32, now: u64): void {
  now = tick(d, now);
  if (!widthOk(off, width)) { count(d, E1kCounter.BAD_ACCESS); return; }
  if (bar == E1K_BAR_MMIO) {
    if (!memDecode(d) || off >= E1K_MMIO_BYTES) { count(d, E1kCounter.BAD_ACCESS); return; }
    const a = off & ~<u32>3;
    if (width != 4) {
      count(d, E1kCounter.BAD_ACCESS);
      const sh = (off & 3) * 8;
      const m: u32 = (width == 2 ? 0xffff : 0xff) << sh;
      v = (regPeek(d, a) & ~m) | ((v << sh) & m);
    }
    regWrite(d, a, v, now);
  } else if (bar == E1K_BAR_IO) {
    if (!ioDecode(d) || off >= E1K_IO_BYTES || width != 4 || (off != 0 && off != 4)) { count(d, E1kCounter.BAD_ACCESS); return; }
    if (off == 0) { d.ioAddr = v & 0x1ffff; return; }
    const a = d.ioAddr;
    if ((a & 3) != 0) { count(d, E1kCounter.BAD_ACCESS); return; }
    regWrite(d, a, v, now);
  } else {
    count(d, E1kCounter.BAD_ACCESS);
    return;
  }
  irqUpdate(d, now);
}

/** Power-on reset of everything but PCI configuration and the host's link (pci.ts resets that). */
export function powerOn(d: E1k): void {
  macReset(d);
  phyReset(d);
  d.line = 0;
  d.lastNow = 0;
  d.txOutLen = 0;
  d.txOutFrames = 0;
  d.quiesced = 0;
}
