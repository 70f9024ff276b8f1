// Exported functions of the I/O APICs. Handles are 1..8, per wasm instance
// (the instance that created the IOAPIC drives it). Register accesses return
// a Status and a read leaves its value in ioapic_value(). Every call that
// touches an IOAPIC first takes the local APICs' pending EOI broadcasts, so
// remote IRR is current before the access.

import { Status } from "../core/status";
import { IOAPIC_PINS } from "./defs";
import { ioapicCreate, ioapicDestroy, ioapicCost, valid, at, reset, setPin, rte, eoiAll, ioapicService, statsPtr } from "./model";
import { mmioRead, mmioWrite, gateValue } from "./gate";
import { ioapicSave, ioapicRestore } from "./state";

/**
 * Create an IOAPIC: `id` 0..15, pins at GSIs gsiBase..gsiBase+23, `version`
 * 0x11 (82093AA) or 0x20 (with the EOI register), pins at electrical levels
 * `levels` (bit n = pin n, the board's idle levels). Needs apic_create first.
 * Returns a handle or -status.
 */
export function ioapic_create(id: u32, gsiBase: u32, version: u32, levels: u32): i32 { return ioapicCreate(id, gsiBase, version, levels); }

/** Remove IOAPIC `h` (its slot is reused by the next create). */
export function ioapic_destroy(h: i32): i32 { return ioapicDestroy(h); }

/** The most linear memory ioapic_create takes (the instance's table, on first use). */
export function ioapic_memory_bytes(): u32 { return <u32>ioapicCost(); }

/** RESET: every redirection entry masked, the ID back to its create value. */
export function ioapic_reset(h: i32): i32 {
  if (!valid(h)) return Status.ERR_BAD_HANDLE;
  ioapicService();
  reset(at(h));
  return Status.OK;
}

/** MMIO read of `width` bytes at `offset` in the IOAPIC's window; the value is in ioapic_value(). */
export function ioapic_mmio_read(h: i32, offset: u32, width: u32): i32 {
  if (!valid(h)) return Status.ERR_BAD_HANDLE;
  ioapicService();
  return mmioRead(at(h), offset, width);
}

/** MMIO write of `width` bytes at `offset` in the IOAPIC's window. */
export function ioapic_mmio_write(h: i32, offset: u32, width: u32, value: u32): i32 {
  if (!valid(h)) return Status.ERR_BAD_HANDLE;
  ioapicService();
  return mmioWrite(at(h), offset, width, value);
}

/** Value of the last register read. */
export function ioapic_value(): u32 { return gateValue(); }

/** Drive input pin `pin` (0..23) to electrical level `level` (0 low, 1 high). */
export function ioapic_set_pin(h: i32, pin: u32, level: u32): i32 {
  if (!valid(h)) return Status.ERR_BAD_HANDLE;
  if (pin >= IOAPIC_PINS || level > 1) return Status.ERR_INVALID_ARG;
  ioapicService();
  setPin(at(h), pin, level == 1);
  return Status.OK;
}

/** Electrical levels of the 24 pins (bit n = pin n), or -status. */
export function ioapic_pins(h: i32): i32 {
  if (!valid(h)) return -Status.ERR_BAD_HANDLE;
  return <i32>at(h).level;
}

/** Redirection entry `pin` as the guest reads it (remote IRR current), or all ones for a bad handle or pin. */
export function ioapic_rte(h: i32, pin: u32): u64 {
  if (!valid(h) || pin >= IOAPIC_PINS) return 0xFFFF_FFFF_FFFF_FFFF;
  ioapicService();
  return rte(at(h), pin);
}

/** EOI broadcast of `vector` (0..255) to every IOAPIC, for hosts that route EOIs themselves. Returns remote IRRs cleared, or -status. */
export function ioapic_eoi(vector: u32): i32 {
  if (vector > 255) return -Status.ERR_INVALID_ARG;
  ioapicService();
  return eoiAll(vector);
}

/** Take the local APICs' pending EOI broadcasts and apply them (at most 256 per call). Returns the vectors taken. */
export function ioapic_service(): i32 { return ioapicService(); }

/** Address of IOAPIC `h`'s u64 counters (IOAPIC_STATS of them, named by defs.ts IoapicStat), or 0 for a bad handle. */
export function ioapic_counters_ptr(h: i32): usize { return statsPtr(h); }

/** Save IOAPIC `h` into the I/O buffer; returns the length or -status. */
export function ioapic_save(h: i32): i32 {
  if (!valid(h)) return -Status.ERR_BAD_HANDLE;
  return ioapicSave(at(h));
}

/** Restore IOAPIC `h` from `len` bytes at the start of the I/O buffer; nothing changes on error. */
export function ioapic_restore(h: i32, len: u32): i32 {
  if (!valid(h)) return Status.ERR_BAD_HANDLE;
  return ioapicRestore(at(h), len);
}
