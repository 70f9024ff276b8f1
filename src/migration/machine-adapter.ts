// The Machine runtime (src/machine/) as both ends of a live migration.
//
// Source: the machine's VmCore, its saved-state devices (guest clock, PCI
// devices, one local APIC per vCPU), the VM write lock (vCPUs frozen, leases
// broken) and the vCPU throttle. While a migration runs it owns the guest-RAM
// dirty bitmap (enables it, which clears it; harvests it each round): nothing
// else may harvest it meanwhile. vCPU workers write through the guest-memory
// port, so their writes are marked in it like device writes.
//
// Destination: a Machine built from a config tree with the RAM size HELLO
// announces and one vCPU per local APIC announced, created frozen (vCPU
// workers parked before their first write, guest clock stopped) until resume().
//
// Frames over virtio-net: a NIC device model plugs in through the registry;
// its `framesLost()`/`quiesce()`/`announce()` hooks (MigratableDevice) are the
// seam migration already calls (virtio-net: src/devices/virtio-net/machine.ts).

import { ConfigTree } from "../config/tree.js";
import { MAX_VCPUS } from "../config/schema.js";
import { Machine, type MachineOptions } from "../machine/machine.js";
import type { MachineDevice } from "../machine/registry.js";
import { DeviceKind } from "../state.js";
import type { VmCore } from "../vm-core.js";
import type { DestinationFactory, IncomingVm, MigratableDevice, MigrationDestination, MigrationSource } from "./types.js";

/** A running Machine as the source of a migration. */
export class MachineSource implements MigrationSource {
  private retiredFlag = false;

  constructor(readonly machine: Machine) {}

  get core(): VmCore { return this.machine.core; }
  get devices(): readonly MigratableDevice[] { return this.machine.stateDevices; }

  /** The VM write lock; its release thaws the vCPUs (never called after retire). */
  async writeLock(): Promise<() => void> {
    if (this.retiredFlag) throw new Error("the VM was migrated away");
    return this.machine.writeLock();
  }

  /** Migration's throttle is the fraction taken away (0 = full speed); the machine's is the fraction left to run. */
  setThrottle(fraction: number): void {
    const f = Math.min(0.99, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
    this.machine.setThrottle(Math.max(0.01, 1 - f));
  }

  /** The destination runs the VM: stop guest time here too; the write lock stays held for good. */
  retire(): void {
    this.retiredFlag = true;
    this.machine.clock.stop();
  }

  get retired(): boolean { return this.retiredFlag; }
}

/** A frozen Machine receiving a migration. */
export class MachineDestination implements MigrationDestination {
  resumedAt = 0;

  constructor(readonly machine: Machine, private readonly onResume?: (d: MachineDestination) => void | Promise<void>) {}

  get core(): VmCore { return this.machine.core; }
  get devices(): readonly MachineDevice[] { return this.machine.stateDevices; }
  get resumed(): boolean { return this.resumedAt !== 0; }

  /** Start the guest clock and the vCPUs (once). */
  async resume(): Promise<void> {
    if (this.resumedAt) throw new Error("resumed twice");
    this.resumedAt = performance.now();
    this.machine.resume();
    await this.onResume?.(this);
  }
}

/** A copy of `tree` (raw values, so `%(…)` references survive). */
export function cloneConfig(tree: ConfigTree): ConfigTree {
  const out = new ConfigTree();
  for (const k of tree.keys()) out.set(k, tree.raw(k)!);
  return out;
}

/**
 * The destination machine's config for an incoming VM: `base` with
 * memory.size from HELLO and, when the source announced local APICs, cpus =
 * their number (one APIC per vCPU). Devices other than the APICs come from
 * `base` (start the destination with the source's device options); a device
 * the source announces but `base` lacks makes the destination refuse the VM.
 */
export function destinationConfig(base: ConfigTree, vm: IncomingVm): ConfigTree {
  const tree = cloneConfig(base);
  tree.set("memory.size", String(vm.ramBytes));
  const apics = vm.devices.filter((d) => d.kind === DeviceKind.localApic).length;
  if (apics > MAX_VCPUS) throw new Error(`the source has ${apics} local APICs, a machine has at most ${MAX_VCPUS} vCPUs`);
  if (apics > 0) tree.set("cpus", String(apics));
  return tree;
}

/** Options of machineDestinationFactory. */
export interface MachineDestinationOptions extends Pick<MachineOptions, "registry" | "variant" | "module"> {
  /** Called after the machine resumed (vCPUs running). */
  onResume?(d: MachineDestination): void | Promise<void>;
  /** Told about the machine as soon as it exists (so the caller can destroy it whatever happens). */
  onCreated?(d: MachineDestination): void;
}

/** A DestinationFactory building a frozen Machine from `base` plus what HELLO announces. */
export function machineDestinationFactory(base: ConfigTree, o: MachineDestinationOptions = {}): DestinationFactory {
  return async (vm) => {
    const machine = await Machine.create(destinationConfig(base, vm), { registry: o.registry, variant: o.variant, module: o.module, startFrozen: true });
    const d = new MachineDestination(machine, o.onResume);
    o.onCreated?.(d);
    return d;
  };
}
