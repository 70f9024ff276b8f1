// The internal copper PHY (a Marvell 88E1011-compatible core at MDIO address
// 1) reached through MDIC (§13.4.7) and the link it reports. The link is up
// when the host has the cable plugged (e1k_set_link), the PHY is out of
// reset (CTRL.PHY_RST) and not powered down (BMCR bit 11). Auto-negotiation
// completes at once against a 1000BASE-T full-duplex partner with symmetric
// PAUSE; the MAC then reports 1000 Mb/s full duplex in STATUS.
//
// Registers: 0 BMCR, 1 BMSR (link status latched low, IEEE 802.3 22.2.4.2.13),
// 2-3 PHY ID 0141h/0C20h, 4 ANAR, 5 ANLPAR, 6 ANER, 7 NPTX, 8 LPNP,
// 9 1000BASE-T control, 10 1000BASE-T status, 15 extended status,
// 16 PSCR, 17 PSSR, 18 PIER, 19 PISR (read clears), 20 EPSCR, 21 receive
// error counter, 22-31 stored. Read-only registers ignore writes.
// Not modelled: PHY loopback (BMCR bit 14), forced speed/duplex (the link
// stays at 1000/full), cable diagnostics, PHY interrupts (PISR stays 0).

import { E1k, reg, setReg, count } from "./device";
import { E1kCounter } from "./defs";
import {
  PHY_REGS, PHY_BMCR, PHY_BMSR, PHY_ID1, PHY_ID2, PHY_ANAR, PHY_ANLPAR, PHY_ANER, PHY_NPTX, PHY_LPNP, PHY_GCTRL,
  PHY_GSTATUS, PHY_ESTATUS, PHY_PSCR, PHY_PSSR, PHY_PISR, PHY_EPSCR, PHY_RXERR, PHY_ID1_VALUE, PHY_ID2_VALUE,
  BMCR_RESET, BMCR_ANRESTART, BMCR_PDOWN, BMSR_LSTATUS, BMSR_ANEGCOMPLETE, R_MDIC, R_CTRL, MDIC_OP_READ,
  MDIC_OP_WRITE, MDIC_READY, MDIC_IE, MDIC_ERROR, MDIC_PHY_ADDR, CTRL_PHY_RST, ICR_MDAC, ICR_LSC,
} from "./regs";

// @ts-ignore: decorator
@inline export function phyReg(d: E1k, r: u32): u32 { return <u32>load<u16>(d.phy + (<usize>r << 1)); }
// @ts-ignore: decorator
@inline function setPhy(d: E1k, r: u32, v: u32): void { store<u16>(d.phy + (<usize>r << 1), <u16>v); }

/** BMSR without the link and auto-negotiation bits: 10/100 half/full, extended status, preamble suppression, AN able, extended capabilities. */
const BMSR_BASE: u32 = 0x7949;

/** PHY registers to their hardware-reset values. */
export function phyReset(d: E1k): void {
  memory.fill(d.phy, 0, <usize>PHY_REGS * 2);
  setPhy(d, PHY_BMCR, 0x1140);   // AN enable, full duplex, 1000 Mb/s select
  setPhy(d, PHY_ID1, PHY_ID1_VALUE);
  setPhy(d, PHY_ID2, PHY_ID2_VALUE);
  setPhy(d, PHY_ANAR, 0x01e1);   // 100/10 full/half, IEEE 802.3 selector
  setPhy(d, PHY_NPTX, 0x2001);
  setPhy(d, PHY_GCTRL, 0x0300);  // advertise 1000BASE-T full and half
  setPhy(d, PHY_ESTATUS, 0x3000);
  setPhy(d, PHY_PSCR, 0x0068);
  setPhy(d, PHY_EPSCR, 0x0c60);
  d.phyLatchLow = 0;
  phyRefresh(d);
}

/** Whether the link is up now. */
export function linkUp(d: E1k): bool {
  return d.hostLink != 0 && (reg(d, R_CTRL) & CTRL_PHY_RST) == 0 && (phyReg(d, PHY_BMCR) & BMCR_PDOWN) == 0;
}

/**
 * Recompute the status registers from the link. Returns true when the link
 * changed since the last call (the caller raises LSC).
 */
export function phyRefresh(d: E1k): bool {
  const up = linkUp(d);
  const was = (phyReg(d, PHY_PSSR) & (1 << 10)) != 0;
  if (up) {
    setPhy(d, PHY_ANLPAR, 0x45e1);   // partner: ACK, PAUSE, 100/10 full/half, selector 1
    setPhy(d, PHY_ANER, 0x0001);     // partner AN able
    setPhy(d, PHY_GSTATUS, 0x3c00);  // local and remote receiver OK, partner 1000 full/half
    setPhy(d, PHY_PSSR, 0xac00);     // 1000 Mb/s, full duplex, resolved, link up
  } else {
    setPhy(d, PHY_ANLPAR, 0);
    setPhy(d, PHY_ANER, 0);
    setPhy(d, PHY_GSTATUS, 0);
    setPhy(d, PHY_PSSR, 0);
    if (was) d.phyLatchLow = 1;
  }
  return up != was;
}

function phyBmsr(d: E1k): u32 {
  let v = BMSR_BASE;
  if (linkUp(d)) {
    v |= BMSR_ANEGCOMPLETE;
    if (d.phyLatchLow == 0) v |= BMSR_LSTATUS;
  }
  d.phyLatchLow = 0;
  return v;
}

function phyRead(d: E1k, r: u32): u32 {
  if (r == PHY_BMSR) return phyBmsr(d);
  if (r == PHY_PISR) { const v = phyReg(d, r); setPhy(d, r, 0); return v; }
  return phyReg(d, r);
}

/** Returns true when the write changed the link. */
function phyWrite(d: E1k, r: u32, v: u32): bool {
  if (r == PHY_BMSR || r == PHY_ID1 || r == PHY_ID2 || r == PHY_ANLPAR || r == PHY_ANER || r == PHY_LPNP ||
      r == PHY_GSTATUS || r == PHY_ESTATUS || r == PHY_PSSR || r == PHY_PISR || r == PHY_RXERR) return false;
  if (r == PHY_BMCR) {
    // Reset and restart self-clear; auto-negotiation completes at once (phyRefresh).
    setPhy(d, r, v & ~(BMCR_RESET | BMCR_ANRESTART) & 0xffff);
    return phyRefresh(d);
  }
  setPhy(d, r, v & 0xffff);
  return false;
}

/**
 * MDIC write (§13.4.7): the access completes at once (READY set); another
 * PHY address or opcode sets ERROR. Returns the interrupt causes to raise.
 */
export function mdicWrite(d: E1k, v: u32): u32 {
  count(d, E1kCounter.MDIC_ACCESSES);
  const r = (v >> 16) & 0x1f;
  const phy = (v >> 21) & 0x1f;
  const op = v & (3 << 26);
  let out = v & ~(MDIC_READY | MDIC_ERROR);
  let causes: u32 = 0;
  if (phy != MDIC_PHY_ADDR || (op != MDIC_OP_READ && op != MDIC_OP_WRITE)) {
    out |= MDIC_ERROR;
    count(d, E1kCounter.BAD_REGISTER_VALUE);
  } else if (op == MDIC_OP_READ) {
    out = (out & 0xffff0000) | phyRead(d, r);
  } else if (phyWrite(d, r, v & 0xffff)) {
    causes |= ICR_LSC;
  }
  setReg(d, R_MDIC, out | MDIC_READY);
  if (v & MDIC_IE) causes |= ICR_MDAC;
  return causes;
}
