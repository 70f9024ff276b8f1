// The constants of assembly/ne2k/defs.ts the TypeScript glue needs. A test
// (test/devices/ne2k/defs.test.ts) pins every value here to the wasm source.

export const NE2K_DEFS = {
  NE_PORTS: 32,
  BAR0_SIZE: 32,
  PCI_VENDOR: 0x10ec,
  PCI_DEVICE: 0x8029,
  MAX_FRAME: 1518,
  ETH_HEADER: 14,
  DEFAULT_BACKLOG: 256,
  MAX_BACKLOG: 4096,
  NE2K_COUNTERS: 32,
  RUN_MAX: 1024,
} as const;

/** Counter name → index (assembly/ne2k/defs.ts Ne2kCounter, the same names in camelCase). */
export const NE2K_COUNTERS: Readonly<Record<string, number>> = {
  badAccess: 0, ioDisabled: 1, regUnmodelled: 2, dmaIdle: 3, dmaOutside: 4, dmaRefused: 5,
  txFrames: 6, txBytes: 7, txMalformed: 8, txLoopback: 9, txStalls: 10, txWhileStopped: 11,
  rxFrames: 12, rxBytes: 13, rxFiltered: 14, rxMulticastFiltered: 15, rxBacklogged: 16, rxDropped: 17,
  rxOffline: 18, rxMonitor: 19, rxTooBig: 20, rxInvalid: 21, rxRingInvalid: 22, rxNoBoundary: 23,
  backlogDrained: 24, rxMulticast: 25, rxBroadcast: 26, irqRaised: 27, resets: 28, overflows: 29,
};
