// The receive filter of the 82540EM (§3.2.1, §13.4.22, §13.5), composed from
// the shared RX filter engine (net/filter.ts). The registers (RAL/RAH, MTA,
// VFTA) stay the device's own; every write to them is mirrored into the
// engine's state, which the per-frame decision reads.
//
// Filter order (the one place it is written down):
//   1. address: broadcast (FF:FF:FF:FF:FF:FF) with RCTL.BAM → accept;
//      multicast with RCTL.MPE → accept; unicast with RCTL.UPE → accept;
//   2. the 16 exact entries RAR[0..15] with AV set (destination-address
//      select only) → accept;
//   3. the inexact 4096-bit MTA, indexed by 12 destination-address bits
//      chosen by RCTL.MO (0: bits 47:36, 1: 46:35, 2: 45:34, 3: 43:32),
//      for multicast and for unicast that missed the exact entries → accept;
//   4. otherwise drop.
//   Then, for a frame whose type/length is VET (tagged): with RCTL.CFIEN, a
//   CFI bit different from RCTL.CFI drops it; with RCTL.VFE, a VLAN ID whose
//   VFTA bit is clear drops it. Promiscuous modes do not bypass the VLAN filter.

import { E1k, reg, count } from "./device";
import {
  AddrClass, addrClass, macLoad, rxfExactHas, rxfExactSet, rxfMtaHas, rxfMtaWrite, rxfVftaWrite, rxfVlanPass, rxfTci,
  rxfInit,
} from "../net/filter";
import { E1kCounter, MC_MODE_UPE, MC_MODE_MPE, MC_MODE_MTA } from "./defs";
import {
  R_RCTL, R_VET, R_RAL0, R_MTA, R_VFTA, RAR_ENTRIES, MTA_WORDS, VFTA_WORDS, RAH_AV, RAH_ASEL_MASK, RCTL_BAM,
  RCTL_MPE, RCTL_UPE, RCTL_MO_SHIFT, RCTL_VFE, RCTL_CFIEN, RCTL_CFI,
} from "./regs";

/** RAR entry `i` into the engine: valid when AV is set and it selects the destination address (ASEL 00). */
export function filterRar(d: E1k, i: u32): void {
  const lo = reg(d, R_RAL0 + i * 8), hi = reg(d, R_RAL0 + i * 8 + 4);
  rxfExactSet(d.filter, i, <u64>lo | (<u64>(hi & 0xffff) << 32), (hi & RAH_AV) != 0 && (hi & RAH_ASEL_MASK) == 0);
}

/** A register write to RAL/RAH, MTA or VFTA reaches the engine's copy. */
export function filterRegWritten(d: E1k, off: u32): void {
  if (off >= R_RAL0 && off < R_RAL0 + RAR_ENTRIES * 8) filterRar(d, (off - R_RAL0) >> 3);
  else if (off >= R_MTA && off < R_MTA + MTA_WORDS * 4) rxfMtaWrite(d.filter, (off - R_MTA) >> 2, reg(d, off));
  else if (off >= R_VFTA && off < R_VFTA + VFTA_WORDS * 4) rxfVftaWrite(d.filter, (off - R_VFTA) >> 2, reg(d, off));
}

/** The engine's state from the registers (after a restore). */
export function filterRebuild(d: E1k): void {
  rxfInit(d.filter, RAR_ENTRIES);
  for (let i: u32 = 0; i < RAR_ENTRIES; i++) filterRar(d, i);
  for (let n: u32 = 0; n < MTA_WORDS; n++) rxfMtaWrite(d.filter, n, reg(d, R_MTA + n * 4));
  for (let n: u32 = 0; n < VFTA_WORDS; n++) rxfVftaWrite(d.filter, n, reg(d, R_VFTA + n * 4));
  d.filterChanged = 1;
}

/** MC_MODE_* bits of defs.ts from RCTL and the MTA. */
export function filterMcMode(d: E1k): u32 {
  const rctl = reg(d, R_RCTL);
  let v: u32 = 0;
  if (rctl & RCTL_UPE) v |= MC_MODE_UPE;
  if (rctl & RCTL_MPE) v |= MC_MODE_MPE;
  // Bounded: MTA_WORDS registers.
  for (let n: u32 = 0; n < MTA_WORDS; n++) if (reg(d, R_MTA + n * 4) != 0) { v |= MC_MODE_MTA; break; }
  return v;
}

/** RAR entry `i` (< RAR_ENTRIES) as a 48-bit address (byte 0 in the low bits) when it is valid for the destination and a group address; else -1. */
export function filterRarGroup(d: E1k, i: u32): i64 {
  const lo = reg(d, R_RAL0 + i * 8), hi = reg(d, R_RAL0 + i * 8 + 4);
  if ((hi & RAH_AV) == 0 || (hi & RAH_ASEL_MASK) != 0 || (lo & 1) == 0) return -1;
  const a = <u64>lo | (<u64>(hi & 0xffff) << 32);
  return a == 0xffff_ffff_ffff ? -1 : <i64>a;
}

/** Receive address `i` as a number when it is valid (AV), a destination address (ASEL 00b) and unicast, else -1. */
export function filterRarUnicast(d: E1k, i: u32): i64 {
  const lo = reg(d, R_RAL0 + i * 8), hi = reg(d, R_RAL0 + i * 8 + 4);
  if ((hi & RAH_AV) == 0 || (hi & RAH_ASEL_MASK) != 0 || (lo & 1) != 0) return -1;
  const a = <u64>lo | (<u64>(hi & 0xffff) << 32);
  return a == 0 ? -1 : <i64>a;
}

/** Whether the frame at `frame` (≥ 14 bytes, linear memory) passes the filter; counts why not. */
export function filterAccept(d: E1k, frame: usize, len: u32): bool {
  const rctl = reg(d, R_RCTL);
  const f = d.filter;
  if ((rctl & (RCTL_VFE | RCTL_CFIEN)) != 0) {
    const vet = reg(d, R_VET) & 0xffff;
    const tci = rxfTci(frame, len, vet);
    const cfiBad = tci >= 0 && (rctl & RCTL_CFIEN) != 0 && ((<u32>tci >> 12) & 1) != ((rctl & RCTL_CFI) != 0 ? 1 : 0);
    if (cfiBad || ((rctl & RCTL_VFE) != 0 && !rxfVlanPass(f, frame, len, vet))) {
      count(d, E1kCounter.RX_FILTERED); count(d, E1kCounter.RX_VLAN_FILTERED);
      return false;
    }
  }
  const a = macLoad(frame);
  const cls = addrClass(a);
  if (cls == AddrClass.BROADCAST) { if (rctl & RCTL_BAM) return true; }
  else if (cls == AddrClass.MULTICAST) { if (rctl & RCTL_MPE) return true; }
  else if (rctl & RCTL_UPE) return true;
  if (rxfExactHas(f, a)) { count(d, E1kCounter.RX_EXACT_MATCH); return true; }
  if (rxfMtaHas(f, a, (rctl >> RCTL_MO_SHIFT) & 3)) { count(d, E1kCounter.RX_HASH_MATCH); return true; }
  count(d, E1kCounter.RX_FILTERED);
  return false;
}
