// The local APIC model: one record per vCPU in a fixed region, the register
// page in xAPIC MMIO layout (SDM Vol. 3A Table 11-1), interrupt acceptance,
// priorities, EOI and local interrupt sources (LVT).
//
// Handles are vCPU indices and the APIC ID of vCPU i is i (x2APIC ID, 32-bit;
// its xAPIC ID when i ≤ 0xFE). An APIC never touches another: an ICR write
// leaves a message in the outbox (`msg*`) that router.ts delivers, and an EOI
// of a level-triggered vector sets a bit in the EOI-broadcast bitmap the host
// hands to its IOAPIC.
//
// Threads: the set is created once (apic_create) and its address published in
// the control block, so every instance on the shared memory (vCPU workers)
// binds to it on first use. Each APIC's registers, ISR, TPR and timer belong
// to its own vCPU's thread; any thread may deliver into any APIC. So the
// cross-thread writes — IRR and TMR bits, the TMR summary, events, ESR
// errors, the EOI-broadcast bitmap — are atomic read-modify-writes. The TMR
// summary is only ever cleared by the owner rebuilding it (recache), so a
// set bit may be stale but a clear bit is never wrong. Counters are plain
// increments and may drop counts under contention.
//
// Not modelled: writable xAPIC ID (read-only here; model specific per §11.4.6),
// focus-processor checking, remote read (RRD reads 0), the ICR delivery-status
// bit (delivery is immediate, so it always reads idle), CMCI/thermal/
// performance sources (their LVTs are registers only; the host can fire them
// with apic_lvt_fire), APIC bus arbitration IDs, 82489DX behaviour.

import { regionAlloc, blockAlloc, blockCost, blockFree, controlBlock, CB_APIC_SET } from "../core/layout";
import { gmReady } from "../core/guestmem";
import { Status } from "../core/status";
import {
  R_ID, R_VERSION, R_TPR, R_LDR, R_DFR, R_SVR, R_ISR, R_TMR, R_ESR, R_LVT_CMCI, R_LVT_TIMER,
  R_LVT_THERMAL, R_LVT_PERF, R_LVT_LINT0, R_LVT_LINT1, R_LVT_ERROR, R_TIMER_INITIAL, R_TIMER_DCR,
  R_ICR_LO, R_ICR_HI, BASE_BSP, BASE_EN, BASE_EXTD, BASE_DEFAULT, MODE_DISABLED, MODE_XAPIC, MODE_X2APIC,
  VERSION_VALUE, SVR_ENABLE, SVR_SUPPRESS_EOI, LVT_MASKED, LVT_REMOTE_IRR, LVT_LEVEL, DM_FIXED, DM_SMI, DM_NMI,
  DM_INIT, DM_EXTINT, DM_LOWEST, DM_SIPI, EV_INIT, EV_NMI, EV_SMI, EV_EXTINT, EV_SIPI, ESR_RECV_ILLEGAL_VECTOR,
  NO_DEADLINE, APIC_STATS, ApicStat,
} from "./defs";

/**
 * Per-vCPU state beside the register page (128 bytes). The first 64 bytes are
 * the hot line: IRR itself (the one register every delivery writes) and
 * mirrors of SVR-enable, TPR, the highest in-service vector and a TMR
 * summary, so delivering an interrupt and asking for the pending vector touch
 * this one cache line and not the register page. The page holds every other
 * register (its IRR slots stay zero; the gate reads IRR from here); the
 * mirrors are kept in step by their few writers (setIrr, intrAck, doEoi,
 * setTpr, setSvr) and rebuilt from the page by recache().
 */
@unmanaged export class ApicMeta {
  mode: u32;
  /** SVR bit 8 (APIC software enable). */
  swEn: u32;
  tpr: u32;
  /** Highest in-service vector, -1 when none. */
  isrTop: i32;
  /** Bit w clear means TMR word w is zero (set bits may be stale), so edge deliveries skip the page. */
  tmrSum: u32;
  pad0: u32;
  id: u32;
  /** Errors detected since the last ESR write (§11.5.3). */
  esrPending: u32;
  /** IRR, vectors 0..255 as 8 consecutive words (irr0 = vectors 0..31). */
  irr0: u32; irr1: u32; irr2: u32; irr3: u32; irr4: u32; irr5: u32; irr6: u32; irr7: u32;
  /** EV_* bits for the host. */
  events: u32;
  sipiVector: u32;
  /** Input levels of LINT0 (bit 0) and LINT1 (bit 1). */
  lintLevel: u32;
  pad: u32;
  /** IA32_APIC_BASE. */
  base: u64;
  /** IA32_TSC_DEADLINE as the guest wrote it (TSC ticks), 0 when disarmed. */
  tscDeadline: u64;
  /** Guest ns when the one-shot/periodic count was (re)loaded. */
  timerStart: u64;
  /** Guest ns at which the timer fires next, NO_DEADLINE when disarmed. */
  timerDeadline: u64;
  /** Periodic mode: guest ns per period. */
  timerPeriod: u64;
}

/** Address of APIC h's IRR (8 consecutive u32 words). */
// @ts-ignore: decorator
@inline export function irrPtr(h: u32): usize { return changetype<usize>(meta(h)) + offsetof<ApicMeta>("irr0"); }
// @ts-ignore: decorator
@inline export function irrWord(h: u32, w: u32): u32 { return load<u32>(irrPtr(h) + (<usize>w << 2)); }

/** The APIC set of this VM. */
@unmanaged export class ApicSet {
  count: u32;
  /** 1: MSI address bits 11:5 carry destination ID bits 14:8 (the "extended destination ID" hypervisors advertise). */
  msiExtDest: u32;
  busHz: u64;
  tscHz: u64;
  pages: usize;
  metas: usize;
  /** 256-bit bitmap of vectors whose EOI must be broadcast to the IOAPIC. */
  eoiBits: usize;
  stats: usize;
  /**
   * One bit per APIC whose timer may be armed: set (atomically) by whoever
   * arms it, cleared only by the scans of armed timers (exports.ts), which
   * clear first and then look at the deadline again, so a timer armed on
   * another thread meanwhile keeps its bit. The pump's scans then touch
   * count/32 words plus the armed APICs, not every APIC's record.
   */
  armed: usize;
}

/**
 * Register pages are 4 KiB in MMIO layout but laid out 4 KiB + 64 bytes apart:
 * with an exact 4 KiB stride the same register of every vCPU would fall into
 * the same cache sets, and touching IRR across 1024 vCPUs would thrash them.
 */
export const PAGE_STRIDE: usize = 4096 + 64;
let setPtr: usize = 0;

// @ts-ignore: decorator
@inline export function apicSet(): ApicSet { return changetype<ApicSet>(setPtr); }
export function apicReady(): bool { return setPtr != 0 || apicBind(); }
// @ts-ignore: decorator
@inline export function apicCount(): u32 { return apicReady() ? apicSet().count : 0; }
// @ts-ignore: decorator
@inline export function meta(h: u32): ApicMeta { return changetype<ApicMeta>(apicSet().metas + (<usize>h << 7)); }
// @ts-ignore: decorator
@inline export function page(h: u32): usize { return apicSet().pages + <usize>h * PAGE_STRIDE; }
// @ts-ignore: decorator
@inline export function rd(h: u32, off: u32): u32 { return load<u32>(page(h) + off); }
// @ts-ignore: decorator
@inline export function wr(h: u32, off: u32, v: u32): void { store<u32>(page(h) + off, v); }
// @ts-ignore: decorator
@inline export function stat(i: i32): void { store<u64>(apicSet().stats + (<usize>i << 3), load<u64>(apicSet().stats + (<usize>i << 3)) + 1); }
/** Address of the set's counters (APIC_STATS u64, ApicStat order), 0 before apic_create. */
export function statsPtr(): usize { return apicReady() ? apicSet().stats : 0; }

/** Per-instance scratch list of vCPU indices for lowest-priority arbitration. */
let scratchPtr: usize = 0;
export function scratch(): usize { return scratchPtr; }

// @ts-ignore: decorator
@inline function align64(n: u64): u64 { return (n + 63) & ~<u64>63; }

/**
 * Create the VM's APIC set: `count` APICs (IDs 0..count-1), all at power-up
 * state. Returns a Status. The set, its register pages, records, counters and
 * this instance's arbitration list are one block, so a create that fails
 * takes nothing.
 */
export function apicSetCreate(count: u32, busHz: u64, tscHz: u64): i32 {
  const pagesOff = align64(offsetof<ApicSet>());
  const metasOff = pagesOff + <u64>count * PAGE_STRIDE;
  const listOff = metasOff + (<u64>count << 7);
  const eoiOff = listOff + align64(<u64>count << 2);
  const statsOff = eoiOff + 64;
  const armedOff = statsOff + align64(<u64>APIC_STATS << 3);
  const total = apicSetBytes(count);
  const s = blockAlloc(total, 64);
  if (s == 0) return Status.ERR_NO_MEMORY;
  memory.fill(s, 0, <usize>total);
  const set = changetype<ApicSet>(s);
  set.count = count; set.busHz = busHz; set.tscHz = tscHz;
  set.pages = s + <usize>pagesOff; set.metas = s + <usize>metasOff; set.eoiBits = s + <usize>eoiOff; set.stats = s + <usize>statsOff;
  set.armed = s + <usize>armedOff;
  setPtr = s; scratchPtr = s + <usize>listOff;
  for (let h: u32 = 0; h < count; h++) powerUp(h);
  // Another instance may have created a set meanwhile: the first one published wins.
  if (atomic.cmpxchg<u32>(controlBlock() + CB_APIC_SET, 0, <u32>s) != 0) {
    setPtr = 0; scratchPtr = 0;
    blockFree(s, total, 64);
    return Status.ERR_ALREADY;
  }
  return Status.OK;
}

/** Bytes of the block apicSetCreate(count) lays out: set, register pages, records, arbitration list, EOI bits, counters, armed-timer bits. */
function apicSetBytes(count: u32): u64 {
  return align64(offsetof<ApicSet>()) + <u64>count * PAGE_STRIDE + (<u64>count << 7) + align64(<u64>count << 2) + 64 +
    align64(<u64>APIC_STATS << 3) + align64(<u64>((count + 31) >> 5) << 2);
}

// timerDeadline (and timerStart, which moves with it) is written by the
// owning vCPU (register writes) and by the timer pump on the host's thread
// (timerAdvance): every access is atomic, and the pump's updates are
// compare-and-swaps that lose to a vCPU write made meanwhile.
// @ts-ignore: decorator
@inline function deadlineAt(h: u32): usize { return changetype<usize>(meta(h)) + offsetof<ApicMeta>("timerDeadline"); }
// @ts-ignore: decorator
@inline function startAt(h: u32): usize { return changetype<usize>(meta(h)) + offsetof<ApicMeta>("timerStart"); }
// @ts-ignore: decorator
@inline export function deadlineGet(h: u32): u64 { return atomic.load<u64>(deadlineAt(h)); }
// @ts-ignore: decorator
@inline export function deadlineSet(h: u32, v: u64): void { atomic.store<u64>(deadlineAt(h), v); }
/** Replace the deadline `seen` with `v`; false (nothing changed) if it moved meanwhile. */
// @ts-ignore: decorator
@inline export function deadlineSwap(h: u32, seen: u64, v: u64): bool { return atomic.cmpxchg<u64>(deadlineAt(h), seen, v) == seen; }
// @ts-ignore: decorator
@inline export function startGet(h: u32): u64 { return atomic.load<u64>(startAt(h)); }
// @ts-ignore: decorator
@inline export function startSet(h: u32, v: u64): void { atomic.store<u64>(startAt(h), v); }
/** Replace the start `seen` with `v` unless it moved meanwhile. */
// @ts-ignore: decorator
@inline export function startSwap(h: u32, seen: u64, v: u64): void { atomic.cmpxchg<u64>(startAt(h), seen, v); }

/** Mark APIC h's timer armed for the scans if its deadline is set (call after every write that may arm it). */
export function timerNoteArmed(h: u32): void {
  if (deadlineGet(h) != NO_DEADLINE) atomic.or<u32>(apicSet().armed + ((<usize>h >> 5) << 2), <u32>1 << (h & 31));
}

/**
 * Take APIC h off the armed bits when its deadline reads disarmed: the bit
 * goes first, then the deadline is read again and a timer armed meanwhile
 * (on another thread, which sets its bit after its deadline) puts it back.
 */
export function timerDropArmed(h: u32): void {
  const w = apicSet().armed + ((<usize>h >> 5) << 2);
  atomic.and<u32>(w, ~(<u32>1 << (h & 31)));
  if (deadlineGet(h) != NO_DEADLINE) atomic.or<u32>(w, <u32>1 << (h & 31));
}

/** The most linear memory apicSetCreate(count) takes. */
export function apicSetCost(count: u32): u64 { return blockCost(apicSetBytes(count), 64); }

/** True once the VM has an APIC set; binds this instance to it on first use. */
export function apicBind(): bool {
  if (setPtr != 0) return true;
  if (!gmReady()) return false;
  const s = <usize>atomic.load<u32>(controlBlock() + CB_APIC_SET);
  if (s == 0) return false;
  const list = regionAlloc(<u64>changetype<ApicSet>(s).count << 2, 64);
  if (list == 0) return false;
  scratchPtr = list;
  setPtr = s;
  return true;
}

/** A vCPU whose ID does not fit an xAPIC ID (0xFF is the xAPIC broadcast) can only run in x2APIC mode. */
// @ts-ignore: decorator
@inline export function xapicIdOk(id: u32): bool { return id <= 0xFE; }

/** x2APIC logical ID derived from the x2APIC ID (§11.12.10.2). */
// @ts-ignore: decorator
@inline export function x2Ldr(id: u32): u32 { return ((id >> 4) << 16) | (1 << (id & 0xF)); }

/** Power-up/RESET state (§11.4.7.1). vCPUs with IDs above 0xFE come up in x2APIC mode, as firmware leaves them on such platforms (§11.12.5.1 otherwise resets to xAPIC). */
export function powerUp(h: u32): void {
  const m = meta(h);
  m.id = h;
  m.base = BASE_DEFAULT | BASE_EN | (h == 0 ? BASE_BSP : 0) | (xapicIdOk(h) ? 0 : BASE_EXTD);
  m.mode = xapicIdOk(h) ? MODE_XAPIC : MODE_X2APIC;
  initReset(h);
}

/** INIT state (§11.4.7.3): as power-up but the APIC ID and IA32_APIC_BASE (mode) are kept. */
export function initReset(h: u32): void {
  const m = meta(h);
  memory.fill(page(h), 0, 4096);
  memory.fill(irrPtr(h), 0, 32);
  startSet(h, 0); deadlineSet(h, NO_DEADLINE); m.timerPeriod = 0; m.tscDeadline = 0;
  m.esrPending = 0; m.events = 0; m.sipiVector = 0; m.lintLevel = 0;
  wr(h, R_VERSION, VERSION_VALUE);
  wr(h, R_DFR, 0xFFFFFFFF);
  wr(h, R_SVR, 0xFF);
  wr(h, R_LVT_CMCI, LVT_MASKED); wr(h, R_LVT_TIMER, LVT_MASKED); wr(h, R_LVT_THERMAL, LVT_MASKED);
  wr(h, R_LVT_PERF, LVT_MASKED); wr(h, R_LVT_LINT0, LVT_MASKED); wr(h, R_LVT_LINT1, LVT_MASKED);
  wr(h, R_LVT_ERROR, LVT_MASKED);
  syncIdRegs(h);
  recache(h);
}

/** Rebuild the hot-line mirrors from the register page. */
export function recache(h: u32): void {
  const m = meta(h);
  m.swEn = (rd(h, R_SVR) & SVR_ENABLE) != 0 ? 1 : 0;
  m.tpr = rd(h, R_TPR) & 0xFF;
  m.isrTop = vecHighest(h, R_ISR);
  let tmr: u32 = 0;
  for (let w: u32 = 0; w < 8; w++) if (rd(h, R_TMR + (w << 4)) != 0) tmr |= 1 << w;
  m.tmrSum = tmr;
}

export function setTpr(h: u32, v: u32): void { wr(h, R_TPR, v & 0xFF); meta(h).tpr = v & 0xFF; }
export function setSvr(h: u32, v: u32): void { wr(h, R_SVR, v); meta(h).swEn = (v & SVR_ENABLE) != 0 ? 1 : 0; }

/** ID and LDR as the current mode presents them (§11.4.6, §11.12.5.1, §11.12.10.2). */
export function syncIdRegs(h: u32): void {
  const m = meta(h);
  if (m.mode == MODE_X2APIC) { wr(h, R_ID, m.id); wr(h, R_LDR, x2Ldr(m.id)); }
  else { wr(h, R_ID, (m.id & 0xFF) << 24); }
}

// ---- 256-bit vector registers (ISR/TMR/IRR: 8 words at 16-byte stride) ----

// @ts-ignore: decorator
@inline export function vecTest(h: u32, base: u32, v: u32): bool { return (rd(h, base + ((v >> 5) << 4)) >> (v & 31) & 1) != 0; }
// @ts-ignore: decorator
@inline export function vecSet(h: u32, base: u32, v: u32): void { const o = base + ((v >> 5) << 4); wr(h, o, rd(h, o) | (1 << (v & 31))); }
// @ts-ignore: decorator
@inline export function vecClear(h: u32, base: u32, v: u32): void { const o = base + ((v >> 5) << 4); wr(h, o, rd(h, o) & ~(1 << (v & 31))); }

/** Highest set vector in a 256-bit register, or -1. Bounded: 8 words. */
export function vecHighest(h: u32, base: u32): i32 {
  const p = page(h) + base;
  for (let w: i32 = 7; w >= 0; w--) {
    const x = load<u32>(p + (<usize>w << 4));
    if (x != 0) return (w << 5) + 31 - <i32>clz(x);
  }
  return -1;
}

/** Highest IRR vector, or -1. IRR is 32 bytes of the hot line: a scan from the top is 8 loads at most. */
export function irrHighest(h: u32): i32 {
  const p = irrPtr(h);
  for (let w: i32 = 7; w >= 0; w--) {
    const x = atomic.load<u32>(p + (<usize>w << 2));
    if (x != 0) return (w << 5) + 31 - <i32>clz(x);
  }
  return -1;
}

/** Clear vector v from IRR. */
export function irrClear(h: u32, v: u32): void {
  atomic.and<u32>(irrPtr(h) + ((<usize>v >> 5) << 2), ~(<u32>1 << (v & 31)));
}

// ---- Priorities (§11.8.3) ----

/** PPR (§11.8.3.1): TPR if TPR[7:4] ≥ ISRV[7:4], else ISRV[7:4]:0. */
export function ppr(h: u32): u32 {
  const m = meta(h);
  const tpr = m.tpr;
  const isrv = m.isrTop;
  const isr: u32 = isrv < 0 ? 0 : <u32>isrv;
  return (tpr >> 4) >= (isr >> 4) ? tpr : isr & 0xF0;
}

/** APR (§11.6.2.4, Figure 11-15): the priority used for lowest-priority arbitration. */
export function apr(h: u32): u32 {
  const m = meta(h);
  const tpr = m.tpr;
  const isrv = m.isrTop;
  const irrv = irrHighest(h);
  const isr: u32 = isrv < 0 ? 0 : <u32>isrv;
  const irr: u32 = irrv < 0 ? 0 : <u32>irrv;
  if ((tpr >> 4) >= (isr >> 4) && (tpr >> 4) >= (irr >> 4)) return tpr;
  const a = tpr & 0xF0, b = isr & 0xF0, c = irr & 0xF0;
  return max(a, max(b, c));
}

// @ts-ignore: decorator
@inline export function swEnabled(h: u32): bool { return meta(h).swEn != 0; }

// ---- Errors (§11.5.3) ----

/** Record an error; if the error LVT is unmasked, raise its interrupt (an illegal error vector is not re-reported). */
export function signalError(h: u32, bit: u32): void {
  const esr = changetype<usize>(meta(h)) + offsetof<ApicMeta>("esrPending");
  atomic.or<u32>(esr, bit);
  const lvt = rd(h, R_LVT_ERROR);
  if ((lvt & LVT_MASKED) != 0 || !swEnabled(h)) return;
  const v = lvt & 0xFF;
  if (v < 16) { atomic.or<u32>(esr, ESR_RECV_ILLEGAL_VECTOR); return; }
  setIrr(h, v, false);
}

// @ts-ignore: decorator
@inline function setIrr(h: u32, v: u32, level: bool): void {
  const mp = changetype<usize>(meta(h));
  const w = v >> 5, bit: u32 = 1 << (v & 31), sbit: u32 = 1 << w;
  // TMR first, so the owner never takes the vector with a stale trigger mode.
  const tsum = mp + offsetof<ApicMeta>("tmrSum");
  if (level) {
    atomic.or<u32>(page(h) + R_TMR + (w << 4), bit);
    if ((atomic.load<u32>(tsum) & sbit) == 0) atomic.or<u32>(tsum, sbit);
  } else if ((atomic.load<u32>(tsum) & sbit) != 0) {
    const t = page(h) + R_TMR + (w << 4);
    if ((atomic.load<u32>(t) & bit) != 0) atomic.and<u32>(t, ~bit);
  }
  atomic.or<u32>(irrPtr(h) + (<usize>w << 2), bit);
  stat(ApicStat.DELIVERED);
}

// ---- Acceptance (§11.6.3, §11.8.4) ----

// @ts-ignore: decorator
@inline function eventRaise(m: ApicMeta, ev: u32): void { atomic.or<u32>(changetype<usize>(m) + offsetof<ApicMeta>("events"), ev); }

/** Take the errors detected since the last ESR write (§11.5.3). */
export function esrTake(h: u32): u32 { return atomic.xchg<u32>(changetype<usize>(meta(h)) + offsetof<ApicMeta>("esrPending"), 0); }

/** Take and clear APIC h's pending events. */
export function eventsTake(h: u32): u32 { return atomic.xchg<u32>(changetype<usize>(meta(h)) + offsetof<ApicMeta>("events"), 0); }

/**
 * Accept a message on APIC `h`. Called by the router (for IPIs/MSIs) and by
 * this APIC's own local sources. Fixed and lowest-priority messages land in
 * IRR (TMR records the trigger mode); NMI/SMI/INIT/SIPI/ExtINT become events
 * for the host's vCPU loop.
 */
export function accept(h: u32, dm: u32, vector: u32, level: bool): void {
  const m = meta(h);
  if (m.mode == MODE_DISABLED) { stat(ApicStat.DROPPED_DISABLED); return; }
  if (dm == DM_FIXED || dm == DM_LOWEST) {
    // §11.4.7.2: a software-disabled APIC does not accept fixed interrupts.
    if (!swEnabled(h)) { stat(ApicStat.DROPPED_DISABLED); return; }
    // §11.5.2: vectors 0..15 are illegal; report and drop.
    if (vector < 16) { stat(ApicStat.RECV_ILLEGAL); signalError(h, ESR_RECV_ILLEGAL_VECTOR); return; }
    setIrr(h, vector, level);
  } else if (dm == DM_NMI) eventRaise(m, EV_NMI);
  else if (dm == DM_SMI) eventRaise(m, EV_SMI);
  else if (dm == DM_INIT) eventRaise(m, EV_INIT);
  else if (dm == DM_SIPI) { m.sipiVector = vector & 0xFF; eventRaise(m, EV_SIPI); }
  else if (dm == DM_EXTINT) eventRaise(m, EV_EXTINT);
}

/** Highest IRR vector the processor may take now (its class above PPR's, §11.8.3.1), or -1. */
export function pendingVector(h: u32): i32 {
  if (meta(h).mode == MODE_DISABLED || !swEnabled(h)) return -1;
  const v = irrHighest(h);
  if (v < 0) return -1;
  return (<u32>v & 0xF0) > (ppr(h) & 0xF0) ? v : -1;
}

/** INTA (§11.8.4): move the pending vector from IRR to ISR and return it; with nothing deliverable return the spurious vector (§11.9). */
export function intrAck(h: u32): u32 {
  const v = pendingVector(h);
  if (v < 0) { stat(ApicStat.SPURIOUS); return rd(h, R_SVR) & 0xFF; }
  irrClear(h, <u32>v);
  vecSet(h, R_ISR, <u32>v);
  meta(h).isrTop = v; // v's class is above PPR's, so above every in-service vector
  return <u32>v;
}

/** EOI (§11.8.5): retire the highest in-service vector; a level-triggered one is broadcast to the IOAPIC unless suppressed (§11.8.5, SVR bit 12). */
export function doEoi(h: u32): void {
  const m = meta(h);
  const v = m.isrTop;
  if (v < 0) { stat(ApicStat.EOI_EMPTY); return; }
  const vec = <u32>v;
  vecClear(h, R_ISR, vec);
  m.isrTop = vecHighest(h, R_ISR);
  if (((m.tmrSum >> (vec >> 5)) & 1) != 0 && vecTest(h, R_TMR, vec)) {
    if ((rd(h, R_SVR) & SVR_SUPPRESS_EOI) == 0) {
      atomic.or<u32>(apicSet().eoiBits + ((<usize>vec >> 5) << 2), 1 << (vec & 31));
    }
    lintEoi(h, vec);
  }
}

/** Take the lowest vector awaiting an EOI broadcast, or -1. */
export function eoiTake(): i32 {
  const p = apicSet().eoiBits;
  for (let w: i32 = 0; w < 8; w++) {
    const q = p + (<usize>w << 2);
    // Bounded: each retry means another thread took a bit of this word; at most 32 can.
    for (let tries = 0; tries < 33; tries++) {
      const x = atomic.load<u32>(q);
      if (x == 0) break;
      const bit: u32 = 1 << ctz(x);
      if ((atomic.and<u32>(q, ~bit) & bit) != 0) return (w << 5) + <i32>ctz(bit);
    }
  }
  return -1;
}

// ---- Local interrupt sources (§11.5.1) ----

/** Deliver through an LVT entry; masked entries deliver nothing. Returns true if something was delivered. */
export function fireLvt(h: u32, off: u32): bool {
  const lvt = rd(h, off);
  if ((lvt & LVT_MASKED) != 0 || !swEnabled(h)) return false;
  const dm = off == R_LVT_TIMER || off == R_LVT_ERROR ? DM_FIXED : (lvt >> 8) & 7;
  // Reserved LVT delivery modes (§11.5.1: 001, 011, 110) deliver nothing.
  if (dm == DM_LOWEST || dm == 3 || dm == DM_SIPI) return false;
  const level = (off == R_LVT_LINT0 || off == R_LVT_LINT1) && (lvt & LVT_LEVEL) != 0 && dm == DM_FIXED;
  if (dm == DM_FIXED && (lvt & 0xFF) < 16) { stat(ApicStat.RECV_ILLEGAL); signalError(h, ESR_RECV_ILLEGAL_VECTOR); return false; }
  accept(h, dm, lvt & 0xFF, level);
  if (level) wr(h, off, lvt | LVT_REMOTE_IRR);
  return true;
}

/** Drive LINT0/LINT1 (§11.5.1): edge entries fire on a rising edge; level-triggered fixed entries fire while high and remote IRR is clear. */
export function lintSet(h: u32, pin: u32, high: bool): void {
  const m = meta(h);
  const bit: u32 = 1 << pin;
  const was = (m.lintLevel & bit) != 0;
  m.lintLevel = high ? m.lintLevel | bit : m.lintLevel & ~bit;
  const off = pin == 0 ? R_LVT_LINT0 : R_LVT_LINT1;
  const lvt = rd(h, off);
  const levelMode = (lvt & LVT_LEVEL) != 0 && ((lvt >> 8) & 7) == DM_FIXED;
  if (levelMode) { if (high && (lvt & LVT_REMOTE_IRR) == 0) fireLvt(h, off); }
  else if (high && !was) fireLvt(h, off);
}

/** EOI of a level-triggered LINT vector clears its remote IRR and re-fires if the line is still high. */
function lintEoi(h: u32, vec: u32): void {
  for (let pin: u32 = 0; pin < 2; pin++) {
    const off = pin == 0 ? R_LVT_LINT0 : R_LVT_LINT1;
    const lvt = rd(h, off);
    if ((lvt & LVT_REMOTE_IRR) != 0 && (lvt & 0xFF) == vec) {
      wr(h, off, lvt & ~LVT_REMOTE_IRR);
      if ((meta(h).lintLevel >> pin) & 1) fireLvt(h, off);
    }
  }
}

// ---- The outbox: what an APIC asks the router to deliver ----

export let msgPending = false;
export let msgSrc: i32 = -1;
export let msgDest: u32 = 0;
/** ICR-low layout: vector, delivery mode, destination mode, level, trigger, shorthand. */
export let msgLo: u32 = 0;
/** Destination is a 32-bit x2APIC ID (sender in x2APIC mode). */
export let msgX2 = false;

export function post(src: i32, dest: u32, lo: u32, x2: bool): void {
  msgPending = true; msgSrc = src; msgDest = dest; msgLo = lo; msgX2 = x2;
}
export function takeMsg(): bool { const p = msgPending; msgPending = false; return p; }

/** Mask every LVT (software disable, §11.4.7.2). */
export function maskAllLvts(h: u32): void {
  for (let off: u32 = R_LVT_TIMER; off <= R_LVT_ERROR; off += 16) wr(h, off, rd(h, off) | LVT_MASKED);
  wr(h, R_LVT_CMCI, rd(h, R_LVT_CMCI) | LVT_MASKED);
}

