// The v86 adapter: a vmdev PCI function on a v86 machine (pci-adapter.ts has
// the data flow), its frames on v86's network bus, and the machine's state
// saved in one envelope.
export { V86PciAdapter } from "./pci-adapter.js";
export { linkV86NetworkBus, connectV86NetworkBus, type V86NetworkBusLink } from "./network-bus.js";
export { saveV86Machine, restoreV86Machine, decodeMachine, type V86MachineDevice, type DecodedMachine } from "./machine-state.js";
export type { V86Emulator, V86Cpu, V86Pci, V86PciDevice, V86Bus, V86LifecycleEvent, V86PciAdapterOptions, V86AdapterCounters, PlacedBar } from "./types.js";
export {
  v86MigrationSource, v86DestinationFactory, V86StateDevice, V86_STATE_DEVICE, MAX_V86_STATE_BYTES, packZeroRuns, unpackZeroRuns,
  type V86Source, type V86SourceOptions, type V86Destination, type V86DestinationOptions,
} from "./migration.js";
