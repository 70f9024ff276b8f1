// I/O APIC register layout and constants (Intel 82093AA I/O APIC datasheet
// §3; the EOI register of the version-0x20 I/O xAPIC in Intel ICH/PCH
// chipset datasheets). scripts/build-wasm.mjs generates IoapicDefs in
// src/generated/constants.ts from this file (src/devices/ioapic/defs.ts
// re-exports it under the host's names) and test/abi pins the values.

// Memory-mapped registers, offsets into the IOAPIC's window (§3.1).
/** Size of the MMIO window an IOAPIC decodes (the MADT reserves 4 KiB per IOAPIC). */
export const IOAPIC_MMIO_SIZE: u32 = 0x1000;
/** Default window base (0xFEC00000, §3.1). */
export const IOAPIC_DEFAULT_BASE: u32 = 0xFEC00000;
/** IOREGSEL: bits 7:0 select the register IOWIN reaches (§3.1.1). */
export const MMIO_IOREGSEL: u32 = 0x00;
/** IOWIN: the selected register's data, 32-bit accesses only (§3.1.2). */
export const MMIO_IOWIN: u32 = 0x10;
/** EOI (version 0x20 only, write-only): clears remote IRR of every entry whose vector is bits 7:0 of the value written. */
export const MMIO_EOI: u32 = 0x40;

// Registers behind IOWIN, by IOREGSEL index (§3.2).
export const REG_ID: u32 = 0x00;
export const REG_VER: u32 = 0x01;
export const REG_ARB: u32 = 0x02;
/** Redirection entry n: low dword at 0x10 + 2n, high dword at 0x11 + 2n. */
export const REG_REDTBL: u32 = 0x10;

/** Interrupt input pins (redirection entries) per IOAPIC: VER reports 23 as the maximum entry. */
export const IOAPIC_PINS: u32 = 24;
/** The 82093AA's version: no EOI register. */
export const VERSION_82093AA: u32 = 0x11;
/** The I/O xAPIC version with the EOI register (directed EOI). */
export const VERSION_XAPIC: u32 = 0x20;
/** IOAPIC IDs are 4 bits, ID register bits 27:24 (§3.2.1). */
export const ID_MAX: u32 = 15;

// Redirection entry fields (§3.2.4).
export const RTE_VECTOR_MASK: u32 = 0xFF;
export const RTE_DM_SHIFT: u32 = 8;
export const RTE_DEST_LOGICAL: u32 = 0x800;
/** Delivery status (read-only): delivery is immediate here, so it always reads 0 (idle). */
export const RTE_DELIVERY_STATUS: u32 = 0x1000;
/** Input pin polarity: 1 = active low. */
export const RTE_POLARITY_LOW: u32 = 0x2000;
/** Remote IRR (read-only): a level-triggered interrupt was accepted and awaits its EOI. */
export const RTE_REMOTE_IRR: u32 = 0x4000;
/** Trigger mode: 1 = level. */
export const RTE_LEVEL: u32 = 0x8000;
export const RTE_MASKED: u32 = 0x10000;
/** Writable bits of the low dword: vector, delivery mode, destination mode, polarity, trigger mode, mask. */
export const RTE_LO_WRITABLE: u32 = 0x1AFFF;
/** Writable bits of the high dword: destination (bits 63:56) and extended destination ID bits 14:8 (bits 55:49). */
export const RTE_HI_WRITABLE: u32 = 0xFFFE0000;
/** Reset value of every redirection entry: masked (§3.2.4). */
export const RTE_RESET: u32 = 0x10000;

// Delivery modes (§3.2.4, bits 10:8) are the local APIC's message modes: apic/defs.ts DM_*.

/** IOAPICs one wasm instance can hold. */
export const MAX_IOAPICS: u32 = 8;

// IOAPIC counters (u64 each at ioapic_counters_ptr(h)): guest mistakes and events, never traps.
export namespace IoapicStat {
  export const MMIO_BAD_ACCESS = 0;     // width/offset the window does not decode
  export const REG_UNIMPLEMENTED = 1;   // IOWIN access to an IOREGSEL index with no register (reads 0)
  export const REG_READ_ONLY = 2;       // write to VER or ARB (ignored)
  export const DELIVERED = 3;           // messages that reached at least one local APIC
  export const NO_TARGET = 4;           // messages whose destination matched no local APIC
  export const RESERVED_MODE = 5;       // delivery refused: delivery mode 011 or 110 (reserved)
  export const EDGE_MASKED = 6;         // edges on a masked pin (lost, §3.2.4)
  export const LEVEL_COALESCED = 7;     // assertions of a level pin whose remote IRR is set (no message)
  export const EOI_BROADCAST = 8;       // EOI broadcasts received from the local APICs
  export const EOI_DIRECTED = 9;        // writes to the EOI register
  export const REMOTE_IRR_CLEARED = 10; // remote IRR bits an EOI cleared
  export const REDELIVERED = 11;        // level interrupts sent again because the pin was still asserted at EOI
}
export const IOAPIC_STATS: i32 = 12;
