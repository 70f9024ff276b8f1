// The one door into an APIC's registers. Both interfaces land here:
//   * xAPIC MMIO (SDM Vol. 3A §11.4.1): 32-bit registers on 16-byte
//     boundaries in a 4 KiB page. Writes must be 32-bit and aligned; reads may
//     be 1, 2 or 4 bytes inside a register's first dword. Anything else is
//     refused (ERR_INVALID_ARG) and counted. Reserved offsets read 0 and set
//     ESR bit 7 (§11.5.3); reserved bits of written values are masked.
//   * x2APIC MSRs 0x800–0x8FF (§11.12.1.2, Table 11-6): 64-bit ICR, no DFR/
//     APR/RRD/ICR-high, read-only LDR and ID, write-only EOI and SELF_IPI.
//     Every access the SDM makes #GP — reserved MSRs, writes to read-only
//     registers, reads of write-only ones, non-zero reserved bits
//     (§11.12.1.3), non-zero EOI/ESR writes — returns ERR_FAULT, changes
//     nothing and is counted: the host injects #GP.
// Plus IA32_APIC_BASE (§11.4.4) with only the legal mode transitions
// (§11.12.5, Figure 11-27) and IA32_TSC_DEADLINE (§11.5.4.1).

import { Status } from "../core/status";
import {
  R_ID, R_VERSION, R_TPR, R_APR, R_PPR, R_EOI, R_RRD, R_LDR, R_DFR, R_SVR, R_ISR, R_IRR, R_ESR,
  R_LVT_CMCI, R_ICR_LO, R_ICR_HI, R_LVT_TIMER, R_LVT_THERMAL, R_LVT_PERF, R_LVT_LINT0, R_LVT_LINT1,
  R_LVT_ERROR, R_TIMER_INITIAL, R_TIMER_CURRENT, R_TIMER_DCR, R_SELF_IPI, MSR_APIC_BASE, MSR_TSC_DEADLINE,
  MSR_X2APIC_FIRST, MSR_X2APIC_LAST, BASE_VALID, BASE_BSP, BASE_EN, BASE_EXTD, MODE_DISABLED, MODE_XAPIC,
  MODE_X2APIC, SVR_WRITABLE, SVR_ENABLE, LVT_W_TIMER, LVT_W_LINT, LVT_W_ERROR, LVT_W_OTHER, LVT_MASKED,
  LVT_DELIV_STATUS, LVT_REMOTE_IRR, ICR_LO_WRITABLE, ESR_ILLEGAL_REGISTER, SH_SELF, ApicStat,
} from "./defs";
import {
  meta, rd, wr, stat, ppr, apr, doEoi, signalError, maskAllLvts, syncIdRegs, initReset, xapicIdOk, post, swEnabled, setTpr, setSvr, irrWord, esrTake,
} from "./model";
import { timerLoad, timerCurrent, timerLvtWritten, tscDeadlineWrite, tscDeadlineRead } from "./timer";

let value: u64 = 0;
/** Value of the last successful read. */
export function gateValue(): u64 { return value; }

/** Writable bits of an LVT register. */
function lvtWritable(off: u32): u32 {
  if (off == R_LVT_TIMER) return LVT_W_TIMER;
  if (off == R_LVT_LINT0 || off == R_LVT_LINT1) return LVT_W_LINT;
  if (off == R_LVT_ERROR) return LVT_W_ERROR;
  return LVT_W_OTHER;
}

// @ts-ignore: decorator
@inline function isLvt(off: u32): bool { return off == R_LVT_CMCI || (off >= R_LVT_TIMER && off <= R_LVT_ERROR); }
// @ts-ignore: decorator
@inline function isVecReg(off: u32): bool { return off >= R_ISR && off < R_ESR; }

function fault(): i32 { stat(ApicStat.MSR_FAULT); return Status.ERR_FAULT; }
function illegal(h: u32): i32 { stat(ApicStat.ILLEGAL_REGISTER); signalError(h, ESR_ILLEGAL_REGISTER); value = 0; return Status.OK; }

/** Read register `off` (16-byte aligned) in the APIC's current mode. */
function regRead(h: u32, off: u32, now: u64): i32 {
  const x2 = meta(h).mode == MODE_X2APIC;
  if (off >= R_IRR && off < R_ESR) { value = irrWord(h, (off - R_IRR) >> 4); return Status.OK; }
  if (off == R_ID || off == R_VERSION || off == R_TPR || off == R_LDR || off == R_SVR || off == R_ESR ||
      isVecReg(off) || isLvt(off) || off == R_TIMER_INITIAL || off == R_TIMER_DCR) { value = rd(h, off); return Status.OK; }
  if (off == R_PPR) { value = ppr(h); return Status.OK; }
  if (off == R_TIMER_CURRENT) { value = timerCurrent(h, now); return Status.OK; }
  if (off == R_ICR_LO) { value = x2 ? (<u64>rd(h, R_ICR_HI) << 32) | rd(h, R_ICR_LO) : rd(h, R_ICR_LO); return Status.OK; }
  if (x2) return fault(); // APR, EOI, RRD, DFR, ICR-high, SELF_IPI and reserved MSRs
  if (off == R_APR) { value = apr(h); return Status.OK; }
  if (off == R_DFR || off == R_ICR_HI) { value = rd(h, off); return Status.OK; }
  if (off == R_EOI || off == R_RRD) { value = 0; return Status.OK; }
  return illegal(h);
}

/** Write register `off` (16-byte aligned). In x2APIC mode `v` is the full 64-bit MSR value. */
function regWrite(h: u32, off: u32, v: u64, now: u64): i32 {
  const m = meta(h);
  const x2 = m.mode == MODE_X2APIC;
  if (x2 && off != R_ICR_LO && (v >> 32) != 0) return fault();
  const w = <u32>v;
  if (off == R_TPR) {
    if (x2 && (w & ~0xFF) != 0) return fault();
    setTpr(h, w);
  } else if (off == R_EOI) {
    if (x2 && w != 0) return fault();
    doEoi(h);
  } else if (off == R_SVR) {
    if (x2 && (w & ~SVR_WRITABLE) != 0) return fault();
    setSvr(h, w & SVR_WRITABLE);
    if ((w & SVR_ENABLE) == 0) maskAllLvts(h); // §11.4.7.2
  } else if (off == R_ESR) {
    if (x2 && w != 0) return fault();
    // §11.5.3: a write latches the errors detected since the previous write.
    wr(h, R_ESR, esrTake(h));
  } else if (isLvt(off)) {
    const writable = lvtWritable(off);
    const ro = LVT_DELIV_STATUS | (off == R_LVT_LINT0 || off == R_LVT_LINT1 ? LVT_REMOTE_IRR : 0);
    if (x2 && (w & ~(writable | ro)) != 0) return fault();
    const old = rd(h, off);
    let nv = (w & writable) | (old & LVT_REMOTE_IRR & ro);
    if (!swEnabled(h)) nv |= LVT_MASKED; // §11.4.7.2: masks cannot be cleared while software-disabled
    wr(h, off, nv);
    if (off == R_LVT_TIMER) timerLvtWritten(h, old, nv);
  } else if (off == R_ICR_LO) {
    if (x2) {
      if ((w & ~ICR_LO_WRITABLE) != 0) return fault();
      wr(h, R_ICR_HI, <u32>(v >> 32)); wr(h, R_ICR_LO, w);
      post(<i32>h, <u32>(v >> 32), w, true);
    } else {
      wr(h, R_ICR_LO, w & ICR_LO_WRITABLE);
      post(<i32>h, rd(h, R_ICR_HI) >> 24, w & ICR_LO_WRITABLE, false);
    }
  } else if (off == R_TIMER_INITIAL) {
    timerLoad(h, w, now);
  } else if (off == R_TIMER_DCR) {
    if (x2 && (w & ~0xB) != 0) return fault();
    wr(h, R_TIMER_DCR, w & 0xB);
  } else if (x2) {
    if (off == R_SELF_IPI) {
      if ((w & ~0xFF) != 0) return fault();
      post(<i32>h, 0, (SH_SELF << 18) | w, true); // §11.12.11: fixed, edge, to self
      return Status.OK;
    }
    return fault(); // read-only registers and reserved MSRs
  } else if (off == R_LDR) {
    wr(h, R_LDR, w & 0xFF000000);
  } else if (off == R_DFR) {
    wr(h, R_DFR, (w & 0xF0000000) | 0x0FFFFFFF);
  } else if (off == R_ICR_HI) {
    wr(h, R_ICR_HI, w & 0xFF000000);
  } else if (off == R_ID || off == R_VERSION || off == R_APR || off == R_PPR || off == R_RRD ||
             isVecReg(off) || off == R_TIMER_CURRENT) {
    // Read-only in xAPIC mode: the write is ignored.
  } else {
    return illegal(h);
  }
  return Status.OK;
}

/** xAPIC MMIO read at page offset `offset`; the value is in gateValue(). */
export function mmioRead(h: u32, offset: u32, width: u32, now: u64): i32 {
  value = 0;
  if (meta(h).mode != MODE_XAPIC) { stat(ApicStat.MMIO_BAD_ACCESS); return Status.ERR_BAD_STATE; }
  if (offset >= 4096 || (width != 1 && width != 2 && width != 4) || (offset & (width - 1)) != 0 || (offset & 15) + width > 4) {
    stat(ApicStat.MMIO_BAD_ACCESS); return Status.ERR_INVALID_ARG;
  }
  const s = regRead(h, offset & ~15, now);
  const shift = (offset & 3) << 3;
  value = (value >> shift) & (width == 4 ? 0xFFFFFFFF : (<u64>1 << (width << 3)) - 1);
  return s;
}

/** xAPIC MMIO write: 32-bit, 16-byte aligned only. */
export function mmioWrite(h: u32, offset: u32, width: u32, v: u32, now: u64): i32 {
  if (meta(h).mode != MODE_XAPIC) { stat(ApicStat.MMIO_BAD_ACCESS); return Status.ERR_BAD_STATE; }
  if (offset >= 4096 || width != 4 || (offset & 15) != 0) { stat(ApicStat.MMIO_BAD_ACCESS); return Status.ERR_INVALID_ARG; }
  return regWrite(h, offset, v, now);
}

/** RDMSR. ERR_FAULT means #GP; ERR_UNSUPPORTED means the MSR is not the APIC's. */
export function msrRead(h: u32, msr: u32, now: u64): i32 {
  value = 0;
  if (msr == MSR_APIC_BASE) { value = meta(h).base; return Status.OK; }
  if (msr == MSR_TSC_DEADLINE) { value = tscDeadlineRead(h); return Status.OK; }
  if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST) return Status.ERR_UNSUPPORTED;
  if (meta(h).mode != MODE_X2APIC) return fault(); // §11.12.1.2: x2APIC MSRs #GP outside x2APIC mode
  const off = (msr - MSR_X2APIC_FIRST) << 4;
  if (off == R_EOI || off == R_SELF_IPI) return fault(); // write-only
  return regRead(h, off, now);
}

/** WRMSR. ERR_FAULT means #GP and nothing changed. */
export function msrWrite(h: u32, msr: u32, v: u64, now: u64): i32 {
  if (msr == MSR_APIC_BASE) return baseWrite(h, v);
  if (msr == MSR_TSC_DEADLINE) { tscDeadlineWrite(h, v, now); return Status.OK; }
  if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST) return Status.ERR_UNSUPPORTED;
  if (meta(h).mode != MODE_X2APIC) return fault();
  return regWrite(h, (msr - MSR_X2APIC_FIRST) << 4, v, now);
}

/** Mode of an IA32_APIC_BASE value, or -1 for the invalid EN=0/EXTD=1 combination. */
export function baseMode(v: u64): i32 {
  const en = (v & BASE_EN) != 0, extd = (v & BASE_EXTD) != 0;
  if (!en) return extd ? -1 : <i32>MODE_DISABLED;
  return extd ? <i32>MODE_X2APIC : <i32>MODE_XAPIC;
}

/** True if the mode change cur → next is legal for APIC ID `id` (§11.12.5, Figure 11-27). */
export function transitionOk(cur: u32, next: u32, id: u32): bool {
  if (next == MODE_XAPIC && !xapicIdOk(id)) return false;
  if (cur == MODE_X2APIC && next == MODE_XAPIC) return false;
  if (cur == MODE_DISABLED && next == MODE_X2APIC) return false;
  return true;
}

/** IA32_APIC_BASE write (§11.4.4): reserved bits, the EN/EXTD combination and the transition are checked; BSP is read-only. */
export function baseWrite(h: u32, v: u64): i32 {
  const m = meta(h);
  if ((v & ~BASE_VALID) != 0) return fault();
  const next = baseMode(v);
  if (next < 0 || !transitionOk(m.mode, <u32>next, m.id)) return fault();
  const cur = m.mode;
  m.base = (v & ~BASE_BSP) | (m.base & BASE_BSP);
  if (<u32>next == cur) return Status.OK;
  m.mode = <u32>next;
  // §11.4.3 / §11.12.5.1: disabling resets the APIC; xAPIC → x2APIC keeps
  // state but presents the 32-bit ID and the derived logical ID.
  if (next == MODE_DISABLED) initReset(h);
  else syncIdRegs(h);
  return Status.OK;
}
