// Descriptor rings (§3.2.6, §3.4): base (RDBAL/RDBAH, TDBAL/TDBAH; 16-byte
// aligned, the low 4 bits read as 0), length (RDLEN/TDLEN, a non-zero
// multiple of 128 bytes), head and tail (16-bit descriptor indices). A ring
// is validated whenever one of its registers or its enable bit changes: the
// whole ring must lie in guest RAM and head and tail must be below its size.
// An enabled ring that fails is refused (counted) and the unit idles until
// the driver programs it again. Descriptor accesses still go through the
// checked guest-memory calls, so a hole that appears later over a ring
// stops the unit (a ring fault, counted) instead of reaching the hole.

import { gmCheck } from "../core/guestmem";
import { Status } from "../core/status";
import { E1k, reg, count } from "./device";
import { E1kCounter } from "./defs";
import {
  R_RDBAL, R_RDBAH, R_RDLEN, R_RDH, R_RDT, R_TDBAL, R_TDBAH, R_TDLEN, R_TDH, R_TDT, R_RCTL, R_TCTL, RCTL_EN, TCTL_EN,
  DESC_BYTES, RING_ALIGN,
} from "./regs";

// @ts-ignore: decorator
@inline export function ringBase(d: E1k, bal: u32): u64 {
  return (<u64>reg(d, bal + 4) << 32) | <u64>(reg(d, bal) & ~<u32>15);
}

function ringValid(d: E1k, bal: u32, len: u32, h: u32, t: u32): bool {
  const bytes = reg(d, len);
  if (bytes == 0 || (bytes % RING_ALIGN) != 0 || bytes > 0x100000) return false;
  const n = bytes / DESC_BYTES;
  if (reg(d, h) >= n || reg(d, t) >= n) return false;
  return gmCheck(ringBase(d, bal), <u64>bytes) == Status.OK;
}

/** Recheck both rings after a register write; counts an enabled ring that fails. */
export function ringsRecheck(d: E1k): void {
  const rxOn = (reg(d, R_RCTL) & RCTL_EN) != 0;
  const rx = rxOn && ringValid(d, R_RDBAL, R_RDLEN, R_RDH, R_RDT);
  if (rxOn && !rx && d.rxRingOk != 2) { count(d, E1kCounter.RING_REJECTED); d.rxRingOk = 2; }
  else if (rx) d.rxRingOk = 1;
  else if (!rxOn) d.rxRingOk = 0;
  const txOn = (reg(d, R_TCTL) & TCTL_EN) != 0;
  const tx = txOn && ringValid(d, R_TDBAL, R_TDLEN, R_TDH, R_TDT);
  if (txOn && !tx && d.txRingOk != 2) { count(d, E1kCounter.RING_REJECTED); d.txRingOk = 2; }
  else if (tx) d.txRingOk = 1;
  else if (!txOn) d.txRingOk = 0;
}

/** A descriptor access failed at run time: stop the unit until it is programmed again. */
export function ringFault(d: E1k, rx: bool): void {
  count(d, E1kCounter.RING_FAULTS);
  if (rx) d.rxRingOk = 2; else d.txRingOk = 2;
}

/** Descriptors in a ring of `lenReg` bytes. */
// @ts-ignore: decorator
@inline export function ringSize(d: E1k, lenReg: u32): u32 { return reg(d, lenReg) / DESC_BYTES; }
