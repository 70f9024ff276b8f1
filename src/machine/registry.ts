// The device registry: device models are created from the config by name.
// A device plugs in by registering a factory:
//
//   registry.register({
//     name: "virtio-net",
//     keys: [{ pattern: "mac", validate: validators.mac(), description: "MAC address" }],
//     positional: ["backend"],
//     create: (ctx) => new VirtioNet(ctx.core, { name: ctx.instanceName, mac: ctx.options.mac, irq: ctx.interrupts }),
//   });
//
// and `-s 3,virtio-net,mac=…` (or `-o pci.0.3.0.device=virtio-net`) makes one.

import type { DeviceModel, InterruptSink } from "../device.js";
import type { VmCore } from "../vm-core.js";
import type { KeySpec } from "../config/schema.js";
import type { VmLock } from "../sync/vm-lock.js";

/** A device as the machine holds it: a DeviceModel that may need tearing down. */
export type MachineDevice = DeviceModel & { destroy?(): void | Promise<void> };

/** What a factory gets to build one device. */
export interface DeviceContext {
  core: VmCore;
  /** Config node of the device, e.g. "pci.0.3.0". */
  node: string;
  /** Unique instance name in the machine, e.g. "virtio-net0". */
  instanceName: string;
  /** The device's keys below its node (expanded), without `device`; validated against the factory's keys. */
  options: Record<string, string>;
  /** Where its interrupts go. */
  interrupts: InterruptSink;
  /** The VM lock, for devices that touch guest memory outside vCPU context (they sign leases). */
  lock: VmLock;
}

/** How to build one kind of device. */
export interface DeviceFactory {
  /** The emulation name used in config (`pci.B.S.F.device`). */
  name: string;
  description: string;
  /** The device's own keys, relative to its node (`mac`, `queues`); unknown keys are errors. */
  keys: KeySpec[];
  /** Names given to bare options of a legacy `-s` argument, in order. */
  positional?: string[];
  create(ctx: DeviceContext): MachineDevice | Promise<MachineDevice>;
}

/** Device factories by name. */
export class DeviceRegistry {
  private readonly factories = new Map<string, DeviceFactory>();

  register(f: DeviceFactory): this {
    if (this.factories.has(f.name)) throw new Error(`device '${f.name}' is already registered`);
    this.factories.set(f.name, f);
    return this;
  }

  get(name: string): DeviceFactory | undefined { return this.factories.get(name); }
  names(): string[] { return [...this.factories.keys()].sort(); }
  /** Positional option names for the legacy `-s` parser. */
  positional = (name: string): readonly string[] => this.factories.get(name)?.positional ?? [];
}
