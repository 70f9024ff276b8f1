// Exported functions of the local APIC set. Handles are vCPU indices
// (0..apic_count()-1; the APIC ID of vCPU i is i). Guest time `now` is guest
// nanoseconds, supplied by the host on every call that needs it. Register
// accesses return a Status: ERR_FAULT is the #GP the host injects, and a read
// leaves its value in apic_value(). An access that sends an IPI is routed
// before the call returns.

import { Status } from "../core/status";
import { counterAdd, Counter } from "../core/layout";
import { gmReady } from "../core/guestmem";
import { MAX_APICS, MAX_HZ, NO_DEADLINE } from "./defs";
import {
  apicSetCreate, apicSetCost, apicReady, apicCount, apicSet, meta, powerUp, initReset, pendingVector, intrAck, eoiTake, statsPtr,
  lintSet, fireLvt, irrHighest, irrClear, setTpr, eventsTake, timerDropArmed,
} from "./model";
import { mmioRead, mmioWrite, msrRead, msrWrite, gateValue } from "./gate";
import { routeOutbox, route, msiDeliver } from "./router";
import { timerAdvance, timerNext } from "./timer";
import { apicSave, apicRestore } from "./state";

// @ts-ignore: decorator
@inline function bad(h: u32): bool {
  if (h < apicCount()) return false;
  counterAdd(Counter.BAD_HANDLE, 1);
  return true;
}

/** Create this VM's `count` local APICs (1..4096), timer bus clock `busHz` and guest TSC rate `tscHz` (1 Hz .. 10 GHz). Once per VM. */
export function apic_create(count: u32, busHz: u64, tscHz: u64): i32 {
  if (!gmReady()) return Status.ERR_NOT_READY;
  if (apicReady()) return Status.ERR_ALREADY;
  if (count == 0 || count > MAX_APICS || busHz == 0 || busHz > MAX_HZ || tscHz == 0 || tscHz > MAX_HZ) return Status.ERR_INVALID_ARG;
  return apicSetCreate(count, busHz, tscHz);
}

/** The most linear memory apic_create(count, …) takes, or -Status for a bad count (what a host sizes a machine with). */
export function apic_memory_bytes(count: u32): i32 {
  return count == 0 || count > MAX_APICS ? -Status.ERR_INVALID_ARG : <i32>apicSetCost(count);
}

/** MSI address bits 11:5 as destination ID bits 14:8 (on = 1; off by default): what a guest uses when the hypervisor advertises an extended destination ID. */
export function apic_msi_ext_dest(on: u32): i32 {
  if (!apicReady()) return Status.ERR_NOT_READY;
  if (on > 1) return Status.ERR_INVALID_ARG;
  apicSet().msiExtDest = on;
  return Status.OK;
}

/** Number of APICs (0 before apic_create). */
export function apic_count(): u32 { return apicCount(); }

/** Reset APIC `h`: kind 0 = power-up/RESET (§11.4.7.1), 1 = INIT (§11.4.7.3: ID and APIC base kept). */
export function apic_reset(h: u32, kind: u32): i32 {
  if (bad(h)) return Status.ERR_BAD_HANDLE;
  if (kind > 1) return Status.ERR_INVALID_ARG;
  if (kind == 0) powerUp(h); else initReset(h);
  return Status.OK;
}

/** MOV to CR8 (§11.8.6): TPR[7:4] = value, TPR[3:0] = 0. Values above 15 are refused (the host's #GP). */
export function apic_cr8_write(h: u32, value: u32): i32 {
  if (bad(h)) return Status.ERR_BAD_HANDLE;
  if (value > 15) return Status.ERR_INVALID_ARG;
  setTpr(h, value << 4);
  return Status.OK;
}

/** MOV from CR8 (§11.8.6): TPR[7:4]. */
export function apic_cr8_read(h: u32): i32 {
  if (bad(h)) return -Status.ERR_BAD_HANDLE;
  return <i32>(meta(h).tpr >> 4);
}

/** Value of the last successful register read. */
export function apic_value(): u64 { return gateValue(); }

/** xAPIC MMIO read of `width` bytes at page offset `offset`. */
export function apic_mmio_read(h: u32, offset: u32, width: u32, now: u64): i32 {
  if (bad(h)) return Status.ERR_BAD_HANDLE;
  return mmioRead(h, offset, width, now);
}

/** xAPIC MMIO write (32-bit, 16-byte aligned). */
export function apic_mmio_write(h: u32, offset: u32, width: u32, value: u32, now: u64): i32 {
  if (bad(h)) return Status.ERR_BAD_HANDLE;
  const s = mmioWrite(h, offset, width, value, now);
  routeOutbox();
  return s;
}

/** RDMSR of IA32_APIC_BASE, IA32_TSC_DEADLINE or an x2APIC MSR. */
export function apic_msr_read(h: u32, msr: u32, now: u64): i32 {
  if (bad(h)) return Status.ERR_BAD_HANDLE;
  return msrRead(h, msr, now);
}

/** WRMSR of IA32_APIC_BASE, IA32_TSC_DEADLINE or an x2APIC MSR. */
export function apic_msr_write(h: u32, msr: u32, value: u64, now: u64): i32 {
  if (bad(h)) return Status.ERR_BAD_HANDLE;
  const s = msrWrite(h, msr, value, now);
  routeOutbox();
  return s;
}

/** Deliver an MSI write (what a PCI function's MSI/MSI-X emits). Returns APICs reached, or -status. */
export function apic_msi(addressLo: u32, addressHi: u32, data: u32): i32 {
  if (!apicReady()) return -Status.ERR_NOT_READY;
  return msiDeliver(addressLo, addressHi, data);
}

/**
 * Route a host message (an IOAPIC redirection entry): `lo` in ICR-low layout
 * without shorthand, `dest` an 8-bit (x2 = 0) or 32-bit x2APIC (x2 = 1)
 * destination. Returns APICs reached, or -status.
 */
export function apic_deliver(dest: u32, lo: u32, x2: u32): i32 {
  if (!apicReady()) return -Status.ERR_NOT_READY;
  if (x2 > 1 || (lo >> 18) != 0) return -Status.ERR_INVALID_ARG;
  return route(-1, dest, lo, x2 == 1, false);
}

/** Highest vector APIC `h` would deliver to its vCPU now, or -1. */
export function apic_intr_pending(h: u32): i32 {
  if (bad(h)) return -Status.ERR_BAD_HANDLE;
  return pendingVector(h);
}

/** Interrupt acknowledge: IRR → ISR; returns the vector (the spurious vector if none is deliverable). */
export function apic_intr_ack(h: u32): i32 {
  if (bad(h)) return -Status.ERR_BAD_HANDLE;
  return <i32>intrAck(h);
}

/** Take APIC `h`'s pending INIT/SIPI/NMI/SMI/ExtINT events (bits 1/2/4/8/16) and clear them. */
export function apic_events_take(h: u32): i32 {
  if (bad(h)) return -Status.ERR_BAD_HANDLE;
  return <i32>eventsTake(h);
}

/** Vector of the last start-up IPI APIC `h` received. */
export function apic_sipi_vector(h: u32): i32 {
  if (bad(h)) return -Status.ERR_BAD_HANDLE;
  return <i32>meta(h).sipiVector;
}

/** Take the lowest vector awaiting an EOI broadcast to the IOAPIC, or -1. */
export function apic_eoi_take(): i32 {
  if (!apicReady()) return -1;
  return eoiTake();
}

/** Drive LINT0 (pin 0) or LINT1 (pin 1) of APIC `h`. */
export function apic_lint(h: u32, pin: u32, level: u32): i32 {
  if (bad(h)) return Status.ERR_BAD_HANDLE;
  if (pin > 1 || level > 1) return Status.ERR_INVALID_ARG;
  lintSet(h, pin, level == 1);
  return Status.OK;
}

/** Raise a local source through its LVT (offset 0x2F0 CMCI, 0x330 thermal, 0x340 performance). Returns 1 if delivered. */
export function apic_lvt_fire(h: u32, offset: u32): i32 {
  if (bad(h)) return -Status.ERR_BAD_HANDLE;
  if (offset != 0x2F0 && offset != 0x330 && offset != 0x340) return -Status.ERR_INVALID_ARG;
  return fireLvt(h, offset) ? 1 : 0;
}

/** Fire APIC `h`'s timer if due at guest time `now`. Returns 1 if it fired. */
export function apic_advance(h: u32, now: u64): i32 {
  if (bad(h)) return -Status.ERR_BAD_HANDLE;
  return timerAdvance(h, now);
}

/** Fire every due timer; returns how many fired. Visits only the APICs with an armed timer. */
export function apic_advance_all(now: u64): i32 {
  const n = apicCount();
  if (n == 0) return 0;
  const bits = apicSet().armed;
  let fired = 0;
  // Bounded: n/32 words, each bit visited once per call.
  for (let w: u32 = 0; w < (n + 31) >> 5; w++) {
    let word = atomic.load<u32>(bits + (<usize>w << 2));
    while (word != 0) {
      const h = (w << 5) + <u32>ctz(word);
      word &= word - 1;
      fired += timerAdvance(h, now);
      if (timerNext(h) == NO_DEADLINE) timerDropArmed(h);
    }
  }
  return fired;
}

/** Guest ns of APIC `h`'s next timer event (all ones if none). */
export function apic_next_deadline(h: u32): u64 {
  if (bad(h)) return NO_DEADLINE;
  return timerNext(h);
}

/** Earliest timer event over all APICs (all ones if none); visits only the armed ones. */
export function apic_next_deadline_all(): u64 {
  const n = apicCount();
  if (n == 0) return NO_DEADLINE;
  const bits = apicSet().armed;
  let best = NO_DEADLINE;
  for (let w: u32 = 0; w < (n + 31) >> 5; w++) {
    let word = atomic.load<u32>(bits + (<usize>w << 2));
    while (word != 0) {
      const h = (w << 5) + <u32>ctz(word);
      word &= word - 1;
      const d = timerNext(h);
      if (d == NO_DEADLINE) timerDropArmed(h);
      else if (d < best) best = d;
    }
  }
  return best;
}

/** Address of the APIC set's u64 counters (APIC_STATS of them, ApicStat order), 0 before apic_create. */
export function apic_counters_ptr(): usize { return statsPtr(); }

/** Save APIC `h` into the I/O buffer; returns the length or -status. */
export function apic_save(h: u32): i32 {
  if (bad(h)) return -Status.ERR_BAD_HANDLE;
  return apicSave(h);
}

/** Restore APIC `h` from `len` bytes at the start of the I/O buffer; nothing changes on error. */
export function apic_restore(h: u32, len: u32): i32 {
  if (bad(h)) return Status.ERR_BAD_HANDLE;
  return apicRestore(h, len);
}

/** Highest vector in APIC `h`'s IRR regardless of priority, or -1 (diagnostics and benches). */
export function apic_irr_highest(h: u32): i32 {
  if (bad(h)) return -Status.ERR_BAD_HANDLE;
  return irrHighest(h);
}

/** Clear vector `v` from APIC `h`'s IRR (host-side cancel, e.g. a withdrawn level interrupt). */
export function apic_irr_clear(h: u32, v: u32): i32 {
  if (bad(h)) return Status.ERR_BAD_HANDLE;
  if (v > 255) return Status.ERR_INVALID_ARG;
  irrClear(h, v);
  return Status.OK;
}
