// The e1000 constants under the names the host uses, taken from the
// generated mirror of assembly/e1000/defs.ts (src/generated/constants.ts,
// pinned by test/abi): no number is copied here.

import type { BarInfo } from "../../pci.js";
import { E1000Defs } from "../../generated/constants.js";
import { camelTable } from "../../tables.js";

export const {
  E1K_VENDOR, E1K_DEVICE, E1K_BAR_MMIO, E1K_MMIO_BYTES, E1K_BAR_IO, E1K_IO_BYTES, E1K_MAX_RX_FRAME,
  E1K_MIN_BACKLOG_FRAMES, E1K_MAX_BACKLOG_FRAMES, E1K_MIN_BACKLOG_BYTES, E1K_MAX_BACKLOG_BYTES,
  E1K_NO_DEADLINE, E1K_COUNTERS, PENDING_TX, PENDING_INTX, PENDING_FILTER, MC_MODE_UPE, MC_MODE_MPE, MC_MODE_MTA,
  E1K_RAR_ENTRIES,
} = E1000Defs;

/** Name → index of the device's counters (assembly/e1000/defs.ts E1kCounter), camelCase: `txFrames`, `rxDropped`, ... */
export const E1000_COUNTERS = camelTable(E1000Defs.E1kCounter);

export type E1000CounterName = keyof typeof E1000_COUNTERS;

/** The function's BARs: registers (BAR0) and the I/O window (BAR1). */
export const E1000_BARS: readonly BarInfo[] = [
  { index: E1K_BAR_MMIO, size: E1K_MMIO_BYTES, kind: "mem32" },
  { index: E1K_BAR_IO, size: E1K_IO_BYTES, kind: "io" },
];
