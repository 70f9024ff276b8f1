// A machine assembled from a configuration tree: guest RAM (a VmCore), the
// devices named under pci.B.S.F, interrupt routing, N vCPUs on a pool of worker threads,
// the VM read/write lock and leases, and a clean teardown. This is what live
// migration stands on: `core` (RAM + dirty bitmap), `devices`, `writeLock()`,
// `pause()/resume()`, `setThrottle()` and the vCPU dirty-rate statistics.

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { VmCore } from "../vm-core.js";
import { loadModule } from "../load-node.js";
import { isSharedVariant, type WasmVariant } from "../wasm.js";
import { ConfigError, ConfigTree } from "../config/tree.js";
import { MACHINE_SCHEMA, checkValue, findSpec, parseSize, valueOf } from "../config/schema.js";
import { parsePciKey, parsePciNode } from "../config/pci-node.js";
import { SyncState } from "../sync/shared.js";
import { VmLock, type Lease, type LockResult, type SyncStatus, type WaitOptions } from "../sync/vm-lock.js";
import { VcpuHost, vcpuThreads, type VcpuStats } from "../vcpu/host.js";
import { workloadFromConfig, type WorkloadSpec } from "../vcpu/workload.js";
import { InterruptRouter } from "./interrupts.js";
import { DeviceRegistry, type MachineDevice } from "./registry.js";
import { memtestFactory } from "../devices/memtest/machine.js";
import { lapicFactory } from "../devices/apic/machine.js";
import { MachineClock } from "./clock.js";
import { virtioNetFactory } from "../devices/virtio-net/machine.js";
import { e1000Factory } from "../devices/e1000/machine.js";
import { ne2kFactory } from "../devices/ne2k/machine.js";
import { ioapicFactory } from "../devices/ioapic/machine.js";
import { planMachineMemory, planDeviceMemory, reserveMemory } from "./memory.js";
import type { MachineWorkerHandle } from "./worker-side.js";

/** A lock or freeze that did not happen: `status` says why, `stage` where. */
export class SyncError extends Error {
  constructor(readonly status: Exclude<SyncStatus, "ok">, readonly stage: string) {
    super(`${stage}: ${status}`);
    this.name = "SyncError";
  }
}

/** A registry with every device model vmdev has (register new ones here). */
export function createDefaultRegistry(): DeviceRegistry {
  return new DeviceRegistry().register(memtestFactory).register(virtioNetFactory).register(e1000Factory).register(ne2kFactory).registerVcpuDevice(lapicFactory).registerPlatformDevice(ioapicFactory);
}

/** Check every key and value of `tree` against the machine schema and the devices' keys; throws a ConfigError naming the key. */
export function validateConfig(tree: ConfigTree, registry: DeviceRegistry): void {
  const nodes = new Set<string>();
  for (const key of tree.keys()) {
    const value = tree.get(key)!; // expands, so a bad reference is an error naming this key
    const pci = parsePciKey(key);
    if (pci) {
      const { bus, slot, func } = pci.address;
      if (bus > 255 || slot > 31 || func > 7) throw new ConfigError(key, "PCI address out of range (bus ≤ 255, slot ≤ 31, function ≤ 7)");
      nodes.add(pci.node);
      continue;
    }
    const top = key.split(".")[0];
    const perVcpu = [...registry.vcpuDevices(), ...registry.platformDevices()].find((f) => f.name === top);
    if (perVcpu) {
      const leaf = key.slice(top.length + 1);
      const dspec = findSpec(perVcpu.keys, leaf);
      if (!dspec) throw new ConfigError(key, `unknown key for device ${top}`);
      checkValue(dspec, key, value);
      continue;
    }
    const spec = findSpec(MACHINE_SCHEMA, key);
    if (!spec) throw new ConfigError(key, "unknown key");
    checkValue(spec, key, value);
    const vcpu = /^vcpu\.(\d+)\./.exec(key);
    if (vcpu && Number(vcpu[1]) >= Number(valueOf(tree, "cpus"))) throw new ConfigError(key, `there is no vCPU ${vcpu[1]} (cpus=${valueOf(tree, "cpus")})`);
  }
  for (const node of nodes) {
    const device = tree.get(`${node}.device`);
    if (device === undefined) throw new ConfigError(`${node}.device`, "a PCI node needs a device");
    const factory = registry.get(device);
    if (!factory) throw new ConfigError(`${node}.device`, `unknown device '${device}' (known: ${registry.names().join(", ")})`);
    for (const [leaf, value] of Object.entries(tree.subtree(node))) {
      if (leaf === "device") continue;
      const spec = findSpec(factory.keys, leaf);
      if (!spec) throw new ConfigError(`${node}.${leaf}`, `unknown key for device ${device}`);
      checkValue(spec, `${node}.${leaf}`, value);
    }
  }
}

/** How Machine.create builds a machine beyond its config. */
export interface MachineOptions {
  registry?: DeviceRegistry;
  /** wasm build (default release); "unshared" cannot run vCPU workers. */
  variant?: WasmVariant;
  /** A compiled module to use instead of loading `variant`. */
  module?: WebAssembly.Module;
  /** Start the vCPU workers (default true). */
  startVcpus?: boolean;
  /**
   * Start stopped (a migration destination): the write lock is taken before
   * the vCPU workers exist (vCPUs frozen, device-side workers' leases refused)
   * and the guest clock is stopped at 0, so nothing writes guest RAM or moves
   * guest time until `resume()` releases both.
   */
  startFrozen?: boolean;
}

/** Writes per second of each vCPU between two samples. */
export interface DirtyRateSample { intervalMs: number; writesPerSec: number[]; bytesPerSec: number[]; total: { writesPerSec: number; bytesPerSec: number } }

/** A running machine. */
export class Machine {
  readonly name: string;
  readonly config: ConfigTree;
  readonly core: VmCore;
  /** Devices: PCI devices in PCI order, then per-vCPU devices, then platform devices (the IOAPIC). */
  readonly devices: MachineDevice[];
  /** Device by its config node (pci.0.3.0), per-vCPU devices as `<name>.<vcpu>` (lapic.1), platform devices by name (ioapic). */
  readonly devicesByNode: Map<string, MachineDevice>;
  readonly interrupts: InterruptRouter;
  readonly lock: VmLock;
  readonly vcpus: VcpuHost;
  readonly workloads: WorkloadSpec[];
  /** Guest time (ns) for everything timed in guest time (APIC timers); migrated with the devices. */
  readonly clock: MachineClock;
  private destroyed = false;
  private pauses = 0;
  /** Release of the write lock a machine created with startFrozen holds until resume(). */
  private startHold: (() => void) | null = null;
  private lastSample: { t: number; writes: number[]; bytes: number[] } | null = null;
  private readonly registry: DeviceRegistry;
  /** Instance names given out (a hot-plugged device never reuses an unplugged one's, so its interrupt counts start afresh). */
  private readonly instanceNames = new Set<string>();
  private pciGen = 0;

  private constructor(init: { name: string; config: ConfigTree; core: VmCore; devices: Map<string, MachineDevice>; interrupts: InterruptRouter; lock: VmLock; vcpus: VcpuHost; workloads: WorkloadSpec[]; clock: MachineClock; registry: DeviceRegistry }) {
    this.name = init.name;
    this.config = init.config;
    this.core = init.core;
    this.devicesByNode = init.devices;
    this.devices = [...init.devices.values()];
    this.interrupts = init.interrupts;
    this.lock = init.lock;
    this.vcpus = init.vcpus;
    this.workloads = init.workloads;
    this.clock = init.clock;
    this.registry = init.registry;
    for (const d of this.devices) this.instanceNames.add(d.name);
  }

  /** Moves on every hot-plug and hot-unplug (a PciBus of this machine re-reads its functions then). */
  get pciGeneration(): number { return this.pciGen; }

  /**
   * Hot-unplug the PCI function at `node` (pci.B.S.F) from the running
   * machine. Under the write lock (vCPUs frozen, leases broken: no guest
   * access is in progress), the function leaves the bus — configuration
   * reads at its address return all ones — and the device is destroyed
   * through its lifecycle: its switch port and links detached, then stopped,
   * then freed once no call on another thread holds it (its wasm handle and
   * memory go to the next create); every INTx line it asserted is lowered.
   * Frames sent to it afterwards are refused (ERR_BAD_HANDLE) or dropped by
   * the switch, never delivered. The node is free for `plug`.
   * Threads given the device's handle (a vCPU extension) must stop using it
   * before a later plug can reuse the handle.
   */
  async unplug(node: string, o?: WaitOptions): Promise<void> {
    if (this.destroyed) throw new Error("unplug: the machine is destroyed");
    const dev = this.devicesByNode.get(node);
    if (!parsePciNode(node) || !dev) throw new ConfigError(`${node}.device`, "no PCI function to unplug here");
    const release = await this.writeLock(o);
    try {
      this.devicesByNode.delete(node);
      this.devices.splice(this.devices.indexOf(dev), 1);
      this.pciGen++;
      await dev.destroy?.();
      this.interrupts.lowerAll(dev.name);
      for (const leaf of Object.keys(this.config.subtree(node))) this.config.unset(`${node}.${leaf}`);
    } finally { release(); }
  }

  /**
   * Hot-plug a PCI device at the free node `node` (pci.B.S.F): `options`
   * holds its `device` (a registry name) and its keys, validated as at boot;
   * the device's memory is checked against what the running machine has left
   * (a MemoryBudgetError names the key otherwise) and reserved; the factory
   * creates it as at boot, under the write lock. Returns the new device.
   */
  async plug(node: string, options: Record<string, string>, o?: WaitOptions): Promise<MachineDevice> {
    if (this.destroyed) throw new Error("plug: the machine is destroyed");
    const a = parsePciNode(node);
    if (!a) throw new ConfigError(node, "not a PCI node (pci.B.S.F)");
    if (this.devicesByNode.has(node) || this.config.children(node).length > 0) throw new ConfigError(`${node}.device`, "this PCI address is in use (unplug it first)");
    const { device, ...rest } = options;
    if (device === undefined) throw new ConfigError(`${node}.device`, "a PCI node needs a device");
    // Validate as at boot: the keys on their own in a tree of this node only.
    const probe = new ConfigTree();
    for (const [k, v] of Object.entries(options)) probe.set(`${node}.${k}`, v);
    validateConfig(probe, this.registry);
    const factory = this.registry.get(device)!;
    const expanded = probe.subtree(node);
    delete expanded.device;
    reserveMemory(this.core, planDeviceMemory(this.core, node, factory, expanded));
    let n = 0;
    while (this.instanceNames.has(`${device}${n}`)) n++;
    const instanceName = `${device}${n}`;
    const release = await this.writeLock(o);
    try {
      const dev = await factory.create({ core: this.core, node, instanceName, options: expanded, interrupts: this.interrupts.sinkFor(instanceName, a), lock: this.lock, router: this.interrupts, clock: this.clock });
      this.instanceNames.add(instanceName);
      for (const [k, v] of Object.entries(options)) this.config.set(`${node}.${k}`, v);
      this.insertPci(node, dev);
      this.pciGen++;
      return dev;
    } finally { release(); }
  }

  /** Put a PCI device into `devices` and `devicesByNode` in PCI order, before the per-vCPU and platform devices. */
  private insertPci(node: string, dev: MachineDevice): void {
    const a = parsePciNode(node)!;
    const order = (x: { bus: number; slot: number; func: number }) => (x.bus * 32 + x.slot) * 8 + x.func;
    const entries = [...this.devicesByNode];
    let i = entries.findIndex(([k]) => { const b = parsePciNode(k); return !b || order(b) > order(a); });
    if (i < 0) i = entries.length;
    entries.splice(i, 0, [node, dev]);
    this.devicesByNode.clear();
    for (const [k, v] of entries) this.devicesByNode.set(k, v);
    const at = this.devices.findIndex((d) => d === entries[i + 1]?.[1]);
    this.devices.splice(at < 0 ? this.devices.length : at, 0, dev);
  }

  /**
   * Everything with saved state, in restore order: the guest clock, then the
   * devices (PCI, then per-vCPU such as the local APICs, then the IOAPIC). Migration moves these.
   */
  get stateDevices(): MachineDevice[] { return [this.clock, ...this.devices]; }

  /** Validate `config` and build the machine; vCPUs start running unless `startVcpus` is false. */
  static async create(config: ConfigTree, opts: MachineOptions = {}): Promise<Machine> {
    const registry = opts.registry ?? createDefaultRegistry();
    validateConfig(config, registry);
    const variant = opts.variant ?? "release";
    const ramBytes = parseSize(valueOf(config, "memory.size")!);
    const cpus = Number(valueOf(config, "cpus"));
    const core = await VmCore.create({ module: opts.module ?? (await loadModule(variant)), variant, ramBytes });
    const nodes: string[] = [];
    for (const bus of config.children("pci")) for (const slot of config.children(`pci.${bus}`)) for (const fn of config.children(`pci.${bus}.${slot}`)) nodes.push(`pci.${bus}.${slot}.${fn}`);
    // Before any device exists: refuse a config whose parts cannot fit the wasm memory, and reserve what they can take.
    reserveMemory(core, planMachineMemory(config, core, registry, nodes, { startVcpus: opts.startVcpus ?? true }));
    const sync = SyncState.create(cpus, Number(valueOf(config, "lock.leases")));
    const vcpus = new VcpuHost(sync, { threads: vcpuThreads(cpus, valueOf(config, "vcpu.threads")) });
    const lock = new VmLock(sync, { freezer: vcpus, timeoutMs: Number(valueOf(config, "lock.timeout_ms")) });
    const interrupts = new InterruptRouter();
    const clock = new MachineClock(core, !opts.startFrozen);
    const devices = new Map<string, MachineDevice>();
    const perName = new Map<string, number>();
    try {
      for (const node of nodes) {
        const { device, ...options } = config.subtree(node);
        const n = perName.get(device) ?? 0;
        perName.set(device, n + 1);
        const instanceName = `${device}${n}`;
        const [bus, slot, func] = node.split(".").slice(1).map(Number);
        const dev = await registry.get(device)!.create({ core, node, instanceName, options, interrupts: interrupts.sinkFor(instanceName, { bus, slot, func }), lock, router: interrupts, clock });
        devices.set(node, dev);
      }
      for (const f of registry.vcpuDevices()) {
        nodes.push(f.name);
        const options = config.subtree(f.name);
        for (let v = 0; v < cpus; v++) {
          const instanceName = `${f.name}${v}`;
          const dev = await f.create({ core, node: f.name, instanceName, options, interrupts: interrupts.sinkFor(instanceName), lock, router: interrupts, clock, vcpu: v, vcpus: cpus });
          devices.set(`${f.name}.${v}`, dev);
        }
      }
      for (const f of registry.platformDevices()) {
        nodes.push(f.name);
        const instanceName = `${f.name}0`;
        const dev = await f.create({ core, node: f.name, instanceName, options: config.subtree(f.name), interrupts: interrupts.sinkFor(instanceName), lock, router: interrupts, clock, vcpus: cpus });
        devices.set(f.name, dev);
      }
    } catch (err) {
      for (const d of devices.values()) await d.destroy?.();
      const node = nodes.find((n) => ![...devices.keys()].some((k) => k === n || k.startsWith(n + "."))) ?? nodes[nodes.length - 1];
      const key = node?.startsWith("pci.") ? `${node}.device` : node ?? "";
      throw err instanceof ConfigError || !(err instanceof Error) ? err : new ConfigError(key, err.message);
    }
    const workloads = Array.from({ length: cpus }, (_, i) => workloadFromConfig(config, i, core.guest.pages));
    const m = new Machine({ name: valueOf(config, "name")!, config, core, devices, interrupts, lock, vcpus, workloads, clock, registry });
    if (opts.startFrozen) {
      // Frozen while IDLE with no worker yet, the vCPUs' workers start parked.
      try { m.startHold = await m.writeLock(); } catch (err) { await m.destroy(); throw err; }
    }
    workloads.forEach((w, i) => { if (w.throttle < 1) vcpus.setThrottle(w.throttle, i); });
    if (opts.startVcpus ?? true) {
      if (!isSharedVariant(variant)) throw new Error(`the ${variant} wasm build cannot share memory with vCPU workers`);
      try {
        const ext = config.get("vcpu.extension");
        await vcpus.start(core.shareable(), workloads, Number(valueOf(config, "vcpu.slice_us")), ext === undefined ? undefined : extensionUrl(ext));
      } catch (err) {
        await m.destroy();
        throw err;
      }
    }
    return m;
  }

  /** Take the write lock (freeze all vCPUs, break every lease, exclusive); resolves to its release. Throws SyncError on timeout. */
  async writeLock(o?: WaitOptions): Promise<() => void> { return unwrap(await this.lock.writeLock(o)); }

  /** Take a read hold (no vCPU is frozen); resolves to its release. */
  async readLock(o?: WaitOptions): Promise<() => void> { return unwrap(await this.lock.readLock(o)); }

  /** Sign a lease on this thread; `onExpire` runs here when a writer wants the VM (return true to break at once). */
  async signLease(onExpire: (lease: Lease) => boolean | void, o?: WaitOptions): Promise<Lease> {
    const r = await this.lock.signLease(onExpire, o);
    if (r.status !== "ok") throw new SyncError(r.status, "sign lease");
    return r.lease.watch();
  }

  /** What a device worker needs to join this machine (see attachToMachine / runUnderLease). */
  workerHandle(): MachineWorkerHandle {
    return { shared: this.core.shareable(), sync: this.lock.state.buffer, timeoutMs: this.lock.defaultTimeoutMs };
  }

  /** Freeze every vCPU (devices keep running); nests with itself and the write lock. */
  async pause(o?: WaitOptions): Promise<void> {
    const st = await this.vcpus.freezeAll(o?.timeoutMs ?? this.lock.defaultTimeoutMs);
    if (st !== "ok") throw new SyncError(st, "pause");
    this.pauses++;
  }

  /** Undo one pause; a machine created with startFrozen: release its write lock and start the guest clock. */
  resume(): void {
    if (this.startHold) {
      const release = this.startHold;
      this.startHold = null;
      this.clock.start();
      release();
      return;
    }
    if (this.pauses === 0) throw new Error("resume: the machine is not paused");
    this.pauses--;
    this.clock.start();
    this.vcpus.thawAll();
  }

  get paused(): boolean { return this.pauses > 0 || this.startHold !== null; }

  /** Fraction of time every vCPU (or vCPU `index`) may run: live migration's auto-converge lowers it. */
  setThrottle(fraction: number, index?: number): void { this.vcpus.setThrottle(fraction, index); }

  vcpuStats(): VcpuStats[] { return this.vcpus.stats(); }

  /** Dirtying rate of each vCPU since the previous call (the first call measures from machine start). */
  sampleDirtyRate(): DirtyRateSample {
    const st = this.vcpus.stats();
    const t = performance.now();
    const prev = this.lastSample ?? { t: t - st.reduce((a, s) => Math.max(a, s.runMs + s.sleepMs), 0), writes: st.map(() => 0), bytes: st.map(() => 0) };
    const ms = Math.max(1e-3, t - prev.t);
    const writesPerSec = st.map((s, i) => ((s.writes - prev.writes[i]) * 1000) / ms);
    const bytesPerSec = st.map((s, i) => ((s.bytes - prev.bytes[i]) * 1000) / ms);
    this.lastSample = { t, writes: st.map((s) => s.writes), bytes: st.map((s) => s.bytes) };
    return { intervalMs: ms, writesPerSec, bytesPerSec, total: { writesPerSec: writesPerSec.reduce((a, b) => a + b, 0), bytesPerSec: bytesPerSec.reduce((a, b) => a + b, 0) } };
  }

  /** XXH64 of all guest RAM (own placement): the same value before and after a span proves nothing wrote RAM. */
  ramHash(seed = 0n): bigint {
    return BigInt.asUintN(64, this.core.exports.mach_ram_hash(0, this.core.guest.pages, seed));
  }

  /** The effective configuration (defaults included), as `key=value` lines. */
  dumpConfig(): string { return effectiveConfig(this.config).dump(); }

  /**
   * Tear down: refuse new locks and leases and break the existing ones, stop
   * the vCPU workers, destroy the devices. Safe to call twice.
   */
  async destroy(o?: WaitOptions): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.lock.destroy({ timeoutMs: o?.timeoutMs ?? 1000 });
    await this.vcpus.stop(o?.timeoutMs ?? 2000);
    for (const d of this.devices) await d.destroy?.();
  }
}

/** `config` with every defaulted machine key filled in (what the machine actually uses). */
export function effectiveConfig(config: ConfigTree): ConfigTree {
  const out = new ConfigTree();
  for (const spec of MACHINE_SCHEMA) if (!spec.pattern.includes("*") && spec.default !== undefined) out.set(spec.pattern, spec.default);
  for (const k of config.keys()) out.set(k, config.raw(k)!);
  return out;
}

/** A module URL from `vcpu.extension`: a URL as is, a path resolved against the working directory. */
export function extensionUrl(spec: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec) && !/^[a-z]:[\\/]/i.test(spec)) return spec;
  return pathToFileURL(resolve(spec)).href;
}

function unwrap(r: LockResult): () => void {
  if (r.status !== "ok") throw new SyncError(r.status, r.stage);
  return r.release;
}
