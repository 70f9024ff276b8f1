// The platform-neutral public API (Node and browser entries both re-export it).
export { Status, statusName, VmdevError, type StatusCode } from "./status.js";
export { CoreCounter } from "./counters.js";
export { VmCore, GuestMemory, DirtyBitmap, PAGE_SIZE, PAGE_SHIFT, GUEST_BITMAP, type VmCoreOptions, type PageRange, type SharedVm } from "./vm-core.js";
export { instantiate, createMemory, WASM_FILES, type ForeignRam, type WasmVariant, type VmdevWasm } from "./wasm.js";
export type { VmdevExports } from "./generated/exports.js";
export { DeviceKind, readEnvelopeHeader, STATE_HEADER_SIZE, type EnvelopeHeader } from "./state.js";
export type { DeviceModel, MsiMessage, InterruptSink } from "./device.js";
export type { PciFunction, BarInfo, BarKind } from "./pci.js";
export { ApicBus, LocalApic, ManualClock, ApicEvent, ApicCounter, ApicMsr, ApicReg, NO_DEADLINE, type GuestClock, type ApicBusOptions, type MsrResult } from "./apic/apic-bus.js";
export { VirtioNet, VirtualSwitch, VIRTIO_NET_COUNTERS, VIRTIO_PCI_BARS, VIRTIO_STATUS_NEEDS_RESET, type VirtioNetOptions } from "./net/virtio-net.js";
export { E1000, hostClock, type E1000Options } from "./devices/e1000/e1000.js";
export { E1000_COUNTERS, E1000_BARS, type E1000CounterName } from "./devices/e1000/defs.js";
export { Responder, parseMac, parseIpv4, internetChecksum, type ResponderOptions, type ResponderCounters } from "./net/responder.js";
export {
  V86PciAdapter, FrameLink, linkResponder, linkV86NetworkBus, saveV86Machine, restoreV86Machine, decodeMachine,
  type V86Emulator, type V86Cpu, type V86Pci, type V86PciAdapterOptions, type V86AdapterCounters, type PlacedBar,
  type FrameEndpoint, type FrameLinkCounters, type FrameLinkOptions, type FramePeer, type V86MachineDevice,
} from "./adapters/v86.js";
