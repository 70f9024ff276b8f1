// SR-IOV (PCIe Base §9): a physical function (PF) wrapped with the SR-IOV
// extended capability at 0x100 and a PCI Express capability in its list (so
// software knows the extended space is there). Setting VF Enable creates
// NumVFs virtual functions (VFs) at routing IDs PF + First VF Offset +
// n × VF Stride (§9.2.1.2), which may lie on bus numbers above the PF's; the
// device room's VfProvider builds each one (a full NIC), and clearing VF
// Enable destroys them.
//
// Enabling is all or nothing, and checked before anything is built: every VF
// routing ID must fit in 16 bits, must not land on a physical function of
// the PF's bus, and a VF on another bus must be on a bus the bridge above the
// PF decodes (secondary < bus ≤ subordinate) and that no bridge beside the PF
// claims — the check of FreeBSD review D21944. A refused enable leaves VF
// Enable clear, creates nothing, counts the reason and keeps it readable
// (`lastError`). A provider failure part way destroys what it built.
//
// The guest is hostile: NumVFs above TotalVFs, NumVFs changed while VF Enable
// is set (§9.3.3.7: undefined; here refused), a System Page Size that is not
// one supported page size (§9.3.3.13) are ignored and counted; the read-only
// fields (TotalVFs, offset, stride, VF Device ID) cannot be written.
//
// A VF's configuration space is its device's, with the rules of §9.3.4: its
// Vendor and Device ID read FFFFh (software takes the PF's vendor and the
// capability's VF Device ID), Memory Space Enable in its command register
// reads 0 (VF MSE in the PF decides), its BARs read 0 (the PF's VF BARs place
// them: VF n's BAR i at VF BARi + n × its size), it has no INTx pin.
// Not modelled: ARI (offset and stride do not change with ARI Capable
// Hierarchy), VF migration, function dependency links, page sizes above 4 KiB.

import type { BarInfo, PciFunction, RegisterSpan } from "../../pci.js";
import { Status, statusName } from "../../status.js";
import { HostKind } from "../../state.js";
import {
  Cfg, Cmd, EXT_CFG_BASE, EXT_CFG_SIZE, PCIE_CAP_ID, PCIE_CAP_SIZE, PcieType, SRIOV_CAP_ID, SRIOV_CAP_SIZE, STATUS_CAP_LIST,
  Sriov, SriovCtl, accessOk, ones, ridText,
} from "./defs.js";
import { ConfigRegs } from "./regs.js";
import { barBase, type BarHit, type PciPlace, type PlacedFunction, type VfHost } from "./segment.js";
import { hostOpen, hostSeal } from "./seal.js";
import { single } from "./bridge.js";

/** One VF as its device room built it. */
export interface SriovVf {
  /** The VF's PCI function: its own configuration space and BARs (the PF presents the VF rules over it). */
  readonly pci: PciFunction;
  readonly name: string;
  saveState(): Uint8Array;
  /** A Status; the VF is untouched on error. */
  restoreState(blob: Uint8Array): number;
  /** Tear the VF down (its switch port, its handle). */
  destroy(): unknown;
}

/** Builds the VFs of one PF (a NIC room implements it: src/devices/virtio-net/sriov.ts). */
export interface VfProvider {
  /** Build VF `index` (0-based) at routing ID `rid`. A throw refuses the enable (what was built is destroyed). */
  create(index: number, rid: number): SriovVf;
}

/** Options of an {@link SriovFunction}. */
export interface SriovOptions {
  /** TotalVFs: VFs the PF can have (1..256). */
  totalVfs: number;
  /** InitialVFs (default TotalVFs). */
  initialVfs?: number;
  /** First VF Offset (default 1: VF 0 is the function after the PF). */
  firstVfOffset?: number;
  /** VF Stride (default 1). */
  vfStride?: number;
  /** VF Device ID. */
  vfDeviceId: number;
  /** Each VF's BARs (memory, sizes powers of two ≥ 4 KiB, the system page size). */
  vfBars: readonly BarInfo[];
  provider: VfProvider;
  /** Where the PCI Express capability goes in the PF's configuration space (default 0xC0; those 60 bytes must read 0). */
  pcieAt?: number;
  name?: string;
}

/** What an SR-IOV capability counts. */
export interface SriovCounters {
  /** VF Enable set and VFs built. */
  enables: number;
  disables: number;
  /** VF Enable refused: a VF routing ID past FFFFh or on a physical function. */
  enableRefused: number;
  /** VF Enable refused: a VF bus the bridge above does not decode, or one a bridge beside the PF claims (D21944). */
  enableBusNotDecoded: number;
  /** VF Enable refused: the provider could not build a VF. */
  enableCreateFailed: number;
  /** NumVFs writes refused: above TotalVFs, or while VF Enable is set. */
  numVfsRefused: number;
  /** System Page Size writes refused (not exactly one supported size). */
  pageSizeRefused: number;
  /** VF BAR accesses while VF MSE is clear (read all ones, writes dropped). */
  vfAccessDisabled: number;
  /** Malformed configuration accesses. */
  badAccess: number;
  /** VF teardown errors (the VF is forgotten either way). */
  destroyErrors: number;
}

/** Field tags of the SR-IOV saved state. */
export const SriovTag = { CAP: 1, VF: 2 } as const;
const PAYLOAD_VERSION = 1;
const PAGE_4K = 1;
const PAGE = 4096;
export const MAX_TOTAL_VFS = 256;

/** The SR-IOV capability's place in extended configuration space. */
export const SRIOV_AT = EXT_CFG_BASE;

interface LiveVf { vf: SriovVf; view: VfFunction }

/** A physical function with the SR-IOV capability. */
export class SriovFunction implements PciFunction, VfHost, PlacedFunction {
  readonly name: string;
  readonly kind = HostKind.pciSriov;
  readonly cap = new ConfigRegs(SRIOV_CAP_SIZE);
  private readonly pcie = new ConfigRegs(PCIE_CAP_SIZE);
  private readonly pcieAt: number;
  private readonly offset: number;
  private readonly stride: number;
  readonly vfBars: readonly BarInfo[];
  private place: PciPlace | null = null;
  private live: LiveVf[] = [];
  private readonly c: SriovCounters = {
    enables: 0, disables: 0, enableRefused: 0, enableBusNotDecoded: 0, enableCreateFailed: 0, numVfsRefused: 0,
    pageSizeRefused: 0, vfAccessDisabled: 0, badAccess: 0, destroyErrors: 0,
  };
  private readonly power: Uint8Array;
  /** Why the last VF Enable was refused (null after one that worked). */
  lastError: { status: number; reason: string } | null = null;
  readonly mmioRegister?: (bar: number, offset: number) => RegisterSpan | null;

  /** Throws for options no device could have (host configuration errors). */
  constructor(readonly pf: PciFunction, private readonly o: SriovOptions) {
    this.name = o.name ?? "sriov";
    const total = o.totalVfs, initial = o.initialVfs ?? total;
    if (!Number.isInteger(total) || total < 1 || total > MAX_TOTAL_VFS) throw new RangeError(`totalVfs ${total} is not in 1..${MAX_TOTAL_VFS}`);
    if (!Number.isInteger(initial) || initial < 0 || initial > total) throw new RangeError(`initialVfs ${initial} is not in 0..totalVfs`);
    this.offset = o.firstVfOffset ?? 1;
    this.stride = o.vfStride ?? 1;
    if (!Number.isInteger(this.offset) || this.offset < 1 || this.offset > 0xffff) throw new RangeError(`firstVfOffset ${this.offset} is not in 1..0xFFFF`);
    if (!Number.isInteger(this.stride) || this.stride < (total > 1 ? 1 : 0) || this.stride > 0xffff) throw new RangeError(`vfStride ${this.stride} is not in 1..0xFFFF`);
    if (!Number.isInteger(o.vfDeviceId) || o.vfDeviceId < 0 || o.vfDeviceId > 0xffff) throw new RangeError(`vfDeviceId ${o.vfDeviceId} is not a u16`);
    this.vfBars = o.vfBars;
    for (const b of o.vfBars) {
      if (b.kind === "io" || !(b.size >= PAGE && (b.size & (b.size - 1)) === 0) || b.size > 2 ** 31) throw new RangeError(`VF BAR ${b.index}: memory, a power of two in 4 KiB..2 GiB`);
      if (b.index < 0 || b.index > (b.kind === "mem64" ? 4 : 5)) throw new RangeError(`VF BAR index ${b.index}`);
    }
    this.pcieAt = o.pcieAt ?? 0xc0;
    if (this.pcieAt < 0x40 || this.pcieAt + PCIE_CAP_SIZE > 0x100 || this.pcieAt % 4) throw new RangeError(`pcieAt 0x${this.pcieAt.toString(16)}`);
    for (let i = 0; i < PCIE_CAP_SIZE; i += 4) if (pf.configRead(this.pcieAt + i, 4) !== 0) throw new Error(`${this.name}: configuration space at 0x${(this.pcieAt + i).toString(16)} is in use; choose pcieAt`);
    // PCI Express capability: version 2, an endpoint; next is the PF's own list.
    this.pcie.set(0, 1, PCIE_CAP_ID);
    this.pcie.set(1, 1, (pf.configRead(Cfg.STATUS, 2) & STATUS_CAP_LIST) ? pf.configRead(Cfg.CAP_PTR, 1) & 0xfc : 0);
    this.pcie.set(2, 2, 2 | (PcieType.ENDPOINT << 4));
    const r = this.cap;
    r.set(Sriov.HEADER, 4, SRIOV_CAP_ID | (1 << 16));
    r.writable(Sriov.CONTROL, 2, SriovCtl.VF_ENABLE | SriovCtl.VF_MSE | SriovCtl.ARI);
    r.set(Sriov.INITIAL_VFS, 2, initial);
    r.set(Sriov.TOTAL_VFS, 2, total);
    r.writable(Sriov.NUM_VFS, 2, 0xffff);
    r.set(Sriov.FIRST_VF_OFFSET, 2, this.offset);
    r.set(Sriov.VF_STRIDE, 2, this.stride);
    r.set(Sriov.VF_DEVICE, 2, o.vfDeviceId);
    r.set(Sriov.SUPPORTED_PAGE_SIZES, 4, PAGE_4K);
    r.set(Sriov.SYSTEM_PAGE_SIZE, 4, PAGE_4K);
    r.writable(Sriov.SYSTEM_PAGE_SIZE, 4, 0xffffffff);
    for (const b of o.vfBars) {
      const at = Sriov.VF_BAR0 + 4 * b.index;
      r.set(at, 4, (b.kind === "mem64" ? 0x4 : 0) | (b.prefetchable ? 0x8 : 0));
      r.writable(at, 4, ~(b.size - 1) >>> 0);
      if (b.kind === "mem64") r.writable(at + 4, 4, 0xffffffff);
    }
    this.power = r.bytes.slice();
    this.mmioRegister = pf.mmioRegister?.bind(pf);
  }

  get bars(): readonly BarInfo[] { return this.pf.bars; }
  counters(): SriovCounters { return { ...this.c }; }
  get totalVfs(): number { return this.cap.read(Sriov.TOTAL_VFS, 2); }
  get numVfs(): number { return this.cap.read(Sriov.NUM_VFS, 2); }
  get control(): number { return this.cap.read(Sriov.CONTROL, 2); }
  get enabled(): boolean { return (this.control & SriovCtl.VF_ENABLE) !== 0; }
  /** The live VFs, VF 0 first. */
  get vfs(): readonly SriovVf[] { return this.live.map((l) => l.vf); }
  /** The VFs' PCI functions as the bus presents them (the VF rules applied). */
  get vfFunctions(): readonly PciFunction[] { return this.live.map((l) => l.view); }

  attached(place: PciPlace | null): void { this.place = place; }

  /** Routing ID of VF `n` relative to PF routing ID `pfRid`. */
  vfRid(pfRid: number, n: number): number { return pfRid + this.offset + n * this.stride; }

  vfAt(r: number): PciFunction | undefined {
    if (!this.place || this.live.length === 0) return undefined;
    const d = r - this.offset - this.place.rid();
    if (d < 0 || (this.stride === 0 ? d !== 0 : d % this.stride !== 0)) return undefined;
    const n = this.stride === 0 ? 0 : d / this.stride;
    return this.live[n]?.view;
  }

  /** Base of VF BAR `b` (VF 0's; VF n's is n × size above it). */
  vfBarBase(b: BarInfo): number { return barBase({ configRead: (o, w) => this.cap.read(o - Cfg.BAR0 + Sriov.VF_BAR0, w) }, b.index, b.kind); }

  decodeVf(addr: number, io: boolean): BarHit | undefined {
    if (io || this.live.length === 0 || !(this.control & SriovCtl.VF_MSE)) return undefined;
    for (const b of this.vfBars) {
      const base = this.vfBarBase(b);
      if (base === 0 || addr < base) continue;
      const n = Math.floor((addr - base) / b.size);
      if (n < this.live.length) return { fn: this.live[n].view, bar: b.index, offset: addr - base - n * b.size };
    }
    return undefined;
  }

  configRead(offset: number, width: 1 | 2 | 4): number {
    if (!accessOk(offset, width, EXT_CFG_SIZE)) { this.c.badAccess++; return ones(width); }
    if (offset >= EXT_CFG_BASE) return offset < SRIOV_AT + SRIOV_CAP_SIZE ? this.cap.read(offset - SRIOV_AT, width) : 0;
    if (offset >= this.pcieAt && offset < this.pcieAt + PCIE_CAP_SIZE) return this.pcie.read(offset - this.pcieAt, width);
    let v = this.pf.configRead(offset, width) >>> 0;
    v = patchByte(v, offset, width, Cfg.CAP_PTR, () => this.pcieAt);
    v = patchByte(v, offset, width, Cfg.STATUS, (b) => b | STATUS_CAP_LIST);
    return v >>> 0;
  }

  configWrite(offset: number, width: 1 | 2 | 4, value: number): void {
    if (!accessOk(offset, width, EXT_CFG_SIZE)) { this.c.badAccess++; return; }
    if (offset >= EXT_CFG_BASE) { if (offset < SRIOV_AT + SRIOV_CAP_SIZE) this.capWrite(offset - SRIOV_AT, width, value >>> 0); return; }
    if (offset >= this.pcieAt && offset < this.pcieAt + PCIE_CAP_SIZE) return; // read-only: a port with nothing to control
    this.pf.configWrite(offset, width, value);
  }

  barRead(bar: number, offset: number, width: 1 | 2 | 4): number { return this.pf.barRead(bar, offset, width); }
  barWrite(bar: number, offset: number, width: 1 | 2 | 4, value: number): void { this.pf.barWrite(bar, offset, width, value); }

  private capWrite(off: number, width: 1 | 2 | 4, value: number): void {
    const before = this.cap.bytes.slice();
    const wasOn = this.enabled, oldNum = this.numVfs, oldMse = (this.control & SriovCtl.VF_MSE) !== 0;
    this.cap.write(off, width, value);
    const num = this.numVfs;
    if (num !== oldNum && (wasOn || num > this.totalVfs)) {
      this.cap.set(Sriov.NUM_VFS, 2, oldNum);
      this.c.numVfsRefused++;
    }
    const page = this.cap.read(Sriov.SYSTEM_PAGE_SIZE, 4);
    const oldPage = new DataView(before.buffer).getUint32(Sriov.SYSTEM_PAGE_SIZE, true);
    if (page !== oldPage) {
      if (wasOn || (page & (page - 1)) !== 0 || (page & this.cap.read(Sriov.SUPPORTED_PAGE_SIZES, 4)) === 0) {
        this.cap.bytes.set(before.subarray(Sriov.SYSTEM_PAGE_SIZE, Sriov.SYSTEM_PAGE_SIZE + 4), Sriov.SYSTEM_PAGE_SIZE);
        this.c.pageSizeRefused++;
      }
    }
    const on = this.enabled;
    if (on && !wasOn) {
      const s = this.enable(this.numVfs);
      if (s !== Status.OK) this.cap.set(Sriov.CONTROL, 2, this.control & ~SriovCtl.VF_ENABLE);
    } else if (!on && wasOn) {
      this.disable();
    }
    const mse = (this.control & SriovCtl.VF_MSE) !== 0;
    if (mse !== oldMse) for (const l of this.live) l.view.setDecode(mse);
  }

  /**
   * Check that VFs 0..n-1 can exist where their routing IDs put them (see the
   * top of the file); null when they can, else why not.
   */
  checkPlacement(n: number): { status: number; reason: string; busNotDecoded?: boolean } | null {
    if (n === 0) return null;
    if (!this.place) return { status: Status.ERR_NOT_READY, reason: "the PF is on no bus" };
    const pfRid = this.place.rid(), pfBus = pfRid >> 8, seg = this.place.segment;
    for (let i = 0; i < n; i++) {
      const r = this.vfRid(pfRid, i);
      if (r > 0xffff) return { status: Status.ERR_RANGE, reason: `VF ${i}: routing ID 0x${r.toString(16)} is past bus 255` };
      const bus = r >> 8;
      if (bus === pfBus) {
        if (seg.at(r & 0xff)) return { status: Status.ERR_ALREADY, reason: `VF ${i} at ${ridText(r)}: a physical function is there` };
        continue;
      }
      if (!seg.decodes(bus)) return { status: Status.ERR_RANGE, busNotDecoded: true, reason: `VF ${i} at ${ridText(r)}: bus ${bus} is not decoded by the bridge above the PF (its buses end at ${this.upstreamEnd(seg)})` };
      if (seg.bridgeClaims(bus)) return { status: Status.ERR_ALREADY, busNotDecoded: true, reason: `VF ${i} at ${ridText(r)}: bus ${bus} belongs to a bridge beside the PF` };
    }
    return null;
  }

  private upstreamEnd(seg: PciPlace["segment"]): number {
    let last = seg.number();
    while (last < 255 && seg.decodes(last + 1)) last++;
    return last;
  }

  private enable(n: number): number {
    const bad = this.checkPlacement(n);
    if (bad) {
      if (bad.busNotDecoded) this.c.enableBusNotDecoded++; else this.c.enableRefused++;
      this.lastError = { status: bad.status, reason: bad.reason };
      return bad.status;
    }
    const built = this.build(n);
    if (typeof built === "number") return built;
    this.live = built;
    const mse = (this.control & SriovCtl.VF_MSE) !== 0;
    for (const l of built) l.view.setDecode(mse);
    this.c.enables++;
    this.lastError = null;
    return Status.OK;
  }

  /** Build VFs 0..n-1 (all or none: a failure destroys what was built). */
  private build(n: number): LiveVf[] | number {
    const pfRid = this.place ? this.place.rid() : 0;
    const built: LiveVf[] = [];
    for (let i = 0; i < n; i++) {
      try {
        const vf = this.o.provider.create(i, this.vfRid(pfRid, i));
        built.push({ vf, view: new VfFunction(vf.pci, this) });
      } catch (err) {
        this.teardown(built);
        this.c.enableCreateFailed++;
        this.lastError = { status: Status.ERR_HOST, reason: `VF ${i}: ${err instanceof Error ? err.message : String(err)}` };
        return Status.ERR_HOST;
      }
    }
    return built;
  }

  private teardown(list: LiveVf[]): void {
    for (const l of [...list].reverse()) {
      try { l.vf.destroy(); } catch { this.c.destroyErrors++; }
    }
  }

  private disable(): void {
    const list = this.live;
    this.live = [];
    this.teardown(list);
    this.c.disables++;
  }

  /** Function-level reset of the PF's SR-IOV state: VFs destroyed, the capability at power-on values. */
  reset(): void {
    if (this.live.length) this.disable();
    this.cap.bytes.set(this.power);
    this.lastError = null;
  }

  /** Destroy the VFs (the PF leaves). */
  destroy(): void { if (this.live.length) this.disable(); }

  /** The capability's registers and each VF's own saved state, as one envelope (HostKind.pciSriov). */
  saveState(): Uint8Array {
    return hostSeal(HostKind.pciSriov, PAYLOAD_VERSION, [
      { tag: SriovTag.CAP, value: this.cap.bytes.slice() },
      ...this.live.map((l) => ({ tag: SriovTag.VF, value: l.vf.saveState() })),
    ]);
  }

  /**
   * Restore from an untrusted blob: the envelope, then a capability image
   * whose read-only bits are this PF's, NumVFs ≤ TotalVFs, one supported page
   * size, and exactly NumVFs VF states when VF Enable is set (none
   * otherwise); the VFs are placed as an enable would (restore the bridges
   * above first), built and restored aside, and only when all of that worked
   * do they replace the current ones. Untouched on any error.
   */
  restoreState(blob: Uint8Array): number {
    const env = hostOpen(blob, HostKind.pciSriov);
    if (typeof env === "number") return env;
    if (env.header.payloadVersion !== PAYLOAD_VERSION) return Status.ERR_STATE_VERSION;
    const img = single(env.fields, SriovTag.CAP);
    if (!img || !this.cap.consistent(img)) return Status.ERR_STATE_INVALID;
    const probe = new ConfigRegs(SRIOV_CAP_SIZE);
    probe.bytes.set(img);
    const num = probe.read(Sriov.NUM_VFS, 2), ctl = probe.read(Sriov.CONTROL, 2), page = probe.read(Sriov.SYSTEM_PAGE_SIZE, 4);
    if (num > this.totalVfs || (page & (page - 1)) !== 0 || (page & PAGE_4K) === 0) return Status.ERR_STATE_INVALID;
    if (env.fields.some((f) => f.tag !== SriovTag.CAP && f.tag !== SriovTag.VF)) return Status.ERR_STATE_INVALID;
    const states = env.fields.filter((f) => f.tag === SriovTag.VF).map((f) => f.value);
    const want = ctl & SriovCtl.VF_ENABLE ? num : 0;
    if (states.length !== want) return Status.ERR_STATE_INVALID;
    if (this.checkPlacement(want)) return Status.ERR_STATE_INVALID;
    const built = this.build(want);
    if (typeof built === "number") return built;
    for (let i = 0; i < built.length; i++) {
      const s = built[i].vf.restoreState(states[i]);
      if (s !== Status.OK) { this.teardown(built); return s; }
    }
    if (this.live.length) this.disable();
    this.cap.bytes.set(img);
    this.live = built;
    for (const l of built) l.view.setDecode((ctl & SriovCtl.VF_MSE) !== 0);
    return Status.OK;
  }

  /** @internal A VF's BAR access while VF MSE is clear. */
  countDisabled(): void { this.c.vfAccessDisabled++; }

  /** Text of the last refusal, for logs. */
  describeLastError(): string | null { return this.lastError ? `${statusName(this.lastError.status)}: ${this.lastError.reason}` : null; }
}

/** Bytes of a config read that hold byte `at` rewritten by `f`. */
function patchByte(v: number, off: number, width: number, at: number, f: (b: number) => number): number {
  if (at < off || at >= off + width) return v;
  const s = 8 * (at - off);
  return ((v & ~(0xff << s)) | ((f((v >>> s) & 0xff) & 0xff) << s)) >>> 0;
}

/** A VF as the bus presents it (SR-IOV §9.3.4): see the top of the file. */
class VfFunction implements PciFunction {
  readonly mmioRegister?: (bar: number, offset: number) => RegisterSpan | null;
  private decodeOn = false;

  constructor(private readonly inner: PciFunction, private readonly pf: SriovFunction) {
    this.mmioRegister = inner.mmioRegister?.bind(inner);
  }

  get bars(): readonly BarInfo[] { return this.pf.vfBars; }

  /** VF MSE of the PF: memory decode of this VF's BARs on or off. */
  setDecode(on: boolean): void {
    this.decodeOn = on;
    const cmd = this.inner.configRead(Cfg.COMMAND, 2);
    this.inner.configWrite(Cfg.COMMAND, 2, on ? cmd | Cmd.MEMORY : cmd & ~Cmd.MEMORY);
  }

  configRead(offset: number, width: 1 | 2 | 4): number {
    if (!accessOk(offset, width, EXT_CFG_SIZE)) return ones(width);
    if (offset >= EXT_CFG_BASE) return 0;
    let v = this.inner.configRead(offset, width) >>> 0;
    for (let i = 0; i < width; i++) {
      const at = offset + i;
      if (at < 4) v = patchByte(v, offset, width, at, () => 0xff);
      else if (at === Cfg.COMMAND) v = patchByte(v, offset, width, at, (b) => b & ~(Cmd.MEMORY | Cmd.IO));
      else if (at >= Cfg.BAR0 && at < Cfg.BAR0 + 24) v = patchByte(v, offset, width, at, () => 0);
      else if (at === Cfg.INT_PIN) v = patchByte(v, offset, width, at, () => 0);
    }
    return v >>> 0;
  }

  configWrite(offset: number, width: 1 | 2 | 4, value: number): void {
    if (!accessOk(offset, width, EXT_CFG_SIZE) || offset >= EXT_CFG_BASE) return;
    if (offset < Cfg.BAR0 + 24 && offset + width > Cfg.BAR0) return; // VF BARs are read-only zero
    if (offset <= Cfg.COMMAND && offset + width > Cfg.COMMAND) {
      // Memory and I/O Space Enable are the PF's (VF MSE); the rest of the write goes through.
      const s = 8 * (Cfg.COMMAND - offset);
      const keep = this.decodeOn ? Cmd.MEMORY : 0;
      value = ((value & ~((Cmd.MEMORY | Cmd.IO) << s)) | (keep << s)) >>> 0;
    }
    this.inner.configWrite(offset, width, value);
  }

  barRead(bar: number, offset: number, width: 1 | 2 | 4): number {
    if (!this.decodeOn) { this.pf.countDisabled(); return ones(width); }
    return this.inner.barRead(bar, offset, width);
  }

  barWrite(bar: number, offset: number, width: 1 | 2 | 4, value: number): void {
    if (!this.decodeOn) { this.pf.countDisabled(); return; }
    this.inner.barWrite(bar, offset, width, value);
  }
}
