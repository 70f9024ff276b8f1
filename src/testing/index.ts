// `vmdev/testing`: what a test of a device needs besides the device.
//
// - The synthetic guest (src/guest/): a virtio driver model written from the
//   virtio 1.2 specification independently of vmdev's devices (see
//   src/guest/virtio/README.md): guest RAM access and a bump allocator, the
//   mmio v2 and pci modern (+ MSI-X) transports, split virtqueues, the
//   virtio-net driver, an interrupt recorder and sequence-numbered frames;
//   and, as `e1000`, an Intel 8254x driver model written from the 8254x
//   manual (src/guest/e1000/), and
//   the NE2000 driver model (src/guest/ne2k/, as `ne2k`), written from the
//   DP8390D data sheet.
// - The migration test kit (src/testing/migration/): a bare stand-in source
//   and destination VM for the migration engine's own tests and bench, and
//   fault injection on a transport.
//
// Production code never imports this folder.
export * from "../guest/virtio/defs.js";
export * from "../guest/virtio/frames.js";
export * from "../guest/virtio/guest-ram.js";
export * from "../guest/virtio/interrupts.js";
export * from "../guest/virtio/split-queue.js";
export * from "../guest/virtio/transport.js";
export * from "../guest/virtio/net-driver.js";
export * as e1000 from "../guest/e1000/index.js";
export * as ne2k from "../guest/ne2k/index.js";
export { fillRandom } from "../guest/fill.js";
export { PciScanner, type PciScanResult, type ScannedFunction, type ScannedBar, type ScannedSriov, type VfEnableResult, type PciScannerOptions } from "../guest/pci-scan.js";
export { StandInSource, StandInDestination, type StandInOptions, type DirtyPattern } from "./migration/standin.js";
export { FaultyTransport, type Fault, type FaultAction } from "./migration/faults.js";
