// The two transports a virtio driver talks through, behind one interface:
// virtio-mmio v2 (virtio 1.2 §4.2) and virtio-pci modern (§4.1), the latter
// found by walking the PCI capability list and using MSI-X when present.
import { pciCapabilities, type PciFunction } from "../../pci.js";
import {
  Common, DeviceStatus, Mmio, MMIO_MAGIC, PCI_CAP_ID_MSIX, PCI_CAP_ID_VNDR, PciCap, VIRTIO_MSI_NO_VECTOR,
} from "./defs.js";
import { MSI_ADDRESS, MSI_DATA_BASE } from "./interrupts.js";
import type { QueueLayout } from "./split-queue.js";

/** What the driver needs from the register window of a virtio-mmio device. */
export interface MmioRegisters {
  mmioRead(offset: number, width: 1 | 2 | 4): number;
  mmioWrite(offset: number, width: 1 | 2 | 4, value: number): void;
}

export interface VirtioTransport {
  readonly kind: "pci" | "mmio";
  /** Device ID (1 = net, §5). */
  deviceId(): number;
  status(): number;
  setStatus(v: number): void;
  /** §2.4.1 / §4.1.4.3.1: write 0, then wait (bounded) for status to read 0. Returns false if it never did. */
  reset(): boolean;
  deviceFeatures(): bigint;
  writeDriverFeatures(f: bigint): void;
  /** Largest size of queue q, 0 if the queue does not exist. */
  queueMax(q: number): number;
  /** Queue count the transport reports (pci num_queues), or null (mmio has none). */
  numQueues(): number | null;
  /**
   * Program queue q (§4.1.5.1.3 / §4.2.3.2) and enable it. `vector` is the
   * MSI-X entry for it (pci with MSI-X only). Returns the vector read back
   * (NO_VECTOR if the device refused it; null without MSI-X).
   */
  setupQueue(q: number, layout: QueueLayout, vector: number | null): number | null;
  /** Is queue q enabled, as the device reports it. */
  queueEnabled(q: number): boolean;
  notify(q: number): void;
  /** Device-specific configuration (§5.1.4 for net), little-endian. */
  cfgRead(offset: number, width: 1 | 2 | 4): number;
  cfgWrite(offset: number, width: 1 | 2 | 4, value: number): void;
  configGeneration(): number;
  /** Read the interrupt cause and acknowledge it: ISR read-to-clear (pci) or InterruptStatus + InterruptACK (mmio). */
  takeIsr(): number;
  /** True when interrupts arrive as MSI-X messages (pci with MSI-X enabled). */
  readonly msix: boolean;
  /** Map configuration-change interrupts to `vector` (pci MSI-X); returns the read-back value. */
  setConfigVector(vector: number): number;
  /**
   * Set up the interrupt mechanism after FEATURES_OK and before the queues,
   * the point where Linux's vp_find_vqs programs MSI-X. No-op on mmio.
   */
  prepareInterrupts(): void;
}

const lo32 = (v: number | bigint): number => Number(BigInt.asUintN(32, BigInt(v)));
const hi32 = (v: number | bigint): number => Number(BigInt.asUintN(32, BigInt(v) >> 32n));

/** virtio-mmio v2 (virtio 1.2 §4.2.2). */
export class MmioTransport implements VirtioTransport {
  readonly kind = "mmio" as const;
  readonly msix = false;
  constructor(readonly dev: MmioRegisters) {
    // §4.2.3.1.1: the driver MUST ignore a device whose MagicValue or Version is wrong.
    const magic = dev.mmioRead(Mmio.MAGIC, 4) >>> 0;
    const version = dev.mmioRead(Mmio.VERSION, 4) >>> 0;
    if (magic !== MMIO_MAGIC) throw new Error(`virtio-mmio: bad magic 0x${magic.toString(16)}`);
    if (version !== 2) throw new Error(`virtio-mmio: version ${version}, want 2`);
  }
  private r(off: number): number { return this.dev.mmioRead(off, 4) >>> 0; }
  private w(off: number, v: number): void { this.dev.mmioWrite(off, 4, v >>> 0); }
  deviceId(): number { return this.r(Mmio.DEVICE_ID); }
  status(): number { return this.r(Mmio.STATUS); }
  setStatus(v: number): void { this.w(Mmio.STATUS, v); }
  reset(): boolean {
    this.w(Mmio.STATUS, 0);
    for (let i = 0; i < 1000; i++) if (this.status() === 0) return true;
    return false;
  }
  deviceFeatures(): bigint {
    this.w(Mmio.DEVICE_FEATURES_SEL, 0);
    const lo = this.r(Mmio.DEVICE_FEATURES);
    this.w(Mmio.DEVICE_FEATURES_SEL, 1);
    const hi = this.r(Mmio.DEVICE_FEATURES);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  writeDriverFeatures(f: bigint): void {
    this.w(Mmio.DRIVER_FEATURES_SEL, 0);
    this.w(Mmio.DRIVER_FEATURES, lo32(f));
    this.w(Mmio.DRIVER_FEATURES_SEL, 1);
    this.w(Mmio.DRIVER_FEATURES, hi32(f));
  }
  queueMax(q: number): number {
    this.w(Mmio.QUEUE_SEL, q);
    return this.r(Mmio.QUEUE_NUM_MAX);
  }
  numQueues(): null { return null; }
  setupQueue(q: number, l: QueueLayout): null {
    // §4.2.3.2: select, check not ready, read max, set size, addresses, ready.
    this.w(Mmio.QUEUE_SEL, q);
    if (this.r(Mmio.QUEUE_READY) !== 0) throw new Error(`virtio-mmio: queue ${q} already ready`);
    const max = this.r(Mmio.QUEUE_NUM_MAX);
    if (max === 0 || l.size > max) throw new Error(`virtio-mmio: queue ${q} max ${max} < ${l.size}`);
    this.w(Mmio.QUEUE_NUM, l.size);
    this.w(Mmio.QUEUE_DESC_LOW, lo32(l.desc)); this.w(Mmio.QUEUE_DESC_HIGH, hi32(l.desc));
    this.w(Mmio.QUEUE_DRIVER_LOW, lo32(l.avail)); this.w(Mmio.QUEUE_DRIVER_HIGH, hi32(l.avail));
    this.w(Mmio.QUEUE_DEVICE_LOW, lo32(l.used)); this.w(Mmio.QUEUE_DEVICE_HIGH, hi32(l.used));
    this.w(Mmio.QUEUE_READY, 1);
    return null;
  }
  queueEnabled(q: number): boolean { this.w(Mmio.QUEUE_SEL, q); return this.r(Mmio.QUEUE_READY) === 1; }
  notify(q: number): void { this.w(Mmio.QUEUE_NOTIFY, q); }
  cfgRead(off: number, width: 1 | 2 | 4): number { return this.dev.mmioRead(Mmio.CONFIG + off, width) >>> 0; }
  cfgWrite(off: number, width: 1 | 2 | 4, v: number): void { this.dev.mmioWrite(Mmio.CONFIG + off, width, v); }
  configGeneration(): number { return this.r(Mmio.CONFIG_GENERATION); }
  takeIsr(): number {
    const s = this.r(Mmio.INTERRUPT_STATUS);
    if (s) this.w(Mmio.INTERRUPT_ACK, s);
    return s;
  }
  setConfigVector(): number { return VIRTIO_MSI_NO_VECTOR; }
  prepareInterrupts(): void {}
}

/** A virtio vendor capability as found in config space (§4.1.4). */
export interface VirtioPciCap { at: number; cfgType: number; bar: number; offset: number; length: number; notifyMultiplier?: number }

/** PCI capabilities of a function: virtio vendor caps by type, and MSI-X. */
export interface PciCaps {
  virtio: VirtioPciCap[];
  msix: { at: number; tableSize: number; tableBar: number; tableOffset: number; pbaBar: number; pbaOffset: number } | null;
}

/** The function's capabilities (src/pci.ts walks the list, bounded against loops): virtio vendor caps and MSI-X. */
export function walkPciCaps(fn: PciFunction): PciCaps {
  const out: PciCaps = { virtio: [], msix: null };
  const { caps, fault } = pciCapabilities(fn);
  if (fault) throw new Error(fault);
  for (const { at, id } of caps) {
    if (id === PCI_CAP_ID_VNDR) {
      const cap: VirtioPciCap = {
        at,
        cfgType: fn.configRead(at + 3, 1),
        bar: fn.configRead(at + 4, 1),
        offset: fn.configRead(at + 8, 4) >>> 0,
        length: fn.configRead(at + 12, 4) >>> 0,
      };
      if (cap.cfgType === PciCap.NOTIFY_CFG) cap.notifyMultiplier = fn.configRead(at + 16, 4) >>> 0;
      out.virtio.push(cap);
    } else if (id === PCI_CAP_ID_MSIX && !out.msix) {
      const ctrl = fn.configRead(at + 2, 2);
      const table = fn.configRead(at + 4, 4) >>> 0;
      const pba = fn.configRead(at + 8, 4) >>> 0;
      out.msix = { at, tableSize: (ctrl & 0x7ff) + 1, tableBar: table & 7, tableOffset: table & ~7, pbaBar: pba & 7, pbaOffset: pba & ~7 };
    }
  }
  return out;
}

/** virtio-pci modern (virtio 1.2 §4.1). */
export class PciTransport implements VirtioTransport {
  readonly kind = "pci" as const;
  readonly caps: PciCaps;
  private readonly common: VirtioPciCap;
  private readonly notifyCap: VirtioPciCap;
  private readonly isr: VirtioPciCap;
  private readonly device: VirtioPciCap | null;
  private readonly notifyOff = new Map<number, number>();
  msix = false;
  /** MSI-X entries the driver programs in prepareInterrupts (0: use INTx). */
  msixWanted: number;

  constructor(readonly fn: PciFunction, opts: { msixVectors?: number } = {}) {
    this.msixWanted = opts.msixVectors ?? 0;
    const vendor = fn.configRead(0x00, 2);
    if (vendor !== 0x1af4) throw new Error(`virtio-pci: vendor 0x${vendor.toString(16)}`);
    this.caps = walkPciCaps(fn);
    // §4.1.4: the driver SHOULD use the first capability of each type it can use.
    const first = (t: number) => this.caps.virtio.find((c) => c.cfgType === t && c.bar <= 5) ?? null;
    const common = first(PciCap.COMMON_CFG), notify = first(PciCap.NOTIFY_CFG), isr = first(PciCap.ISR_CFG);
    if (!common || !notify || !isr) throw new Error("virtio-pci: common, notify or ISR capability missing");
    this.common = common; this.notifyCap = notify; this.isr = isr; this.device = first(PciCap.DEVICE_CFG);
    // Memory space + bus master (PCI command register) so BAR accesses and DMA are allowed.
    fn.configWrite(0x04, 2, (fn.configRead(0x04, 2) | 0x6) & 0xffff);
  }

  prepareInterrupts(): void {
    if (this.msixWanted && this.caps.msix) this.enableMsix(Math.min(this.msixWanted, this.caps.msix.tableSize));
  }

  /** Program entries 0..n-1 with our address/data, unmask them, and set MSI-X Enable (PCI 3.0 §6.8.2). */
  enableMsix(n: number): void {
    const m = this.caps.msix;
    if (!m) throw new Error("virtio-pci: no MSI-X capability");
    for (let v = 0; v < n; v++) {
      const e = m.tableOffset + 16 * v;
      this.fn.barWrite(m.tableBar, e, 4, MSI_ADDRESS);
      this.fn.barWrite(m.tableBar, e + 4, 4, 0);
      this.fn.barWrite(m.tableBar, e + 8, 4, MSI_DATA_BASE + v);
      this.fn.barWrite(m.tableBar, e + 12, 4, 0);
    }
    const ctrl = this.fn.configRead(m.at + 2, 2);
    this.fn.configWrite(m.at + 2, 2, (ctrl | 0x8000) & ~0x4000 & 0xffff);
    this.msix = true;
  }
  /** Clear MSI-X Enable: the device falls back to INTx + ISR. */
  disableMsix(): void {
    const m = this.caps.msix;
    if (!m) return;
    this.fn.configWrite(m.at + 2, 2, this.fn.configRead(m.at + 2, 2) & ~0x8000 & 0xffff);
    this.msix = false;
  }
  /** Mask or unmask one MSI-X entry (vector control bit 0). */
  maskVector(v: number, masked: boolean): void {
    const m = this.caps.msix!;
    this.fn.barWrite(m.tableBar, m.tableOffset + 16 * v + 12, 4, masked ? 1 : 0);
  }
  /** Pending bit of vector v in the PBA. */
  pendingBit(v: number): boolean {
    const m = this.caps.msix!;
    return ((this.fn.barRead(m.pbaBar, m.pbaOffset + 4 * (v >> 5), 4) >>> (v & 31)) & 1) === 1;
  }

  private cr(off: number, w: 1 | 2 | 4): number { return this.fn.barRead(this.common.bar, this.common.offset + off, w) >>> 0; }
  private cw(off: number, w: 1 | 2 | 4, v: number): void { this.fn.barWrite(this.common.bar, this.common.offset + off, w, v >>> 0); }
  private cw64(off: number, v: number): void { this.cw(off, 4, lo32(v)); this.cw(off + 4, 4, hi32(v)); }

  deviceId(): number { return this.fn.configRead(0x02, 2) - 0x1040; }
  status(): number { return this.cr(Common.DEVICE_STATUS, 1); }
  setStatus(v: number): void { this.cw(Common.DEVICE_STATUS, 1, v & 0xff); }
  reset(): boolean {
    this.setStatus(0);
    // §4.1.4.3.2: after writing 0 the driver MUST wait for a read of device_status to return 0.
    for (let i = 0; i < 1000; i++) if (this.status() === 0) { this.notifyOff.clear(); return true; }
    return false;
  }
  deviceFeatures(): bigint {
    this.cw(Common.DEVICE_FEATURE_SELECT, 4, 0);
    const lo = this.cr(Common.DEVICE_FEATURE, 4);
    this.cw(Common.DEVICE_FEATURE_SELECT, 4, 1);
    const hi = this.cr(Common.DEVICE_FEATURE, 4);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  writeDriverFeatures(f: bigint): void {
    this.cw(Common.DRIVER_FEATURE_SELECT, 4, 0);
    this.cw(Common.DRIVER_FEATURE, 4, lo32(f));
    this.cw(Common.DRIVER_FEATURE_SELECT, 4, 1);
    this.cw(Common.DRIVER_FEATURE, 4, hi32(f));
  }
  queueMax(q: number): number {
    this.cw(Common.QUEUE_SELECT, 2, q);
    return this.cr(Common.QUEUE_SIZE, 2);
  }
  numQueues(): number { return this.cr(Common.NUM_QUEUES, 2); }
  setupQueue(q: number, l: QueueLayout, vector: number | null): number | null {
    // §4.1.5.1.3: select, read size, optionally shrink, vector, addresses, enable.
    this.cw(Common.QUEUE_SELECT, 2, q);
    const max = this.cr(Common.QUEUE_SIZE, 2);
    if (max === 0 || l.size > max) throw new Error(`virtio-pci: queue ${q} max ${max} < ${l.size}`);
    if (this.cr(Common.QUEUE_ENABLE, 2) !== 0) throw new Error(`virtio-pci: queue ${q} already enabled`);
    this.cw(Common.QUEUE_SIZE, 2, l.size);
    let got: number | null = null;
    if (this.msix && vector !== null) {
      this.cw(Common.QUEUE_MSIX_VECTOR, 2, vector);
      got = this.cr(Common.QUEUE_MSIX_VECTOR, 2);
    }
    this.cw64(Common.QUEUE_DESC, l.desc);
    this.cw64(Common.QUEUE_DRIVER, l.avail);
    this.cw64(Common.QUEUE_DEVICE, l.used);
    this.notifyOff.set(q, this.cr(Common.QUEUE_NOTIFY_OFF, 2));
    this.cw(Common.QUEUE_ENABLE, 2, 1);
    return got;
  }
  queueEnabled(q: number): boolean { this.cw(Common.QUEUE_SELECT, 2, q); return this.cr(Common.QUEUE_ENABLE, 2) === 1; }
  /** Byte offset in the notify BAR of queue q's doorbell (§4.1.4.4: cap.offset + queue_notify_off × multiplier). */
  notifyAddress(q: number): number {
    let off = this.notifyOff.get(q);
    if (off === undefined) { this.cw(Common.QUEUE_SELECT, 2, q); off = this.cr(Common.QUEUE_NOTIFY_OFF, 2); this.notifyOff.set(q, off); }
    return this.notifyCap.offset + off * (this.notifyCap.notifyMultiplier ?? 0);
  }
  notify(q: number): void {
    // §4.1.5.2: without NOTIFICATION_DATA the driver writes the 16-bit queue index.
    this.fn.barWrite(this.notifyCap.bar, this.notifyAddress(q), 2, q);
  }
  cfgRead(off: number, width: 1 | 2 | 4): number {
    if (!this.device) throw new Error("virtio-pci: no device config capability");
    return this.fn.barRead(this.device.bar, this.device.offset + off, width) >>> 0;
  }
  cfgWrite(off: number, width: 1 | 2 | 4, v: number): void {
    if (!this.device) throw new Error("virtio-pci: no device config capability");
    this.fn.barWrite(this.device.bar, this.device.offset + off, width, v);
  }
  configGeneration(): number { return this.cr(Common.CONFIG_GENERATION, 1); }
  /** §4.1.4.5: reading the ISR status clears it and de-asserts INTx. */
  takeIsr(): number { return this.fn.barRead(this.isr.bar, this.isr.offset, 1) & 0xff; }
  setConfigVector(vector: number): number {
    this.cw(Common.CONFIG_MSIX_VECTOR, 2, vector);
    return this.cr(Common.CONFIG_MSIX_VECTOR, 2);
  }
  /** Select queue q and read its MSI-X vector. */
  queueVector(q: number): number { this.cw(Common.QUEUE_SELECT, 2, q); return this.cr(Common.QUEUE_MSIX_VECTOR, 2); }
  /** Raw common-cfg access for tests of register validation. */
  commonRead(off: number, w: 1 | 2 | 4): number { return this.cr(off, w); }
  commonWrite(off: number, w: 1 | 2 | 4, v: number): void { this.cw(off, w, v); }
}

export { DeviceStatus };
