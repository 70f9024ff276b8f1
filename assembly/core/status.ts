// Status codes: every exported function that can fail returns one of these
// (0 is success). The table lives in defs.ts with the other constants the
// host shares; this is the name the rest of the wasm imports it by.
export { Status, STATUS_MAX } from "./defs";
