// The NE2000 driver model (DP8390D data sheet, NE2000 board conventions),
// written independently of vmdev's device model: port I/O paths, the
// interrupt line, and the driver.
export * from "./defs.js";
export * from "./port-io.js";
export * from "./line.js";
export * from "./driver.js";
