// Mirror of the host-visible constants of assembly/e1000/defs.ts (counter
// indices, BARs, limits). test/devices/e1000/defs.test.ts pins every value
// here equal to the AssemblyScript source, so they cannot drift apart.

import type { BarInfo } from "../../pci.js";

export const E1K_VENDOR = 0x8086;
export const E1K_DEVICE = 0x100e;
export const E1K_BAR_MMIO = 0;
export const E1K_MMIO_BYTES = 0x20000;
export const E1K_BAR_IO = 1;
export const E1K_IO_BYTES = 0x40;
export const E1K_MAX_RX_FRAME = 16384;
export const E1K_MIN_BACKLOG_FRAMES = 1;
export const E1K_MAX_BACKLOG_FRAMES = 65536;
export const E1K_MIN_BACKLOG_BYTES = 32768;
export const E1K_MAX_BACKLOG_BYTES = 64 << 20;
export const E1K_COUNTERS = 32;
/** Guest time meaning "no deadline" (all ones). */
export const E1K_NO_DEADLINE = 0xffff_ffff_ffff_ffffn;

/** Index → name of the device's counters (assembly/e1000/defs.ts, namespace E1kCounter). */
export const E1000_COUNTERS = {
  txFrames: 0,
  txBytes: 1,
  rxFrames: 2,
  rxBytes: 3,
  rxFiltered: 4,
  rxBacklogged: 5,
  rxDropped: 6,
  txMalformed: 7,
  rxMalformed: 8,
  rxInvalid: 9,
  rxOversize: 10,
  rxNotReady: 11,
  badAccess: 12,
  badRegisterValue: 13,
  ringRejected: 14,
  txStalls: 15,
  txTsoSegments: 16,
  txCsumOffloads: 17,
  rxNoBuffer: 18,
  irqRaised: 19,
  irqThrottled: 20,
  backlogDrained: 21,
  ringFaults: 22,
  rxCsumOffloads: 23,
  rxVlanStripped: 24,
  txVlanInserted: 25,
  rxExactMatch: 26,
  rxHashMatch: 27,
  rxVlanFiltered: 28,
  eepromReads: 29,
  mdicAccesses: 30,
  clockBackwards: 31,
} as const;

export type E1000CounterName = keyof typeof E1000_COUNTERS;

/** The function's BARs: registers (BAR0) and the I/O window (BAR1). */
export const E1000_BARS: readonly BarInfo[] = [
  { index: E1K_BAR_MMIO, size: E1K_MMIO_BYTES, kind: "mem32" },
  { index: E1K_BAR_IO, size: E1K_IO_BYTES, kind: "io" },
];
