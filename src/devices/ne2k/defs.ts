// Numbers of the NE2000 shared with the wasm, from the generated mirror of
// assembly/ne2k/defs.ts: the constants the host glue needs and the counter
// names.

import { camelTable } from "../../tables.js";
import { Ne2kDefs } from "../../generated/constants.js";

/** The NE2000 constants of assembly/ne2k/defs.ts (port window, PCI IDs, frame and backlog limits, run length, outbox slots). */
export const NE2K_DEFS = Ne2kDefs;

/** Counter name → index (assembly/ne2k/defs.ts Ne2kCounter): `badAccess`, `txFrames`, `rxDropped`, ... */
export const NE2K_COUNTERS: Readonly<Record<string, number>> = camelTable(Ne2kDefs.Ne2kCounter);
