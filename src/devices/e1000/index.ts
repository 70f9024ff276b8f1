// The e1000's host room: the device API (device.ts) and its constants
// (defs.ts), platform-neutral; the Machine glue (machine.ts) is Node's and
// exported from src/index.ts. The model itself is in assembly/e1000/.
export { E1000, hostClock, type E1000Options } from "./device.js";
export { E1000_COUNTERS, E1000_BARS, type E1000CounterName } from "./defs.js";
