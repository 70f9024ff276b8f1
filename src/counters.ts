import { CoreDefs } from "./generated/constants.js";
import { camelTable } from "./tables.js";

/** Indices of the core counters (assembly/core/defs.ts Counter): `gmRangeErrors`, `badHandle`, `layoutChanges`, ... */
export const CoreCounter = camelTable(CoreDefs.Counter);
