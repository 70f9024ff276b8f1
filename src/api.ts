// The platform-neutral public API (Node and browser entries both re-export it).
export { Status, statusName, VmdevError, type StatusCode } from "./status.js";
export { finishDestroy, DRAIN_WAIT_MS, type DestroyResult } from "./lifecycle.js";
export { CoreCounter } from "./counters.js";
export { VmCore, GuestMemory, DirtyBitmap, PAGE_SIZE, PAGE_SHIFT, GUEST_BITMAP, type VmCoreOptions, type PageRange, type SharedVm } from "./vm-core.js";
export { instantiate, createMemory, WASM_FILES, type ForeignRam, type WasmVariant, type VmdevWasm } from "./wasm.js";
export type { VmdevExports } from "./generated/exports.js";
export { IoApic, decodeRedirection, type IoApicOptions, type RedirectionEntry } from "./devices/ioapic/ioapic.js";
export { IoApicBoard, PCI_GSI_FIRST, type IoApicBoardOptions } from "./devices/ioapic/board.js";
export { IoApicCounter, IOAPIC_PINS, IOAPIC_DEFAULT_BASE, IOAPIC_MMIO_SIZE, VERSION_82093AA, VERSION_XAPIC } from "./devices/ioapic/defs.js";
export { buildAcpiTables, BOOT_ARCH, FADT_FLAGS, type AcpiOptions, type AcpiTables, type AcpiProcessor, type PlacedTable } from "./platform/acpi/acpi.js";
export { INTI, type MadtIoApic, type MadtOverride, type AcpiOem } from "./platform/acpi/tables.js";
export { buildSmbiosTables, MAX_DIMM_BYTES, type SmbiosOptions, type SmbiosTables, type SmbiosProcessors, type SmbiosRange, type SmbiosBios, type SmbiosSystem } from "./platform/smbios/smbios.js";
export {
  DeviceKind, HostKind, readEnvelopeHeader, sealEnvelope, openEnvelope, envelopeCodec, encodeFields, decodeFields, STATE_HEADER_SIZE,
  type EnvelopeHeader, type EnvelopeField, type EnvelopeSeal, type OpenedEnvelope, type EnvelopeCodec,
} from "./state.js";
export type { DeviceModel, MigratableDevice, MsiMessage, InterruptSink } from "./device.js";
export type { PciFunction, BarInfo, BarKind, RegisterSpan, PciHostAccess } from "./pci.js";
export { ManualClock, type GuestClock } from "./clock.js";
export { ApicBus, LocalApic, ApicEvent, ApicCounter, ApicMsr, ApicReg, NO_DEADLINE, type ApicBusOptions, type MsrResult } from "./devices/apic/index.js";
export {
  VirtioNet, VirtioNetRingBackend, ringModeOp, VIRTIO_NET_COUNTERS, VIRTIO_PCI_BARS, VIRTIO_STATUS_NEEDS_RESET, type VirtioNetOptions,
} from "./devices/virtio-net/index.js";
export { parseMac, formatMac } from "./net/mac.js";
export {
  VirtualSwitch, ALL_MULTICAST, SWITCH_PORT_COUNTERS, type SwitchPortDevice, type SwitchPortCounterName, type MembershipEvent, type PortMembership,
  type SwitchAttachOptions,
} from "./net/switch.js";
export type { MacString, MulticastWant, GroupBackend, AllMulticastReason } from "./net/control.js";
export {
  Reconciler, formatEvent as formatReconcileEvent,
  type ReconcilerOptions, type ReconcileEvent, type ReconcileCounters, type Mark as ReconcileMark, type EntryState as ReconcileEntryState,
} from "./net/reconcile.js";
export { attachReconciler, type FilteredNic } from "./net/attach.js";
export {
  Exclusive, ExclusiveRefusal, macOp, mtuOp, vlanOp, rarpAnnounce,
  type ExclusiveNic, type ExclusiveOp, type ExclusiveOptions, type ExclusiveResult, type ExclusivePhase, type PhaseMark,
  type AnnounceKind, type InFlightCell, type Refusal, type RefusedFeature,
} from "./net/exclusive.js";
export { virtioNetExclusive } from "./devices/virtio-net/exclusive.js";
export { e1000Exclusive } from "./devices/e1000/exclusive.js";
export { ne2kExclusive } from "./devices/ne2k/exclusive.js";
export { Responder, parseIpv4, internetChecksum, type ResponderOptions, type ResponderCounters } from "./net/responder.js";
export { HostLink, linkResponder, type FrameEndpoint, type FramePeer, type HostLinkCounters, type HostLinkOptions } from "./net/host-link.js";
export {
  RelayBackend, relayUrl, type RelayOptions, type RelayCounters, type RelaySocket, type RelaySocketConstructor,
} from "./net/backends/relay.js";
export {
  MIN_FRAME_BYTES, DEFAULT_MAX_FRAME_BYTES, MAX_FRAME_LIMIT,
  type NetworkBackend, type BackendState, type BackendCounters, type BackendPortOptions,
} from "./net/backends/port.js";
export { FrameStreamReader, encodeStreamFrame, STREAM_HEADER_BYTES, STREAM_MAX_FRAME } from "./net/backends/frame-stream.js";
export { parseExternalBackend, type ExternalBackendSpec } from "./net/backends/spec.js";
export { PcapWriter, LINKTYPE_ETHERNET, PCAP_MAGIC_US, PCAP_MAGIC_NS, type PcapOptions, type PcapSink, type PcapCounters, type PcapPrecision } from "./net/pcap.js";
export {
  V86PciAdapter, linkV86NetworkBus, saveV86Machine, restoreV86Machine, decodeMachine,
  type V86Emulator, type V86Cpu, type V86Pci, type V86PciAdapterOptions, type V86AdapterCounters, type PlacedBar, type V86MachineDevice, type DecodedMachine,
} from "./adapters/v86/index.js";
export * from "./rings/index.js";
export {
  NicEvents, NicEvent, NicFrameEvent, NicInterruptEvent, NicFilterEvent, NicResetEvent, NicLinkEvent, NIC_TRACE_CHANNELS,
  type NicEventMap, type NicEventType,
} from "./net/nic-events.js";
export { countersJson, type JsonCounter } from "./tables.js";
export { setTracer, currentTracer, traceChannels, type Tracer, type TraceChannel } from "./trace.js";
