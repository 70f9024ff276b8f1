// The interrupt router: resolves a message's destination (SDM Vol. 3A §11.6.2)
// and hands it to each destination APIC's acceptance logic. Messages come from
// an APIC's outbox (ICR, SELF_IPI), from MSI writes (§11.11) and from the host
// (an IOAPIC redirection entry). One APIC never calls another: only the router
// walks the set.
//
// Matching is decided by each receiver's mode, as on a mixed bus:
//  * physical (§11.6.2.1, §11.12.10): the APIC whose ID equals the destination;
//    0xFF (8-bit message) or 0xFFFFFFFF (x2APIC message) is broadcast. IDs are
//    vCPU indices, so this is one lookup.
//  * logical (§11.6.2.2): xAPIC receivers match the 8-bit destination against
//    LDR[31:24] by their DFR model — flat (any common bit) or cluster (cluster
//    nibble equal, any common bit in the low nibble); x2APIC receivers match
//    cluster (bits 31:16) and member bitmap (bits 15:0) against their derived
//    LDR (§11.12.10.1). An x2APIC-format cluster message visits at most the
//    16 members of its cluster; 8-bit logical messages scan the set.
//  * shorthands (§11.6.1): self, all including self, all excluding self.
//
// Lowest priority (§11.6.2.4): among the matched APICs that can accept a fixed
// interrupt, the one with the lowest arbitration priority (APR, Figure 11-15)
// wins. Tie-break: the tied APICs in ascending ID order, the (vector mod
// count)-th one — stateless and deterministic, and different vectors spread
// over the tied CPUs (the same idea as KVM's vector hashing). Focus-processor
// checking is not modelled. An MSI with RH=1 (§11.11.1) is arbitrated the same
// way over its destination set.

import { Status } from "../core/status";
import {
  DM_FIXED, DM_LOWEST, DM_INIT, DM_SIPI, DM_EXTINT, SH_NONE, SH_SELF, SH_ALL, SH_OTHERS, MODE_X2APIC,
  MODE_XAPIC, MODE_DISABLED, R_LDR, R_DFR, ESR_SEND_ILLEGAL_VECTOR, ICR_DEST_LOGICAL, ICR_LEVEL_ASSERT,
  ICR_TRIGGER_LEVEL, ApicStat,
} from "./defs";
import { apicSet, meta, rd, accept, apr, swEnabled, signalError, stat, scratch, takeMsg, msgSrc, msgDest, msgLo, msgX2, x2Ldr } from "./model";

// The message being routed (set by route(); read by consider()).
let cDm: u32 = 0;
let cVec: u32 = 0;
let cLevel = false;
let cLowest = false;
let cCount: u32 = 0;

/** Deliver the message an APIC left in its outbox, if any. Returns the number of APICs reached. */
export function routeOutbox(): i32 {
  if (!takeMsg()) return 0;
  return route(msgSrc, msgDest, msgLo, msgX2, false);
}

/** Hand the current message to APIC `i`, or queue it for arbitration. */
// @ts-ignore: decorator
@inline function consider(i: u32): void {
  if (cLowest) { store<u32>(scratch() + (<usize>cCount << 2), i); cCount++; return; }
  accept(i, cDm, cVec, cLevel);
  cCount++;
}

/** Does receiver `i` match logical destination `dest` (§11.6.2.2, §11.12.10.1)? */
export function logicalMatch(i: u32, dest: u32, x2msg: bool): bool {
  const m = meta(i);
  if (m.mode == MODE_X2APIC) {
    if (dest == 0xFFFFFFFF || (!x2msg && dest == 0xFF)) return true;
    const ldr = x2Ldr(m.id);
    return (ldr >> 16) == (dest >> 16) && (ldr & dest & 0xFFFF) != 0;
  }
  if (m.mode != MODE_XAPIC) return false;
  if (dest == 0xFFFFFFFF) return true;
  if (x2msg) return false;
  const d = dest & 0xFF;
  if (d == 0xFF) return true;
  const ldr = rd(i, R_LDR) >> 24;
  if ((rd(i, R_DFR) >> 28) == 0xF) return (ldr & d) != 0; // flat
  return (ldr >> 4) == (d >> 4) && (ldr & d & 0xF) != 0;   // cluster
}

/**
 * Route one message. `lo` has the ICR-low layout (vector, delivery mode,
 * destination mode, level, trigger, shorthand); `x2` says `dest` is a 32-bit
 * x2APIC destination; `rh` asks for lowest-priority arbitration (MSI RH=1).
 * `src` is the sending APIC, or -1 for MSIs and host messages. Returns the
 * number of APICs the message reached (0 when it was invalid or matched none).
 */
export function route(src: i32, dest: u32, lo: u32, x2: bool, rh: bool): i32 {
  const set = apicSet();
  const n = set.count;
  stat(ApicStat.MESSAGES);
  const vector = lo & 0xFF, dm = (lo >> 8) & 7, sh = (lo >> 18) & 3;
  const logical = (lo & ICR_DEST_LOGICAL) != 0;
  // Reserved delivery modes (Figure 11-12: 011, 111 for IPIs).
  if (dm == 3 || (dm == DM_EXTINT && src >= 0)) { stat(ApicStat.SEND_ILLEGAL); return 0; }
  // INIT level de-assert (§11.6.1): only synchronises arbitration IDs, which are not modelled.
  if (dm == DM_INIT && (lo & ICR_LEVEL_ASSERT) == 0 && (lo & ICR_TRIGGER_LEVEL) != 0) { stat(ApicStat.INIT_DEASSERT); return 0; }
  // Shorthands need a sender; "self" carries only fixed interrupts (§11.6.1, Table 11-3 valid ICR combinations).
  if (sh != SH_NONE && (src < 0 || <u32>src >= n)) { stat(ApicStat.SEND_ILLEGAL); return 0; }
  if (sh == SH_SELF && dm != DM_FIXED) { stat(ApicStat.SEND_ILLEGAL); return 0; }
  // §11.5.3: a fixed/lowest-priority IPI with vector 0..15 is a send error and is not sent.
  if ((dm == DM_FIXED || dm == DM_LOWEST) && vector < 16 && src >= 0) {
    stat(ApicStat.SEND_ILLEGAL); signalError(<u32>src, ESR_SEND_ILLEGAL_VECTOR); return 0;
  }
  cDm = dm; cVec = vector; cCount = 0;
  // §11.8.4: TMR records level-triggered fixed interrupts (edge otherwise).
  cLevel = (lo & ICR_TRIGGER_LEVEL) != 0 && (dm == DM_FIXED || dm == DM_LOWEST);
  cLowest = (dm == DM_LOWEST || (rh && dm == DM_FIXED)) && sh != SH_SELF;
  if (dm == DM_SIPI) cLevel = false;

  if (sh == SH_SELF) consider(<u32>src);
  else if (sh == SH_ALL || sh == SH_OTHERS) {
    for (let i: u32 = 0; i < n; i++) if (sh == SH_ALL || i != <u32>src) consider(i);
  } else if (!logical) {
    if (x2 ? dest == 0xFFFFFFFF : dest == 0xFF) { for (let i: u32 = 0; i < n; i++) consider(i); }
    else if (dest < n && meta(dest).mode != MODE_DISABLED) consider(dest);
  } else if (x2 && dest != 0xFFFFFFFF) {
    // x2APIC cluster: members are IDs cluster*16 + bit (§11.12.10.2).
    const base = (dest >> 16) << 4;
    let bits = dest & 0xFFFF;
    while (bits != 0) {
      const i = base + ctz(bits);
      bits &= bits - 1;
      if (i < n && meta(i).mode == MODE_X2APIC) consider(i);
    }
  } else {
    for (let i: u32 = 0; i < n; i++) if (logicalMatch(i, dest, x2)) consider(i);
  }

  if (cLowest) return arbitrate(vector);
  if (cCount == 0) stat(ApicStat.NO_TARGET);
  return <i32>cCount;
}

/** Lowest-priority arbitration over the cCount candidates in scratch (ascending ID). */
function arbitrate(vector: u32): i32 {
  stat(ApicStat.LOWEST_PRIORITY);
  const list = scratch();
  let best: u32 = 0x100, ties: u32 = 0;
  for (let k: u32 = 0; k < cCount; k++) {
    const i = load<u32>(list + (<usize>k << 2));
    if (meta(i).mode == MODE_DISABLED || !swEnabled(i)) continue;
    const p = apr(i);
    if (p < best) { best = p; ties = 1; } else if (p == best) ties++;
  }
  if (ties == 0) { stat(ApicStat.NO_TARGET); return 0; }
  let pick = vector % ties;
  for (let k: u32 = 0; k < cCount; k++) {
    const i = load<u32>(list + (<usize>k << 2));
    if (meta(i).mode == MODE_DISABLED || !swEnabled(i) || apr(i) != best) continue;
    if (pick == 0) { accept(i, DM_FIXED, vector, cLevel); return 1; }
    pick--;
  }
  return 0;
}

/**
 * Decode and deliver an MSI (§11.11): address 0xFEE in bits 31:20, destination
 * ID in bits 19:12 (bits 31:8 of the destination from the address high dword,
 * the x2APIC extension; with msiExtDest on, bits 14:8 also from address bits
 * 11:5, which §11.11.1 reserves and hypervisors reuse), RH bit 3, DM bit 2;
 * data: vector 7:0, delivery mode 10:8, level 14, trigger 15. Returns the number of APICs reached, or
 * -ERR_INVALID_ARG for a bad address or a reserved delivery mode (counted).
 */
export function msiDeliver(addrLo: u32, addrHi: u32, data: u32): i32 {
  if ((addrLo >> 20) != 0xFEE) { stat(ApicStat.MSI_BAD); return -Status.ERR_INVALID_ARG; }
  const dm = (data >> 8) & 7;
  // §11.11.2: 011 and 110 are reserved (no start-up by MSI).
  if (dm == 3 || dm == DM_SIPI) { stat(ApicStat.MSI_BAD); return -Status.ERR_INVALID_ARG; }
  let ext = addrHi & 0xFFFFFF00;
  if (apicSet().msiExtDest != 0) ext |= ((addrLo >> 5) & 0x7F) << 8;
  const dest = ext | ((addrLo >> 12) & 0xFF);
  // Fast path for what MSI-X nearly always sends: fixed, physical, no redirection
  // hint, one existing APIC. Same outcome as route(), fewer steps.
  if (dm == DM_FIXED && (addrLo & 0xC) == 0 && dest < apicSet().count && (ext != 0 || dest != 0xFF) && meta(dest).mode != MODE_DISABLED) {
    stat(ApicStat.MESSAGES);
    accept(dest, DM_FIXED, data & 0xFF, (data & ICR_TRIGGER_LEVEL) != 0);
    return 1;
  }
  const lo = (data & 0xFF) | (dm << 8) | (addrLo & 4 ? ICR_DEST_LOGICAL : 0) | (data & (ICR_LEVEL_ASSERT | ICR_TRIGGER_LEVEL));
  return route(-1, dest, lo, ext != 0, (addrLo & 8) != 0);
}

