// The APIC timer (SDM Vol. 3A §11.5.4): one-shot, periodic and TSC-deadline
// (§11.5.4.1), driven by guest time the host passes in (ns). Deadlines are
// kept in guest ns so they survive save/restore and migration. The bus clock
// (busHz) feeds the divider; the guest TSC reads now × tscHz / 1e9.

import { meta, rd, wr, fireLvt, stat, apicSet, timerNoteArmed, deadlineGet, deadlineSet, deadlineSwap, startGet, startSet, startSwap } from "./model";
import { R_LVT_TIMER, R_TIMER_INITIAL, R_TIMER_DCR, NO_DEADLINE, TIMER_PERIODIC, TIMER_TSC_DEADLINE, ApicStat } from "./defs";

const NS: u64 = 1_000_000_000;

/** floor(a × b / c) for b, c ≤ MAX_HZ (1e10), saturating. */
export function mulDiv(a: u64, b: u64, c: u64): u64 {
  const q = a / c, r = a % c;
  // r × b < c × b ≤ 1e20 can exceed 2^64 only if both are ~1e10; split b.
  const hi = q * b;
  if (b != 0 && hi / b != q) return NO_DEADLINE;
  const lo = r < 0x1_0000_0000 && b < 0x1_0000_0000 ? r * b / c : mulDivSmall(r, b, c);
  const s = hi + lo;
  return s < hi ? NO_DEADLINE : s;
}

/** r × b / c with r < c, via 32-bit halves of b (no intermediate above 2^64 for c ≤ 1e10). */
function mulDivSmall(r: u64, b: u64, c: u64): u64 {
  const bh = b >> 20, bl = b & 0xFFFFF;
  // r × bh < 1e10 × 2^14 and r × bl < 1e10 × 2^20: both fit.
  const x = r * bh;
  const qx = x / c, rx = x % c;
  return (qx << 20) + ((rx << 20) + r * bl) / c;
}

/** ceil(a × b / c), saturating. */
export function mulDivCeil(a: u64, b: u64, c: u64): u64 {
  const f = mulDiv(a, b, c);
  if (f == NO_DEADLINE) return f;
  return mulRem(a % c, b, c) == 0 ? f : f + 1;
}

/** (r × b) mod c for r < c ≤ 1e10, b ≤ 1e10, via a 20-bit split of b. */
function mulRem(r: u64, b: u64, c: u64): u64 {
  const bh = b >> 20, bl = b & 0xFFFFF;
  const x = (r * bh) % c;
  return ((x << 20) + r * bl) % c;
}

/** Divide Configuration Register → divisor (§11.5.4, Figure 11-10). */
// @ts-ignore: decorator
@inline export function divisor(dcr: u32): u64 {
  const v = (dcr & 3) | ((dcr & 8) >> 1);
  return v == 7 ? 1 : <u64>2 << v;
}

// @ts-ignore: decorator
@inline export function timerMode(h: u32): u32 { return (rd(h, R_LVT_TIMER) >> 17) & 3; }

/** Guest ns → guest TSC. */
export function nsToTsc(ns: u64): u64 { return mulDiv(ns, apicSet().tscHz, NS); }

/** Bus-clock period of `count` timer ticks at divisor `div`, in ns (at least 1). */
export function countNsAt(count: u64, div: u64): u64 {
  const ns = mulDivCeil(count * div, NS, apicSet().busHz);
  return ns == 0 ? 1 : ns;
}

/** Bus-clock period of `count` timer ticks at the current divider, in ns (at least 1). */
function countNs(h: u32, count: u64): u64 { return countNsAt(count, divisor(rd(h, R_TIMER_DCR))); }

/**
 * True if a guest can have a count-down of `initial` ticks running with
 * period `period` ns: the period is fixed when the initial count is written,
 * at the divider of that moment (a later DCR write leaves it), so it is the
 * period of one of the eight divide values (§11.5.4, Figure 11-10).
 */
export function periodReachable(initial: u32, period: u64): bool {
  // Bounded: eight divide values.
  for (let v: u32 = 0; v < 8; v++) {
    if (countNsAt(<u64>initial, v == 7 ? 1 : <u64>2 << v) == period) return true;
  }
  return false;
}

/** Guest ns at which a TSC deadline of `v` ticks fires (v ≠ 0); beyond 2^64 ns it stays armed and never fires. */
export function tscDeadlineNs(v: u64): u64 {
  const ns = mulDivCeil(v, NS, apicSet().tscHz);
  return ns == NO_DEADLINE ? NO_DEADLINE - 1 : ns;
}

/** Initial-count write (§11.5.4): load and start; 0 stops. Ignored in TSC-deadline mode. */
export function timerLoad(h: u32, count: u32, now: u64): void {
  const mode = timerMode(h);
  if (mode == TIMER_TSC_DEADLINE) return;
  wr(h, R_TIMER_INITIAL, count);
  const m = meta(h);
  if (count == 0 || mode > TIMER_PERIODIC) { deadlineSet(h, NO_DEADLINE); return; }
  m.timerPeriod = countNs(h, count);
  startSet(h, now);
  deadlineSet(h, now + m.timerPeriod < now ? NO_DEADLINE : now + m.timerPeriod);
  timerNoteArmed(h);
}

/** Current count (§11.5.4): counts down at bus/divisor from the initial count; 0 once a one-shot expired or in TSC-deadline mode. */
export function timerCurrent(h: u32, now: u64): u32 {
  const m = meta(h);
  const mode = timerMode(h);
  if (mode > TIMER_PERIODIC || deadlineGet(h) == NO_DEADLINE) return 0;
  const initial = <u64>rd(h, R_TIMER_INITIAL);
  if (initial == 0) return 0;
  const start = startGet(h);
  const elapsed = now > start ? now - start : 0;
  let ticks = mulDiv(elapsed, apicSet().busHz, NS) / divisor(rd(h, R_TIMER_DCR));
  if (mode == TIMER_PERIODIC) ticks %= initial;
  else if (ticks >= initial) return 0;
  return <u32>(initial - ticks);
}

/** LVT timer write: changing the mode disarms the timer (§11.5.4.1). */
export function timerLvtWritten(h: u32, oldLvt: u32, newLvt: u32): void {
  if (((oldLvt ^ newLvt) >> 17 & 3) == 0) return;
  const m = meta(h);
  deadlineSet(h, NO_DEADLINE); m.tscDeadline = 0;
}

/** IA32_TSC_DEADLINE write (§11.5.4.1): ignored outside deadline mode; 0 disarms; a deadline already passed fires at once. */
export function tscDeadlineWrite(h: u32, v: u64, now: u64): void {
  if (timerMode(h) != TIMER_TSC_DEADLINE) return;
  const m = meta(h);
  m.tscDeadline = v;
  deadlineSet(h, v == 0 ? NO_DEADLINE : tscDeadlineNs(v));
  timerNoteArmed(h);
  timerAdvance(h, now);
}

export function tscDeadlineRead(h: u32): u64 { return timerMode(h) == TIMER_TSC_DEADLINE ? meta(h).tscDeadline : 0; }

/** Fire the timer if its deadline is at or before `now`. Returns 1 if it fired. Periodic ticks missed by a late host are coalesced into one interrupt and counted. */
export function timerAdvance(h: u32, now: u64): i32 {
  const m = meta(h);
  const seen = deadlineGet(h);
  if (seen == NO_DEADLINE || now < seen) return 0;
  const mode = timerMode(h);
  if (mode == TIMER_PERIODIC && m.timerPeriod != 0) {
    const start = startGet(h);
    const k = (now - seen) / m.timerPeriod + 1;
    const step = k * m.timerPeriod;
    // A deadline the vCPU rewrote meanwhile is its own: this expiry is gone with it.
    if (!deadlineSwap(h, seen, seen + step < seen ? NO_DEADLINE : seen + step)) return 0;
    startSwap(h, start, start + step);
    if (k > 1) store<u64>(apicSet().stats + (<usize>ApicStat.TIMER_MISSED << 3), load<u64>(apicSet().stats + (<usize>ApicStat.TIMER_MISSED << 3)) + k - 1);
  } else {
    if (!deadlineSwap(h, seen, NO_DEADLINE)) return 0;
    if (mode == TIMER_TSC_DEADLINE) m.tscDeadline = 0;
  }
  stat(ApicStat.TIMER_FIRED);
  fireLvt(h, R_LVT_TIMER);
  return 1;
}

/** Guest ns of this APIC's next timer event, NO_DEADLINE if none. */
export function timerNext(h: u32): u64 { return deadlineGet(h); }

