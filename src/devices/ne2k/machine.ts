// The NE2000 as a Machine device: `-s 4,ne2k,mac=52:54:00:00:00:04` or
// `pci.0.4.0.device=ne2k` builds an RTL8029AS (src/devices/ne2k/device.ts) in
// that slot, its INTA# line through the machine's InterruptRouter. Keys:
//
//   mac=MAC          station address in the PROM (default: 52:54:00 and a hash of the node)
//   backlog=N        frames held while the receive ring is full (1..4096, default 256)
//   backend=host     (default) frames go to `nic.onTransmit` / come from `nic.receive`
//   backend=loopback the device receives what it sends
//   backend=switch:NAME  a port of the in-wasm switch this machine's NICs naming NAME share
//   backend=relay:ws://HOST:PORT/  a WebSocket Ethernet relay (v86's relay_url protocol)
//   backend=vde:SOCKET   a VDE switch through a vde_plug child (src/net/backends/)
//
// For migration it is a MigratableDevice: its state is all registers, the
// card's RAM and the frames it holds (nothing in guest RAM), so no quiesce is
// needed before the save; a restored device is quiesced until announce() (the
// destination's, once the VM runs); framesLost() counts what it dropped beyond its backlog.

import type { JsonCounter } from "../../tables.js";
import type { NicEvents } from "../../net/nic-events.js";
import type { PciFunction } from "../../pci.js";
import { validators } from "../../config/schema.js";
import type { MigratableDevice } from "../../device.js";
import type { DeviceFactory, MachineDevice } from "../../machine/registry.js";
import { defaultMac } from "../../net/default-mac.js";
import { Ne2k } from "./device.js";
import { NE2K_DEFS } from "./defs.js";
import { attachToNamedSwitch, releaseNamedSwitch, switchBackendName } from "../../net/named-switches.js";
import { EXTERNAL_BACKEND_FORMS, parseExternalBackend } from "../../net/backends/spec.js";
import { openMachineBackend } from "../../net/backends/machine.js";
import type { NetworkBackend } from "../../net/backends/port.js";

/** "host", "loopback", "switch:NAME", "relay:URL" or "vde:SOCKET". */
export type Ne2kBackend = string;

/** An NE2000 PCI function in a Machine. */
export class MachineNe2k implements MachineDevice, MigratableDevice {
  readonly kind: number;
  readonly name: string;
  readonly pci: PciFunction;
  private linkLost = 0;
  private readonly dropBase: number;
  /** The relay or VDE backend carrying this NIC's frames (backend=relay:/vde:), else null. */
  network: NetworkBackend | null = null;

  constructor(readonly nic: Ne2k, readonly backend: Ne2kBackend) {
    this.kind = nic.kind;
    this.name = nic.name;
    this.pci = nic.pci!;
    this.dropBase = Number(nic.counters().rxDropped);
    if (backend === "loopback") nic.onTransmit = (f) => { nic.receive(f); };
  }

  /** The NIC's counters, JSON-safe (Ne2k.countersJSON). */
  countersJSON(): Record<string, JsonCounter> { return this.nic.countersJSON(); }
  /** The NIC's typed events (frames, interrupts, filter changes, resets). */
  get events(): NicEvents { return this.nic.events; }
  saveState(): Uint8Array { return this.nic.saveState(); }
  restoreState(blob: Uint8Array): number { return this.nic.restoreState(blob); }
  reset(): void { this.nic.reset(); }
  /** After a migration's resume: start the restored device (quiesced until now: host frames waited in its backlog). */
  announce(): void { this.nic.resume(); }
  /** Frames lost at this NIC since it was created: dropped beyond its backlog, plus what its host link reported (`noteLinkLoss`). */
  framesLost(): number { return Number(this.nic.counters().rxDropped) - this.dropBase + this.linkLost; }
  noteLinkLoss(n: number): void { this.linkLost += n; }
  /** Remove the NIC; a switch of this machine goes with its last port, a relay or VDE backend is closed (resolves once its vde_plug has exited). */
  destroy(): Promise<void> {
    if (this.nic.destroyed) return Promise.resolve();
    const closed = this.network?.close() ?? Promise.resolve();
    this.nic.destroy();
    const sw = switchBackendName(this.backend);
    if (sw !== null) releaseNamedSwitch(this.nic.core, sw);
    return closed;
  }
}

const isUnicastMac = (v: string): string | null => (validators.mac()(v) ?? (parseInt(v.slice(0, 2), 16) & 1 ? `want a unicast MAC (low bit of the first byte clear), got '${v}'` : null));

/** Registry entry: `-s 4,ne2k,mac=…` or `pci.0.4.0.device=ne2k`. */
export const ne2kFactory: DeviceFactory = {
  name: "ne2k",
  description: "NE2000 NIC (DP8390 core) as the RTL8029AS on PCI: I/O BAR of 32 ports, INTA#",
  keys: [
    { pattern: "mac", validate: isUnicastMac, description: "MAC address in the station-address PROM (default: 52:54:00 and a hash of the PCI address)" },
    { pattern: "backlog", validate: validators.int(1, NE2K_DEFS.MAX_BACKLOG), default: String(NE2K_DEFS.DEFAULT_BACKLOG), description: "frames held while the receive ring is full (then lost: ISR.OVW, counted)" },
    {
      pattern: "backend", validate: (v) => (v === "host" || v === "loopback" || switchBackendName(v) !== null || parseExternalBackend(v) ? null : `want host, loopback, switch:NAME, ${EXTERNAL_BACKEND_FORMS}, got '${v}'`), default: "host",
      description: "where frames go: host (nic.onTransmit / nic.receive), loopback, switch:NAME (an in-wasm switch shared by this machine's NICs), relay:ws://HOST:PORT/ (a WebSocket Ethernet relay), vde:SOCKET (a VDE switch)",
    },
  ],
  positional: ["backend"],
  create(ctx) {
    const o = ctx.options;
    const nic = Ne2k.create(ctx.core, { name: ctx.instanceName, mac: o.mac ?? defaultMac(ctx.node), backlogFrames: Number(o.backlog ?? NE2K_DEFS.DEFAULT_BACKLOG), interrupts: ctx.interrupts });
    const backend = o.backend ?? "host";
    const sw = switchBackendName(backend);
    if (sw !== null) {
      // The machine never sees this NIC if it cannot join, so nothing else would destroy it.
      try { attachToNamedSwitch(ctx.core, sw, nic); } catch (err) { nic.destroy(); throw err; }
    }
    const dev = new MachineNe2k(nic, backend);
    try { dev.network = openMachineBackend(ctx, nic, backend, { onLoss: (n) => dev.noteLinkLoss(n) }); } catch (err) { nic.destroy(); throw err; }
    return dev;
  },
  memoryBytes: (options, core) => Ne2k.memoryBytes(core, Number(options.backlog ?? NE2K_DEFS.DEFAULT_BACKLOG)) + (switchBackendName(options.backend ?? "host") !== null ? Number(core.exports.nsw_memory_bytes()) : 0),
  memoryKey: "backlog",
};
