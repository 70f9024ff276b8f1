// The IOAPIC constants under the names the host uses, taken from the
// generated mirror of assembly/ioapic/defs.ts (src/generated/constants.ts,
// pinned by test/abi): no number is copied here.

import { IoapicDefs } from "../../generated/constants.js";
import { camelTable } from "../../tables.js";

export const {
  IOAPIC_MMIO_SIZE, IOAPIC_DEFAULT_BASE, MMIO_IOREGSEL, MMIO_IOWIN, MMIO_EOI,
  REG_ID, REG_VER, REG_ARB, REG_REDTBL,
  IOAPIC_PINS, VERSION_82093AA, VERSION_XAPIC, ID_MAX,
  RTE_VECTOR_MASK, RTE_DM_SHIFT, RTE_DEST_LOGICAL, RTE_DELIVERY_STATUS, RTE_POLARITY_LOW, RTE_REMOTE_IRR,
  RTE_LEVEL, RTE_MASKED, RTE_LO_WRITABLE, RTE_HI_WRITABLE, RTE_RESET,
  MAX_IOAPICS, IOAPIC_STATS,
} = IoapicDefs;

/** Indices of the IOAPIC counters (assembly/ioapic/defs.ts IoapicStat), camelCase: `mmioBadAccess`, ... */
export const IoApicCounter = camelTable(IoapicDefs.IoapicStat);
