// A virtio-net driver model (virtio 1.2 §5.1) written from the specification:
// feature negotiation (§3.1.1), queue setup in guest RAM, RX buffer posting
// (mergeable or not), TX with the 12-byte header, interrupt handling with
// EVENT_IDX and MSI-X per-queue vectors or INTx + ISR, and control-queue
// commands. Tests and benchmarks drive the device only through this.
import {
  bit, Ctrl, DeviceStatus, F, NET_HDR_LEN, NET_HDR_NUM_BUFFERS, NetCfg, NetF, VIRTIO_MSI_NO_VECTOR,
  VIRTIO_NET_S_ANNOUNCE, ISR_CONFIG, ISR_QUEUE,
} from "./defs.js";
import { GuestAllocator, GuestRam } from "./guest-ram.js";
import { InterruptRecorder } from "./interrupts.js";
import { allocQueue, SplitQueue, type Segment } from "./split-queue.js";
import type { VirtioTransport } from "./transport.js";

/** Re-polls after re-arming interrupts before the driver gives up for now (a NAPI-like budget). */
export const RE_POLL_BUDGET = 64;

/** Feature bits this driver knows how to use (§5.1.3). Offloads are not negotiated. */
export const DRIVER_NET_FEATURES: bigint =
  bit(F.VERSION_1) | bit(F.INDIRECT_DESC) | bit(F.EVENT_IDX) |
  bit(NetF.MAC) | bit(NetF.STATUS) | bit(NetF.MTU) | bit(NetF.MRG_RXBUF) | bit(NetF.CTRL_VQ) | bit(NetF.CTRL_RX) |
  bit(NetF.CTRL_RX_EXTRA) | bit(NetF.CTRL_VLAN) | bit(NetF.GUEST_ANNOUNCE) | bit(NetF.MQ) | bit(NetF.CTRL_MAC_ADDR);

export interface NetDriverOptions {
  /** Feature bits to refuse even if offered (e.g. `bit(NetF.MRG_RXBUF)` for the no-merge case). */
  refuse?: bigint;
  /** Queue pairs to set up and enable (≤ max_virtqueue_pairs; MQ_VQ_PAIRS_SET is sent if > 1). */
  queuePairs?: number;
  /** Queue size to program (≤ the device maximum; default: the device maximum, capped at 256). */
  queueSize?: number;
  /** Bytes per posted RX buffer (default: 1536 with MRG_RXBUF, else 12 + MTU + 18 but at least 1526, §5.1.6.3.1). */
  rxBufferSize?: number;
  /** RX buffers posted per queue (default: the queue size). */
  rxBuffers?: number;
  /** Post each RX buffer as two descriptors (12-byte header, then the rest) to exercise any-layout framing. */
  rxSplitHeader?: boolean;
  /** Post RX buffers through indirect descriptor tables (§2.7.5.3). */
  rxIndirect?: boolean;
  /** TX chain layout: one descriptor, header + data descriptors, or one indirect descriptor. */
  txLayout?: "one" | "split" | "indirect";
  /** MSI-X on pci (default true when the function has MSI-X). */
  msix?: boolean;
  /** Ack GUEST_ANNOUNCE requests automatically when servicing a config interrupt (default true). */
  autoAnnounceAck?: boolean;
  /** The frame the driver sends from its address when the device asks it to announce (before the ack); none by default. */
  announceFrame?: (mac: Uint8Array) => Uint8Array;
  /** Window of guest RAM the driver may allocate from (default: all but the first 64 KiB). */
  heap?: [start: number, end: number];
  /** Largest frame the driver transmits (sizes the TX buffer pool; default MTU + 18, at least 1518). */
  maxTxFrame?: number;
  /** Mark driver writes dirty (default true). */
  trackDirty?: boolean;
}

/** A frame as the driver received it. */
export interface RxFrame { queue: number; data: Uint8Array; numBuffers: number; header: Uint8Array }

interface RxToken { addr: number; len: number }
interface TxToken { slot: number }

/** Per-pair state. */
interface Pair { rx: SplitQueue<RxToken>; tx: SplitQueue<TxToken>; txSlots: number[]; txBase: number; rxVector: number | null; txVector: number | null }

export class VirtioNetDriver {
  ram: GuestRam;
  readonly alloc: GuestAllocator;
  readonly irq: InterruptRecorder;
  features = 0n;
  offered = 0n;
  mac = new Uint8Array(6);
  mtu = 1500;
  maxPairs = 1;
  /** Pairs set up; `activePairs` of them in use after MQ_VQ_PAIRS_SET. */
  pairs: Pair[] = [];
  activePairs = 1;
  ctrl: SplitQueue<number> | null = null;
  ctrlIndex = -1;
  ctrlVector: number | null = null;
  configVector: number | null = null;
  rxBufferSize = 0;
  /** Send control headers as two 1-byte descriptors (framing tests). */
  ctrlSplitHeader = false;
  /** Frames received and not yet taken by the test. */
  readonly received: RxFrame[] = [];
  /** Config-change interrupts serviced; announce acks sent. */
  configChanges = 0;
  announceAcks = 0;
  /** Notifications written to the device per queue index. */
  readonly notifies = new Map<number, number>();
  /** TX chains completed, and the sum of the used lengths the device reported for them (0 expected: nothing is written, §2.7.8). */
  txCompleted = 0;
  /** RX buffers the device returned with a used length shorter than the header (no frame in them). */
  rxEmpty = 0;
  txUsedLenSum = 0;
  private rxPartial = new Map<number, { first: RxFrame; need: number; parts: Uint8Array[] }>();
  private ctrlBuf = 0;
  private txSlotBytes = 0;
  private opts: NetDriverOptions;
  /** Vector → handler (queue index, or -1 for config). */
  private vectorMap = new Map<number, number[]>();

  constructor(public transport: VirtioTransport, ram: GuestRam, irq: InterruptRecorder, opts: NetDriverOptions = {}) {
    this.ram = ram;
    this.irq = irq;
    this.opts = opts;
    const [start, end] = opts.heap ?? [64 * 1024, ram.size];
    this.alloc = new GuestAllocator(start, end);
  }

  has(f: number): boolean { return (this.features & bit(f)) !== 0n; }
  get mrg(): boolean { return this.has(NetF.MRG_RXBUF); }
  get eventIdx(): boolean { return this.has(F.EVENT_IDX); }
  rxIndex(pair: number): number { return 2 * pair; }
  txIndex(pair: number): number { return 2 * pair + 1; }

  /**
   * The initialisation sequence of virtio 1.2 §3.1.1. Throws if the device
   * refuses FEATURES_OK or a queue cannot be set up.
   */
  init(): void {
    const t = this.transport;
    if (!t.reset()) throw new Error("device did not reset");
    t.setStatus(DeviceStatus.ACKNOWLEDGE);
    t.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
    this.offered = t.deviceFeatures();
    if (!(this.offered & bit(F.VERSION_1))) throw new Error("device does not offer VERSION_1");
    this.features = this.offered & DRIVER_NET_FEATURES & ~(this.opts.refuse ?? 0n);
    // §5.1.3.1: features that depend on CTRL_VQ are only accepted with it.
    if (!this.has(NetF.CTRL_VQ)) this.features &= ~(bit(NetF.CTRL_RX) | bit(NetF.CTRL_VLAN) | bit(NetF.GUEST_ANNOUNCE) | bit(NetF.MQ) | bit(NetF.CTRL_MAC_ADDR) | bit(NetF.CTRL_RX_EXTRA));
    if (!this.has(NetF.CTRL_RX)) this.features &= ~bit(NetF.CTRL_RX_EXTRA);
    t.writeDriverFeatures(this.features);
    t.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
    // §3.1.1 step 6: re-read status; FEATURES_OK still set means the subset was accepted.
    if (!(t.status() & DeviceStatus.FEATURES_OK)) { t.setStatus(t.status() | DeviceStatus.FAILED); throw new Error("device refused FEATURES_OK"); }
    this.readConfig();
    this.txSlotBytes = (NET_HDR_LEN + (this.opts.maxTxFrame ?? Math.max(1518, this.mtu + 18)) + 15) & ~15;

    const wantPairs = Math.max(1, Math.min(this.opts.queuePairs ?? 1, this.has(NetF.MQ) ? this.maxPairs : 1));
    const queueCount = 2 * (this.has(NetF.MQ) ? this.maxPairs : 1) + (this.has(NetF.CTRL_VQ) ? 1 : 0);
    const n = t.numQueues();
    if (n !== null && n < queueCount) throw new Error(`device reports ${n} queues, need ${queueCount}`);

    // Vectors: 0 = config, then one per queue in index order (Linux's layout).
    t.prepareInterrupts();
    const msix = t.msix;
    if (msix) {
      this.configVector = t.setConfigVector(0);
      if (this.configVector !== VIRTIO_MSI_NO_VECTOR) this.mapVector(this.configVector, -1);
    }
    const size = (q: number): number => {
      const max = t.queueMax(q);
      if (max === 0) throw new Error(`queue ${q} does not exist`);
      return Math.min(max, this.opts.queueSize ?? 256);
    };
    const ei = this.eventIdx;
    this.pairs = [];
    for (let p = 0; p < wantPairs; p++) {
      const rxq = this.rxIndex(p), txq = this.txIndex(p);
      const rx = new SplitQueue<RxToken>(this.ram, allocQueue(this.alloc, size(rxq)), ei, this.alloc);
      const tx = new SplitQueue<TxToken>(this.ram, allocQueue(this.alloc, size(txq)), ei, this.alloc);
      const rxVector = t.setupQueue(rxq, { size: rx.size, desc: rx.desc, avail: rx.avail, used: rx.used }, msix ? 1 + rxq : null);
      const txVector = t.setupQueue(txq, { size: tx.size, desc: tx.desc, avail: tx.avail, used: tx.used }, msix ? 1 + txq : null);
      if (rxVector !== null && rxVector !== VIRTIO_MSI_NO_VECTOR) this.mapVector(rxVector, rxq);
      if (txVector !== null && txVector !== VIRTIO_MSI_NO_VECTOR) this.mapVector(txVector, txq);
      const txBase = this.alloc.alloc(tx.size * this.txSlotBytes, 16);
      this.pairs.push({ rx, tx, txSlots: Array.from({ length: tx.size }, (_, i) => tx.size - 1 - i), txBase, rxVector, txVector });
    }
    if (this.has(NetF.CTRL_VQ)) {
      this.ctrlIndex = 2 * (this.has(NetF.MQ) ? this.maxPairs : 1);
      const q = new SplitQueue<number>(this.ram, allocQueue(this.alloc, Math.min(size(this.ctrlIndex), 64)), ei, this.alloc);
      this.ctrlVector = t.setupQueue(this.ctrlIndex, { size: q.size, desc: q.desc, avail: q.avail, used: q.used }, msix ? 1 + this.ctrlIndex : null);
      if (this.ctrlVector !== null && this.ctrlVector !== VIRTIO_MSI_NO_VECTOR) this.mapVector(this.ctrlVector, this.ctrlIndex);
      this.ctrl = q;
      this.ctrlBuf = this.alloc.alloc(8192, 16);
    }

    this.rxBufferSize = this.opts.rxBufferSize ?? (this.mrg ? 1536 : Math.max(1526, NET_HDR_LEN + this.mtu + 18));
    for (const p of this.pairs) {
      const count = Math.min(this.opts.rxBuffers ?? p.rx.size, p.rx.size);
      for (let i = 0; i < count; i++) this.postRx(p.rx, this.alloc.alloc(this.rxBufferSize, 16), this.rxBufferSize);
      p.rx.enableInterrupts();
      p.tx.enableInterrupts();
    }
    this.ctrl?.enableInterrupts();
    t.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK);
    // §5.1.6.5.5: buffers were posted before DRIVER_OK; tell the device about them.
    for (let p = 0; p < this.pairs.length; p++) this.kick(this.rxIndex(p), this.pairs[p].rx, true);
    this.activePairs = 1;
    if (wantPairs > 1) {
      const ack = this.setQueuePairs(wantPairs);
      if (ack !== Ctrl.OK) throw new Error(`MQ_VQ_PAIRS_SET ${wantPairs} refused`);
    }
  }

  private mapVector(v: number, q: number): void {
    const l = this.vectorMap.get(v) ?? [];
    l.push(q);
    this.vectorMap.set(v, l);
  }

  /** Read the device config under the generation counter (§2.5.1, §5.1.4). */
  readConfig(): void {
    const t = this.transport;
    for (let tries = 0; tries < 100; tries++) {
      const g = t.configGeneration();
      if (this.has(NetF.MAC)) for (let i = 0; i < 6; i++) this.mac[i] = t.cfgRead(NetCfg.MAC + i, 1);
      this.maxPairs = this.has(NetF.MQ) ? t.cfgRead(NetCfg.MAX_VIRTQUEUE_PAIRS, 2) : 1;
      this.mtu = this.has(NetF.MTU) ? t.cfgRead(NetCfg.MTU, 2) : 1500;
      if (t.configGeneration() === g) return;
    }
    throw new Error("config generation never settled");
  }

  /** Link status word (§5.1.4), valid with STATUS. */
  linkStatus(): number { return this.has(NetF.STATUS) ? this.transport.cfgRead(NetCfg.STATUS, 2) : 1; }

  /** Post one RX buffer. */
  postRx(q: SplitQueue<RxToken>, addr: number, len: number): boolean {
    const segs: Segment[] = this.opts.rxSplitHeader && len > NET_HDR_LEN
      ? [{ addr, len: NET_HDR_LEN, write: true }, { addr: addr + NET_HDR_LEN, len: len - NET_HDR_LEN, write: true }]
      : [{ addr, len, write: true }];
    return q.add(segs, { addr, len }, this.opts.rxIndirect === true) >= 0;
  }

  private kick(index: number, q: SplitQueue<unknown>, force = false): void {
    const need = q.kickNeeded();
    if (need || force) {
      this.notifies.set(index, (this.notifies.get(index) ?? 0) + 1);
      this.transport.notify(index);
    }
  }

  /**
   * Transmit one frame (no virtio-net header: the driver prepends it) on
   * pair `pair`. Reclaims finished TX buffers first. Returns false if the
   * queue is full even after reclaiming.
   */
  transmit(frame: Uint8Array, pair = 0, opts: { kick?: boolean } = {}): boolean {
    const p = this.pairs[pair];
    if (!p) throw new RangeError(`no queue pair ${pair}`);
    if (p.txSlots.length === 0 || p.tx.free < 2) this.reclaimTx(pair);
    const slot = p.txSlots.pop();
    if (slot === undefined) return false;
    const at = p.txBase + slot * this.txSlotBytes;
    // §5.1.6.2: flags 0, gso NONE, num_buffers 0 on transmit.
    this.ram.fill(at, 0, NET_HDR_LEN);
    this.ram.write(at + NET_HDR_LEN, frame);
    const layout = this.opts.txLayout ?? "one";
    const segs: Segment[] = layout === "one"
      ? [{ addr: at, len: NET_HDR_LEN + frame.length, write: false }]
      : [{ addr: at, len: NET_HDR_LEN, write: false }, { addr: at + NET_HDR_LEN, len: frame.length, write: false }];
    const head = p.tx.add(segs, { slot }, layout === "indirect");
    if (head < 0) { p.txSlots.push(slot); return false; }
    if (opts.kick !== false) this.kick(this.txIndex(pair), p.tx);
    return true;
  }

  /** Notify the TX queue of `pair` if the device wants it (after transmit(..., {kick:false}) batches). */
  flushTx(pair = 0): void { this.kick(this.txIndex(pair), this.pairs[pair].tx); }

  /** Take completed TX chains back. Returns how many. */
  reclaimTx(pair = 0): number {
    const p = this.pairs[pair];
    let n = 0;
    for (let e = p.tx.pop(); e; e = p.tx.pop()) { p.txSlots.push(e.token.slot); this.txCompleted++; this.txUsedLenSum += e.len; n++; }
    return n;
  }

  /** Allocate and post `count` more RX buffers on `pair`, kicking if the device asks (or `force`). Returns how many were posted. */
  postRxBuffers(pair: number, count: number, force = false): number {
    const q = this.pairs[pair].rx;
    let n = 0;
    for (; n < count && q.free > (this.opts.rxSplitHeader ? 1 : 0); n++) this.postRx(q, this.alloc.alloc(this.rxBufferSize, 16), this.rxBufferSize);
    if (n) this.kick(this.rxIndex(pair), q, force);
    return n;
  }

  /**
   * Continue on another device and guest RAM (after a state restore on a
   * fresh core with this RAM copied over): the driver's own state carries on.
   */
  rebind(transport: VirtioTransport, ram: GuestRam): void {
    this.transport = transport;
    this.ram = ram;
    for (const p of this.pairs) { p.rx.ram = ram; p.tx.ram = ram; }
    if (this.ctrl) this.ctrl.ram = ram;
  }

  /**
   * Harvest received frames from RX queue `pair` (§5.1.6.4), re-posting
   * buffers and kicking if the device asks. Frames go to `received`, or,
   * single-buffer frames, to `sink` as a zero-copy view (benchmarks).
   */
  pollRx(pair = 0, sink?: (frame: Uint8Array) => void): number {
    const p = this.pairs[pair];
    const q = p.rx;
    let frames = 0;
    let reposted = 0;
    for (let e = q.pop(); e; e = q.pop()) {
      const { addr, len } = e.token;
      const used = Math.min(e.len, len);
      if (sink && !this.rxPartial.has(pair) && used >= NET_HDR_LEN && (!this.mrg || this.ram.r16(addr + NET_HDR_NUM_BUFFERS) === 1)) {
        // Zero-copy hand-off, as a guest stack takes the buffer: the view is valid until the buffer is reposted below.
        sink(this.ram.peek(addr + NET_HDR_LEN, used - NET_HDR_LEN));
        frames++;
        this.postRx(q, addr, len);
        reposted++;
        continue;
      }
      const partial = this.rxPartial.get(pair);
      if (partial) {
        partial.parts.push(this.ram.read(addr, used));
        if (partial.parts.length === partial.need) { this.finishRx(pair, partial.first, partial.parts); this.rxPartial.delete(pair); frames++; }
      } else {
        if (e.len < NET_HDR_LEN) {
          // A buffer given back without a frame (Linux: "packet too short", dropped); reuse it.
          this.rxEmpty++;
          this.postRx(q, addr, len);
          reposted++;
          continue;
        }
        const header = this.ram.read(addr, NET_HDR_LEN);
        const numBuffers = header[NET_HDR_NUM_BUFFERS] | (header[NET_HDR_NUM_BUFFERS + 1] << 8);
        const first: RxFrame = { queue: pair, data: new Uint8Array(0), numBuffers, header };
        const data = this.ram.read(addr + NET_HDR_LEN, used - NET_HDR_LEN);
        const need = this.mrg ? numBuffers : 1;
        if (need <= 1) { this.finishRx(pair, first, [data]); frames++; }
        else this.rxPartial.set(pair, { first, need, parts: [data] });
      }
      this.postRx(q, addr, len);
      reposted++;
    }
    if (reposted) this.kick(this.rxIndex(pair), q);
    return frames;
  }

  private finishRx(pair: number, f: RxFrame, parts: Uint8Array[]): void {
    if (parts.length === 1) { f.data = parts[0]; this.received.push(f); return; }
    let n = 0;
    for (const b of parts) n += b.length;
    const data = new Uint8Array(n);
    let o = 0;
    for (const b of parts) { data.set(b, o); o += b.length; }
    f.data = data;
    this.received.push(f);
    void pair;
  }

  /** Poll every RX and TX queue, then re-arm their interrupts (§2.7.10: re-check after re-arming). */
  poll(): void {
    for (let p = 0; p < this.pairs.length; p++) {
      this.pollRx(p);
      for (let i = 0; i < RE_POLL_BUDGET && this.pairs[p].rx.enableInterrupts(); i++) this.pollRx(p);
      this.reclaimTx(p);
      for (let i = 0; i < RE_POLL_BUDGET && this.pairs[p].tx.enableInterrupts(); i++) this.reclaimTx(p);
    }
  }

  /**
   * Service interrupts as a guest handler would: MSI-X vectors dispatch to
   * their queues (or config); INTx reads-and-clears the ISR (§4.1.4.5 /
   * §4.2.2). Re-enables interrupts (EVENT_IDX used_event) after draining.
   * Returns the queue indices serviced (-1 for a config change).
   */
  service(): number[] {
    const done: number[] = [];
    if (this.transport.msix) {
      while (this.irq.pending.length) {
        const v = this.irq.pending.shift()!;
        for (const q of this.vectorMap.get(v) ?? []) { this.serviceQueue(q); done.push(q); }
      }
    } else {
      this.irq.pending.length = 0;
      // The line stays asserted while the ISR has bits set; bounded like a real handler's loop.
      for (let i = 0; i < 16 && this.irq.intxLevel; i++) {
        const isr = this.transport.takeIsr();
        if (isr === 0) break;
        if (isr & ISR_CONFIG) { this.serviceQueue(-1); done.push(-1); }
        if (isr & ISR_QUEUE) {
          for (let p = 0; p < this.pairs.length; p++) { this.serviceQueue(this.rxIndex(p)); this.serviceQueue(this.txIndex(p)); }
          if (this.ctrl) this.serviceQueue(this.ctrlIndex);
          done.push(-2);
        }
      }
    }
    return done;
  }

  private serviceQueue(q: number): void {
    if (q === -1) {
      this.configChanges++;
      // A configuration change: read it again under the generation counter (§2.5.1; the device's MAC may have changed).
      this.readConfig();
      if (this.has(NetF.GUEST_ANNOUNCE) && (this.opts.autoAnnounceAck ?? true) && (this.linkStatus() & VIRTIO_NET_S_ANNOUNCE)) {
        // §5.1.6.5.4: the driver announces itself (Linux: gratuitous ARP / RARP from its address), then acks.
        if (this.opts.announceFrame) this.transmit(this.opts.announceFrame(this.mac));
        if (this.sendCtrl(Ctrl.ANNOUNCE, Ctrl.ANNOUNCE_ACK, new Uint8Array(0)) === Ctrl.OK) this.announceAcks++;
      }
      return;
    }
    if (q === this.ctrlIndex) return; // control commands are polled synchronously
    const pair = q >> 1;
    if (pair >= this.pairs.length) return;
    if ((q & 1) === 0) {
      this.pollRx(pair);
      // §2.7.10 race: re-arm, then check again for entries that slipped in.
      // Bounded like a NAPI budget: a device that keeps handing buffers back must not spin the guest forever.
      for (let i = 0; i < RE_POLL_BUDGET && this.pairs[pair].rx.enableInterrupts(); i++) this.pollRx(pair);
    } else {
      this.reclaimTx(pair);
      for (let i = 0; i < RE_POLL_BUDGET && this.pairs[pair].tx.enableInterrupts(); i++) this.reclaimTx(pair);
    }
  }

  /** Take and clear the received frames. */
  takeReceived(): RxFrame[] { return this.received.splice(0); }

  // ---- control queue (§5.1.6.5) ------------------------------------------

  /**
   * Send one control command as header / data segments / ack (readable
   * first) and poll for its completion. Returns the ack byte, or -1 if the
   * device did not complete it.
   */
  sendCtrl(cls: number, cmd: number, data: Uint8Array | Uint8Array[]): number {
    const q = this.ctrl;
    if (!q) throw new Error("no control queue negotiated");
    const parts = Array.isArray(data) ? data : [data];
    let at = this.ctrlBuf;
    const segs: Segment[] = [];
    this.ram.w8(at, cls); this.ram.w8(at + 1, cmd);
    // §2.6.4: framing is free; `ctrlSplitHeader` puts class and command in separate descriptors.
    if (this.ctrlSplitHeader) segs.push({ addr: at, len: 1, write: false }, { addr: at + 1, len: 1, write: false });
    else segs.push({ addr: at, len: 2, write: false });
    at += 16;
    for (const d of parts) {
      if (d.length === 0) continue;
      this.ram.write(at, d);
      segs.push({ addr: at, len: d.length, write: false });
      at += (d.length + 15) & ~15;
    }
    const ackAt = at;
    this.ram.w8(ackAt, 0xee);
    segs.push({ addr: ackAt, len: 1, write: true });
    if (q.add(segs, 0) < 0) throw new Error("control queue full");
    this.notifies.set(this.ctrlIndex, (this.notifies.get(this.ctrlIndex) ?? 0) + 1);
    q.kickNeeded();
    // The driver always notifies for control commands and waits for completion (Linux does the same).
    this.transport.notify(this.ctrlIndex);
    const e = q.pop();
    q.enableInterrupts();
    if (!e) return -1;
    return this.ram.r8(ackAt);
  }

  /** VIRTIO_NET_CTRL_RX_* on/off (§5.1.6.5.1). */
  setRxMode(cmd: number, on: boolean): number { return this.sendCtrl(Ctrl.RX, cmd, Uint8Array.of(on ? 1 : 0)); }

  /** VIRTIO_NET_CTRL_MAC_TABLE_SET with unicast and multicast tables (§5.1.6.5.2). */
  setMacTable(unicast: Uint8Array[], multicast: Uint8Array[]): number {
    return this.sendCtrl(Ctrl.MAC, Ctrl.MAC_TABLE_SET, [macTable(unicast), macTable(multicast)]);
  }
  /** VIRTIO_NET_CTRL_MAC_ADDR_SET (§5.1.6.5.2). */
  setMac(mac: Uint8Array): number {
    const ack = this.sendCtrl(Ctrl.MAC, Ctrl.MAC_ADDR_SET, mac);
    if (ack === Ctrl.OK) this.mac = mac.slice();
    return ack;
  }
  /** VIRTIO_NET_CTRL_VLAN_ADD / DEL (§5.1.6.5.3). */
  vlan(add: boolean, vid: number): number { return this.sendCtrl(Ctrl.VLAN, add ? Ctrl.VLAN_ADD : Ctrl.VLAN_DEL, le16(vid)); }
  /** VIRTIO_NET_CTRL_ANNOUNCE_ACK (§5.1.6.5.4). */
  announceAck(): number { return this.sendCtrl(Ctrl.ANNOUNCE, Ctrl.ANNOUNCE_ACK, new Uint8Array(0)); }
  /** VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET (§5.1.6.5.6). */
  setQueuePairs(n: number): number {
    const ack = this.sendCtrl(Ctrl.MQ, Ctrl.MQ_VQ_PAIRS_SET, le16(n));
    if (ack === Ctrl.OK) this.activePairs = n;
    return ack;
  }
}

/** le32 count followed by the MACs (§5.1.6.5.2 struct virtio_net_ctrl_mac). */
export function macTable(macs: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(4 + 6 * macs.length);
  new DataView(out.buffer).setUint32(0, macs.length, true);
  macs.forEach((m, i) => out.set(m, 4 + 6 * i));
  return out;
}
export const le16 = (v: number): Uint8Array => Uint8Array.of(v & 0xff, (v >> 8) & 0xff);
