// TypeScript mirror of assembly/ioapic/defs.ts (the one source of these
// values). test/devices/ioapic/defs.test.ts fails when the two disagree.

/** Size of an IOAPIC's MMIO window. */
export const IOAPIC_MMIO_SIZE = 0x1000;
/** Default window base. */
export const IOAPIC_DEFAULT_BASE = 0xfec00000;
/** IOREGSEL offset in the window. */
export const MMIO_IOREGSEL = 0x00;
/** IOWIN offset in the window (32-bit accesses only). */
export const MMIO_IOWIN = 0x10;
/** EOI register offset (version 0x20 only, write-only). */
export const MMIO_EOI = 0x40;
/** IOREGSEL index of the ID register. */
export const REG_ID = 0x00;
/** IOREGSEL index of the version register. */
export const REG_VER = 0x01;
/** IOREGSEL index of the arbitration ID register. */
export const REG_ARB = 0x02;
/** IOREGSEL index of redirection entry 0's low dword (entry n: 0x10 + 2n, high dword + 1). */
export const REG_REDTBL = 0x10;
/** Input pins (redirection entries) per IOAPIC. */
export const IOAPIC_PINS = 24;
/** The 82093AA's version (no EOI register). */
export const VERSION_82093AA = 0x11;
/** The I/O xAPIC version with the EOI register. */
export const VERSION_XAPIC = 0x20;
/** Largest IOAPIC ID (4 bits). */
export const ID_MAX = 15;
export const RTE_VECTOR_MASK = 0xff;
export const RTE_DM_SHIFT = 8;
export const RTE_DEST_LOGICAL = 0x800;
export const RTE_DELIVERY_STATUS = 0x1000;
export const RTE_POLARITY_LOW = 0x2000;
export const RTE_REMOTE_IRR = 0x4000;
export const RTE_LEVEL = 0x8000;
export const RTE_MASKED = 0x10000;
export const RTE_LO_WRITABLE = 0x1afff;
export const RTE_HI_WRITABLE = 0xfffe0000;
export const RTE_RESET = 0x10000;
/** IOAPICs one wasm instance can hold. */
export const MAX_IOAPICS = 8;

/** Indices of the IOAPIC counters (assembly/ioapic/defs.ts, IoapicStat). */
export const IoApicCounter = {
  mmioBadAccess: 0,
  regUnimplemented: 1,
  regReadOnly: 2,
  delivered: 3,
  noTarget: 4,
  reservedMode: 5,
  edgeMasked: 6,
  levelCoalesced: 7,
  eoiBroadcast: 8,
  eoiDirected: 9,
  remoteIrrCleared: 10,
  redelivered: 11,
} as const;
export const IOAPIC_STATS = 12;
