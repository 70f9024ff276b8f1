// The PCI platform: a host bridge, buses, PCI-to-PCI bridges, SR-IOV
// physical functions, and what firmware does to them. Generic: devices
// register into it (a PciFunction on a bus, a VfProvider behind an SR-IOV PF).
export { PciRoot, type PciRootOptions, type PciRootCounters } from "./root.js";
export { PciSegment, barBase, type BarHit, type PciPlace, type VfHost, type Downstream } from "./segment.js";
export { PciBridge, type PciBridgeOptions, type PciBridgeCounters } from "./bridge.js";
export { SriovFunction, SRIOV_AT, MAX_TOTAL_VFS, type SriovOptions, type SriovCounters, type SriovVf, type VfProvider } from "./sriov.js";
export { assignPci, sriovCap, type FirmwareOptions, type FirmwareReport, type BridgeReport, type PlacedBarReport } from "./firmware.js";
export { pciBridgeDecoder, sriovDecoder } from "./inspect.js";
export * as PciRegs from "./defs.js";
