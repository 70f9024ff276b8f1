// Saved state of one IOAPIC through the envelope (DeviceKind.IOAPIC): ID,
// IOREGSEL, the 24 redirection entries (remote IRR included) and the pin
// levels. The version and GSI base are configuration: a blob restores only
// into an IOAPIC configured the same way. Restore is all-or-nothing: every
// field is read and checked against what a guest can produce — no reserved
// or delivery-status bits, remote IRR only on level-triggered entries, a
// 4-bit ID, an 8-bit IOREGSEL, levels of existing pins only — before the
// IOAPIC is touched. Pending EOI broadcasts are taken before a save (so the
// saved remote IRRs include every EOI the guest already did) and, once the
// blob is accepted, before the restore replaces the state they were for.

import { Status } from "../core/status";
import { DeviceKind, envBegin, envPutU32, envPutBytes, envFinish, envOpen, envVersion, envGetU32, envU32, envFindExact } from "../core/state";
import { ioPtr, ioSize } from "../core/vm";
import { IOAPIC_PINS, ID_MAX, RTE_LO_WRITABLE, RTE_HI_WRITABLE, RTE_REMOTE_IRR, RTE_LEVEL } from "./defs";
import { IoApic, rtePtr, ioapicService } from "./model";

const VERSION: u32 = 1;
const T_VERSION: u32 = 1, T_GSI_BASE: u32 = 2, T_PINS: u32 = 3, T_ID: u32 = 4, T_IOREGSEL: u32 = 5;
const T_RTE: u32 = 6, T_LEVEL: u32 = 7;
const RTE_BYTES: u32 = IOAPIC_PINS << 3;

/** Save into the I/O buffer; returns the blob length or -status. */
export function ioapicSave(io: IoApic): i32 {
  ioapicService();
  envBegin(ioPtr(), ioSize(), DeviceKind.IOAPIC, VERSION);
  envPutU32(T_VERSION, io.version);
  envPutU32(T_GSI_BASE, io.gsiBase);
  envPutU32(T_PINS, IOAPIC_PINS);
  envPutU32(T_ID, io.id);
  envPutU32(T_IOREGSEL, io.ioregsel);
  envPutBytes(T_RTE, rtePtr(io), RTE_BYTES);
  envPutU32(T_LEVEL, io.level);
  return envFinish();
}

function u32Field(tag: u32): i64 { return envGetU32(tag) ? <i64>envU32() : -1; }

/** Restore from `len` bytes at the start of the I/O buffer. Nothing changes on error. */
export function ioapicRestore(io: IoApic, len: u32): i32 {
  if (len > ioSize()) return Status.ERR_STATE_LENGTH;
  const s = envOpen(ioPtr(), len, DeviceKind.IOAPIC);
  if (s != Status.OK) return s;
  if (envVersion() != VERSION) return Status.ERR_STATE_VERSION;
  const bad = Status.ERR_STATE_INVALID;
  if (u32Field(T_VERSION) != <i64>io.version || u32Field(T_GSI_BASE) != <i64>io.gsiBase || u32Field(T_PINS) != <i64>IOAPIC_PINS) return bad;
  const id = u32Field(T_ID); if (id < 0 || id > <i64>ID_MAX) return bad;
  const sel = u32Field(T_IOREGSEL); if (sel < 0 || sel > 0xFF) return bad;
  const level = u32Field(T_LEVEL); if (level < 0 || (level >> IOAPIC_PINS) != 0) return bad;
  const rtes = envFindExact(T_RTE, RTE_BYTES);
  if (rtes == 0) return bad;
  // Bounded and in range: IOAPIC_PINS entries of a field envFindExact proved RTE_BYTES long.
  for (let pin: u32 = 0; pin < IOAPIC_PINS; pin++) {
    const lo = load<u32>(rtes + (<usize>pin << 3)), hi = load<u32>(rtes + (<usize>pin << 3), 4);
    if ((lo & ~(RTE_LO_WRITABLE | RTE_REMOTE_IRR)) != 0 || (hi & ~RTE_HI_WRITABLE) != 0) return bad;
    // Remote IRR exists only on level-triggered entries: an edge write clears it.
    if ((lo & RTE_REMOTE_IRR) != 0 && (lo & RTE_LEVEL) == 0) return bad;
  }
  ioapicService();
  io.id = <u32>id;
  io.ioregsel = <u32>sel;
  io.level = <u32>level;
  memory.copy(rtePtr(io), rtes, RTE_BYTES);
  return Status.OK;
}
