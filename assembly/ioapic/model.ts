// The I/O APIC model (Intel 82093AA datasheet; version 0x20 adds the EOI
// register of the I/O xAPIC): 24 interrupt input pins, one redirection entry
// each, edge and level-triggered delivery, remote IRR, EOI.
//
// Pins take the electrical level the board drives; an entry's polarity bit
// says which level is asserted (§3.2.4, bit 13). A message is built from the
// entry as the I/O xAPIC puts it on the system bus — the MSI format (SDM Vol.
// 3A §11.11): address 0xFEE, destination bits 63:56 in address bits 19:12,
// extended destination bits 55:49 in address bits 11:5, destination mode in
// bit 2; data: vector, delivery mode, level assert, trigger mode — and handed
// to the local APICs' router exactly as a device's MSI is (apic/router.ts
// msiDeliver), which resolves physical/logical destinations, broadcast and
// lowest-priority arbitration.
//
// Delivery rules:
//  * edge (trigger bit 0, or any delivery mode other than fixed/lowest
//    priority, which §3.2.4 requires to be edge): a message on each inactive
//    → asserted transition of the pin; an edge on a masked pin is lost.
//  * level (trigger bit 1, fixed or lowest priority): a message whenever the
//    pin is asserted, the entry unmasked and remote IRR clear — on assertion,
//    on an entry write (unmask, a polarity or trigger change) and after an EOI
//    clears remote IRR. Remote IRR is set when a local APIC received the
//    message (the router reached at least one); while it is set, assertions
//    send nothing, so a device that floods its line costs one message per EOI.
//  * EOI (a local APIC's EOI broadcast of a level-triggered vector, or a
//    write to the EOI register of a version-0x20 IOAPIC): every entry whose
//    vector matches and whose remote IRR is set has it cleared; a pin still
//    asserted and unmasked is delivered again at once.
//  * writing an entry with trigger mode edge clears its remote IRR, as
//    hardware does and as guests without the EOI register rely on (they
//    toggle level → edge → level to retire a lost EOI).
//
// EOI broadcasts come from the local APICs' EOI-broadcast bitmap (apic/model.ts
// eoiTake), filled by whichever thread ran the EOI. Every IOAPIC call on the
// owning instance takes what is pending first (ioapicService), so the IOAPIC
// sees an EOI before any later pin change or register access; the host calls
// ioapic_service to have it taken without one.
//
// Threads: the IOAPICs belong to the wasm instance that created them (the
// handle table is per instance); pins and registers are driven from its
// thread. Messages may land in any vCPU's APIC (deliveries are atomic there).
//
// Not modelled: the APIC serial bus (arbitration ID rotation, ARB reads the
// ID as the 82093AA loads it), delivery status (always idle: delivery is
// immediate), the IRQ pin assertion register of the I/O xAPIC, interrupt
// remapping formats (bit 48), the 8259 behind ExtINT (the local APIC raises
// an ExtINT event; the vector comes from the host's PIC), storm mitigation
// (a guest that EOIs a still-asserted level pin without servicing the device
// gets one message per EOI, driven by its own EOIs).

import { regionAlloc, regionCost, counterAdd, Counter } from "../core/layout";
import { Status } from "../core/status";
import { apicReady, eoiTake } from "../apic/model";
import { msiDeliver } from "../apic/router";
import {
  IOAPIC_PINS, MAX_IOAPICS, IOAPIC_STATS, VERSION_82093AA, VERSION_XAPIC, ID_MAX, RTE_RESET, RTE_MASKED,
  RTE_LEVEL, RTE_REMOTE_IRR, RTE_VECTOR_MASK, RTE_POLARITY_LOW, RTE_DEST_LOGICAL, RTE_LO_WRITABLE, RTE_HI_WRITABLE, RTE_DM_SHIFT,
  IoapicStat,
} from "./defs";
import { DM_FIXED, DM_LOWEST } from "../apic/defs";

/** One IOAPIC: registers, pin levels, redirection table, counters (RTE_OFF + 24 × 8 + stats). */
@unmanaged export class IoApic {
  live: u32;
  /** VERSION_82093AA or VERSION_XAPIC. */
  version: u32;
  /** ID register bits 27:24. */
  id: u32;
  /** ID the IOAPIC takes at reset (what the firmware tables name it). */
  resetId: u32;
  ioregsel: u32;
  /** First global system interrupt: pin n is GSI gsiBase + n. */
  gsiBase: u32;
  /** Electrical level of each pin (bit n = pin n). */
  level: u32;
  pad: u32;
}

const RTE_OFF: usize = 32;
const STATS_OFF: usize = RTE_OFF + (<usize>IOAPIC_PINS << 3);
const RECORD: usize = STATS_OFF + (<usize>IOAPIC_STATS << 3);

let table: usize = 0;

// @ts-ignore: decorator
@inline export function at(h: i32): IoApic { return changetype<IoApic>(table + <usize>(h - 1) * RECORD); }

/** True for a live handle of this instance; a bad one is counted (Counter.BAD_HANDLE). */
export function valid(h: i32): bool {
  if (table != 0 && h >= 1 && h <= <i32>MAX_IOAPICS && at(h).live != 0) return true;
  counterAdd(Counter.BAD_HANDLE, 1);
  return false;
}

// In range: callers pass pin < IOAPIC_PINS (checked at every entry point).
// @ts-ignore: decorator
@inline export function rte(io: IoApic, pin: u32): u64 { return load<u64>(changetype<usize>(io) + RTE_OFF + (<usize>pin << 3)); }
// @ts-ignore: decorator
@inline export function setRte(io: IoApic, pin: u32, v: u64): void { store<u64>(changetype<usize>(io) + RTE_OFF + (<usize>pin << 3), v); }
// @ts-ignore: decorator
@inline export function rtePtr(io: IoApic): usize { return changetype<usize>(io) + RTE_OFF; }

// @ts-ignore: decorator
@inline export function stat(io: IoApic, i: i32): void {
  const p = changetype<usize>(io) + STATS_OFF + (<usize>i << 3);
  store<u64>(p, load<u64>(p) + 1);
}
/** Address of IOAPIC `h`'s IOAPIC_STATS u64 counters, or 0 for a bad handle. */
export function statsPtr(h: i32): usize {
  return valid(h) ? changetype<usize>(at(h)) + STATS_OFF : 0;
}

/** Linear memory the first ioapicCreate carves: this instance's table. */
export function ioapicCost(): u64 { return regionCost(<u64>MAX_IOAPICS * RECORD, 16); }

/**
 * Create an IOAPIC with ID `id` (0..15), pins at GSIs gsiBase..gsiBase+23,
 * version 0x11 or 0x20, and its pins at electrical levels `levels` (bit n =
 * pin n: the board's idle levels, taken without edge detection). IDs and GSI
 * ranges of one instance's IOAPICs must not overlap. Needs the VM's local
 * APICs (apic_create). Returns a handle or -status.
 */
export function ioapicCreate(id: u32, gsiBase: u32, version: u32, levels: u32): i32 {
  if (!apicReady()) return -Status.ERR_NOT_READY;
  if (id > ID_MAX || (version != VERSION_82093AA && version != VERSION_XAPIC) || (levels >> IOAPIC_PINS) != 0) return -Status.ERR_INVALID_ARG;
  if (<u64>gsiBase + <u64>IOAPIC_PINS > 0x1_0000_0000) return -Status.ERR_INVALID_ARG;
  if (table == 0) {
    table = regionAlloc(<u64>MAX_IOAPICS * RECORD, 16);
    if (table == 0) return -Status.ERR_NO_MEMORY;
  }
  let free: i32 = 0;
  for (let h: i32 = 1; h <= <i32>MAX_IOAPICS; h++) {
    const o = at(h);
    if (o.live == 0) { if (free == 0) free = h; continue; }
    if (o.resetId == id) return -Status.ERR_ALREADY;
    if (gsiBase < o.gsiBase + IOAPIC_PINS && o.gsiBase < gsiBase + IOAPIC_PINS) return -Status.ERR_ALREADY;
  }
  if (free == 0) return -Status.ERR_FULL;
  const io = at(free);
  memory.fill(changetype<usize>(io), 0, RECORD);
  io.live = 1; io.version = version; io.resetId = id; io.gsiBase = gsiBase; io.level = levels;
  reset(io);
  return free;
}

export function ioapicDestroy(h: i32): i32 {
  if (!valid(h)) return Status.ERR_BAD_HANDLE;
  at(h).live = 0;
  return Status.OK;
}

/** RESET (§3.2.4): every entry masked, ID back to its reset value, IOREGSEL 0. Pin levels are the board's and stay. */
export function reset(io: IoApic): void {
  io.id = io.resetId;
  io.ioregsel = 0;
  for (let pin: u32 = 0; pin < IOAPIC_PINS; pin++) setRte(io, pin, RTE_RESET);
}

// ---- Delivery ----

/** Level semantics: trigger bit set and a delivery mode that may be level-triggered (fixed, lowest priority). */
// @ts-ignore: decorator
@inline export function levelMode(e: u64): bool {
  const dm = (<u32>e >> RTE_DM_SHIFT) & 7;
  return (<u32>e & RTE_LEVEL) != 0 && (dm == DM_FIXED || dm == DM_LOWEST);
}

/** Is pin `pin` at its entry's active level? */
// @ts-ignore: decorator
@inline export function asserted(io: IoApic, pin: u32, e: u64): bool {
  return ((io.level >> pin) & 1) != ((<u32>e & RTE_POLARITY_LOW) != 0 ? 1 : 0);
}

/** Send entry `pin`'s message. Returns the local APICs it reached (0 when refused or none matched). */
function send(io: IoApic, pin: u32, e: u64): i32 {
  const lo = <u32>e, hi = <u32>(e >> 32);
  const dm = (lo >> RTE_DM_SHIFT) & 7;
  // §3.2.4: delivery modes 011 and 110 are reserved.
  if (dm == 3 || dm == 6) { stat(io, IoapicStat.RESERVED_MODE); return 0; }
  const level = levelMode(e);
  const addr: u32 = 0xFEE00000 | ((hi >> 24) << 12) | (((hi >> 17) & 0x7F) << 5) | ((lo & RTE_DEST_LOGICAL) != 0 ? 4 : 0);
  // Data: vector, delivery mode, level assert (bit 14), trigger mode (bit 15, only for the level-capable modes).
  const data: u32 = (lo & 0xFF) | (dm << 8) | (1 << 14) | (level ? 1 << 15 : 0);
  const n = msiDeliver(addr, 0, data);
  if (n <= 0) { stat(io, IoapicStat.NO_TARGET); return 0; }
  stat(io, IoapicStat.DELIVERED);
  if (level) setRte(io, pin, e | RTE_REMOTE_IRR);
  return n;
}

/** A level entry delivers while its pin is asserted, it is unmasked and remote IRR is clear. Returns true if it sent. */
function levelCheck(io: IoApic, pin: u32): bool {
  const e = rte(io, pin);
  if (!levelMode(e) || (<u32>e & (RTE_MASKED | RTE_REMOTE_IRR)) != 0 || !asserted(io, pin, e)) return false;
  return send(io, pin, e) > 0;
}

/** Drive pin `pin` (< IOAPIC_PINS) to electrical level `high`. */
export function setPin(io: IoApic, pin: u32, high: bool): void {
  const e = rte(io, pin);
  const was = asserted(io, pin, e);
  const bit: u32 = 1 << pin;
  io.level = high ? io.level | bit : io.level & ~bit;
  const now = asserted(io, pin, e);
  if (!now || was) return;
  if ((<u32>e & RTE_MASKED) != 0) { if (!levelMode(e)) stat(io, IoapicStat.EDGE_MASKED); return; }
  if (levelMode(e)) {
    if ((<u32>e & RTE_REMOTE_IRR) != 0) { stat(io, IoapicStat.LEVEL_COALESCED); return; }
    send(io, pin, e);
  } else {
    send(io, pin, e);
  }
}

/** Guest write of one dword of entry `pin` (`high`: bits 63:32). Read-only bits keep their value. */
export function writeRte(io: IoApic, pin: u32, high: bool, v: u32): void {
  const old = rte(io, pin);
  let e: u64;
  if (high) e = (old & 0xFFFF_FFFF) | (<u64>(v & RTE_HI_WRITABLE) << 32);
  else e = (old & 0xFFFF_FFFF_0000_0000) | <u64>(v & RTE_LO_WRITABLE) | <u64>(<u32>old & RTE_REMOTE_IRR);
  // An edge-triggered entry has no remote IRR (QEMU and guests rely on the level → edge → level toggle clearing it).
  if ((<u32>e & RTE_LEVEL) == 0) e &= ~<u64>RTE_REMOTE_IRR;
  setRte(io, pin, e);
  levelCheck(io, pin);
}

/** EOI for `vector` on one IOAPIC: clear matching remote IRRs, re-deliver pins still asserted. Returns remote IRRs cleared. */
export function eoi(io: IoApic, vector: u32): i32 {
  let cleared = 0;
  for (let pin: u32 = 0; pin < IOAPIC_PINS; pin++) {
    const e = rte(io, pin);
    if ((<u32>e & RTE_VECTOR_MASK) != vector || (<u32>e & RTE_REMOTE_IRR) == 0) continue;
    setRte(io, pin, e & ~<u64>RTE_REMOTE_IRR);
    stat(io, IoapicStat.REMOTE_IRR_CLEARED);
    cleared++;
    if (levelCheck(io, pin)) stat(io, IoapicStat.REDELIVERED);
  }
  return cleared;
}

/** An EOI broadcast of `vector` to every IOAPIC of this instance. Returns remote IRRs cleared. */
export function eoiAll(vector: u32): i32 {
  if (table == 0) return 0;
  let cleared = 0;
  for (let h: i32 = 1; h <= <i32>MAX_IOAPICS; h++) {
    const io = at(h);
    if (io.live == 0) continue;
    stat(io, IoapicStat.EOI_BROADCAST);
    cleared += eoi(io, vector);
  }
  return cleared;
}

/**
 * Take the local APICs' pending EOI broadcasts and apply each to every
 * IOAPIC. Returns the vectors taken. Bounded: at most 256 per call (each
 * take removes one bit; bits other threads set meanwhile wait for the next call).
 */
export function ioapicService(): i32 {
  if (table == 0 || !apicReady()) return 0;
  let n = 0;
  for (; n < 256; n++) {
    const v = eoiTake();
    if (v < 0) break;
    eoiAll(<u32>v);
  }
  return n;
}
