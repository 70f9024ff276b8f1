// The e1000 as a Machine device: `-s 3,e1000,mac=52:54:00:00:00:03` or
// `pci.0.3.0.device=e1000` builds an E1000 (./e1000.ts) in that slot. INTA#
// goes through the machine's InterruptRouter; the moderation timers keep
// guest time on the machine's clock, so they survive migration. Frames go to
// the host port (`nic.onTransmit` / `nic.receive`), or with backend=switch:NAME
// into the in-wasm switch this machine's NICs naming NAME share, with
// backend=relay:ws://HOST:PORT/ onto a WebSocket Ethernet relay, with
// backend=vde:SOCKET onto a VDE switch (src/net/backends/).
//
// Keys: mac, backlog (frames), backlog_bytes, link (up/down at power-on), backend.
//
// For migration it is a MigratableDevice: quiesce before saveState (the
// rings are not read while the state is taken), resume when the migration
// fails, announce (start) on the destination once the VM runs (a restored
// device is quiesced until then), and framesLost() — frames the device dropped.

import type { JsonCounter } from "../../tables.js";
import type { NicEvents } from "../../net/nic-events.js";
import { defaultMac } from "../../net/default-mac.js";
import { validators, parseBool } from "../../config/schema.js";
import type { PciFunction } from "../../pci.js";
import type { MigratableDevice } from "../../device.js";
import type { DeviceFactory, MachineDevice } from "../../machine/registry.js";
import { E1000 } from "./device.js";
import { E1K_MAX_BACKLOG_BYTES, E1K_MIN_BACKLOG_BYTES } from "./defs.js";
import { attachToNamedSwitch, releaseNamedSwitch, switchBackendName } from "../../net/named-switches.js";
import { EXTERNAL_BACKEND_FORMS, parseExternalBackend } from "../../net/backends/spec.js";
import { openMachineBackend } from "../../net/backends/machine.js";
import type { NetworkBackend } from "../../net/backends/port.js";

/** An 82540EM PCI function in a Machine. */
export class MachineE1000 implements MachineDevice, MigratableDevice {
  readonly kind: number;
  readonly name: string;
  readonly pci: PciFunction;
  private readonly dropBase: number;
  private linkLost = 0;
  /** The relay or VDE backend carrying this NIC's frames (backend=relay:/vde:), else null. */
  network: NetworkBackend | null = null;

  constructor(readonly nic: E1000, readonly switchName: string | null = null) {
    this.kind = nic.kind;
    this.name = nic.name;
    this.pci = nic.pci;
    this.dropBase = Number(nic.counters().rxDropped);
  }

  /** The NIC's counters, JSON-safe (E1000.countersJSON). */
  countersJSON(): Record<string, JsonCounter> { return this.nic.countersJSON(); }
  /** The NIC's typed events (frames, interrupts, filter changes, resets). */
  get events(): NicEvents { return this.nic.events; }
  saveState(): Uint8Array { return this.nic.saveState(); }
  restoreState(blob: Uint8Array): number { return this.nic.restoreState(blob); }
  reset(): void { this.nic.reset(); }
  /** Stop reading the rings: host frames wait in the backlog (before saveState). */
  quiesce(): void { this.nic.quiesce(); }
  /** Undo quiesce: look at both rings once. */
  resume(): void { this.nic.resume(); }
  /** After a migration's resume: start the restored device (quiesced until now) and look at both rings once (it has seen no doorbell yet). */
  announce(): void { this.nic.resume(); }
  /** Frames lost since it was created: dropped by the device (full backlog, or longer than the driver's whole ring), plus what its host link reported (`noteLinkLoss`). */
  framesLost(): number { return Number(this.nic.counters().rxDropped) - this.dropBase + this.linkLost; }
  /** Count `n` frames a host link carrying this NIC's traffic dropped. */
  noteLinkLoss(n: number): void { this.linkLost += n; }
  /** Remove the NIC; a switch of this machine goes with its last port, a relay or VDE backend is closed (resolves once its vde_plug has exited). */
  destroy(): Promise<void> {
    if (this.nic.destroyed) return Promise.resolve();
    const closed = this.network?.close() ?? Promise.resolve();
    this.nic.destroy();
    if (this.switchName !== null) releaseNamedSwitch(this.nic.core, this.switchName);
    return closed;
  }
}

const isUnicastMac = (v: string): string | null => (validators.mac()(v) ?? (parseInt(v.slice(0, 2), 16) & 1 ? `want a unicast MAC (low bit of the first byte clear), got '${v}'` : null));

function params(o: Record<string, string>) {
  return { backlogFrames: Number(o.backlog ?? 256), backlogBytes: Number(o.backlog_bytes ?? 524288) };
}

/** Registry entry: `-s 3,e1000,mac=52:54:00:00:00:03` or `pci.0.3.0.device=e1000`. */
export const e1000Factory: DeviceFactory = {
  name: "e1000",
  description: "Intel 82540EM gigabit Ethernet (PCI 8086:100E): INTx, checksum and TCP segmentation offload, VLAN, jumbo frames",
  keys: [
    { pattern: "mac", validate: isUnicastMac, description: "MAC address in the EEPROM (default: 52:54:00 and a hash of the PCI address)" },
    { pattern: "backlog", validate: validators.int(1, 65536), default: "256", description: "frames held while the guest has no receive descriptors (then dropped and counted)" },
    {
      pattern: "backlog_bytes", default: "524288", description: "bytes those frames may take (a multiple of 4)",
      validate: (v) => validators.int(E1K_MIN_BACKLOG_BYTES, E1K_MAX_BACKLOG_BYTES)(v) ?? (Number(v) % 4 ? `want a multiple of 4, got '${v}'` : null),
    },
    { pattern: "link", validate: validators.bool(), default: "true", description: "cable plugged at power-on" },
    {
      pattern: "backend", validate: (v) => (v === "host" || switchBackendName(v) !== null || parseExternalBackend(v) ? null : `want host, switch:NAME, ${EXTERNAL_BACKEND_FORMS}, got '${v}'`), default: "host",
      description: "where frames go: host (nic.onTransmit / nic.receive), switch:NAME (an in-wasm switch shared by this machine's NICs), relay:ws://HOST:PORT/ (a WebSocket Ethernet relay), vde:SOCKET (a VDE switch)",
    },
  ],
  positional: ["backend"],
  create(ctx) {
    const o = ctx.options;
    const nic = E1000.create(ctx.core, { name: ctx.instanceName, mac: o.mac ?? defaultMac(ctx.node), ...params(o), interrupts: ctx.interrupts, clock: ctx.clock, timers: "host" });
    if (parseBool(o.link ?? "true") === false) nic.setLink(false);
    const sw = switchBackendName(o.backend ?? "host");
    if (sw !== null) {
      // The machine never sees this NIC if it cannot join, so nothing else would destroy it.
      try { attachToNamedSwitch(ctx.core, sw, nic); } catch (err) { nic.destroy(); throw err; }
    }
    const dev = new MachineE1000(nic, sw);
    try { dev.network = openMachineBackend(ctx, nic, o.backend ?? "host", { onLoss: (n) => dev.noteLinkLoss(n) }); } catch (err) { nic.destroy(); throw err; }
    return dev;
  },
  memoryBytes: (options, core) => E1000.memoryBytes(core, params(options)) + (switchBackendName(options.backend ?? "host") !== null ? Number(core.exports.nsw_memory_bytes()) : 0),
  memoryKey: "backlog_bytes",
};
