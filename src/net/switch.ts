// The in-wasm virtual switch (assembly/net/switch.ts) as the host sees it:
// ports are NIC devices of one VM, of any model that implements
// SwitchPortDevice (VirtioNet, E1000, Ne2k), and frames between them never
// cross into JS. Multicast frames go only to the ports that joined their
// group or take every group (all-multicast, how a port starts); the group
// membership is driven per port through join/leave/setAllMulticast or the
// GroupBackend of groupBackend(dev), and every change is reported to
// onMembership subscribers. A port whose model reports its receive filter
// (every NIC model does: FilteredNic) is driven by its guest: attach starts
// a Reconciler (reconcile.ts) from the model's filter changes into the
// port's GroupBackend, so the guest's whole-table rewrites become the
// switch's individual joins and leaves.

import { Status, VmdevError } from "../status.js";
import type { VmCore } from "../vm-core.js";
import type { GroupBackend, MacString } from "./control.js";
import { NetDefs } from "../generated/constants.js";
import { camelTable, readCounters } from "../tables.js";
import { formatMac, parseMac } from "./mac.js";
import { attachReconciler, type FilteredNic } from "./attach.js";
import type { Reconciler, ReconcilerOptions } from "./reconcile.js";

/** Options of {@link VirtualSwitch.attach}. */
export interface SwitchAttachOptions {
  /**
   * Follow the port's guest filter (default true for a model that reports
   * it): its multicast want is reconciled into the port's membership. false
   * leaves the membership to join/leave/setAllMulticast. An object is passed
   * to the Reconciler (its bound, trace hook, ...).
   */
  reconcile?: boolean | Omit<ReconcilerOptions, "onClose">;
}

const isFilteredNic = (d: object): d is FilteredNic => typeof (d as Partial<FilteredNic>).multicastWant === "function" && "onFilterChange" in d;

/** Name → index of a switch port's counters (assembly/net/defs.ts SwitchCounter): `groupsJoined`, `mcPruned`, ... */
export const SWITCH_PORT_COUNTERS = camelTable(NetDefs.SwitchCounter);
export type SwitchPortCounterName = keyof typeof SWITCH_PORT_COUNTERS;

/** What a device knows of the switch it is a port of: how to leave it. */
export interface SwitchHost {
  /** @internal The wasm took `dev` off the switch: drop the host's record of it. */
  dropPort(dev: SwitchPortDevice): void;
}

/**
 * A NIC device that can be a switch port. Each NIC model's class implements
 * it; the switch names the port to the wasm as (kind, handle).
 */
export interface SwitchPortDevice {
  readonly core: VmCore;
  readonly name: string;
  /** Core DeviceKind number of the model (the wasm's port kind). */
  readonly kind: number;
  /** Handle inside wasm (0 once destroyed). */
  readonly handle: number;
  /** @internal The wasm took this device off its switch (or link): drop the host's record of it. */
  forgetPeers(): void;
  /** @internal Now a port of `sw`, whose ports are `peers` (this device included). */
  joinSwitch(sw: SwitchHost, peers: readonly SwitchPortDevice[]): void;
  /** @internal The switch's ports changed. */
  setPeers(peers: readonly SwitchPortDevice[]): void;
  /** @internal Deliver the interrupt a peer's frames raised in this device (and plan its timers). */
  flushIrq(): void;
  /** @internal True when flushIrq has nothing to deliver (one cheap look, per register access of a peer). */
  irqQuiet(): boolean;
}

/** The all-multicast flag as a membership event's group. */
export const ALL_MULTICAST = "all-multicast";

/** A change of a port's multicast membership: it joined or left `group`, or turned all-multicast on or off. */
export interface MembershipEvent {
  /** The port's device name. */
  port: string;
  group: MacString | typeof ALL_MULTICAST;
  joined: boolean;
}

/** A port's membership now, as the switch holds it. */
export interface PortMembership {
  /** All-multicast: every group's frames are delivered. */
  all: boolean;
  /** The groups joined (canonical MacStrings, in no particular order). */
  groups: MacString[];
  counters: Record<SwitchPortCounterName, bigint>;
}

interface PortState { all: boolean; groups: Set<MacString> }

/** A group address as the wasm takes it: multicast, not broadcast; throws VmdevError ERR_INVALID_ARG otherwise. */
function groupMac(mac: MacString | Uint8Array): { text: MacString; hi: number; lo: number } {
  let b: Uint8Array;
  try { b = parseMac(mac); } catch (err) { throw new VmdevError(Status.ERR_INVALID_ARG, `group: ${(err as Error).message}`); }
  if ((b[0] & 1) === 0 || b.every((x) => x === 0xff)) throw new VmdevError(Status.ERR_INVALID_ARG, `group: ${formatMac(b)} is not a multicast group`);
  return { text: formatMac(b), hi: (b[0] << 8) | b[1], lo: ((b[2] << 24) | (b[3] << 16) | (b[4] << 8) | b[5]) >>> 0 };
}

/**
 * A learning Ethernet switch inside wasm. Known unicast destinations go to
 * one port, broadcast and unknown ones to every other port, multicast to the
 * ports that joined the group or are all-multicast. Source MACs are learned
 * per port.
 */
export class VirtualSwitch implements SwitchHost {
  private ports: SwitchPortDevice[] = [];
  private readonly state = new Map<SwitchPortDevice, PortState>();
  private readonly reconcilers = new Map<SwitchPortDevice, Reconciler>();
  private readonly listeners: Array<(ev: MembershipEvent) => void> = [];
  private destroyed = false;
  private readonly e: VmCore["exports"];
  private constructor(readonly core: VmCore, readonly id: number) { this.e = core.exports; }

  /** A new switch in `core` (at most SWITCH_MAX per VM). */
  static create(core: VmCore): VirtualSwitch {
    const id = core.exports.nsw_create();
    if (id < 0) throw new VmdevError(-id, "nsw_create");
    return new VirtualSwitch(core, id);
  }

  /**
   * Make `dev` a port (up to SWITCH_MAX_PORTS), all-multicast and in no
   * group; it leaves any earlier link or switch. Throws VmdevError
   * ERR_BAD_STATE, with `dev` left as it was, while the model refuses (a
   * virtio-net device in ring mode); ERR_FULL (`dev` now on no link or
   * switch) when the switch has no free port.
   */
  attach(dev: SwitchPortDevice, opts: SwitchAttachOptions = {}): void {
    if (dev.core !== this.core) throw new VmdevError(Status.ERR_INVALID_ARG, "attach: device of another VM");
    if (this.destroyed) throw new VmdevError(Status.ERR_BAD_HANDLE, "attach: the switch was destroyed");
    const s = this.e.nsw_attach(this.id, dev.kind, dev.handle);
    // Refused for the handle or the model's state: nothing changed. Otherwise the wasm took `dev` off its earlier link or switch.
    if (s === Status.ERR_BAD_HANDLE || s === Status.ERR_BAD_STATE) throw new VmdevError(s, "nsw_attach");
    dev.forgetPeers();
    if (s !== Status.OK) throw new VmdevError(s, "nsw_attach");
    this.ports = [...this.ports, dev];
    this.state.set(dev, { all: true, groups: new Set() });
    for (const p of this.ports) p.joinSwitch(this, this.ports);
    this.emit({ port: dev.name, group: ALL_MULTICAST, joined: true });
    const rec = opts.reconcile ?? true;
    if (rec !== false && isFilteredNic(dev)) {
      // The reconciler starts from a backend in no group and not all-multicast; its first want (at once) sets what the guest asked.
      this.setAllMulticast(dev, false);
      this.reconcilers.set(dev, attachReconciler(dev, this.groupBackend(dev), rec === true ? {} : rec));
    }
  }

  /** The reconciler following `dev`'s guest filter into its membership (attach started it), or null. */
  reconcilerOf(dev: SwitchPortDevice): Reconciler | null { return this.reconcilers.get(dev) ?? null; }

  /** Take `dev` off the switch (nothing if it is not a port); its memberships go. */
  detach(dev: SwitchPortDevice): void {
    if (!this.ports.includes(dev)) return;
    this.e.nsw_detach(dev.kind, dev.handle);
    dev.forgetPeers();
  }

  /** Devices attached now. */
  get portCount(): number { return this.ports.length; }

  /**
   * `dev` joins multicast group `mac`: frames to it reach `dev` from now on.
   * True when it is a member (also if it was already); false when the
   * switch's group table is full (counted in the port's joinsRefused; a
   * control plane then turns all-multicast on). Throws VmdevError
   * ERR_BAD_STATE when `dev` is not a port, ERR_INVALID_ARG for a unicast or
   * the broadcast address.
   */
  join(dev: SwitchPortDevice, mac: MacString | Uint8Array): boolean {
    const st = this.portState(dev, "join");
    const g = groupMac(mac);
    const s = this.e.nsw_join(this.id, dev.kind, dev.handle, g.hi, g.lo);
    if (s === Status.ERR_FULL) return false;
    if (s !== Status.OK) throw new VmdevError(s, "nsw_join");
    if (!st.groups.has(g.text)) { st.groups.add(g.text); this.emit({ port: dev.name, group: g.text, joined: true }); }
    return true;
  }

  /** `dev` leaves group `mac` (nothing if it was not a member). Throws as {@link VirtualSwitch.join}. */
  leave(dev: SwitchPortDevice, mac: MacString | Uint8Array): void {
    const st = this.portState(dev, "leave");
    const g = groupMac(mac);
    const s = this.e.nsw_leave(this.id, dev.kind, dev.handle, g.hi, g.lo);
    if (s !== Status.OK) throw new VmdevError(s, "nsw_leave");
    if (st.groups.delete(g.text)) this.emit({ port: dev.name, group: g.text, joined: false });
  }

  /** Deliver every multicast frame to `dev` (on) or only its groups' (off). Throws VmdevError ERR_BAD_STATE when `dev` is not a port. */
  setAllMulticast(dev: SwitchPortDevice, on: boolean): void {
    const st = this.portState(dev, "setAllMulticast");
    const s = this.e.nsw_allmulti(this.id, dev.kind, dev.handle, on ? 1 : 0);
    if (s !== Status.OK) throw new VmdevError(s, "nsw_allmulti");
    if (st.all !== on) { st.all = on; this.emit({ port: dev.name, group: ALL_MULTICAST, joined: on }); }
  }

  /** `dev`'s membership and counters, read from the switch. Throws VmdevError ERR_BAD_STATE when `dev` is not a port. */
  membership(dev: SwitchPortDevice): PortMembership {
    this.portState(dev, "membership");
    const all = this.e.nsw_port_allmulti(this.id, dev.kind, dev.handle);
    if (all < 0) throw new VmdevError(-all, "nsw_port_allmulti");
    const max = NetDefs.SWITCH_MAX_GROUPS;
    this.core.ensureIo(max * 8);
    const groups = this.core.ioBuffer.use("switch groups", 0, max * 8, (w) => {
      const n = this.e.nsw_groups(this.id, dev.kind, dev.handle, w.offset, max);
      if (n < 0) throw new VmdevError(-n, "nsw_groups");
      const b = w.bytes();
      return Array.from({ length: Math.min(n, max) }, (_, i) => formatMac(b.subarray(i * 8, i * 8 + 6)));
    });
    const ptr = this.e.nsw_counters_ptr(this.id, dev.kind, dev.handle) >>> 0;
    return { all: all === 1, groups, counters: readCounters(this.core.dv(), ptr, SWITCH_PORT_COUNTERS) };
  }

  /**
   * The switch as `dev`'s network backend (src/net/control.ts): each request
   * goes to the wasm at once; false when it is refused (the group table is
   * full, `dev` is no longer a port, a bad address).
   */
  groupBackend(dev: SwitchPortDevice): GroupBackend {
    this.portState(dev, "groupBackend");
    const attempt = (f: () => boolean): boolean => {
      try { return f(); } catch (err) { if (err instanceof VmdevError) return false; throw err; }
    };
    return {
      add: (group) => attempt(() => this.join(dev, group)),
      remove: (group) => attempt(() => { this.leave(dev, group); return true; }),
      setAllMulticast: (on) => attempt(() => { this.setAllMulticast(dev, on); return true; }),
      addUnicast: (addr) => attempt(() => this.unicast(dev, addr, true)),
      removeUnicast: (addr) => attempt(() => this.unicast(dev, addr, false)),
      // Unknown unicast floods to every port already: nothing to change.
      setAllUnicast: () => true,
    };
  }

  /**
   * `dev` accepts unicast `addr` besides its own (on) or no longer (off):
   * the forwarding database sends frames to it to this port instead of
   * flooding them (a cache: a station sending from it elsewhere moves it).
   * Throws VmdevError ERR_INVALID_ARG for a group address, ERR_BAD_STATE
   * when `dev` is not a port.
   */
  unicast(dev: SwitchPortDevice, addr: MacString | Uint8Array, on: boolean): boolean {
    this.portState(dev, on ? "addUnicast" : "removeUnicast");
    let b: Uint8Array;
    try { b = parseMac(addr); } catch (err) { throw new VmdevError(Status.ERR_INVALID_ARG, `unicast: ${(err as Error).message}`); }
    const hi = (b[0] << 8) | b[1], lo = ((b[2] << 24) | (b[3] << 16) | (b[4] << 8) | b[5]) >>> 0;
    const s = (on ? this.e.nsw_unicast_add : this.e.nsw_unicast_remove)(this.id, dev.kind, dev.handle, hi, lo);
    if (s !== Status.OK) throw new VmdevError(s, on ? "nsw_unicast_add" : "nsw_unicast_remove");
    return true;
  }

  /** Call `cb` for every membership change of every port (joins, leaves, all-multicast on/off, a port's memberships dropping as it leaves). Returns the unsubscribe. */
  onMembership(cb: (ev: MembershipEvent) => void): () => void {
    this.listeners.push(cb);
    return () => { const i = this.listeners.indexOf(cb); if (i >= 0) this.listeners.splice(i, 1); };
  }

  /** Remove the switch: its ports send to their hosts again and the id is free for the next create. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    for (const p of this.ports) this.detach(p);
    this.e.nsw_destroy(this.id);
    this.destroyed = true;
  }

  /** @internal */
  dropPort(dev: SwitchPortDevice): void {
    if (!this.ports.includes(dev)) return;
    this.ports = this.ports.filter((p) => p !== dev);
    const st = this.state.get(dev);
    this.state.delete(dev);
    // The wasm dropped the port's memberships: the reconciler's leaves are refused (no longer a port) and change nothing.
    const rec = this.reconcilers.get(dev);
    this.reconcilers.delete(dev);
    void rec?.close();
    for (const p of this.ports) p.setPeers(this.ports);
    if (st) {
      for (const g of st.groups) this.emit({ port: dev.name, group: g, joined: false });
      if (st.all) this.emit({ port: dev.name, group: ALL_MULTICAST, joined: false });
    }
  }

  private portState(dev: SwitchPortDevice, what: string): PortState {
    const st = this.state.get(dev);
    if (!st || this.destroyed) throw new VmdevError(Status.ERR_BAD_STATE, `${what}: ${dev.name} is not a port of this switch`);
    return st;
  }

  private emit(ev: MembershipEvent): void {
    for (const cb of [...this.listeners]) cb(ev);
  }
}
