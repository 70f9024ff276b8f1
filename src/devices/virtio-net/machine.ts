// virtio-net as a Machine device: `-s 3,virtio-net,mac=52:54:00:00:00:03`
// or `pci.0.3.0.device=virtio-net` builds a VirtioNet (device.ts)
// on virtio-pci in that slot. Interrupts go through the machine's
// InterruptRouter: MSI-X messages once the driver enables MSI-X, INTx pin A
// otherwise. The backend says where its frames go:
//
//   backend=host          (default) the host port: `nic.onTransmit` / `nic.receive`,
//                         what a HostLink (src/net/host-link.ts) and startNetTraffic
//                         (src/guest/traffic.ts) connect
//   backend=switch:NAME   a VirtualSwitch inside wasm shared by every device of
//                         this machine with the same NAME
//   backend=loopback      the device receives what it sends
//   backend=relay:ws://HOST:PORT/   a WebSocket Ethernet relay (v86's relay_url protocol)
//   backend=vde:SOCKET    a VDE switch through a vde_plug child (src/net/backends/)
//
// With backend=host, `ring_port=copy|ring` (and `ring_slots`) binds the NIC to
// a netmap ring pair (machine-ring-port.ts) that a backend on any thread
// works; it starts in the named mode and switches live (`ringPort.setMode`).
//
// For migration it is a MigratableDevice: quiesce before saveState, announce
// after resume, and framesLost() — frames this device or its host link dropped.

import type { JsonCounter } from "../../tables.js";
import type { NicEvents } from "../../net/nic-events.js";
import type { VmCore } from "../../vm-core.js";
import type { PciFunction } from "../../pci.js";
import { validators } from "../../config/schema.js";
import { ConfigError } from "../../config/tree.js";
import { VirtioDefs, VirtioNetDefs } from "../../generated/constants.js";
import { VirtioNet } from "./device.js";
import { attachToNamedSwitch, releaseNamedSwitch, switchBackendName } from "../../net/named-switches.js";
import { defaultMac } from "../../net/default-mac.js";
import type { MigratableDevice } from "../../device.js";
import type { DeviceFactory, MachineDevice } from "../../machine/registry.js";
import { MachineRingPort } from "./machine-ring-port.js";
import { Exclusive } from "../../net/exclusive.js";
import { virtioNetExclusive } from "./exclusive.js";
import { EXTERNAL_BACKEND_FORMS, parseExternalBackend, type ExternalBackendSpec } from "../../net/backends/spec.js";
import { openMachineBackend } from "../../net/backends/machine.js";
import type { NetworkBackend } from "../../net/backends/port.js";

/** Where a machine NIC's frames go (the `backend` key). */
export type NetBackend = { kind: "host" } | { kind: "loopback" } | { kind: "switch"; name: string } | ExternalBackendSpec;

/** Parse a `backend` value; null if it is not one. */
export function parseNetBackend(v: string): NetBackend | null {
  if (v === "host") return { kind: "host" };
  if (v === "loopback") return { kind: "loopback" };
  const name = switchBackendName(v);
  return name !== null ? { kind: "switch", name } : parseExternalBackend(v);
}

/** A virtio-net PCI function in a Machine. */
export class MachineVirtioNet implements MachineDevice, MigratableDevice {
  readonly kind: number;
  readonly name: string;
  /** The PCI function (config space and BARs); what a guest driver finds at the device's bus/slot/function. */
  readonly pci: PciFunction;
  /** Frames dropped outside the device (a host link's overflow), added by whoever carries the frames. */
  private linkLost = 0;
  private dropBase: number;
  /** The relay or VDE backend carrying this NIC's frames (backend=relay:/vde:), else null. */
  network: NetworkBackend | null = null;

  /** The ring pair the NIC's backend port runs on (`ring_port=copy|ring`), or null. */
  ringPort: MachineRingPort | null = null;
  private serializer: Exclusive | null = null;

  constructor(readonly nic: VirtioNet, readonly backend: NetBackend) {
    this.kind = nic.kind;
    this.name = nic.name;
    this.pci = nic.pci!;
    this.dropBase = this.deviceDrops();
  }

  private deviceDrops(): number {
    const c = this.nic.counters();
    return Number(c.rxDropped + c.txSwitchDropped);
  }

  /** The NIC's counters, JSON-safe (VirtioNet.countersJSON). */
  countersJSON(): Record<string, JsonCounter> { return this.nic.countersJSON(); }
  /** The NIC's typed events (frames, interrupts, filter changes, resets). */
  get events(): NicEvents { return this.nic.events; }
  saveState(): Uint8Array { return this.nic.saveState(); }
  restoreState(blob: Uint8Array): number { return this.nic.restoreState(blob); }
  reset(): void { this.nic.reset(); }
  /** Stop processing queues and give back fetched-but-unused chains (before saveState). */
  quiesce(): void { this.nic.quiesce(); }
  /** Undo quiesce. */
  resume(): void { this.nic.resume(); }
  /**
   * After a migration's resume: start the restored device (quiesced until
   * now) and look at every queue once (it has seen no notification yet),
   * then ask the guest to announce itself (VIRTIO_NET_S_ANNOUNCE + config
   * interrupt; ignored without GUEST_ANNOUNCE).
   */
  announce(): void { this.nic.resume(); this.nic.announce(); }

  /**
   * Frames lost at this NIC since it was created: dropped by the device (full
   * receive backlog, frames its buffers can never hold, a full switch port)
   * plus frames its host link reported lost (`noteLinkLoss`).
   */
  framesLost(): number { return this.deviceDrops() - this.dropBase + this.linkLost; }

  /** Count `n` frames a host link carrying this NIC's traffic dropped. */
  noteLinkLoss(n: number): void { this.linkLost += n; }

  /**
   * The NIC's exclusive-operation serializer (src/net/exclusive.ts): live MAC,
   * MTU and VLAN changes and ring-mode switches run through it one at a time.
   */
  get exclusive(): Exclusive { return (this.serializer ??= new Exclusive(virtioNetExclusive(this.nic))); }

  /**
   * Remove the NIC (its wasm handle and memory go back to the VM); a switch of
   * this machine goes with its last port, a ring port with the NIC, a relay or
   * VDE backend is closed (resolves once its vde_plug has exited).
   */
  destroy(): Promise<void> {
    if (this.nic.destroyed) return Promise.resolve();
    const closed = this.network?.close() ?? Promise.resolve();
    this.nic.destroy();
    if (this.backend.kind === "switch") releaseNamedSwitch(this.nic.core, this.backend.name);
    const rp = this.ringPort;
    this.ringPort = null;
    rp?.destroy();
    return closed;
  }
}

const isUnicastMac = (v: string): string | null => (validators.mac()(v) ?? (parseInt(v.slice(0, 2), 16) & 1 ? `want a unicast MAC (low bit of the first byte clear), got '${v}'` : null));
const isPow2 = (v: string): string | null => {
  const bad = validators.int(2, VirtioDefs.MAX_QUEUE_SIZE)(v);
  if (bad) return bad;
  return (Number(v) & (Number(v) - 1)) === 0 ? null : `want a power of two from 2 to ${VirtioDefs.MAX_QUEUE_SIZE}, got '${v}'`;
};

/** The VirtioNet options of a machine NIC's (validated) config keys, defaults filled in. */
function nicParams(o: Record<string, string>) {
  return {
    transport: "pci" as const,
    queuePairs: Number(o.queues ?? 1),
    mtu: Number(o.mtu ?? 1500),
    queueSize: Number(o.queue_size ?? 256),
    backlogFrames: Number(o.backlog ?? 256),
  };
}

/** The ring port a NIC's config asks for, or null (`ring_port=off`). */
function ringPortParams(o: Record<string, string>) {
  const mode = o.ring_port ?? "off";
  if (mode === "off") return null;
  return { mode: mode as "copy" | "ring", slots: Number(o.ring_slots ?? 256), mtu: Number(o.mtu ?? 1500) };
}

/** Registry entry: `-s 3,virtio-net,mac=52:54:00:00:00:03,queues=2` or `pci.0.3.0.device=virtio-net`. */
export const virtioNetFactory: DeviceFactory = {
  name: "virtio-net",
  description: "virtio-net NIC on virtio-pci (modern, MSI-X with INTx fallback)",
  keys: [
    { pattern: "mac", validate: isUnicastMac, description: "MAC address (default: 52:54:00 and a hash of the PCI address)" },
    { pattern: "queues", validate: validators.int(1, VirtioNetDefs.MAX_PAIRS), default: "1", description: "queue pairs offered (MQ when > 1)" },
    { pattern: "mtu", validate: validators.int(VirtioNetDefs.MIN_MTU, VirtioNetDefs.MAX_MTU), default: "1500", description: "MTU offered in the device configuration" },
    { pattern: "queue_size", validate: isPow2, default: "256", description: "largest virtqueue size offered" },
    { pattern: "backlog", validate: validators.int(1, VirtioNetDefs.MAX_BACKLOG), default: "256", description: "frames held while the guest has no receive buffers (then dropped and counted)" },
    {
      pattern: "backend", validate: (v) => (parseNetBackend(v) ? null : `want host, loopback, switch:NAME, ${EXTERNAL_BACKEND_FORMS}, got '${v}'`), default: "host",
      description: "where frames go: host (the host port: a HostLink, startNetTraffic), loopback, switch:NAME (an in-wasm switch shared by this machine's NICs), relay:ws://HOST:PORT/ (a WebSocket Ethernet relay), vde:SOCKET (a VDE switch)",
    },
    {
      pattern: "ring_port", validate: validators.oneOf("off", "copy", "ring"), default: "off",
      description: "with backend=host: bind the host port to a netmap ring pair a backend on any thread works (machine.device(NAME).ringPort), starting in copy or ring mode; off: the callbacks only",
    },
    { pattern: "ring_slots", validate: validators.int(16, 4096), default: "256", description: "slots per ring of the ring port" },
  ],
  positional: ["backend"],
  create(ctx) {
    const o = ctx.options;
    const backend = parseNetBackend(o.backend ?? "host")!;
    const ring = ringPortParams(o);
    // The ring pair is the host port's other form: a link, loopback or switch would take its frames.
    if (ring && backend.kind !== "host") throw new ConfigError(`${ctx.node}.ring_port`, `ring_port=${ring.mode} needs backend=host, got backend=${o.backend}`);
    const nic = VirtioNet.create(ctx.core, { name: ctx.instanceName, mac: o.mac ?? defaultMac(ctx.node), ...nicParams(o), interrupts: ctx.interrupts });
    const dev = new MachineVirtioNet(nic, backend);
    try {
      if (backend.kind === "loopback") VirtioNet.connect(nic, nic);
      else if (backend.kind === "switch") attachToNamedSwitch(ctx.core, backend.name, nic);
      if (ring) dev.ringPort = MachineRingPort.create(nic, ring, ring.mode, () => dev.exclusive);
    } catch (err) {
      // The machine never sees this NIC, so nothing else would destroy it.
      void dev.destroy();
      throw err;
    }
    // Largest frame: the MTU offered, the Ethernet header and one 802.1Q tag.
    try { dev.network = openMachineBackend(ctx, nic, o.backend ?? "host", { maxFrameBytes: nicParams(o).mtu + 18, onLoss: (n) => dev.noteLinkLoss(n) }); } catch (err) { void dev.destroy(); throw err; }
    return dev;
  },
  memoryBytes: (options, core) => {
    const ring = ringPortParams(options);
    return VirtioNet.memoryBytes(core, nicParams(options)) + (ring ? MachineRingPort.memoryBytes(core, ring) : 0);
  },
  memoryKey: "backlog",
};
