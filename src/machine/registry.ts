// The device registry: device models are created from the config by name.
// A device plugs in by registering a factory from its room
// (src/devices/<dev>/machine.ts), e.g. memtest's:
//
//   registry.register({
//     name: "memtest",
//     description: "writes a counter pattern into a window of guest RAM",
//     keys: [
//       { pattern: "gpa", validate: validators.size(0, 2 ** 32, 4), default: "0", description: "start of the window" },
//       { pattern: "size", validate: validators.size(4, 2 ** 30, 4), default: "64K", description: "window length" },
//     ],
//     create: (ctx) => new MemtestDevice(ctx.core, ctx.instanceName,
//       { gpa: parseSize(ctx.options.gpa ?? "0"), size: parseSize(ctx.options.size ?? "64K") }, ctx.interrupts),
//     memoryBytes: (_options, core) => core.exports.memtest_memory_bytes() >>> 0,
//   });
//
// and `-s 5,memtest,gpa=1M` (or `-o pci.0.5.0.device=memtest`) makes one.

import type { JsonCounter } from "../tables.js";
import type { NicEvents } from "../net/nic-events.js";
import type { DeviceModel, InterruptSink } from "../device.js";
import type { VmCore } from "../vm-core.js";
import type { KeySpec } from "../config/schema.js";
import type { VmLock } from "../sync/vm-lock.js";
import type { InterruptRouter } from "./interrupts.js";
import type { GuestClock } from "../clock.js";

/** A device as the machine holds it: a DeviceModel that may need tearing down. */
/**
 * A device of a Machine. `countersJSON` (every built-in kind has it): its
 * counters as JSON-safe numbers; `events`: a NIC's typed events.
 */
export type MachineDevice = DeviceModel & {
  destroy?(): void | Promise<void>;
  countersJSON?(): Record<string, JsonCounter>;
  readonly events?: NicEvents;
};

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
  /** The machine's router: an interrupt controller model (the APIC) installs itself with `router.setController`. */
  router: InterruptRouter;
  /** The machine's guest clock (guest ns): timers keep their deadlines in it so they survive migration. */
  clock: GuestClock;
}

/**
 * How to build a device every vCPU has (the local APIC): one instance per
 * vCPU, named `<name><vcpu>`, configured by the keys below `<name>.` (e.g.
 * `lapic.mode=x2apic`), present whenever the factory is registered.
 */
export interface VcpuDeviceFactory {
  name: string;
  description: string;
  /** Keys relative to `<name>.`; unknown keys are errors. */
  keys: KeySpec[];
  /** `vcpu` is this instance's vCPU, `vcpus` the machine's vCPU count. */
  create(ctx: DeviceContext & { vcpu: number; vcpus: number }): MachineDevice | Promise<MachineDevice>;
  /** Linear memory all `vcpus` instances can take with these (validated) options; see DeviceFactory.memoryBytes. */
  memoryBytes?(options: Record<string, string>, vcpus: number, core: VmCore): number;
}

/**
 * How to build a device the platform has once (the IOAPIC): created after the
 * PCI and per-vCPU devices, named `<name>0`, configured by the keys below
 * `<name>.`, present whenever the factory is registered.
 */
export interface PlatformDeviceFactory {
  name: string;
  description: string;
  /** Keys relative to `<name>.`; unknown keys are errors. */
  keys: KeySpec[];
  /** `vcpus` is the machine's vCPU count. */
  create(ctx: DeviceContext & { vcpus: number }): MachineDevice | Promise<MachineDevice>;
  /** Linear memory the device can take with these (validated) options; see DeviceFactory.memoryBytes. */
  memoryBytes?(options: Record<string, string>, core: VmCore): number;
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
  /**
   * Bytes of linear memory `create` and the device's later use can take with
   * these (validated) options, from the wasm module's sizing queries. The
   * machine adds these up before it creates any device and refuses a config
   * that does not fit, so a valid config cannot fail at create for memory.
   * A device that takes wasm memory must say how much.
   */
  memoryBytes?(options: Record<string, string>, core: VmCore): number;
  /**
   * The whole-number option that scales memoryBytes (virtio-net: `backlog`):
   * an over-budget config is refused naming it, with the largest value that fits.
   */
  memoryKey?: string;
}

/** Device factories by name. */
export class DeviceRegistry {
  private readonly factories = new Map<string, DeviceFactory>();

  register(f: DeviceFactory): this {
    if (this.factories.has(f.name)) throw new Error(`device '${f.name}' is already registered`);
    this.factories.set(f.name, f);
    return this;
  }

  private readonly vcpuFactories = new Map<string, VcpuDeviceFactory>();

  /** Register a per-vCPU device (see VcpuDeviceFactory). */
  registerVcpuDevice(f: VcpuDeviceFactory): this {
    this.checkNodeName(f.name);
    this.vcpuFactories.set(f.name, f);
    return this;
  }

  /** Per-vCPU device factories, in registration order. */
  vcpuDevices(): VcpuDeviceFactory[] { return [...this.vcpuFactories.values()]; }

  private readonly platformFactories = new Map<string, PlatformDeviceFactory>();

  /** Register a once-per-machine platform device (see PlatformDeviceFactory). */
  registerPlatformDevice(f: PlatformDeviceFactory): this {
    this.checkNodeName(f.name);
    this.platformFactories.set(f.name, f);
    return this;
  }

  /** Platform device factories, in registration order. */
  platformDevices(): PlatformDeviceFactory[] { return [...this.platformFactories.values()]; }

  private checkNodeName(name: string): void {
    if (this.vcpuFactories.has(name) || this.platformFactories.has(name) || this.factories.has(name)) throw new Error(`device '${name}' is already registered`);
    if (/^(name|memory|cpus|vcpu|lock|var|workload|pci)$/.test(name)) throw new Error(`'${name}' is a machine config node, not a device name`);
  }

  get(name: string): DeviceFactory | undefined { return this.factories.get(name); }
  names(): string[] { return [...this.factories.keys()].sort(); }
  /** Positional option names for the legacy `-s` parser. */
  positional = (name: string): readonly string[] => this.factories.get(name)?.positional ?? [];
}
