// Saved state of one local APIC through the envelope (DeviceKind.LOCAL_APIC).
// Named fields; timer deadlines are guest ns and the TSC deadline is guest TSC
// ticks, so a restore on another host fires them at the same guest moment.
// Restore is all-or-nothing: every field is read and checked (reserved bits,
// mode against ID, LDR against the derived x2APIC LDR, timer consistency)
// before the APIC is touched. Timer fields are checked against what the
// registers and this VM's clocks produce, so a blob cannot arm a timer no
// guest could have programmed.

import { Status } from "../core/status";
import { DeviceKind, envBegin, envField, envPutU32, envPutU64, envPutBytes, envFinish, envOpen, envVersion, envGetU32, envU32, envGetU64, envU64, envFindExact } from "../core/state";
import { ioPtr, ioSize } from "../core/vm";
import {
  R_ID, R_TPR, R_LDR, R_DFR, R_SVR, R_ISR, R_TMR, R_ESR, R_LVT_CMCI, R_LVT_TIMER, R_LVT_THERMAL,
  R_LVT_PERF, R_LVT_LINT0, R_LVT_LINT1, R_LVT_ERROR, R_ICR_LO, R_ICR_HI, R_TIMER_INITIAL, R_TIMER_DCR,
  BASE_VALID, BASE_BSP, MODE_X2APIC, MODE_XAPIC, MODE_DISABLED, SVR_WRITABLE, LVT_W_TIMER, LVT_W_LINT, LVT_W_ERROR, LVT_W_OTHER,
  LVT_REMOTE_IRR, ICR_LO_WRITABLE, NO_DEADLINE, EV_ALL, TIMER_PERIODIC, TIMER_TSC_DEADLINE,
} from "./defs";
import { meta, page, rd, wr, x2Ldr, xapicIdOk, syncIdRegs, recache, irrPtr, timerNoteArmed, deadlineGet, deadlineSet, startGet, startSet } from "./model";
import { baseMode } from "./gate";
import { periodReachable, tscDeadlineNs } from "./timer";

const VERSION: u32 = 1;
const T_BASE: u32 = 1, T_ID: u32 = 2, T_TPR: u32 = 3, T_LDR: u32 = 4, T_DFR: u32 = 5, T_SVR: u32 = 6;
const T_ISR: u32 = 7, T_TMR: u32 = 8, T_IRR: u32 = 9, T_ESR: u32 = 10, T_ESR_PENDING: u32 = 11;
const T_LVT_CMCI: u32 = 12, T_LVT_TIMER: u32 = 13, T_LVT_THERMAL: u32 = 14, T_LVT_PERF: u32 = 15;
const T_LVT_LINT0: u32 = 16, T_LVT_LINT1: u32 = 17, T_LVT_ERROR: u32 = 18, T_ICR: u32 = 19;
const T_TIMER_INITIAL: u32 = 20, T_TIMER_DCR: u32 = 21, T_TIMER_START: u32 = 22, T_TIMER_DEADLINE: u32 = 23;
const T_TIMER_PERIOD: u32 = 24, T_TSC_DEADLINE: u32 = 25, T_EVENTS: u32 = 26, T_SIPI_VECTOR: u32 = 27, T_LINT_LEVEL: u32 = 28;

const LVT_TAGS: u32 = 7;
// LVT register offsets in tag order T_LVT_CMCI..T_LVT_ERROR.
function lvtOff(k: u32): u32 { return k == 0 ? R_LVT_CMCI : R_LVT_TIMER + ((k - 1) << 4); }
function lvtMask(off: u32): u32 {
  if (off == R_LVT_TIMER) return LVT_W_TIMER;
  if (off == R_LVT_LINT0 || off == R_LVT_LINT1) return LVT_W_LINT | LVT_REMOTE_IRR;
  if (off == R_LVT_ERROR) return LVT_W_ERROR;
  return LVT_W_OTHER;
}

/** Pack a 256-bit register (8 words at 16-byte stride) into 32 contiguous bytes at `dst`. */
function packVec(h: u32, base: u32, dst: usize): void {
  for (let w: u32 = 0; w < 8; w++) store<u32>(dst + (<usize>w << 2), rd(h, base + (w << 4)));
}

function putVec(h: u32, tag: u32, base: u32): void {
  const p = envField(tag, 32);
  if (p != 0) packVec(h, base, p);
}

/** Save APIC `h` into the I/O buffer; returns the blob length or -status. */
export function apicSave(h: u32): i32 {
  const m = meta(h);
  envBegin(ioPtr(), ioSize(), DeviceKind.LOCAL_APIC, VERSION);
  envPutU64(T_BASE, m.base);
  envPutU32(T_ID, m.id);
  envPutU32(T_TPR, rd(h, R_TPR));
  envPutU32(T_LDR, rd(h, R_LDR));
  envPutU32(T_DFR, rd(h, R_DFR));
  envPutU32(T_SVR, rd(h, R_SVR));
  putVec(h, T_ISR, R_ISR);
  putVec(h, T_TMR, R_TMR);
  envPutBytes(T_IRR, irrPtr(h), 32);
  envPutU32(T_ESR, rd(h, R_ESR));
  envPutU32(T_ESR_PENDING, m.esrPending);
  for (let k: u32 = 0; k < LVT_TAGS; k++) envPutU32(T_LVT_CMCI + k, rd(h, lvtOff(k)));
  envPutU64(T_ICR, (<u64>rd(h, R_ICR_HI) << 32) | rd(h, R_ICR_LO));
  envPutU32(T_TIMER_INITIAL, rd(h, R_TIMER_INITIAL));
  envPutU32(T_TIMER_DCR, rd(h, R_TIMER_DCR));
  envPutU64(T_TIMER_START, startGet(h));
  envPutU64(T_TIMER_DEADLINE, deadlineGet(h));
  envPutU64(T_TIMER_PERIOD, m.timerPeriod);
  envPutU64(T_TSC_DEADLINE, m.tscDeadline);
  envPutU32(T_EVENTS, m.events);
  envPutU32(T_SIPI_VECTOR, m.sipiVector);
  envPutU32(T_LINT_LEVEL, m.lintLevel);
  return envFinish();
}

/** Restore APIC `h` from a blob of `len` bytes at the start of the I/O buffer. Nothing changes on error. */
export function apicRestore(h: u32, len: u32): i32 {
  if (len > ioSize()) return Status.ERR_STATE_LENGTH;
  const s = envOpen(ioPtr(), len, DeviceKind.LOCAL_APIC);
  if (s != Status.OK) return s;
  if (envVersion() != VERSION) return Status.ERR_STATE_VERSION;
  const v = validate(h);
  if (v != Status.OK) return v;
  apply(h);
  timerNoteArmed(h);
  return Status.OK;
}

function u32Field(tag: u32): i64 { return envGetU32(tag) ? <i64>envU32() : -1; }

function validate(h: u32): i32 {
  const bad = Status.ERR_STATE_INVALID;
  // IA32_APIC_BASE: reserved bits, EN/EXTD combination, BSP flag of this vCPU.
  if (!envGetU64(T_BASE)) return bad;
  const base = envU64();
  if ((base & ~BASE_VALID) != 0 || (base & BASE_BSP) != (meta(h).base & BASE_BSP)) return bad;
  const mode = baseMode(base);
  if (mode < 0) return bad;
  // The ID is the vCPU index; xAPIC mode needs an 8-bit ID other than the broadcast (§11.12.5).
  if (u32Field(T_ID) != <i64>h) return bad;
  if (mode == <i32>MODE_XAPIC && !xapicIdOk(h)) return bad;
  const tpr = u32Field(T_TPR); if (tpr < 0 || tpr > 0xFF) return bad;
  const ldr = u32Field(T_LDR); if (ldr < 0) return bad;
  if (mode == <i32>MODE_X2APIC ? <u32>ldr != x2Ldr(h) : (ldr & 0x00FFFFFF) != 0) return bad;
  const dfr = u32Field(T_DFR);
  // Any model nibble is reachable by a guest write; the router treats all but 1111 (flat) as cluster.
  if (dfr < 0 || (dfr & 0x0FFFFFFF) != 0x0FFFFFFF) return bad;
  const svr = u32Field(T_SVR); if (svr < 0 || (svr & ~(<i64>SVR_WRITABLE)) != 0) return bad;
  const isr = envFindExact(T_ISR, 32), irr = envFindExact(T_IRR, 32), tmr = envFindExact(T_TMR, 32);
  // §11.5.2: vectors 0..15 can never be pending or in service.
  if (isr == 0 || irr == 0 || tmr == 0 || (load<u32>(isr) & 0xFFFF) != 0 || (load<u32>(irr) & 0xFFFF) != 0) return bad;
  const esr = u32Field(T_ESR), esrp = u32Field(T_ESR_PENDING);
  if (esr < 0 || esr > 0xFF || esrp < 0 || esrp > 0xFF) return bad;
  for (let k: u32 = 0; k < LVT_TAGS; k++) {
    const lvt = u32Field(T_LVT_CMCI + k);
    if (lvt < 0 || (lvt & ~(<i64>lvtMask(lvtOff(k)))) != 0) return bad;
    // §11.4.7.2: while software-disabled every LVT is masked.
    if ((svr & 0x100) == 0 && (lvt & 0x10000) == 0) return bad;
  }
  const lvtTimer = <u32>u32Field(T_LVT_TIMER);
  const tmode = (lvtTimer >> 17) & 3;
  if (!envGetU64(T_ICR)) return bad;
  const icr = envU64();
  if ((<u32>icr & ~ICR_LO_WRITABLE) != 0) return bad;
  if (mode != <i32>MODE_X2APIC && ((icr >> 32) & 0x00FFFFFF) != 0) return bad;
  const initial = u32Field(T_TIMER_INITIAL); if (initial < 0) return bad;
  const dcr = u32Field(T_TIMER_DCR); if (dcr < 0 || (dcr & ~0xB) != 0) return bad;
  if (!envGetU64(T_TIMER_START)) return bad; const start = envU64();
  if (!envGetU64(T_TIMER_DEADLINE)) return bad; const deadline = envU64();
  if (!envGetU64(T_TIMER_PERIOD)) return bad; const period = envU64();
  if (!envGetU64(T_TSC_DEADLINE)) return bad; const tsc = envU64();
  // Timer consistency (§11.5.4): what a guest's programming of this APIC can
  // produce, with the time base derived here, not taken from the blob.
  if (tmode == TIMER_TSC_DEADLINE) {
    // §11.5.4.1: armed exactly when IA32_TSC_DEADLINE is non-zero, firing when
    // the guest TSC (this VM's tscHz) reaches it.
    if ((tsc == 0) != (deadline == NO_DEADLINE)) return bad;
    if (tsc != 0 && deadline != tscDeadlineNs(tsc)) return bad;
  } else {
    if (tsc != 0) return bad;
    if (deadline != NO_DEADLINE) {
      // Mode 11 is reserved (§11.5.4.1, Table 11-2): a guest may write it, but no timer runs in it.
      if (tmode == 3) return bad;
      // An armed count-down has a count, fires one period after its start, and
      // the period is the initial count at one of the divide values and this bus clock.
      if (initial == 0 || period == 0 || start > deadline || deadline - start != period) return bad;
      if (!periodReachable(<u32>initial, period)) return bad;
    }
  }
  const ev = u32Field(T_EVENTS); if (ev < 0 || (ev & ~(<i64>EV_ALL)) != 0) return bad;
  const sipi = u32Field(T_SIPI_VECTOR); if (sipi < 0 || sipi > 0xFF) return bad;
  const lint = u32Field(T_LINT_LEVEL); if (lint < 0 || lint > 3) return bad;
  return Status.OK;
}

function unpackVec(h: u32, base: u32, src: usize): void {
  for (let w: u32 = 0; w < 8; w++) wr(h, base + (w << 4), load<u32>(src + (<usize>w << 2)));
}

/** Apply a blob validate() accepted (every field is present and well-formed). */
function apply(h: u32): void {
  const m = meta(h);
  const p = page(h);
  const version = rd(h, 0x30);
  memory.fill(p, 0, 4096);
  wr(h, 0x30, version);
  envGetU64(T_BASE); m.base = envU64();
  m.mode = <u32>baseMode(m.base);
  envGetU32(T_TPR); wr(h, R_TPR, envU32());
  envGetU32(T_LDR); wr(h, R_LDR, envU32());
  envGetU32(T_DFR); wr(h, R_DFR, envU32());
  envGetU32(T_SVR); wr(h, R_SVR, envU32());
  unpackVec(h, R_ISR, envFindExact(T_ISR, 32));
  unpackVec(h, R_TMR, envFindExact(T_TMR, 32));
  memory.copy(irrPtr(h), envFindExact(T_IRR, 32), 32);
  envGetU32(T_ESR); wr(h, R_ESR, envU32());
  envGetU32(T_ESR_PENDING); m.esrPending = envU32();
  for (let k: u32 = 0; k < LVT_TAGS; k++) { envGetU32(T_LVT_CMCI + k); wr(h, lvtOff(k), envU32()); }
  envGetU64(T_ICR); const icr = envU64();
  wr(h, R_ICR_LO, <u32>icr); wr(h, R_ICR_HI, <u32>(icr >> 32));
  envGetU32(T_TIMER_INITIAL); wr(h, R_TIMER_INITIAL, envU32());
  envGetU32(T_TIMER_DCR); wr(h, R_TIMER_DCR, envU32());
  envGetU64(T_TIMER_START); startSet(h, envU64());
  envGetU64(T_TIMER_DEADLINE); deadlineSet(h, envU64());
  envGetU64(T_TIMER_PERIOD); m.timerPeriod = envU64();
  envGetU64(T_TSC_DEADLINE); m.tscDeadline = envU64();
  envGetU32(T_EVENTS); m.events = envU32();
  envGetU32(T_SIPI_VECTOR); m.sipiVector = envU32();
  envGetU32(T_LINT_LEVEL); m.lintLevel = envU32();
  syncIdRegs(h);
  recache(h);
}
