// The synthetic guest's e1000 driver: the driver model and the constants it
// was written from (see driver.ts).
export * from "./defs.js";
export * from "./driver.js";
