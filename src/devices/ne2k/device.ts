// Host glue for the NE2000 model (assembly/ne2k/): the typed API over its
// numbers-only exports. A PCI board (RTL8029AS) is a PciFunction with one
// I/O BAR of 32 ports; an ISA board answers port accesses in the 32 ports
// from its base. Frames the guest transmits reach `onTransmit` inside the
// guest's CR write; host frames enter with `receive`; the interrupt line
// goes to the sink as `intx(0, level)` (INTA#, or the ISA IRQ the embedder
// wires it to).

import { Status, VmdevError } from "../../status.js";
import { DeviceKind } from "../../state.js";
import type { VmCore } from "../../vm-core.js";
import type { DeviceModel, InterruptSink } from "../../device.js";
import type { PciFunction, BarInfo } from "../../pci.js";
import { parseMac } from "../../net/mac.js";
import { readCounters, countersJson, type JsonCounter } from "../../tables.js";
import { NE2K_DEFS, NE2K_COUNTERS } from "./defs.js";
import type { SwitchHost, SwitchPortDevice } from "../../net/switch.js";
import { NicEvents } from "../../net/nic-events.js";
import { destroyInOrder, DetachHooks, type DestroyResult } from "../../lifecycle.js";
import { frameWindowBytes, receiveFramesVia } from "../../rings/frame-array.js";
import type { MulticastWant } from "../../net/control.js";
import { WANT_NONE, wantAll } from "../../net/multicast-want.js";

export { NE2K_COUNTERS } from "./defs.js";

/** Options of {@link Ne2k.create}. */
export interface Ne2kOptions {
  /** MAC address in the station-address PROM, "52:54:00:12:34:56" or 6 bytes; unicast. */
  mac: string | Uint8Array;
  /** "pci" (RTL8029AS, 10ec:8029; default) or "isa" (an NE2000 at `ioBase`). */
  bus?: "pci" | "isa";
  /** ISA: first of the board's 32 ports (default 0x300). */
  ioBase?: number;
  /** Frames held while the receive ring is full before one is lost (default 256, at most 4096). */
  backlogFrames?: number;
  /** The interrupt line: `intx(0, level)`. */
  interrupts: InterruptSink;
  name?: string;
}

/** The PCI BAR of an RTL8029AS: 32 I/O ports. */
export const NE2K_PCI_BARS: readonly BarInfo[] = [{ index: 0, size: NE2K_DEFS.BAR0_SIZE, kind: "io" }];

type Width = 1 | 2 | 4;
let instances = 0;

/** Data-port accesses one read-ahead or write-behind run takes at most (the device clamps to it too). */
const RUN_MAX = NE2K_DEFS.RUN_MAX;
/** An access wholly inside the data port (0x10-0x17); one that straddles into the reset port is the device's to refuse. */
const isData = (off: number, width: number) => off >= 0x10 && off + width <= 0x18;

/** An NE2000-compatible NIC (DP8390 core) on PCI or ISA. */
export class Ne2k implements DeviceModel, SwitchPortDevice {
  readonly kind = DeviceKind.ne2000;
  readonly name: string;
  /** The PCI function (bus "pci"), else null. */
  readonly pci: PciFunction | null;
  /** ISA: first port of the window (bus "isa"), else null. */
  readonly ioBase: number | null;
  /** Guest → host frames, called during the guest's CR.TXP write. */
  onTransmit: ((frame: Uint8Array) => void) | null = null;
  /**
   * The guest changed what the receive filter takes (RCR.PRO/AM, MAR0-7;
   * power-on, restore): called from the port access that changed it. Read
   * {@link Ne2k.multicastWant} there.
   */
  onFilterChange: (() => void) | null = null;
  /**
   * Typed events (src/net/nic-events.ts): "transmit" and "receive" frames,
   * "interrupt" (the line), "filterchange", "reset" (host, restore).
   * Any number of listeners, beside `onTransmit` and `onFilterChange`.
   */
  readonly events: NicEvents;
  private h: number;
  private readonly e: VmCore["exports"];
  private readonly sink: InterruptSink;
  private line = false;
  private busy = false;
  /** The device's host-flags word (ne2k_host_flags_ptr) as an index into `flags`. */
  private readonly flagsAt: number;
  /**
   * A view of linear memory for that word. A shared memory's old buffer stays
   * valid when it grows; an unshared one's detaches, and the read gives
   * undefined: the view is then made again.
   */
  private flags: Uint32Array;
  // Read-ahead (ne2k_run_read): values the device read for the guest's next data-port reads of width raW.
  private readonly ra = new Uint32Array(RUN_MAX);
  private raN = 0;
  private raI = 0;
  private raW = 0;
  private raBar = false;
  // Write-behind (ne2k_run_write_budget): data-port writes of width wbW held until the next other call.
  private readonly wb = new Uint32Array(RUN_MAX);
  private wbN = 0;
  private wbW = 0;
  private wbBudget = 0;
  private wbBar = false;
  /** Devices that may receive what this one sends inside wasm (the ports of its switch). */
  private peers: readonly SwitchPortDevice[] = [];
  private sw: SwitchHost | null = null;

  private constructor(readonly core: VmCore, handle: number, opts: Ne2kOptions) {
    this.h = handle;
    this.e = core.exports;
    this.flagsAt = (core.exports.ne2k_host_flags_ptr(handle) >>> 0) >> 2;
    core.ensureIo(RUN_MAX * 4); // a run's values pass through the I/O buffer's "data-port run" window
    this.flags = new Uint32Array(core.memory.buffer);
    this.name = opts.name ?? `ne2k${instances++}`;
    this.events = new NicEvents(this.name);
    this.sink = this.events.wrapSink(opts.interrupts);
    const isa = opts.bus === "isa";
    this.ioBase = isa ? opts.ioBase ?? 0x300 : null;
    this.pci = isa ? null : this.makePci();
  }

  /** Create the device in `core`. Throws VmdevError on bad options. */
  static create(core: VmCore, opts: Ne2kOptions): Ne2k {
    let mac: Uint8Array;
    try { mac = parseMac(opts.mac); } catch (err) { throw new VmdevError(Status.ERR_INVALID_ARG, `mac: ${(err as Error).message}`); }
    if (mac[0] & 1) throw new VmdevError(Status.ERR_INVALID_ARG, "mac: multicast address");
    const bus = opts.bus ?? "pci";
    if (bus !== "pci" && bus !== "isa") throw new VmdevError(Status.ERR_INVALID_ARG, `bus: want pci or isa, got ${String(bus)}`);
    if (bus === "isa") {
      const base = opts.ioBase ?? 0x300;
      if (!Number.isInteger(base) || base < 0 || base + NE2K_DEFS.NE_PORTS > 0x10000 || base % NE2K_DEFS.NE_PORTS !== 0) {
        throw new VmdevError(Status.ERR_INVALID_ARG, `ioBase: want a multiple of 32 below 0x10000, got ${base}`);
      }
    }
    const h = core.exports.ne2k_create(bus === "isa" ? 1 : 0, (mac[0] << 8) | mac[1], ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0,
      opts.backlogFrames ?? NE2K_DEFS.DEFAULT_BACKLOG);
    if (h < 0) throw new VmdevError(-h, "ne2k_create");
    return new Ne2k(core, h, opts);
  }

  /** Bytes of linear memory a device with this backlog can take (wasm `ne2k_memory_bytes`). */
  static memoryBytes(core: VmCore, backlogFrames: number = NE2K_DEFS.DEFAULT_BACKLOG): number {
    const n = core.exports.ne2k_memory_bytes(backlogFrames);
    if (n < 0n) throw new VmdevError(Number(-n), "ne2k_memory_bytes");
    return Number(n);
  }

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
      hooks: this.detachHooks, drainWaitMs, what: "ne2k_destroy",
      // ne2k_destroy takes the device off its switch itself, before it closes.
      stop: () => { this.sync(); this.forgetPeers(); this.h = 0; },
      destroy: () => this.e.ne2k_destroy(h), inFlight: () => this.e.ne2k_in_flight(h),
      after: () => { if (this.line) { this.line = false; this.sink.intx(0, false); } },
    });
  }

  /** Calls in progress on the device on any thread (wasm references); 0 once destroyed and freed. */
  get inFlight(): number { return this.h === 0 ? 0 : Math.max(0, this.e.ne2k_in_flight(this.h)); }

  private makePci(): PciFunction {
    const e = this.e;
    return {
      bars: NE2K_PCI_BARS,
      configRead: (off, w) => { this.sync(); return e.ne2k_cfg_read(this.h, off >>> 0, w) >>> 0; },
      configWrite: (off, w, v) => { this.sync(); e.ne2k_cfg_write(this.h, off >>> 0, w, v >>> 0); this.settle(); },
      barRead: (bar, off, w) => {
        if (bar === 0 && isData(off, w)) return this.dataRead(off, w, true);
        this.sync();
        const v = e.ne2k_bar_read(this.h, bar, off >>> 0, w) >>> 0;
        this.settle();
        return v;
      },
      barWrite: (bar, off, w, v) => {
        if (bar === 0 && isData(off, w)) { this.dataWrite(off, w, v, true); return; }
        this.sync();
        e.ne2k_bar_write(this.h, bar, off >>> 0, w, v >>> 0);
        this.settle();
      },
    };
  }

  /** A port read at offset `off` (0..31) of the board's window, whatever the bus. */
  ioRead(off: number, width: Width): number {
    if (isData(off, width)) return this.dataRead(off, width, false);
    this.sync();
    const v = this.e.ne2k_io_read(this.h, off >>> 0, width) >>> 0;
    this.settle();
    return v;
  }

  ioWrite(off: number, width: Width, value: number): void {
    if (isData(off, width)) { this.dataWrite(off, width, value, false); return; }
    this.sync();
    this.e.ne2k_io_write(this.h, off >>> 0, width, value >>> 0);
    this.settle();
  }

  /**
   * A data-port read. A guest moves packets with strings of these (insl), so
   * the device reads ahead a run it knows changes nothing but the DMA address
   * and count (ne2k_run_read), and the run serves the guest's next reads of
   * this width without a call each; the next other call says how many it took.
   */
  private dataRead(off: number, width: Width, viaBar: boolean): number {
    if (this.raI < this.raN && width === this.raW && viaBar === this.raBar) return this.ra[this.raI++];
    this.sync();
    if (this.h !== 0) {
      const n = this.core.ioBuffer.use("data-port run", 0, RUN_MAX * width, (w) => {
        const n = this.e.ne2k_run_read(this.h, viaBar ? 1 : 0, off, width, RUN_MAX, w.offset);
        if (n > 0) {
          const b = w.bytes();
          if (width === 4) this.ra.set(new Uint32Array(b.buffer, b.byteOffset, n));
          else if (width === 2) this.ra.set(new Uint16Array(b.buffer, b.byteOffset, n));
          else this.ra.set(b.subarray(0, n));
        }
        return n;
      });
      if (n > 0) {
        this.raN = n; this.raI = 1; this.raW = width; this.raBar = viaBar;
        return this.ra[0];
      }
    }
    const v = viaBar ? this.e.ne2k_bar_read(this.h, 0, off, width) >>> 0 : this.e.ne2k_io_read(this.h, off, width) >>> 0;
    this.settle();
    return v;
  }

  /** A data-port write: held with the next ones of its width while the device says they only fill RAM (ne2k_run_write_budget). */
  private dataWrite(off: number, width: Width, value: number, viaBar: boolean): void {
    if (this.wbN > 0 && width === this.wbW && viaBar === this.wbBar && this.wbN < this.wbBudget) { this.wb[this.wbN++] = value >>> 0; return; }
    this.sync();
    if (this.h !== 0) {
      const b = this.e.ne2k_run_write_budget(this.h, viaBar ? 1 : 0, width, RUN_MAX);
      if (b > 0) { this.wbBudget = b; this.wbW = width; this.wbBar = viaBar; this.wb[0] = value >>> 0; this.wbN = 1; return; }
    }
    if (viaBar) this.e.ne2k_bar_write(this.h, 0, off, width, value >>> 0);
    else this.e.ne2k_io_write(this.h, off, width, value >>> 0);
    this.settle();
  }

  /** Before any other call into the device: say how much of a read-ahead the guest took, hand over held writes. */
  private sync(): void {
    if (this.raN !== 0) {
      const taken = this.raI;
      this.raN = 0; this.raI = 0;
      if (this.h !== 0) this.e.ne2k_run_commit(this.h, taken);
    }
    if (this.wbN !== 0) {
      const n = this.wbN, w = this.wbW;
      this.wbN = 0;
      if (this.h === 0) return;
      this.core.ioBuffer.use("data-port run", 0, n * w, (win) => {
        const b = win.bytes();
        if (w === 4) new Uint32Array(b.buffer, b.byteOffset, n).set(this.wb.subarray(0, n));
        else if (w === 2) new Uint16Array(b.buffer, b.byteOffset, n).set(this.wb.subarray(0, n));
        else b.set(this.wb.subarray(0, n));
        this.e.ne2k_io_write_string(this.h, 0x10, w, n, win.offset);
      });
      this.settle();
    }
  }

  /** ISA: a read of `port`, or null if the port is not the board's. */
  isaRead(port: number, width: Width): number | null {
    const off = port - (this.ioBase ?? -0x10000);
    if (this.ioBase === null || off < 0 || off >= NE2K_DEFS.NE_PORTS) return null;
    return this.ioRead(off, width);
  }

  /** ISA: a write of `port`; false if the port is not the board's. */
  isaWrite(port: number, width: Width, value: number): boolean {
    const off = port - (this.ioBase ?? -0x10000);
    if (this.ioBase === null || off < 0 || off >= NE2K_DEFS.NE_PORTS) return false;
    this.ioWrite(off, width, value);
    return true;
  }

  /** `rep ins`: `count` reads of `width` at window offset `off` into a new array (little-endian). */
  ioReadString(off: number, width: Width, count: number): Uint8Array {
    this.sync();
    const bytes = count * width;
    if (bytes > this.e.io_size()) throw new VmdevError(Status.ERR_INVALID_ARG, "ioReadString: longer than the I/O buffer");
    const out = this.core.ioBuffer.use("data-port run", 0, bytes, (w) => {
      const s = this.e.ne2k_io_read_string(this.h, off >>> 0, width, count, w.offset);
      if (s !== Status.OK) throw new VmdevError(s, "ne2k_io_read_string");
      return w.bytes().slice();
    });
    this.settle();
    return out;
  }

  /** `rep outs`: writes `data` (length a multiple of `width`) as `width`-sized accesses at window offset `off`. */
  ioWriteString(off: number, width: Width, data: Uint8Array): void {
    if (data.length % width !== 0 || data.length > this.e.io_size()) throw new VmdevError(Status.ERR_INVALID_ARG, "ioWriteString: bad length");
    this.sync();
    const s = this.core.ioBuffer.use("data-port run", 0, data.length, (w) => {
      w.bytes().set(data);
      return this.e.ne2k_io_write_string(this.h, off >>> 0, width, data.length / width, w.offset);
    });
    if (s !== Status.OK) throw new VmdevError(s, "ne2k_io_write_string");
    this.settle();
  }

  /**
   * Host → guest frame. OK when stored, held in the backlog, filtered, or
   * not received (NIC stopped, loopback); ERR_FULL when lost and counted;
   * ERR_INVALID_ARG for fewer than 14 or more than 1518 bytes.
   */
  receive(frame: Uint8Array): number {
    if (frame.length > this.e.io_size()) return Status.ERR_INVALID_ARG;
    this.sync();
    const s = this.core.ioBuffer.use("net frame", 0, frame.length, (w) => {
      w.bytes().set(frame);
      return this.e.ne2k_receive(this.h, w.offset, frame.length);
    });
    this.events.rx(frame, s);
    this.settle();
    return s;
  }

  /** Bytes of frame records {@link Ne2k.receiveFrames} takes per call. */
  get frameWindowBytes(): number { return frameWindowBytes(this.e.io_size()); }

  /**
   * Host → guest frames with a status each, in one wasm call
   * (ne2k_receive_frames): `records` is a frame array of at most
   * `frameWindowBytes`; `statuses[i]` gets the Status `receive` would have
   * returned for frame i. With `stopAtRefusal` the call ends after the first
   * frame not taken with OK. Returns the frames handed over or a negative
   * Status (nothing taken).
   */
  receiveFrames(records: Uint8Array, statuses: Uint8Array, stopAtRefusal = false): number {
    this.sync();
    const n = receiveFramesVia(this.core.ioBuffer, records, statuses, stopAtRefusal,
      (ioOff, len, stOff, flags) => this.e.ne2k_receive_frames(this.h, ioOff, len, stOff, flags));
    this.settle();
    return n;
  }

  /** The device's counters by name. */
  counters(): Record<string, bigint> {
    if (this.h === 0) throw new VmdevError(Status.ERR_BAD_HANDLE, "counters: the device was destroyed");
    this.sync();
    return readCounters(this.core.dv(), this.e.ne2k_counters_ptr(this.h) >>> 0, NE2K_COUNTERS);
  }

  /** {@link counters} as JSON-safe numbers (src/tables.ts countersJson: a number up to 2^53 − 1, else a decimal string). */
  countersJSON(): Record<string, JsonCounter> { return countersJson(this.counters()); }

  /** The receive filter as the driver programmed it (RCR, MAR0-7, PAR0-5), read without touching the register page. */
  filterState(): { rcr: number; mar: Uint8Array; par: Uint8Array } {
    this.sync();
    const e = this.e, h = this.h;
    const bytes = (lo: number, hi: number, n: number) => Uint8Array.from({ length: n }, (_, i) => ((i < 4 ? lo : hi) >>> (8 * (i & 3))) & 0xff);
    return {
      rcr: e.ne2k_filter_state(h, 0),
      mar: bytes(e.ne2k_filter_state(h, 1) >>> 0, e.ne2k_filter_state(h, 2) >>> 0, 8),
      par: bytes(e.ne2k_filter_state(h, 3) >>> 0, e.ne2k_filter_state(h, 4) >>> 0, 6),
    };
  }

  /** Stop the receive ring and the transmitter: received frames wait in the backlog, a transmission waits with CR.TXP set. */
  quiesce(): void { this.sync(); this.e.ne2k_quiesce(this.h); }
  /** Undo quiesce: a waiting transmission goes, backlog frames enter the ring (judged by the filter as it is now). */
  resume(): void { this.sync(); this.e.ne2k_resume(this.h); this.settle(); }
  /**
   * What the receive filter wants of the network (DP8390 RCR, MAR0-7):
   * PRO → every group ("promiscuous"; the chip's PRO takes no group by
   * itself, but a promiscuous driver sets AM and all of MAR, and frames the
   * filter then drops cost nothing); AM clear or MAR all zero → none; MAR all
   * ones → every group ("allmulti"); else every group ("hash-filter": the
   * 64-bit hash names no group).
   */
  multicastWant(): MulticastWant {
    const { rcr, mar } = this.filterState();
    if (rcr & NE2K_DEFS.RCR_PRO) return wantAll("promiscuous");
    if ((rcr & NE2K_DEFS.RCR_AM) === 0 || mar.every((b) => b === 0)) return WANT_NONE;
    if (mar.every((b) => b === 0xff)) return wantAll("allmulti");
    return wantAll("hash-filter");
  }

  /** Frames waiting in the receive backlog. */
  get backlogLength(): number { this.sync(); return this.e.ne2k_backlog(this.h); }
  /** Level of the interrupt line. */
  get irqLevel(): boolean { return this.line; }

  saveState(): Uint8Array {
    this.sync();
    this.settle();
    const bound = this.e.ne2k_state_bound(this.h);
    if (bound < 0) throw new VmdevError(-bound, "ne2k_state_bound");
    this.core.ensureIo(bound);
    return this.core.saveEnvelope("ne2k_save", () => this.e.ne2k_save(this.h));
  }

  /**
   * Restore from a blob; returns a Status and leaves the device untouched on
   * error. The restored device stays quiesced until `resume()`: host frames
   * wait in the backlog (bounded), no transmission starts and no interrupt
   * is raised, so the card is as saved when the VM runs.
   */
  restoreState(blob: Uint8Array): number {
    this.sync();
    try { this.core.ensureIo(blob.length); } catch { return Status.ERR_STATE_LENGTH; }
    const s = this.core.restoreEnvelope(blob, (len) => this.e.ne2k_restore(this.h, len));
    if (s === Status.OK) this.events.reset("restore");
    this.settle();
    return s;
  }

  /** Power-on reset (PCI configuration included). */
  reset(): void {
    this.sync();
    this.e.ne2k_reset(this.h);
    this.events.reset("host");
    this.settle();
  }

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

  /** The device's host-flags word (bit 0 outbox frames, bit 2 the line), read from memory without a call. */
  private hostFlags(): number {
    let p = this.flags[this.flagsAt];
    if (p === undefined) { this.flags = new Uint32Array(this.core.memory.buffer); p = this.flags[this.flagsAt]; }
    return p;
  }

  /** @internal The line as last driven. */
  irqQuiet(): boolean { return this.h === 0 || ((this.hostFlags() & NE2K_DEFS.HOST_FLAG_LINE) !== 0) === this.line; }

  /**
   * @internal Drive the line to the device's level (after a peer's frames
   * reached it). Read from the flags word, not through an export: a call
   * would end a read-ahead the guest is still taking.
   */
  flushIrq(): void {
    if (this.h === 0) return;
    const level = (this.hostFlags() & NE2K_DEFS.HOST_FLAG_LINE) !== 0;
    if (level !== this.line) { this.line = level; this.sink.intx(0, level); }
  }

  /** Deliver what the device produced: transmitted frames, the interrupt line (also the peers'), a filter change. */
  private settle(): void {
    const h = this.h;
    if (h === 0 || this.busy) return;
    // The device keeps its pending bits in memory: one read instead of a call per access.
    let p = this.hostFlags();
    if ((p & NE2K_DEFS.HOST_FLAG_FILTER) !== 0) {
      // Taken even without a listener, so the fast path stays one memory read.
      if (this.e.ne2k_filter_take(h) === 1) { this.onFilterChange?.(); this.events.filterChanged(); }
      if (this.h !== h) return;
      p = this.hostFlags();
    }
    if ((p & NE2K_DEFS.HOST_FLAG_TX) === 0 && ((p & NE2K_DEFS.HOST_FLAG_LINE) !== 0) === this.line && this.peers.every((d) => d === this || d.irqQuiet())) return;
    this.busy = true;
    try {
      // Bounded: each round empties the outbox; a waiting transmission refills it at most once.
      for (let round = 0; round < 4 && this.h !== 0; round++) {
        const n = this.e.ne2k_tx_frames(this.h);
        if (n <= 0) break;
        const base = this.e.ne2k_tx_ptr(this.h) >>> 0, slot = NE2K_DEFS.SLOT_BYTES;
        const u8 = this.core.u8(), dv = this.core.dv();
        const frames: Uint8Array[] = [];
        for (let i = 0; i < n; i++) {
          const at = base + i * slot;
          frames.push(u8.slice(at + 4, at + 4 + dv.getUint32(at, true)));
        }
        this.e.ne2k_tx_done(this.h);
        const cb = this.onTransmit;
        if (cb) for (const f of frames) cb(f);
        if (this.events.wants("transmit")) for (const f of frames) this.events.tx(f);
      }
      if (this.h === 0) return;
      const level = this.e.ne2k_intx(this.h) === 1;
      if (level !== this.line) { this.line = level; this.sink.intx(0, level); }
      for (const d of this.peers) if (d !== this) d.flushIrq();
    } finally {
      this.busy = false;
    }
  }
}
