// Host glue for the Intel 82540EM model (assembly/e1000/). The device runs
// inside wasm; this class turns its numbers-only exports into a DeviceModel
// and a PciFunction (BAR0 registers, BAR1 I/O window), moves frames between
// the host and the device, drives INTA# and keeps the device's timers.
//
// Time: every access carries guest time from `clock` (ns). The interrupt
// moderation timers (ITR, RDTR/RADV, TIDV/TADV) are deadlines in that time;
// with `timers: "host"` (the default) a host timer calls `advance()` when
// the earliest one is due, with `timers: "manual"` the caller does (tests
// with a ManualClock).
//
// Everything else is synchronous: a TDT write transmits before it returns,
// frames reach `onTransmit` and INTA# reaches the sink inside the same call.

import { Status, VmdevError } from "../../status.js";
import { DeviceKind } from "../../state.js";
import type { VmCore } from "../../vm-core.js";
import type { DeviceModel, InterruptSink } from "../../device.js";
import type { PciFunction } from "../../pci.js";
import type { GuestClock } from "../../clock.js";
import { parseMac } from "../../net/mac.js";
import { readCounters, countersJson, type JsonCounter } from "../../tables.js";
import type { SwitchHost, SwitchPortDevice } from "../../net/switch.js";
import {
  E1000_BARS, E1000_COUNTERS, E1K_NO_DEADLINE, PENDING_TX, PENDING_INTX, PENDING_FILTER, MC_MODE_UPE, MC_MODE_MPE, MC_MODE_MTA,
  E1K_RAR_ENTRIES, type E1000CounterName,
} from "./defs.js";
import type { MulticastWant } from "../../net/control.js";
import { wantAll, wantGroups, unicastOf } from "../../net/multicast-want.js";
import { destroyInOrder, DetachHooks, type DestroyResult } from "../../lifecycle.js";
import { frameWindowBytes, receiveFramesVia } from "../../rings/frame-array.js";
import { NicEvents } from "../../net/nic-events.js";

/** Options of {@link E1000.create}. */
export interface E1000Options {
  /** MAC address, "52:54:00:12:34:56" or 6 bytes; must be unicast. It goes into the EEPROM. */
  mac: string | Uint8Array;
  /** INTA# goes to `intx(0, level)`; the 82540EM has no MSI. */
  interrupts: InterruptSink;
  /** Guest time (ns). Default: the host's monotonic clock. */
  clock?: GuestClock;
  /** Who fires the moderation timers: a host timer ("host", default) or the caller via advance() ("manual"). */
  timers?: "host" | "manual";
  /** Frames the receive backlog holds while the guest has no descriptors (default 256). */
  backlogFrames?: number;
  /** Bytes the receive backlog holds (default 512 KiB; a multiple of 4, at least 32 KiB). */
  backlogBytes?: number;
  name?: string;
}

/** The host's monotonic clock in ns (browsers and Node). */
export const hostClock: GuestClock = { now: () => BigInt(Math.round(performance.now() * 1e6)) };

/** Host timers shorter than this are run by polling on the next event-loop turns (setTimeout waits ≥ 1 ms in Node). */
const POLL_BELOW_NS = 2_000_000n;

let instances = 0;

/** An Intel 82540EM gigabit Ethernet controller (PCI 8086:100E). */
export class E1000 implements DeviceModel, SwitchPortDevice {
  readonly kind = DeviceKind.e1000;
  readonly name: string;
  /** The PCI function: configuration space, BAR0 (registers, 128 KiB) and BAR1 (I/O window, 64 ports). */
  readonly pci: PciFunction;
  /** Guest → host frames (no FCS), delivered synchronously during the guest's TDT write. */
  onTransmit: ((frame: Uint8Array) => void) | null = null;
  /**
   * The guest changed what the receive filter takes (RCTL.UPE/MPE, an MTA
   * or RAR register; reset, restore): called from the register access that
   * changed it. Read {@link E1000.multicastWant} there.
   */
  onFilterChange: (() => void) | null = null;
  /**
   * Typed events (src/net/nic-events.ts): "transmit" and "receive" frames,
   * "interrupt" (INTA#), "filterchange", "reset" (host, restore), "link".
   * Any number of listeners, beside `onTransmit` and `onFilterChange`.
   */
  readonly events: NicEvents;
  private h: number;
  private readonly e: VmCore["exports"];
  private readonly sink: InterruptSink;
  private readonly clock: GuestClock;
  private readonly hostTimers: boolean;
  private intxLevel = false;
  private busy = false;
  private again = false;
  private timer: { at: bigint; cancel: () => void } | null = null;
  /** Devices that may receive what this one sends inside wasm (the ports of its switch). */
  private peers: readonly SwitchPortDevice[] = [];
  private sw: SwitchHost | null = null;

  private constructor(readonly core: VmCore, handle: number, opts: E1000Options) {
    this.h = handle;
    this.e = core.exports;
    this.clock = opts.clock ?? hostClock;
    this.hostTimers = (opts.timers ?? "host") === "host";
    this.name = opts.name ?? `e1000-${instances++}`;
    this.events = new NicEvents(this.name);
    this.sink = this.events.wrapSink(opts.interrupts);
    this.pci = this.makePci();
  }

  /** Create the device in `core`. Throws VmdevError on bad options. */
  static create(core: VmCore, opts: E1000Options): E1000 {
    let mac: Uint8Array;
    try { mac = parseMac(opts.mac); } catch (err) { throw new VmdevError(Status.ERR_INVALID_ARG, `mac: ${(err as Error).message}`); }
    if (mac[0] & 1) throw new VmdevError(Status.ERR_INVALID_ARG, "mac: multicast address");
    const h = core.exports.e1k_create((mac[0] << 8) | mac[1], ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0,
      opts.backlogFrames ?? 256, opts.backlogBytes ?? 512 * 1024);
    if (h < 0) throw new VmdevError(-h, "e1k_create");
    return new E1000(core, h, opts);
  }

  /** Bytes of linear memory a device with these options can take in `core` (wasm `e1k_memory_bytes`). */
  static memoryBytes(core: VmCore, opts: { backlogFrames?: number; backlogBytes?: number } = {}): number {
    const n = core.exports.e1k_memory_bytes(opts.backlogFrames ?? 256, opts.backlogBytes ?? 512 * 1024);
    if (n < 0n) throw new VmdevError(Number(-n), "e1k_memory_bytes");
    return Number(n);
  }

  /** Handle inside wasm (0 once destroyed). */
  get handle(): number { return this.h; }
  get destroyed(): boolean { return this.h === 0; }

  private readonly detachHooks = new DetachHooks();

  /**
   * Run `fn` when the device is destroyed, first (before it stops): what
   * joined it to a switch port, a filter reconciler or a backend detaches
   * there. Returns a function that removes the hook.
   */
  onDetach(fn: () => void): () => void { return this.detachHooks.add(fn); }

  /**
   * Remove the device: its `onDetach` hooks run, then it stops (every later call on its handle, from any
   * thread, is refused) and is freed, its handle and memory going back to
   * the VM, once no call on another thread holds it (src/lifecycle.ts: waits
   * up to `drainWaitMs`, else "deferred" and the next create frees it). Safe to call twice.
   */
  destroy(drainWaitMs?: number): DestroyResult {
    const h = this.h;
    if (h === 0) return "freed";
    return destroyInOrder({
      hooks: this.detachHooks, drainWaitMs, what: "e1k_destroy",
      // e1k_destroy takes the device off its switch itself, before it closes.
      stop: () => { this.cancelTimer(); this.forgetPeers(); this.h = 0; },
      destroy: () => this.e.e1k_destroy(h), inFlight: () => this.e.e1k_in_flight(h),
      after: () => { if (this.intxLevel) { this.intxLevel = false; this.sink.intx(0, false); } },
    });
  }

  /** Calls in progress on the device on any thread (wasm references); 0 once destroyed and freed. */
  get inFlight(): number { return this.h === 0 ? 0 : Math.max(0, this.e.e1k_in_flight(this.h)); }

  private now(): bigint { return this.clock.now(); }

  /**
   * Send `frame` into the device's network as if its guest had: into its
   * switch while it is a port (the other ports receive it, the switch learns
   * its source here), else to `onTransmit`. What the host sends on the
   * guest's behalf (an announce's RARP). A Status.
   */
  sendAsGuest(frame: Uint8Array): number {
    if (this.h === 0) return Status.ERR_BAD_HANDLE;
    if (this.sw === null) { const cb = this.onTransmit; if (!cb) return Status.ERR_BAD_STATE; cb(frame); this.events.tx(frame); return Status.OK; }
    const s = this.core.ioBuffer.use("net frame", 0, frame.length, (w) => { w.bytes().set(frame); return this.e.nsw_send(this.kind, this.h, w.offset, frame.length); });
    for (const p of this.peers) if (p !== this) p.flushIrq();
    return s;
  }

  /** @internal The wasm took this device off its switch: drop the host's record of it. */
  forgetPeers(): void {
    if (this.sw) { this.sw.dropPort(this); this.sw = null; }
    this.peers = [];
  }
  /** @internal Used by VirtualSwitch. */
  joinSwitch(sw: SwitchHost, ports: readonly SwitchPortDevice[]): void { this.sw = sw; this.peers = ports; }
  /** @internal Used by VirtualSwitch. */
  setPeers(ports: readonly SwitchPortDevice[]): void { this.peers = ports; }

  /** @internal INTA# as last driven, and a host timer planned for the earliest deadline. */
  irqQuiet(): boolean {
    if (this.h === 0) return true;
    if (((this.e.e1k_pending(this.h) & PENDING_INTX) !== 0) !== this.intxLevel) return false;
    if (!this.hostTimers) return true;
    const at = this.nextDeadline();
    return at === null || (this.timer !== null && this.timer.at <= at);
  }

  /** @internal Drive INTA# to the device's level and plan the next timer (after a peer's frames reached it). */
  flushIrq(): void {
    if (this.h === 0) return;
    const level = this.e.e1k_intx(this.h) === 1;
    if (level !== this.intxLevel) { this.intxLevel = level; this.sink.intx(0, level); }
    this.planTimer();
  }

  private makePci(): PciFunction {
    const e = this.e;
    return {
      bars: E1000_BARS,
      configRead: (off, w) => e.e1k_cfg_read(this.h, off >>> 0, w) >>> 0,
      configWrite: (off, w, v) => { e.e1k_cfg_write(this.h, off >>> 0, w, v >>> 0, this.now()); this.settle(); },
      barRead: (bar, off, w) => { const v = e.e1k_bar_read(this.h, bar, off >>> 0, w, this.now()) >>> 0; this.settle(); return v; },
      barWrite: (bar, off, w, v) => { e.e1k_bar_write(this.h, bar, off >>> 0, w, v >>> 0, this.now()); this.settle(); },
    };
  }

  /**
   * Host → guest frame (no FCS). Status.OK when stored, backlogged or dropped
   * as the hardware would (receiver off, link down, oversize, filtered; see
   * counters), ERR_FULL when dropped because the backlog is full or the ring
   * can never hold it, ERR_INVALID_ARG below 14 or above 16384 bytes.
   */
  receive(frame: Uint8Array): number {
    if (frame.length > this.e.io_size()) return Status.ERR_INVALID_ARG;
    const s = this.core.ioBuffer.use("net frame", 0, frame.length, (w) => {
      w.bytes().set(frame);
      return this.e.e1k_receive(this.h, 0, frame.length, this.now());
    });
    this.events.rx(frame, s);
    this.settle();
    return s;
  }

  /** Bytes of frame records {@link E1000.receiveFrames} takes per call. */
  get frameWindowBytes(): number { return frameWindowBytes(this.e.io_size()); }

  /**
   * Host → guest frames with a status each, in one wasm call
   * (e1k_receive_frames): `records` is a frame array of at most
   * `frameWindowBytes`; `statuses[i]` gets the Status `receive` would have
   * returned for frame i. With `stopAtRefusal` the call ends after the first
   * frame not taken with OK. Returns the frames handed over or a negative
   * Status (nothing taken).
   */
  receiveFrames(records: Uint8Array, statuses: Uint8Array, stopAtRefusal = false): number {
    const n = receiveFramesVia(this.core.ioBuffer, records, statuses, stopAtRefusal,
      (ioOff, len, stOff, flags) => this.e.e1k_receive_frames(this.h, ioOff, len, stOff, flags, this.now()));
    this.settle();
    return n;
  }

  /** Plug or unplug the cable (link status change interrupt). */
  setLink(up: boolean): void {
    const s = this.e.e1k_set_link(this.h, up ? 1 : 0, this.now());
    if (s !== Status.OK) throw new VmdevError(s, "e1k_set_link");
    this.events.link(up);
    this.settle();
  }

  /** Fire the moderation timers due at the clock's time. */
  advance(): void {
    this.e.e1k_advance(this.h, this.now());
    this.settle();
  }

  /** Earliest guest time (ns) the device has a timer for, or null. */
  nextDeadline(): bigint | null {
    const t = BigInt.asUintN(64, this.e.e1k_next_deadline(this.h));
    return t === E1K_NO_DEADLINE ? null : t;
  }

  /** The device's event counters by name. */
  counters(): Record<E1000CounterName, bigint> {
    if (this.h === 0) throw new VmdevError(Status.ERR_BAD_HANDLE, "counters: the device was destroyed");
    return readCounters(this.core.dv(), this.e.e1k_counters_ptr(this.h) >>> 0, E1000_COUNTERS);
  }

  /** {@link counters} as JSON-safe numbers (src/tables.ts countersJson: a number up to 2^53 − 1, else a decimal string). */
  countersJSON(): Record<E1000CounterName, JsonCounter> { return countersJson(this.counters()); }

  /** A register's value at BAR0 offset `off` without its read effects (statistics are not cleared). */
  peekRegister(off: number): number { return this.e.e1k_reg_peek(this.h, off >>> 0) >>> 0; }
  /** A PHY register (0..31) without read effects. */
  peekPhy(reg: number): number { return this.e.e1k_phy_peek(this.h, reg >>> 0) >>> 0; }
  /** Frames waiting in the receive backlog. */
  get backlogLength(): number { return this.e.e1k_backlog(this.h); }
  /** INTA# as the device drives it. */
  get irqLevel(): boolean { return this.intxLevel; }

  /** Stop DMA: host frames wait in the backlog, the transmit ring is not read. Call before saveState. */
  quiesce(): void { this.e.e1k_quiesce(this.h); }
  /** Undo quiesce and look at both rings once. */
  resume(): void { this.e.e1k_resume(this.h, this.now()); this.settle(); }

  /** Save the device as an envelope blob (frames in the host outbox are delivered first). */
  saveState(): Uint8Array {
    this.settle();
    const bound = this.e.e1k_state_bound(this.h);
    if (bound < 0) throw new VmdevError(-bound, "e1k_state_bound");
    this.core.ensureIo(bound);
    return this.core.saveEnvelope("e1k_save", () => this.e.e1k_save(this.h));
  }

  /**
   * Restore from a blob; returns a Status and leaves the device untouched on
   * error. The restored device stays quiesced until `resume()`: neither ring
   * is processed, no guest RAM is written, no interrupt is raised, and host
   * frames wait in the backlog (bounded); `resume()` looks at both rings once
   * (doorbells lost with the source) and delivers them.
   */
  restoreState(blob: Uint8Array): number {
    try { this.core.ensureIo(blob.length); } catch { return Status.ERR_STATE_LENGTH; }
    const s = this.core.restoreEnvelope(blob, (len) => this.e.e1k_restore(this.h, len));
    if (s === Status.OK) this.events.reset("restore");
    this.settle();
    return s;
  }

  /** Power-on reset (PCI configuration space included). */
  reset(): void {
    this.e.e1k_reset(this.h);
    this.events.reset("host");
    this.settle();
  }

  /**
   * What the receive filter wants of the network (8254x §13.4.22, §13.5):
   * UPE → every group ("promiscuous"); MPE → every group ("allmulti"); any
   * MTA bit set → every group ("hash-filter": the inexact table names no
   * group); else the group addresses in the valid receive-address entries.
   */
  multicastWant(): MulticastWant {
    const e = this.e, h = this.h;
    const mode = e.e1k_mc_mode(h);
    if (mode < 0) throw new VmdevError(-mode, "e1k_mc_mode");
    const bytes = (a: bigint) => Uint8Array.from({ length: 6 }, (_, j) => Number((a >> BigInt(8 * j)) & 0xffn));
    // Extra unicast addresses: valid unicast RAR entries past RAR[0] (the station address); UPE takes every one.
    const extra: Uint8Array[] = [];
    for (let i = 1; i < E1K_RAR_ENTRIES; i++) { const a = e.e1k_rar_unicast(h, i); if (a >= 0n) extra.push(bytes(a)); }
    const uc = (mode & MC_MODE_UPE) ? { allUnicast: true, unicast: [] } : { allUnicast: false, unicast: unicastOf(extra) };
    if (mode & MC_MODE_UPE) return { ...wantAll("promiscuous"), ...uc };
    if (mode & MC_MODE_MPE) return { ...wantAll("allmulti"), ...uc };
    if (mode & MC_MODE_MTA) return { ...wantAll("hash-filter"), ...uc };
    const macs: Uint8Array[] = [];
    for (let i = 0; i < E1K_RAR_ENTRIES; i++) {
      const a = e.e1k_rar_group(h, i);
      if (a < 0n) continue;
      macs.push(bytes(a));
    }
    return { ...wantGroups(macs), ...uc };
  }

  /** Deliver what the device produced: transmitted frames, the INTA# level, a filter change; then plan the next timer. */
  private settle(): void {
    if (this.h === 0) return;
    if (this.busy) { this.again = true; return; }
    let p = this.e.e1k_pending(this.h);
    if ((p & PENDING_FILTER) !== 0) {
      // Taken even without a listener, so the fast path stays one call.
      if (this.e.e1k_filter_take(this.h) === 1) { this.onFilterChange?.(); this.events.filterChanged(); }
      if (this.h === 0) return;
      p = this.e.e1k_pending(this.h);
    }
    if ((p & PENDING_TX) === 0 && ((p & PENDING_INTX) !== 0) === this.intxLevel && this.peers.every((d) => d === this || d.irqQuiet())) {
      this.planTimer();
      return;
    }
    this.busy = true;
    try {
      // Bounded: each round empties the outbox, and the device refills it at most once per e1k_tx_done.
      for (let round = 0; round < 1 << 16; round++) {
        this.again = false;
        this.flushTx();
        if (this.h === 0) return;
        const level = this.e.e1k_intx(this.h) === 1;
        if (level !== this.intxLevel) { this.intxLevel = level; this.sink.intx(0, level); }
        for (const d of this.peers) if (d !== this) d.flushIrq();
        if (this.h === 0) return;
        if (!this.again && (this.e.e1k_pending(this.h) & PENDING_TX) === 0) break;
      }
    } finally {
      this.busy = false;
    }
    this.planTimer();
  }

  private flushTx(): void {
    const e = this.e;
    const h = this.h;
    const n = e.e1k_tx_frames(h);
    if (n <= 0) return;
    const base = e.e1k_tx_ptr(h) >>> 0;
    const u8 = this.core.u8();
    const dv = this.core.dv();
    const frames: Uint8Array[] = [];
    let off = base;
    for (let i = 0; i < n; i++) {
      const len = dv.getUint32(off, true);
      frames.push(u8.slice(off + 4, off + 4 + len));
      off += (len + 4 + 3) & ~3;
    }
    // Copied first: e1k_tx_done lets the device refill the outbox.
    e.e1k_tx_done(h, this.now());
    const cb = this.onTransmit;
    if (cb) for (const f of frames) cb(f);
    if (this.events.wants("transmit")) for (const f of frames) this.events.tx(f);
  }

  private cancelTimer(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** With host timers: make sure something calls advance() when the earliest deadline comes. */
  private planTimer(): void {
    if (!this.hostTimers || this.h === 0) return;
    const at = this.nextDeadline();
    if (at === null) { this.cancelTimer(); return; }
    if (this.timer && this.timer.at <= at) return;
    this.cancelTimer();
    const wait = at - this.now();
    const fire = () => { this.timer = null; if (this.h !== 0) this.advance(); };
    if (wait < POLL_BELOW_NS && typeof setImmediate === "function") {
      // Short waits (ITR intervals are tens of µs): poll on the next turns until due.
      const poll = () => { if (this.now() >= at) fire(); else { h = setImmediate(poll); } };
      let h = setImmediate(poll);
      this.timer = { at, cancel: () => clearImmediate(h) };
    } else {
      const t = setTimeout(fire, Math.max(0, Number(wait / 1_000_000n)));
      (t as { unref?: () => void }).unref?.();
      this.timer = { at, cancel: () => clearTimeout(t) };
    }
  }
}
