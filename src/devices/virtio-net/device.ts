// Host glue for the virtio-net device model (assembly/virtio-net/, assembly/virtio/).
// The device runs inside wasm; this class turns its numbers-only exports into
// the DeviceModel / PciFunction / MMIO interfaces an emulator expects, moves
// frames between the host and the device, and delivers interrupts.
//
// Everything is synchronous: a notify write processes the queue before it
// returns, transmitted frames reach `onTransmit` and interrupts reach the
// sink inside the same call.

import { Status, VmdevError } from "../../status.js";
import { DeviceKind } from "../../state.js";
import type { VmCore } from "../../vm-core.js";
import type { DeviceModel, InterruptSink } from "../../device.js";
import type { PciFunction } from "../../pci.js";
import { parseMac } from "../../net/mac.js";
import { VIRTIO_NET_COUNTERS } from "./counters.js";
import { VIRTIO_PCI_BARS, virtioPciRegister } from "./pci.js";
import { readCounters, countersJson, type JsonCounter } from "../../tables.js";
import { VirtioDefs, VirtioNetDefs } from "../../generated/constants.js";
import { FrameArrayWriter, FrameBatch, frameWindowBytes, receiveFramesVia } from "../../rings/frame-array.js";
import type { SwitchHost, SwitchPortDevice } from "../../net/switch.js";
import { destroyInOrder, DetachHooks, type DestroyResult } from "../../lifecycle.js";
import type { MulticastWant } from "../../net/control.js";
import { WANT_NONE, wantAll, wantGroups, unicastOf } from "../../net/multicast-want.js";
import { NicEvents } from "../../net/nic-events.js";

/** Options of {@link VirtioNet.create}. */
export interface VirtioNetOptions {
  /** MAC address, "52:54:00:12:34:56" or 6 bytes; must be unicast. */
  mac: string | Uint8Array;
  /** virtio-pci (modern, MSI-X) or virtio-mmio v2. */
  transport: "pci" | "mmio";
  /** Queue pairs offered (max_virtqueue_pairs; MQ is offered when > 1). Default 1, at most 8. */
  queuePairs?: number;
  /** MTU offered in the device configuration. Default 1500. */
  mtu?: number;
  /** Largest queue size offered (a power of two ≤ 32768). Default 256. */
  queueSize?: number;
  /** Frames the receive backlog holds while the guest has no buffers. Default 256. */
  backlogFrames?: number;
  /** Interrupt delivery: MSI-X messages via `msi`, INTx / MMIO line via `intx(0, level)`. */
  interrupts: InterruptSink;
  name?: string;
}

/** Device status bit DEVICE_NEEDS_RESET (virtio 1.2 §2.1). */
export const VIRTIO_STATUS_NEEDS_RESET = VirtioDefs.S_NEEDS_RESET;

/** The transport number vnet_create and vnet_memory_bytes take (0, refused, for anything else). */
const transportCode = (t: string): number => (t === "pci" ? VirtioDefs.TRANSPORT_PCI : t === "mmio" ? VirtioDefs.TRANSPORT_MMIO : 0);

let instances = 0;

/** A virtio-net device (virtio 1.2 §5.1) on virtio-pci or virtio-mmio. */
export class VirtioNet implements DeviceModel, SwitchPortDevice {
  readonly kind = DeviceKind.virtioNet;
  readonly name: string;
  /** The PCI function (transport "pci"), else null. */
  readonly pci: PciFunction | null;
  /** Guest → host frames (without the virtio-net header); called synchronously during the guest's notify write. */
  onTransmit: ((frame: Uint8Array) => void) | null = null;
  /**
   * Guest → host frames as batches: when set, it is called instead of
   * `onTransmit` with every frame the device produced in one go, as views
   * into wasm memory valid only until it returns (no per-frame copy or call).
   */
  onTransmitBatch: ((batch: FrameBatch) => void) | null = null;
  /** The MTU the device was created with: the largest it can ever offer (its backlog slots are sized by it). */
  readonly createdMtu: number;
  /**
   * The guest changed the receive filter (MAC_TABLE_SET, a receive-mode
   * command; device reset, restore): called once per change from the call
   * that made it, after the filter took the new state. Read
   * {@link VirtioNet.multicastWant} there (src/net/attach.ts does).
   */
  onFilterChange: (() => void) | null = null;
  /**
   * Typed events (src/net/nic-events.ts): "transmit" and "receive" frames,
   * "interrupt", "filterchange", "reset" (host, restore, DEVICE_NEEDS_RESET).
   * Any number of listeners, beside `onTransmit` and `onFilterChange`.
   */
  readonly events: NicEvents;
  /** DEVICE_NEEDS_RESET as last reported by a "reset" event. */
  private needsResetSeen = false;
  /** Handle inside wasm; 0 once destroyed (every export then refuses it). */
  private h: number;
  private readonly sink: InterruptSink;
  private readonly e: VmCore["exports"];
  /** Devices that may receive what this one sends inside wasm (link peer or switch ports). */
  private peers: readonly SwitchPortDevice[] = [];
  private sw: SwitchHost | null = null;
  private intxLevel = false;
  private busy = false;
  private again = false;
  /** The batch object onTransmitBatch gets, reused for every outbox. */
  private txBatch: FrameBatch | null = null;

  private constructor(readonly core: VmCore, handle: number, opts: VirtioNetOptions) {
    this.h = handle;
    this.e = core.exports;
    this.name = opts.name ?? `net${instances++}`;
    this.events = new NicEvents(this.name);
    this.sink = this.events.wrapSink(opts.interrupts);
    this.createdMtu = opts.mtu ?? 1500;
    this.pci = opts.transport === "pci" ? this.makePci() : null;
  }

  /** Create the device in `core`. Throws VmdevError on bad options. */
  static create(core: VmCore, opts: VirtioNetOptions): VirtioNet {
    let mac: Uint8Array;
    try { mac = parseMac(opts.mac); } catch (err) { throw new VmdevError(Status.ERR_INVALID_ARG, `mac: ${(err as Error).message}`); }
    if (mac[0] & 1) throw new VmdevError(Status.ERR_INVALID_ARG, "mac: multicast address");
    const h = core.exports.vnet_create(
      transportCode(opts.transport),
      (mac[0] << 8) | mac[1], ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0,
      opts.queuePairs ?? 1, opts.mtu ?? 1500, opts.queueSize ?? 256, opts.backlogFrames ?? 256);
    if (h < 0) throw new VmdevError(-h, "vnet_create");
    return new VirtioNet(core, h, opts);
  }

  /** Handle of the device inside wasm (0 once destroyed). */
  get handle(): number { return this.h; }
  /** True after {@link VirtioNet.destroy}. */
  get destroyed(): boolean { return this.h === 0; }

  private readonly detachHooks = new DetachHooks();

  /**
   * Run `fn` when the device is destroyed, first (before it stops): what
   * joined it to a switch port, a filter reconciler or a backend detaches
   * there. Returns a function that removes the hook.
   */
  onDetach(fn: () => void): () => void { return this.detachHooks.add(fn); }

  /**
   * Remove the device, in order: its `onDetach` hooks run (filters,
   * reconcilers), it leaves its link, switch or backend port; it stops (every later call on its handle, from any thread, is refused);
   * it is freed, its handle and memory going back to the VM for the next
   * create, once no call on another thread holds it (src/lifecycle.ts: this
   * waits for such calls, up to `drainWaitMs`, and returns "deferred" if they
   * outlast it — the next create frees it then). Afterwards register accesses
   * are ignored (reads return all ones), `receive` returns ERR_BAD_HANDLE and
   * `counters`/`saveState` throw. Safe to call twice.
   */
  destroy(drainWaitMs?: number): DestroyResult {
    const h = this.h;
    if (h === 0) return "freed";
    return destroyInOrder({
      hooks: this.detachHooks, drainWaitMs, what: "vnet_destroy",
      // vnet_destroy leaves the link, switch or backend port itself, before it closes.
      stop: () => { this.forgetPeers(); this.h = 0; },
      destroy: () => this.e.vnet_destroy(h), inFlight: () => this.e.vnet_in_flight(h),
      // A removed function drives no interrupt line.
      after: () => { if (this.intxLevel) { this.intxLevel = false; this.sink.intx(0, false); } },
    });
  }

  /** Calls in progress on the device on any thread (wasm references); 0 once destroyed and freed. */
  get inFlight(): number { return this.h === 0 ? 0 : Math.max(0, this.e.vnet_in_flight(this.h)); }

  /**
   * Link two devices inside wasm: each one's transmitted frames go straight to
   * the other's receive path, never crossing into JS. `connect(a, a)` is a
   * loopback. Each leaves its earlier link or switch. Throws VmdevError
   * ERR_BAD_STATE, with both devices left as they were, while either runs a
   * ring backend in ring mode.
   */
  static connect(a: VirtioNet, b: VirtioNet): void {
    if (a.core !== b.core) throw new VmdevError(Status.ERR_INVALID_ARG, "connect: devices of different VMs");
    // The wasm refuses before it changes anything, and on success has taken both off their earlier links.
    const s = a.e.vnet_connect(a.handle, b.handle);
    if (s !== Status.OK) throw new VmdevError(s, "vnet_connect");
    a.forgetPeers(); b.forgetPeers();
    a.peers = [b]; b.peers = [a];
  }

  /**
   * Bytes of linear memory a device with these options can take in `core`
   * over its life (wasm `vnet_memory_bytes`): compare with
   * `core.exports.vm_memory_free()` before creating. Throws VmdevError for
   * options `create` would refuse.
   */
  static memoryBytes(core: VmCore, opts: Omit<VirtioNetOptions, "mac" | "interrupts" | "name">): number {
    const n = core.exports.vnet_memory_bytes(transportCode(opts.transport),
      opts.queuePairs ?? 1, opts.mtu ?? 1500, opts.queueSize ?? 256, opts.backlogFrames ?? 256);
    if (n < 0n) throw new VmdevError(Number(-n), "vnet_memory_bytes");
    return Number(n);
  }

  /**
   * Undo {@link VirtioNet.connect} or leave a VirtualSwitch: frames go
   * to `onTransmit` again. Throws VmdevError ERR_BAD_STATE, changing nothing,
   * while a ring backend runs in ring mode (its frames go to the ring until
   * it switches to copy mode).
   */
  disconnect(): void {
    const s = this.e.vnet_disconnect(this.handle);
    if (s === Status.ERR_BAD_STATE) throw new VmdevError(s, "vnet_disconnect");
    this.forgetPeers();
  }

  /** @internal The wasm took this device off its link or switch: drop the host's record of it. */
  forgetPeers(): void {
    if (this.sw) { this.sw.dropPort(this); this.sw = null; }
    else for (const p of this.peers) if (p !== this) p.setPeers([]);
    this.peers = [];
  }

  /** @internal Used by VirtualSwitch. */
  joinSwitch(sw: SwitchHost, ports: readonly SwitchPortDevice[]): void { this.sw = sw; this.peers = ports; }
  /** @internal Used by VirtualSwitch. */
  setPeers(ports: readonly SwitchPortDevice[]): void { this.peers = ports; }

  private makePci(): PciFunction {
    const e = this.e;
    return {
      bars: VIRTIO_PCI_BARS,
      configRead: (off, w) => e.vpci_cfg_read(this.h, off >>> 0, w) >>> 0,
      configWrite: (off, w, v) => { e.vpci_cfg_write(this.h, off >>> 0, w, v >>> 0); this.settle(); },
      barRead: (bar, off, w) => { const v = e.vpci_bar_read(this.h, bar, off >>> 0, w) >>> 0; this.settle(); return v; },
      barWrite: (bar, off, w, v) => { e.vpci_bar_write(this.h, bar, off >>> 0, w, v >>> 0); this.settle(); },
      mmioRegister: virtioPciRegister,
    };
  }

  /** virtio-mmio register read (window 0x000–0x1FF). */
  mmioRead(offset: number, width: 1 | 2 | 4): number {
    const v = this.e.vmmio_read(this.handle, offset >>> 0, width) >>> 0;
    this.settle();
    return v;
  }

  /** virtio-mmio register write; a QueueNotify write processes the queue before returning. */
  mmioWrite(offset: number, width: 1 | 2 | 4, value: number): void {
    this.e.vmmio_write(this.handle, offset >>> 0, width, value >>> 0);
    this.settle();
  }

  /**
   * Host → guest frame. Status.OK when delivered, backlogged or filtered out
   * (see counters), ERR_FULL when dropped and counted (`rxDropped`): the backlog
   * is full, or the driver's buffers can never hold the frame (`rxShortBuffer`),
   * ERR_INVALID_ARG for a frame shorter than 14 bytes or longer than MTU + 18.
   */
  receive(frame: Uint8Array): number {
    if (frame.length > this.e.io_size()) return Status.ERR_INVALID_ARG;
    const s = this.core.ioBuffer.use("net frame", 0, frame.length, (w) => {
      w.bytes().set(frame);
      return this.e.vnet_receive(this.handle, 0, frame.length);
    });
    this.events.rx(frame, s);
    this.settle();
    return s;
  }

  /**
   * Host → guest frames, many per wasm call: they are packed into the I/O
   * buffer as a frame array and handed over together (vnet_receive_batch),
   * each treated as `receive` would (delivered, backlogged, filtered or
   * dropped, and counted). Returns how many were handed over (all, unless a
   * frame is larger than the I/O buffer holds) or a negative Status
   * (-ERR_INVALID_ARG: a frame longer than any frame the device takes).
   */
  receiveBatch(frames: readonly Uint8Array[]): number {
    let done = 0;
    // Bounded: each round hands over at least one frame or stops.
    while (done < frames.length) {
      const n = this.core.ioBuffer.use("net frames", 0, this.e.io_size(), (win) => {
        const w = new FrameArrayWriter(win.bytes());
        let i = done;
        while (i < frames.length && w.push(frames[i])) i++;
        return i === done ? 0 : this.e.vnet_receive_batch(this.handle, 0, w.bytes);
      });
      if (n === 0) break;
      if (n < 0) { this.settle(); return done === 0 ? n : done; }
      if (this.events.wants("receive")) for (let i = done; i < done + n; i++) this.events.rx(frames[i], null);
      done += n;
    }
    this.settle();
    return done;
  }

  /**
   * Like receiveBatch for frames the caller already laid out as a frame
   * array at the start of the I/O buffer (FrameArrayWriter over `core.io()`):
   * no copy at all on the host side. Returns frames handed over or a
   * negative Status.
   */
  receiveWindow(bytes: number): number {
    if (bytes > this.e.io_size()) return -Status.ERR_INVALID_ARG;
    const n = this.core.ioBuffer.use("net frames", 0, bytes, () => this.e.vnet_receive_batch(this.handle, 0, bytes));
    if (n > 0 && this.events.wants("receive")) {
      const batch = FrameBatch.read(this.core.io().subarray(0, bytes), n);
      for (let i = 0; i < batch.length; i++) this.events.rx(batch.frame(i), null);
    }
    this.settle();
    return n;
  }

  /** Bytes of frame records {@link VirtioNet.receiveFrames} takes per call. */
  get frameWindowBytes(): number { return frameWindowBytes(this.e.io_size()); }

  /**
   * Host → guest frames with a status each, in one wasm call
   * (vnet_receive_frames): `records` is a frame array (FrameArrayWriter) of
   * at most `frameWindowBytes`; `statuses[i]` gets the Status `receive` would
   * have returned for frame i. With `stopAtRefusal` the call ends after the
   * first frame not taken with OK. Returns the frames handed over or a
   * negative Status (nothing taken).
   */
  receiveFrames(records: Uint8Array, statuses: Uint8Array, stopAtRefusal = false): number {
    const n = receiveFramesVia(this.core.ioBuffer, records, statuses, stopAtRefusal,
      (ioOff, len, stOff, flags) => this.e.vnet_receive_frames(this.handle, ioOff, len, stOff, flags));
    this.settle();
    return n;
  }

  /** Ask the driver to announce itself (after migration or a MAC change): sets VIRTIO_NET_S_ANNOUNCE and raises a config interrupt. Returns a Status (ERR_BAD_STATE without GUEST_ANNOUNCE). */
  announce(): number {
    const s = this.e.vnet_announce(this.handle);
    this.settle();
    return s;
  }

  /** The device's event counters by name. */
  counters(): Record<string, bigint> {
    if (this.h === 0) throw new VmdevError(Status.ERR_BAD_HANDLE, "counters: the device was destroyed");
    return readCounters(this.core.dv(), this.e.vnet_counters_ptr(this.handle) >>> 0, VIRTIO_NET_COUNTERS);
  }

  /** {@link counters} as JSON-safe numbers (src/tables.ts countersJson: a number up to 2^53 − 1, else a decimal string). */
  countersJSON(): Record<string, JsonCounter> { return countersJson(this.counters()); }

  /** True while the host delivers what the device produced (transmitted frames, interrupts): a reference in flight. */
  get delivering(): boolean { return this.busy; }
  /**
   * What the receive filter wants of the network (virtio 1.2 §5.1.6.5.1/2,
   * in the filter's order): promiscuous → every group; NOMULTI → none;
   * ALLMULTI → every group; a multicast table that overflowed → every group
   * ("overflow"); else the groups in the multicast table.
   */
  multicastWant(): MulticastWant {
    const e = this.e, h = this.handle;
    const mode = e.vnet_rx_mode(h);
    if (mode < 0) throw new VmdevError(-mode, "vnet_rx_mode");
    const table = (n: number, p: number) => { const u8 = this.core.u8(); return Array.from({ length: Math.max(0, n) }, (_, i) => u8.subarray(p + 6 * i, p + 6 * i + 6)); };
    // Extra unicast addresses (§5.1.6.5.2, the unicast table), in the filter's order: promiscuous/ALLUNI/overflow → all, NOUNI → none.
    const allUnicast = (mode & (VirtioNetDefs.RXF_PROMISC | VirtioNetDefs.RXF_ALLUNI | VirtioNetDefs.RXF_UC_OVERFLOW)) !== 0 && (mode & VirtioNetDefs.RXF_NOUNI) === 0;
    const unicast = allUnicast || (mode & VirtioNetDefs.RXF_NOUNI) !== 0 ? [] : unicastOf(table(e.vnet_uc_count(h), e.vnet_uc_ptr(h) >>> 0));
    const uc = { allUnicast, unicast };
    if (mode & VirtioNetDefs.RXF_PROMISC) return { ...wantAll("promiscuous"), ...uc };
    if (mode & VirtioNetDefs.RXF_NOMULTI) return { ...WANT_NONE, ...uc };
    if (mode & VirtioNetDefs.RXF_ALLMULTI) return { ...wantAll("allmulti"), ...uc };
    if (mode & VirtioNetDefs.RXF_MC_OVERFLOW) return { ...wantAll("overflow"), ...uc };
    return { ...wantGroups(table(e.vnet_mc_count(h), e.vnet_mc_ptr(h) >>> 0)), ...uc };
  }


  /** The device status register. */
  get status(): number { return this.e.vnet_status(this.handle); }
  /** DEVICE_NEEDS_RESET is set: the guest broke a rule the device cannot recover from. */
  get needsReset(): boolean { return (this.status & VIRTIO_STATUS_NEEDS_RESET) !== 0; }
  /** Frames waiting in the receive backlog. */
  get backlogLength(): number { return this.e.vnet_backlog(this.handle); }

  /** Stop processing queues (frames from the host wait in the backlog) and give back fetched-but-unused chains. Call before saveState. */
  quiesce(): void { this.e.vnet_quiesce(this.handle); }
  /** Undo quiesce and look at every queue once. */
  resume(): void { this.e.vnet_resume(this.handle); this.settle(); }

  /** Save device, queues, filter and backlog frames as an envelope blob. */
  saveState(): Uint8Array {
    this.settle();
    const bound = this.e.vnet_state_bound(this.handle);
    if (bound < 0) throw new VmdevError(-bound, "vnet_state_bound");
    this.core.ensureIo(bound);
    return this.core.saveEnvelope("vnet_save", () => this.e.vnet_save(this.handle));
  }

  /**
   * Restore from a blob; returns a Status and leaves the device untouched on
   * error. The restored device stays quiesced until `resume()`: no queue is
   * processed, no guest RAM is written, and host frames wait in the backlog
   * (bounded, counted as `rxHeld`); `resume()` looks at every queue once
   * (kicks lost with the source) and delivers them.
   */
  restoreState(blob: Uint8Array): number {
    try { this.core.ensureIo(blob.length); } catch { return Status.ERR_STATE_LENGTH; }
    const s = this.core.restoreEnvelope(blob, (len) => this.e.vnet_restore(this.handle, len));
    if (s === Status.OK) { this.needsResetSeen = this.needsReset; this.events.reset("restore"); }
    this.settle();
    return s;
  }

  /** Power-on reset (PCI configuration space included). */
  reset(): void {
    this.e.vnet_reset(this.handle);
    this.needsResetSeen = false;
    this.events.reset("host");
    this.settle();
  }

  /** Deliver what the device produced outside a register access (after a backend port's sync): transmitted frames, interrupts. */
  flush(): void { this.settle(); }

  /** Deliver what the device produced: transmitted frames, MSI-X messages, the INTx level; also for the linked peer. */
  private settle(): void {
    if (this.h === 0) return;
    if (this.busy) { this.again = true; return; }
    // Fast path: nothing to deliver here or at the peers (one call each per register access).
    if (this.irqQuiet(VirtioNetDefs.PENDING_FILTER) && this.peers.every((p) => p === this || p.irqQuiet())) return;
    this.busy = true;
    try {
      // Bounded: each round either empties the outbox or the device stops producing.
      for (let round = 0; round < 1024; round++) {
        this.again = false;
        this.flushTx();
        this.flushIrq();
        for (const p of this.peers) if (p !== this) p.flushIrq();
        this.flushFilter();
        if (!this.again) break;
      }
    } finally {
      this.busy = false;
    }
  }

  private flushTx(): void {
    const e = this.e;
    // Bounded: vnet_tx_done restarts stalled queues, which refill at most one outbox each time.
    for (let round = 0; round < 1 << 16; round++) {
      const h = this.h; // an onTransmit callback may have destroyed the device
      if (h === 0) return;
      const n = e.vnet_tx_frames(h);
      if (n <= 0) return;
      const base = e.vnet_tx_ptr(h) >>> 0;
      if (this.onTransmitBatch) { this.flushTxBatch(h, n, base); continue; }
      const frames: Uint8Array[] = [];
      const u8 = this.core.u8();
      const dv = this.core.dv();
      let off = base;
      for (let i = 0; i < n; i++) {
        const len = dv.getUint32(off, true);
        frames.push(u8.slice(off + 4, off + 4 + len));
        off += (len + 4 + 3) & ~3;
      }
      // Deliver after copying: vnet_tx_done lets the device refill the outbox.
      e.vnet_tx_done(h);
      const cb = this.onTransmit;
      if (cb) for (const f of frames) cb(f);
      if (this.events.wants("transmit")) for (const f of frames) this.events.tx(f);
    }
  }

  /** Hand the outbox to onTransmitBatch as views; frames the callback makes the device add meanwhile go in a further batch before the outbox is cleared. */
  private flushTxBatch(h: number, n: number, base: number): void {
    const e = this.e;
    let given = 0, off = 0;
    // Bounded: the outbox only grows while the callback makes the device transmit, up to its size.
    while (given < n) {
      const u8 = this.core.u8();
      const end = base + (e.vnet_tx_bytes(h) >>> 0);
      const batch = (this.txBatch ??= FrameBatch.read(u8.subarray(0, 0), 0)).reread(u8.subarray(base + off, end), n - given);
      const cb = this.onTransmitBatch;
      if (cb) cb(batch);
      if (this.h !== h) return; // destroyed by the callback
      if (this.events.wants("transmit")) for (let i = 0; i < batch.length; i++) this.events.tx(batch.frame(i));
      if (this.h !== h) return; // destroyed by a listener
      off += batch.byteLength;
      given = n;
      n = e.vnet_tx_frames(h);
    }
    e.vnet_tx_done(h);
  }

  /** @internal Nothing to deliver: no transmitted frame, no MSI-X message (nor the `also` pending bits), the INTx level as last driven. */
  irqQuiet(also = 0): boolean {
    if (this.h === 0) return true;
    const p = this.e.vnet_pending(this.h);
    return (p & (VirtioNetDefs.PENDING_TX | VirtioNetDefs.PENDING_MSIX | also)) === 0 && ((p & VirtioNetDefs.PENDING_INTX) !== 0) === this.intxLevel;
  }

  /** Take the filter-changed bit (always, so the fast path stays fast) and tell onFilterChange. */
  private flushFilter(): void {
    if (this.h === 0 || this.e.vnet_filter_take(this.h) !== 1) return;
    const cb = this.onFilterChange;
    if (cb) cb();
    this.events.filterChanged();
  }

  /** @internal Deliver pending MSI-X messages and the INTx level (also for a peer's frames). */
  flushIrq(): void {
    const e = this.e, h = this.h;
    if (h === 0) return;
    let vecs = e.vnet_irq_take(h) >>> 0;
    const sent = vecs !== 0;
    if (vecs !== 0) {
      const table = e.vpci_msix_ptr(h) >>> 0;
      const dv = this.core.dv();
      for (let v = 0; vecs !== 0; v++, vecs >>>= 1) {
        if (vecs & 1) this.sink.msi({ addressLo: dv.getUint32(table + v * 16, true), addressHi: dv.getUint32(table + v * 16 + 4, true), data: dv.getUint32(table + v * 16 + 8, true) });
      }
    }
    if (this.h === 0) return; // destroyed by an MSI sink
    const level = e.vnet_intx(h) === 1;
    const changed = level !== this.intxLevel;
    if (changed) { this.intxLevel = level; this.sink.intx(0, level); }
    // DEVICE_NEEDS_RESET comes with a configuration interrupt (§2.1.2): look for it only when one went out.
    if ((sent || changed) && this.h !== 0 && this.events.wants("reset") && this.needsReset !== this.needsResetSeen) {
      this.needsResetSeen = !this.needsResetSeen;
      if (this.needsResetSeen) this.events.reset("needs-reset");
    }
  }
}
