// Node entry point.
import { loadModule, type NodeWasmLocation } from "./load-node.js";
import { VmCore, type VmCoreOptions } from "./vm-core.js";
import type { WasmVariant } from "./wasm.js";
import { attachV86Nic, type AttachToV86Options, type V86Nic } from "./adapters/v86/attach.js";
import type { V86Emulator } from "./adapters/v86/types.js";
import { installDiagnosticsChannel } from "./trace-node.js";

// Trace events go to node:diagnostics_channel (free while nobody subscribes).
installDiagnosticsChannel();

export * from "./api.js";
export { loadModule, type NodeWasmLocation };
export { WasmLoadError, compileWasmSource, type WasmSource } from "./wasm-source.js";
export { V86_SUPPORTED, type AttachToV86Options, type V86Nic, type V86NicModel, type V86NicDevice } from "./adapters/v86/attach.js";
export { v86MigrationSource, v86DestinationFactory, V86StateDevice, type V86Source, type V86SourceOptions, type V86Destination, type V86DestinationOptions } from "./adapters/v86/migration.js";

/** Create a VM core in Node, compiling the wasm variant on first use (`wasm` points elsewhere; see loadModule). */
export async function createVmCore(opts: { ramBytes: number; variant?: WasmVariant } & NodeWasmLocation & Omit<VmCoreOptions, "module" | "variant" | "ramBytes">): Promise<VmCore> {
  const { wasm, ...rest } = opts;
  const variant = opts.variant ?? "release";
  return VmCore.create({ ...rest, variant, module: await loadModule(variant, { wasm }) });
}

/**
 * Plug a vmdev NIC into a v86 emulator in one call (src/adapters/v86/attach.ts
 * has the details); `wasm` locates the module as for loadModule.
 */
export function attachToV86(emulator: V86Emulator, opts: AttachToV86Options & NodeWasmLocation): Promise<V86Nic> {
  const { wasm, ...rest } = opts;
  const variant = opts.variant ?? "release";
  return attachV86Nic(emulator, { ...rest, variant }, () => loadModule(variant, { wasm }));
}

// The machine runtime (Node: vCPUs are worker_threads).
export { ConfigTree, ConfigError, MAX_EXPANSION_DEPTH, MAX_VALUE_LENGTH, MAX_EXPANSION_TOTAL } from "./config/tree.js";
export { MACHINE_SCHEMA, parseSize, parseBool, validators, type KeySpec, type Validator } from "./config/schema.js";
export { applyDeviceArg, applyMemoryArg, applyCpusArg, pciNode } from "./config/legacy.js";
export { Machine, SyncError, createDefaultRegistry, validateConfig, effectiveConfig, type MachineOptions, type DirtyRateSample } from "./machine/machine.js";
export { planMachineMemory, MemoryBudgetError, type MemoryPlan, type MemoryPart } from "./machine/memory.js";
export { DeviceRegistry, type DeviceFactory, type VcpuDeviceFactory, type PlatformDeviceFactory, type DeviceContext, type MachineDevice } from "./machine/registry.js";
export { InterruptRouter, pciIntxGsi, PCI_INTX_GSI_BASE, type InterruptController, type InterruptCounts, type IntxAddress } from "./machine/interrupts.js";
export { IoApicDevice, ioapicFactory, IOAPIC_POLL_MS } from "./devices/ioapic/machine.js";
export { machineFirmwareTables, type MachineFirmwareOptions } from "./platform/machine.js";
export { attachToMachine, runUnderLease, type MachineWorkerHandle, type LeaseLoopStats } from "./machine/worker-side.js";
export { MemtestDevice, type MemtestOptions } from "./devices/memtest/device.js";
export { memtestFactory } from "./devices/memtest/machine.js";
export { MachineVirtioNet, virtioNetFactory, parseNetBackend, type NetBackend } from "./devices/virtio-net/machine.js";
export { MachineE1000, e1000Factory } from "./devices/e1000/machine.js";
export { Ne2k, NE2K_PCI_BARS, NE2K_COUNTERS, type Ne2kOptions } from "./devices/ne2k/device.js";
export { MachineNe2k, ne2kFactory, type Ne2kBackend } from "./devices/ne2k/machine.js";
export { PciBus, machinePciBus, PCI_NO_DEVICE, type PciAddress, type PciBusEntry } from "./machine/pci-bus.js";
export { VdeBackend, type VdeOptions, type VdeCounters, type VdeExit } from "./net/backends/vde.js";
export { openBackend, NODE_WEBSOCKET } from "./net/backends/node.js";
export * from "./platform/pci/index.js";
export { virtioNetSriov, vfMac, type VirtioNetSriovOptions, type VirtioNetVf } from "./devices/virtio-net/sriov.js";
export { openPcapFile, type PcapFile } from "./net/pcap-file.js";
export { fillRandom } from "./guest/fill.js";
export { startNetTraffic, createNetPeer, TRAFFIC_ETHERTYPE, type NetTraffic, type NetTrafficOptions, type NetTrafficStats, type NetPeer } from "./guest/traffic.js";
export { SyncState } from "./sync/shared.js";
export { VmLock, Lease, type SyncStatus, type LockResult, type VcpuFreezer, type WaitOptions } from "./sync/vm-lock.js";
export { VcpuHost, type VcpuStats } from "./vcpu/host.js";
export { VcpuCell, VcpuState, VcpuOwner, legalTransition, type TransitionResult } from "./vcpu/state.js";
export { spawnWorker, siblingModule } from "./vcpu/spawn.js";
export type { WorkloadSpec, WorkloadPattern } from "./vcpu/workload.js";
export * from "./migration/index.js";
export * from "./inspect/index.js";
export { installDiagnosticsChannel } from "./trace-node.js";
export * from "./control/index.js";
