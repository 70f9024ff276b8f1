// The one door into an IOAPIC's registers (82093AA datasheet §3.1, §3.2).
// The window decodes:
//   * IOREGSEL at 0x00: 1-, 2- or 4-byte accesses (bits 7:0 are the index,
//     bits 31:8 reserved: read 0, writes ignored);
//   * IOWIN at 0x10: 32-bit accesses only, to the register IOREGSEL selects;
//   * EOI at 0x40 (version 0x20 only): 32-bit writes.
// Any other offset or width inside the window is refused (ERR_INVALID_ARG),
// reads 0, changes nothing and is counted. Behind IOWIN: ID (bits 27:24
// writable), VER and ARB (read-only; writes counted and ignored) and the
// redirection entries 0x10–0x3F; other indices read 0, ignore writes and are
// counted.

import { Status } from "../core/status";
import {
  IOAPIC_MMIO_SIZE, MMIO_IOREGSEL, MMIO_IOWIN, MMIO_EOI, REG_ID, REG_VER, REG_ARB, REG_REDTBL, IOAPIC_PINS,
  VERSION_XAPIC, IoapicStat,
} from "./defs";
import { IoApic, rte, writeRte, eoi, stat } from "./model";

let value: u32 = 0;
/** Value of the last read. */
export function gateValue(): u32 { return value; }

function bad(io: IoApic): i32 { stat(io, IoapicStat.MMIO_BAD_ACCESS); value = 0; return Status.ERR_INVALID_ARG; }

/** Register `index` as IOWIN reads it. */
export function regRead(io: IoApic, index: u32): u32 {
  if (index == REG_ID || index == REG_ARB) return io.id << 24; // ARB is loaded with the ID (§3.2.3)
  if (index == REG_VER) return io.version | ((IOAPIC_PINS - 1) << 16);
  if (index >= REG_REDTBL && index < REG_REDTBL + (IOAPIC_PINS << 1)) {
    const e = rte(io, (index - REG_REDTBL) >> 1);
    return (index & 1) != 0 ? <u32>(e >> 32) : <u32>e;
  }
  stat(io, IoapicStat.REG_UNIMPLEMENTED);
  return 0;
}

/** Register `index` as IOWIN writes it. */
export function regWrite(io: IoApic, index: u32, v: u32): void {
  if (index == REG_ID) { io.id = (v >> 24) & 0xF; return; }
  if (index == REG_VER || index == REG_ARB) { stat(io, IoapicStat.REG_READ_ONLY); return; }
  if (index >= REG_REDTBL && index < REG_REDTBL + (IOAPIC_PINS << 1)) {
    writeRte(io, (index - REG_REDTBL) >> 1, (index & 1) != 0, v);
    return;
  }
  stat(io, IoapicStat.REG_UNIMPLEMENTED);
}

/** MMIO read of `width` bytes at window offset `offset`; the value is in gateValue(). */
export function mmioRead(io: IoApic, offset: u32, width: u32): i32 {
  value = 0;
  if (offset >= IOAPIC_MMIO_SIZE) return bad(io);
  if (offset == MMIO_IOREGSEL && (width == 1 || width == 2 || width == 4)) { value = io.ioregsel; return Status.OK; }
  if (offset == MMIO_IOWIN && width == 4) { value = regRead(io, io.ioregsel); return Status.OK; }
  return bad(io); // includes reads of the write-only EOI register
}

/** MMIO write of `width` bytes at window offset `offset`. */
export function mmioWrite(io: IoApic, offset: u32, width: u32, v: u32): i32 {
  if (offset >= IOAPIC_MMIO_SIZE) return bad(io);
  if (offset == MMIO_IOREGSEL && (width == 1 || width == 2 || width == 4)) { io.ioregsel = v & 0xFF; return Status.OK; }
  if (offset == MMIO_IOWIN && width == 4) { regWrite(io, io.ioregsel, v); return Status.OK; }
  if (offset == MMIO_EOI && width == 4 && io.version == VERSION_XAPIC) {
    stat(io, IoapicStat.EOI_DIRECTED);
    eoi(io, v & 0xFF);
    return Status.OK;
  }
  return bad(io);
}
