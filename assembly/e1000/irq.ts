// Interrupts (§13.4.17-21) and their moderation in guest time.
//
// ICR collects causes; INTA# is asserted while ICR & IMS is non-zero. Reading
// ICR returns and clears every cause (the 8254x read-to-clear, §13.4.17);
// writing ICR clears the bits written as 1. ICS sets causes, IMS enables and
// IMC disables them.
//
// Moderation, all on the guest time the host passes in (ns):
//  * ITR (§13.4.18): at least ITR × 256 ns between two assertions. A cause that
//    arrives inside the interval waits for its end.
//  * RDTR / RADV (§13.4.30, §13.4.34): with RDTR non-zero, RXT0 waits RDTR ×
//    1.024 µs after the last received frame (restarted by each one), but no
//    longer than RADV × 1.024 µs after the first (RADV 0: no limit). RDTR 0
//    raises RXT0 at once. Writing RDTR with FPD set fires a pending RXT0 now.
//  * TIDV / TADV (§13.4.44, §13.4.46): the same for TXDW of descriptors written
//    back with IDE set; descriptors without IDE raise TXDW at once.

import { E1k, count } from "./device";
import { E1K_NO_DEADLINE, E1kCounter } from "./defs";
import { ICR_RXT0, ICR_TXDW, R_ITR } from "./regs";
import { reg } from "./device";

// @ts-ignore: decorator
@inline function min64(a: u64, b: u64): u64 { return a < b ? a : b; }

/** Bring the line to what the causes, the mask and ITR say at `now`. */
export function irqUpdate(d: E1k, now: u64): void {
  const pending = d.icr & d.ims;
  if (pending == 0) { d.line = 0; d.throttled = 0; return; }
  if (d.line != 0) return;
  if (now < d.itrAt) {
    if (d.throttled == 0) { d.throttled = 1; count(d, E1kCounter.IRQ_THROTTLED); }
    return;
  }
  d.line = 1;
  d.throttled = 0;
  count(d, E1kCounter.IRQ_RAISED);
  const interval = reg(d, R_ITR) & 0xffff;
  d.itrAt = interval != 0 ? now + <u64>interval * 256 : 0;
}

/** Raise causes `bits`. */
export function irqCause(d: E1k, bits: u32, now: u64): void {
  d.icr |= bits;
  irqUpdate(d, now);
}

/** A receive completion: RXT0 now, or after the RDTR/RADV timers. */
export function rxTimerKick(d: E1k, rdtr: u32, radv: u32, now: u64): void {
  const t = rdtr & 0xffff;
  if (t == 0) { irqCause(d, ICR_RXT0, now); return; }
  d.rxPktAt = now + <u64>t * 1024;
  const a = radv & 0xffff;
  if (a != 0 && d.rxAbsAt == E1K_NO_DEADLINE) d.rxAbsAt = now + <u64>a * 1024;
}

/** A transmit write-back: TXDW now (no IDE, or TIDV 0), or after the TIDV/TADV timers. */
export function txTimerKick(d: E1k, ide: bool, tidv: u32, tadv: u32, now: u64): void {
  const t = tidv & 0xffff;
  if (!ide || t == 0) { irqCause(d, ICR_TXDW, now); return; }
  d.txPktAt = now + <u64>t * 1024;
  const a = tadv & 0xffff;
  if (a != 0 && d.txAbsAt == E1K_NO_DEADLINE) d.txAbsAt = now + <u64>a * 1024;
}

/** Fire the receive delay timers now (RDTR.FPD). */
export function rxFlush(d: E1k, now: u64): void {
  if (d.rxPktAt == E1K_NO_DEADLINE && d.rxAbsAt == E1K_NO_DEADLINE) return;
  d.rxPktAt = E1K_NO_DEADLINE; d.rxAbsAt = E1K_NO_DEADLINE;
  irqCause(d, ICR_RXT0, now);
}

/** Fire the transmit delay timers now (TIDV.FPD). */
export function txFlush(d: E1k, now: u64): void {
  if (d.txPktAt == E1K_NO_DEADLINE && d.txAbsAt == E1K_NO_DEADLINE) return;
  d.txPktAt = E1K_NO_DEADLINE; d.txAbsAt = E1K_NO_DEADLINE;
  irqCause(d, ICR_TXDW, now);
}

/** Fire every timer due at `now`, then update the line. */
export function irqAdvance(d: E1k, now: u64): void {
  if (d.rxPktAt <= now || d.rxAbsAt <= now) rxFlush(d, now);
  if (d.txPktAt <= now || d.txAbsAt <= now) txFlush(d, now);
  irqUpdate(d, now);
}

/** The earliest guest time at which something changes without a guest access, or E1K_NO_DEADLINE. */
export function irqNextDeadline(d: E1k): u64 {
  let t = min64(min64(d.rxPktAt, d.rxAbsAt), min64(d.txPktAt, d.txAbsAt));
  if (d.line == 0 && (d.icr & d.ims) != 0 && d.itrAt != 0) t = min64(t, d.itrAt);
  return t;
}
