// The receive filter decision of the 82540EM (§3.2.1, §13.4.22, §13.5). One
// call per frame, on the destination address and the 802.1Q tag; the tables
// are the device's own registers (RAL/RAH, MTA, VFTA).
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
  R_RCTL, R_VET, R_RAL0, R_MTA, R_VFTA, RAR_ENTRIES, RAH_AV, RAH_ASEL_MASK, RCTL_BAM, RCTL_MPE, RCTL_UPE,
  RCTL_MO_SHIFT, RCTL_VFE, RCTL_CFIEN, RCTL_CFI, E1kCounter,
} from "./defs";

/** MTA bit index of the destination address at `dst` for RCTL.MO = `mo` (§13.5.1). */
// @ts-ignore: decorator
@inline export function mtaIndex(dst: usize, mo: u32): u32 {
  const w = (<u32>load<u8>(dst, 5) << 8) | <u32>load<u8>(dst, 4); // address bits 47:32
  const shift: u32 = mo == 0 ? 4 : mo == 1 ? 3 : mo == 2 ? 2 : 0;
  return (w >> shift) & 0xfff;
}

/** Whether the frame at `frame` (≥ 14 bytes, linear memory) passes the filter; counts why not. */
export function filterAccept(d: E1k, frame: usize, len: u32): bool {
  const rctl = reg(d, R_RCTL);
  if (!vlanAccept(d, rctl, frame, len)) { count(d, E1kCounter.RX_FILTERED); count(d, E1kCounter.RX_VLAN_FILTERED); return false; }
  const b0 = <u32>load<u8>(frame);
  if ((b0 & 1) != 0) {
    if (load<u32>(frame) == 0xffffffff && load<u16>(frame, 4) == 0xffff) {
      if (rctl & RCTL_BAM) return true;
    } else if (rctl & RCTL_MPE) return true;
  } else if (rctl & RCTL_UPE) return true;
  // Exact: bounded by the 16 RAR entries.
  const lo = load<u32>(frame);
  const hi = <u32>load<u16>(frame, 4);
  for (let i: u32 = 0; i < RAR_ENTRIES; i++) {
    const rah = reg(d, R_RAL0 + i * 8 + 4);
    if ((rah & RAH_AV) == 0 || (rah & RAH_ASEL_MASK) != 0) continue;
    if (reg(d, R_RAL0 + i * 8) == lo && (rah & 0xffff) == hi) { count(d, E1kCounter.RX_EXACT_MATCH); return true; }
  }
  const bit = mtaIndex(frame, (rctl >> RCTL_MO_SHIFT) & 3);
  if ((reg(d, R_MTA + ((bit >> 5) << 2)) >> (bit & 31)) & 1) { count(d, E1kCounter.RX_HASH_MATCH); return true; }
  count(d, E1kCounter.RX_FILTERED);
  return false;
}

function vlanAccept(d: E1k, rctl: u32, frame: usize, len: u32): bool {
  if ((rctl & (RCTL_VFE | RCTL_CFIEN)) == 0 || len < 18) return true;
  const tpid = (<u32>load<u8>(frame, 12) << 8) | <u32>load<u8>(frame, 13);
  if (tpid != (reg(d, R_VET) & 0xffff)) return true;
  const tci = (<u32>load<u8>(frame, 14) << 8) | <u32>load<u8>(frame, 15);
  if ((rctl & RCTL_CFIEN) != 0 && ((tci >> 12) & 1) != ((rctl & RCTL_CFI) != 0 ? 1 : 0)) return false;
  if ((rctl & RCTL_VFE) == 0) return true;
  const vid = tci & 0xfff;
  return ((reg(d, R_VFTA + ((vid >> 5) << 2)) >> (vid & 31)) & 1) != 0;
}
