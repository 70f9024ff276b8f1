// memtest as a Machine device: `-s 5,memtest,size=64K,gpa=1M,interval_ms=1,msi=48`
// or `pci.0.5.0.device=memtest` builds a MemtestDevice (device.ts) with its
// window, tick size, timer and MSI vector from the config keys.

import { parseSize, validators } from "../../config/schema.js";
import type { DeviceFactory } from "../../machine/registry.js";
import { MemtestDevice } from "./device.js";

/** Registry entry: `-s 5,memtest,size=64K,gpa=1M,interval_ms=1,msi=48`. */
export const memtestFactory: DeviceFactory = {
  name: "memtest",
  description: "writes a counter pattern into a window of guest RAM (the machine runtime's test device)",
  keys: [
    { pattern: "gpa", validate: validators.size(0, 2 ** 32, 4), default: "0", description: "start of the window in guest RAM" },
    { pattern: "size", validate: validators.size(4, 2 ** 30, 4), default: "64K", description: "window length" },
    { pattern: "words", validate: validators.int(1, 65536), default: "64", description: "words written per tick" },
    { pattern: "interval_ms", validate: validators.int(0, 60_000), default: "0", description: "tick on a timer under a lease (0 = only when called)" },
    { pattern: "msi", validate: validators.int(16, 255), description: "raise an MSI with this vector after each tick" },
  ],
  create(ctx) {
    const o = ctx.options;
    const dev = new MemtestDevice(ctx.core, ctx.instanceName, {
      gpa: parseSize(o.gpa ?? "0"), size: parseSize(o.size ?? "64K"), wordsPerTick: Number(o.words ?? 64),
      msiVector: o.msi === undefined ? undefined : Number(o.msi),
    }, ctx.interrupts);
    const interval = Number(o.interval_ms ?? 0);
    if (interval > 0) dev.startTimer(ctx.lock, interval);
    return dev;
  },
  memoryBytes: (_options, core) => core.exports.memtest_memory_bytes() >>> 0,
};
