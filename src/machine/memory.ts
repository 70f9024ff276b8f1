// A machine's linear-memory budget. Guest RAM, every device's state and each
// vCPU worker's buffers are carved from one wasm memory of at most 4 GiB and
// never freed, so a config whose parts do not fit would fail halfway through
// Machine.create with ERR_NO_MEMORY (or later, on a device's first use). The
// machine instead adds up what each part can take (the vCPU pool: one attach
// per thread, not per vCPU), from the wasm module's own
// sizing queries (vnet_memory_bytes, apic_memory_bytes, vm_attach_bytes, …),
// before it creates any device: a config that does not fit is refused naming
// the key to change and the largest value that fits; one that fits has its
// memory reserved (grown) up front, so no allocation during create can fail.

import { ConfigError, type ConfigTree } from "../config/tree.js";
import { findSpec, parseSize, valueOf } from "../config/schema.js";
import { MAX_WASM_PAGES } from "../wasm.js";
import type { VmCore } from "../vm-core.js";
import { VCPU_WORKER_IO_BYTES, vcpuThreads } from "../vcpu/host.js";
import type { DeviceFactory, DeviceRegistry } from "./registry.js";

/** One part of a machine's memory budget. */
export interface MemoryPart {
  /** Config node it comes from: a PCI node (pci.0.3.0), a per-vCPU device (lapic), a platform device (ioapic), or `cpus` for the vCPU pool threads. */
  node: string;
  bytes: number;
}

/** What a machine's parts can take, against what its wasm memory has left after guest RAM. */
export interface MemoryPlan {
  /** Bytes the memory could still give when planned (after guest RAM, dirty bitmap, I/O buffer). */
  free: number;
  parts: MemoryPart[];
  /** Sum of the parts. */
  need: number;
}

/** A config that does not fit the wasm memory; `largest` is the largest value of `key` that would (null if none alone would). */
export class MemoryBudgetError extends ConfigError {
  constructor(key: string, message: string, readonly largest: number | null) {
    super(key, message);
    this.name = "MemoryBudgetError";
  }
}

const MIB = 2 ** 20;
const mib = (n: number) => `${(n / MIB).toFixed(1)} MiB`;

/** Bytes the wasm memory of `core` can still give regions. */
export function memoryFree(core: VmCore): number {
  const used = core.exports.vm_memory_used() >>> 0;
  return Math.min(core.exports.vm_memory_free() >>> 0, MAX_WASM_PAGES * 65536 - used);
}

interface PciPart extends MemoryPart { factory: DeviceFactory; options: Record<string, string> }

/**
 * What the devices of a validated `config` (PCI nodes `nodes`, the registry's
 * per-vCPU and platform devices) and, with `startVcpus`, its vCPU workers can take in
 * `core`, whose guest RAM exists already. Throws a MemoryBudgetError naming
 * the key when they do not fit.
 */
export function planMachineMemory(config: ConfigTree, core: VmCore, registry: DeviceRegistry, nodes: readonly string[], opts: { startVcpus: boolean }): MemoryPlan {
  const cpus = Number(valueOf(config, "cpus"));
  const free = memoryFree(core);
  const pci: PciPart[] = [];
  for (const node of nodes) {
    const { device, ...options } = config.subtree(node);
    const factory = registry.get(device)!;
    pci.push({ node, factory, options, bytes: factory.memoryBytes?.(options, core) ?? 0 });
  }
  const parts: MemoryPart[] = pci.map(({ node, bytes }) => ({ node, bytes }));
  for (const f of registry.vcpuDevices()) parts.push({ node: f.name, bytes: f.memoryBytes?.(config.subtree(f.name), cpus, core) ?? 0 });
  for (const f of registry.platformDevices()) parts.push({ node: f.name, bytes: f.memoryBytes?.(config.subtree(f.name), core) ?? 0 });
  if (opts.startVcpus) {
    const each = core.exports.vm_attach_bytes(VCPU_WORKER_IO_BYTES);
    if (each < 0) throw new Error(`vm_attach_bytes(${VCPU_WORKER_IO_BYTES}): status ${-each}`);
    parts.push({ node: "cpus", bytes: each * vcpuThreads(cpus, valueOf(config, "vcpu.threads")) });
  }
  const need = parts.reduce((a, p) => a + p.bytes, 0);
  if (need > free) throw overBudget(config, core, pci, free, need);
  return { free, parts, need };
}

/**
 * What one device hot-plugged into a running machine (`node`, a factory and
 * its validated options) can take, against what `core`'s memory has left.
 * Throws a MemoryBudgetError naming the device's memory key (with the
 * largest value that fits) or its node when it does not fit.
 */
export function planDeviceMemory(core: VmCore, node: string, factory: DeviceFactory, options: Record<string, string>): MemoryPlan {
  const free = memoryFree(core);
  const bytes = factory.memoryBytes?.(options, core) ?? 0;
  if (bytes <= free) return { free, parts: [{ node, bytes }], need: bytes };
  const key = factory.memoryKey;
  const spec = key ? findSpec(factory.keys, key) : undefined;
  if (key && spec) {
    const current = Number(options[key] ?? spec.default);
    const fits = (v: number) => spec.validate(String(v)) === null && factory.memoryBytes!({ ...options, [key]: String(v) }, core) <= free;
    let lo = 0, hi = current;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (fits(mid)) lo = mid; else hi = mid;
    }
    if (lo > 0 && fits(lo)) {
      throw new MemoryBudgetError(`${node}.${key}`,
        `${key}=${current} makes this device need ${mib(bytes)} of wasm memory, but the running machine has ${mib(free)} left: at most ${key}=${lo} fits`, lo);
    }
  }
  throw new MemoryBudgetError(`${node}.device`, `this device needs ${mib(bytes)} of wasm memory, but the running machine has ${mib(free)} left`, null);
}

/** The error for a plan over budget: the knob of the biggest device if turning it down alone fits, else guest RAM. */
function overBudget(config: ConfigTree, core: VmCore, pci: PciPart[], free: number, need: number): MemoryBudgetError {
  const ram = valueOf(config, "memory.size")!;
  const biggest = pci.filter((p) => p.factory.memoryKey).sort((a, b) => b.bytes - a.bytes)[0];
  if (biggest) {
    const key = biggest.factory.memoryKey!;
    const spec = findSpec(biggest.factory.keys, key);
    const current = Number(biggest.options[key] ?? spec?.default);
    const room = free - (need - biggest.bytes);
    const fits = (v: number) => spec?.validate(String(v)) === null && biggest.factory.memoryBytes!({ ...biggest.options, [key]: String(v) }, core) <= room;
    // The largest fitting value below the current one (memory grows with the value).
    let lo = 0, hi = current;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (fits(mid)) lo = mid; else hi = mid;
    }
    if (lo > 0 && fits(lo)) {
      return new MemoryBudgetError(`${biggest.node}.${key}`,
        `${key}=${current} makes this device need ${mib(biggest.bytes)} of wasm memory, but guest RAM (memory.size=${ram}) and the rest of the machine ` +
        `leave it ${mib(Math.max(0, room))} of the 4 GiB address space: at most ${key}=${lo} fits`, lo);
    }
  }
  // Guest RAM is the other knob: what is left for it once the devices have theirs.
  const ramBytes = parseSize(ram);
  const largestRam = Math.floor((ramBytes - (need - free)) / (64 * 1024)) * 64 * 1024;
  return new MemoryBudgetError("memory.size",
    `the devices and vCPUs need ${mib(need)} of wasm memory, but with memory.size=${ram} only ${mib(free)} of the 4 GiB address space is left` +
    (largestRam > 0 ? `: at most memory.size=${largestRam / 1024}K fits with them` : ": they do not fit with any guest RAM"), largestRam > 0 ? largestRam : null);
}

/**
 * Grow `core`'s memory now to hold `plan`, so no allocation of the devices
 * being created needs the host to grow it (a host that cannot is an error
 * before any device exists, not halfway through).
 */
export function reserveMemory(core: VmCore, plan: MemoryPlan): void {
  const end = (core.exports.vm_memory_used() >>> 0) + plan.need;
  const have = core.memory.buffer.byteLength;
  if (end <= have) return;
  try {
    core.memory.grow(Math.ceil((end - have) / 65536));
  } catch (err) {
    throw new Error(`machine: the host refused to grow wasm memory to ${mib(end)} for guest RAM and devices (${err instanceof Error ? err.message : err})`);
  }
}
