// The virtio-net test rig, two ways into one device:
//
// - `netRig`: a VmCore, the device under test and the spec-following driver
//   model (src/guest/virtio/) on either transport: tests of what a guest sees.
// - `Rig`: the same device driven register by register, with split rings laid
//   out in guest memory directly. It is deliberately minimal (the driver model
//   is the independent check); it exists to poke at queue internals and
//   register edges a well-behaved driver never reaches.
//
// Both take their spec numbers (feature bits, status bits, register offsets)
// from the driver model's definitions: one copy of virtio 1.2 on the guest side.
import { VirtioNet, type VirtioNetOptions } from "../../../src/devices/virtio-net/device.js";
import type { MsiMessage, VmCore } from "../../../src/index.js";
import { newCore } from "../../support/core.js";
import {
  Common, DeviceStatus, F as VirtioF, Mmio, NetF, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE,
} from "../../../src/guest/virtio/defs.js";
import { mac } from "../../../src/guest/virtio/frames.js";
import { GuestRam } from "../../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../../src/guest/virtio/interrupts.js";
import { VirtioNetDriver, type NetDriverOptions } from "../../../src/guest/virtio/net-driver.js";
import { MmioTransport, PciTransport, type VirtioTransport } from "../../../src/guest/virtio/transport.js";

/** The device's MAC in every rig. */
export const OWN_MAC = "52:54:00:12:34:56";

/** Feature bit numbers, transport and net (virtio 1.2 §6, §5.1.3). */
export const F = { ...VirtioF, ...NetF } as const;
/** Device status bits (§2.1). */
export const S = {
  ACK: DeviceStatus.ACKNOWLEDGE, DRIVER: DeviceStatus.DRIVER, DRIVER_OK: DeviceStatus.DRIVER_OK, FEATURES_OK: DeviceStatus.FEATURES_OK,
  NEEDS_RESET: DeviceStatus.DEVICE_NEEDS_RESET, FAILED: DeviceStatus.FAILED,
} as const;
/** Descriptor flags (§2.7.5). */
export const DESC_F = { NEXT: VIRTQ_DESC_F_NEXT, WRITE: VIRTQ_DESC_F_WRITE, INDIRECT: VIRTQ_DESC_F_INDIRECT } as const;

// ---- the driver-model rig ----

export interface NetRig {
  core: VmCore;
  dev: VirtioNet;
  drv: VirtioNetDriver;
  irq: InterruptRecorder;
  /** Frames the device sent to the host (onTransmit). */
  sent: Uint8Array[];
}

export interface RigOptions {
  transport: "pci" | "mmio";
  ramBytes?: number;
  device?: Partial<Omit<VirtioNetOptions, "interrupts" | "transport">>;
  driver?: NetDriverOptions;
  /** Skip driver init (for tests that drive the registers themselves). */
  noInit?: boolean;
  core?: VmCore;
}

/** A transport for `dev` as its kind requires. */
export function transportFor(dev: VirtioNet, kind: "pci" | "mmio", msix = true): VirtioTransport {
  if (kind === "mmio") return new MmioTransport(dev);
  if (!dev.pci) throw new Error("pci device without a PCI function");
  return new PciTransport(dev.pci, { msixVectors: msix ? 64 : 0 });
}

export async function netRig(o: RigOptions): Promise<NetRig> {
  const core = o.core ?? (await newCore(o.ramBytes ?? 8 << 20));
  const irq = new InterruptRecorder();
  const dev = VirtioNet.create(core, { mac: OWN_MAC, transport: o.transport, ...o.device, interrupts: irq });
  const sent: Uint8Array[] = [];
  dev.onTransmit = (f) => { sent.push(f.slice()); };
  const drv = new VirtioNetDriver(transportFor(dev, o.transport, o.driver?.msix ?? true), new GuestRam(core, { trackDirty: o.driver?.trackDirty }), irq, o.driver);
  if (!o.noInit) drv.init();
  return { core, dev, drv, irq, sent };
}

// ---- the register-level rig ----

export interface Seg { addr: number; len: number; write?: boolean }

/** Guest-physical layout: queue i rings at QBASE + i·QSTRIDE; buffers from BUF_BASE. */
export const QBASE = 0x10000;
export const QSTRIDE = 0x40000;
export const BUF_BASE = 0x800000;

class RingState {
  availIdx = 0;
  nextDesc = 0;
  seenUsed = 0;
  constructor(readonly size: number, readonly desc: number, readonly avail: number, readonly used: number) {}
}

export class Rig {
  readonly msis: MsiMessage[] = [];
  intx = false;
  intxEdges = 0;
  readonly tx: Uint8Array[] = [];
  rings: RingState[] = [];
  private bufNext: number;

  private constructor(readonly core: VmCore, readonly dev: VirtioNet, readonly transport: "pci" | "mmio", readonly offset: number) {
    dev.onTransmit = (f) => this.tx.push(f);
    this.bufNext = BUF_BASE + offset;
  }

  /**
   * A rig on a new core, or on `core` (a second device in the same VM: pass
   * `offset` so its rings and buffers do not overlap the first rig's).
   */
  static async create(transport: "pci" | "mmio", opts: Partial<VirtioNetOptions> = {}, ramBytes = 32 << 20, core?: VmCore, offset = 0): Promise<Rig> {
    const c = core ?? await newCore(ramBytes);
    let rig!: Rig;
    const dev = VirtioNet.create(c, {
      mac: OWN_MAC, transport, ...opts,
      interrupts: { msi: (m) => rig.msis.push(m), intx: (_pin, level) => { rig.intx = level; if (level) rig.intxEdges++; } },
    });
    rig = new Rig(c, dev, transport, offset);
    // What firmware and the OS do first: memory decoding and bus mastering on.
    if (transport === "pci") dev.pci!.configWrite(4, 2, 0x6);
    return rig;
  }

  get g() { return this.core.guest; }

  // ---- transport-neutral register access ----
  r32(reg: string): number {
    if (this.transport === "mmio") return this.dev.mmioRead(MMIO[reg], 4);
    const [off, w] = PCI[reg];
    return this.dev.pci!.barRead(4, off, w);
  }
  w32(reg: string, v: number): void {
    if (this.transport === "mmio") { this.dev.mmioWrite(MMIO[reg], 4, v); return; }
    const [off, w] = PCI[reg];
    this.dev.pci!.barWrite(4, off, w, v);
  }
  /** Read and clear the ISR (PCI: read clears; MMIO: InterruptStatus then InterruptACK). */
  ackIsr(): number {
    if (this.transport === "pci") return this.dev.pci!.barRead(4, 0x1000, 1);
    const v = this.dev.mmioRead(Mmio.INTERRUPT_STATUS, 4);
    this.dev.mmioWrite(Mmio.INTERRUPT_ACK, 4, v);
    return v;
  }
  status(): number { return this.r32("status"); }
  setStatus(v: number): void { this.w32("status", v); }
  deviceFeatures(): bigint {
    this.w32("devFeatSel", 0); const lo = this.r32("devFeat");
    this.w32("devFeatSel", 1); const hi = this.r32("devFeat");
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  setDriverFeatures(f: bigint): void {
    this.w32("drvFeatSel", 0); this.w32("drvFeat", Number(f & 0xffffffffn));
    this.w32("drvFeatSel", 1); this.w32("drvFeat", Number(f >> 32n));
  }
  configRead(off: number, w: 1 | 2 | 4): number {
    return this.transport === "mmio" ? this.dev.mmioRead(Mmio.CONFIG + off, w) : this.dev.pci!.barRead(4, 0x2000 + off, w);
  }
  notify(qi: number): void {
    if (this.transport === "mmio") this.dev.mmioWrite(Mmio.QUEUE_NOTIFY, 4, qi);
    else this.dev.pci!.barWrite(4, 0x3000 + qi * 4, 2, qi);
  }
  /** Program queue `qi` (size, rings at the default layout unless given) and enable it. */
  setupQueue(qi: number, size: number, at?: { desc: number; avail: number; used: number }): void {
    const base = this.offset + QBASE + qi * QSTRIDE;
    const desc = at?.desc ?? base, avail = at?.avail ?? base + 0x20000, used = at?.used ?? base + 0x30000;
    this.w32("queueSel", qi);
    this.w32("queueSize", size);
    this.w64("queueDesc", desc); this.w64("queueAvail", avail); this.w64("queueUsed", used);
    this.w32("queueReady", 1);
    this.rings[qi] = new RingState(size, desc, avail, used);
  }
  private w64(reg: string, v: number): void { this.w32(reg + "Lo", v >>> 0); this.w32(reg + "Hi", Math.floor(v / 2 ** 32)); }

  /** Features: ACK, DRIVER, features, FEATURES_OK, all queues, DRIVER_OK. */
  init(features: number[], opts: { queues?: number; size?: number } = {}): void {
    this.setStatus(0);
    this.setStatus(S.ACK); this.setStatus(S.ACK | S.DRIVER);
    this.setDriverFeatures(features.reduce((a, b) => a | (1n << BigInt(b)), 0n));
    this.setStatus(S.ACK | S.DRIVER | S.FEATURES_OK);
    if (!(this.status() & S.FEATURES_OK)) throw new Error("features rejected");
    const nq = opts.queues ?? 3;
    for (let q = 0; q < nq; q++) this.setupQueue(q, opts.size ?? 64);
    this.setStatus(S.ACK | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
  }

  /** A buffer of `len` bytes in guest RAM (optionally filled). */
  buf(len: number, fill?: Uint8Array): number {
    const a = this.bufNext;
    this.bufNext += (len + 63) & ~63;
    if (fill) this.g.writeBytes(a, fill);
    return a;
  }

  writeDesc(table: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const e = table + i * 16;
    this.g.writeU64(e, BigInt(addr)); this.g.writeU32(e + 8, len >>> 0); this.g.writeU16(e + 12, flags); this.g.writeU16(e + 14, next);
  }

  /** Add a chain of descriptors to queue `qi` and make it available (no kick). Returns the head. */
  add(qi: number, segs: Seg[], publish = true): number {
    const r = this.rings[qi];
    const head = r.nextDesc;
    segs.forEach((s, k) => {
      const i = (head + k) % r.size;
      this.writeDesc(r.desc, i, s.addr, s.len, (s.write ? DESC_F.WRITE : 0) | (k < segs.length - 1 ? DESC_F.NEXT : 0), (head + k + 1) % r.size);
    });
    r.nextDesc = (head + segs.length) % r.size;
    this.pushAvail(qi, head, publish);
    return head;
  }

  /** Put `head` in the avail ring; publish moves avail idx. */
  pushAvail(qi: number, head: number, publish = true): void {
    const r = this.rings[qi];
    this.g.writeU16(r.avail + 4 + 2 * (r.availIdx % r.size), head);
    r.availIdx = (r.availIdx + 1) & 0xffff;
    if (publish) this.g.writeU16(r.avail + 2, r.availIdx);
  }
  setAvailIdx(qi: number, idx: number): void { this.rings[qi].availIdx = idx & 0xffff; this.g.writeU16(this.rings[qi].avail + 2, idx & 0xffff); }
  setUsedEvent(qi: number, v: number): void { const r = this.rings[qi]; this.g.writeU16(r.avail + 4 + 2 * r.size, v); }
  setAvailFlags(qi: number, v: number): void { this.g.writeU16(this.rings[qi].avail, v); }
  availEvent(qi: number): number { const r = this.rings[qi]; return this.g.readU16(r.used + 4 + 8 * r.size); }
  usedIdx(qi: number): number { return this.g.readU16(this.rings[qi].used + 2); }

  /** Used elements published since the last call. */
  takeUsed(qi: number): Array<{ id: number; len: number }> {
    const r = this.rings[qi];
    const idx = this.usedIdx(qi);
    const out: Array<{ id: number; len: number }> = [];
    while (r.seenUsed !== idx) {
      const e = r.used + 4 + 8 * (r.seenUsed % r.size);
      out.push({ id: this.g.readU32(e), len: this.g.readU32(e + 4) });
      r.seenUsed = (r.seenUsed + 1) & 0xffff;
    }
    return out;
  }

  /** Transmit `frame` on TX queue `qi` (header + frame in one descriptor) and kick. */
  send(frame: Uint8Array, qi = 1): number {
    const b = this.buf(12 + frame.length);
    this.g.writeBytes(b + 12, frame);
    const h = this.add(qi, [{ addr: b, len: 12 + frame.length }]);
    this.notify(qi);
    return h;
  }

  /** Post `n` receive buffers of `len` bytes each on RX queue `qi`; returns their addresses by head. */
  postRx(qi: number, n: number, len: number, kick = true): Map<number, number> {
    const m = new Map<number, number>();
    for (let i = 0; i < n; i++) { const a = this.buf(len); m.set(this.add(qi, [{ addr: a, len, write: true }]), a); }
    if (kick) this.notify(qi);
    return m;
  }

  /** Send a control command; returns the ack byte (0 OK, 1 ERR) or -1 if not completed. */
  ctrl(cls: number, cmd: number, data: Uint8Array, qi = 2): number {
    const hdr = this.buf(2, Uint8Array.of(cls, cmd));
    const body = data.length ? this.buf(data.length, data) : 0;
    const ack = this.buf(1, Uint8Array.of(0xee));
    const segs: Seg[] = [{ addr: hdr, len: 2 }];
    if (data.length) segs.push({ addr: body, len: data.length });
    segs.push({ addr: ack, len: 1, write: true });
    const head = this.add(qi, segs);
    this.notify(qi);
    const used = this.takeUsed(qi);
    if (!used.some((u) => u.id === head)) return -1;
    return this.g.readU8(ack);
  }
}

/** Register names of the raw rig → virtio-mmio offsets (§4.2.2). */
const MMIO: Record<string, number> = {
  devFeat: Mmio.DEVICE_FEATURES, devFeatSel: Mmio.DEVICE_FEATURES_SEL, drvFeat: Mmio.DRIVER_FEATURES, drvFeatSel: Mmio.DRIVER_FEATURES_SEL,
  queueSel: Mmio.QUEUE_SEL, queueSize: Mmio.QUEUE_NUM, queueReady: Mmio.QUEUE_READY, status: Mmio.STATUS,
  queueDescLo: Mmio.QUEUE_DESC_LOW, queueDescHi: Mmio.QUEUE_DESC_HIGH, queueAvailLo: Mmio.QUEUE_DRIVER_LOW, queueAvailHi: Mmio.QUEUE_DRIVER_HIGH,
  queueUsedLo: Mmio.QUEUE_DEVICE_LOW, queueUsedHi: Mmio.QUEUE_DEVICE_HIGH, isr: Mmio.INTERRUPT_STATUS, isrAck: Mmio.INTERRUPT_ACK,
  configGen: Mmio.CONFIG_GENERATION,
};
/** Register names → [offset, width] in the virtio-pci common configuration (§4.1.4.3). */
const PCI: Record<string, [number, 1 | 2 | 4]> = {
  devFeatSel: [Common.DEVICE_FEATURE_SELECT, 4], devFeat: [Common.DEVICE_FEATURE, 4], drvFeatSel: [Common.DRIVER_FEATURE_SELECT, 4],
  drvFeat: [Common.DRIVER_FEATURE, 4], configVector: [Common.CONFIG_MSIX_VECTOR, 2], numQueues: [Common.NUM_QUEUES, 2],
  status: [Common.DEVICE_STATUS, 1], configGen: [Common.CONFIG_GENERATION, 1], queueSel: [Common.QUEUE_SELECT, 2],
  queueSize: [Common.QUEUE_SIZE, 2], queueVector: [Common.QUEUE_MSIX_VECTOR, 2], queueReady: [Common.QUEUE_ENABLE, 2],
  queueNotifyOff: [Common.QUEUE_NOTIFY_OFF, 2], queueDescLo: [Common.QUEUE_DESC, 4], queueDescHi: [Common.QUEUE_DESC + 4, 4],
  queueAvailLo: [Common.QUEUE_DRIVER, 4], queueAvailHi: [Common.QUEUE_DRIVER + 4, 4], queueUsedLo: [Common.QUEUE_DEVICE, 4],
  queueUsedHi: [Common.QUEUE_DEVICE + 4, 4],
};

/** An Ethernet frame: dst, src, ethertype, payload of `len` total bytes with a recognisable pattern. */
export function frame(dst: string, len = 64, seed = 1, src = "02:00:00:00:00:01"): Uint8Array {
  const f = new Uint8Array(len);
  f.set(mac(dst), 0); f.set(mac(src), 6);
  f[12] = 0x08; f[13] = 0x00;
  for (let i = 14; i < len; i++) f[i] = (i * 7 + seed) & 0xff;
  return f;
}
