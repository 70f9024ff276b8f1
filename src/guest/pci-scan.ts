// The guest's PCI enumeration (the driver model's part of an OS PCI core,
// written from PCI Local Bus 3.0, PCI-to-PCI Bridge Architecture 1.2 and the
// SR-IOV chapter of PCIe Base, independently of src/platform/pci/): a depth
// first scan of the buses through configuration cycles alone, following each
// bridge to its secondary bus, looking at functions 1..7 only when function
// 0's Header Type has the multi-function bit, sizing BARs; then the SR-IOV
// flow of an OS driver: NumVFs, offset and stride, the check that the
// bridge above decodes the VFs' buses (FreeBSD's pci_iov, review D21944),
// VF Enable and VF MSE, and a rescan at the VFs' routing IDs.
//
// It imports only the core host API (src/pci.ts). `functionView` gives a
// driver a PciFunction over a found function (configuration through cycles,
// BARs through memory and I/O at the addresses firmware placed them), the
// way an OS's pci_dev serves a driver; a VF's view carries the PF's vendor
// and the VF Device ID, as the OS's record of it does (the VF itself reads
// FFFFh there).

import type { BarInfo, PciFunction, PciHostAccess } from "../pci.js";

/** A BAR as the scan found it (base 0: not placed). */
export interface ScannedBar { index: number; kind: "mem32" | "mem64" | "io"; prefetchable: boolean; size: number; base: number }

/** The SR-IOV capability of a PF as the scan read it. */
export interface ScannedSriov {
  at: number; totalVfs: number; initialVfs: number; numVfs: number; vfDeviceId: number;
  /** Each VF's BARs (VF 0's base; VF n's is n × size above). */
  vfBars: ScannedBar[];
}

/** One function the scan found. */
export interface ScannedFunction {
  bus: number; dev: number; func: number;
  /** bus << 8 | dev << 3 | func. */
  rid: number;
  vendor: number; device: number;
  /** Base class, sub-class, interface. */
  classCode: number;
  headerType: number;
  /** Function 0 reported the multi-function bit. */
  multiFunction: boolean;
  bars: ScannedBar[];
  /** A bridge's bus numbers. */
  bridge?: { primary: number; secondary: number; subordinate: number };
  sriov?: ScannedSriov;
  /** A VF: its PF and index. */
  vf?: { pf: ScannedFunction; index: number };
  /** The bridge above (undefined on bus 0). */
  parent?: ScannedFunction;
}

export interface PciScanResult { functions: ScannedFunction[]; bridges: ScannedFunction[] }

/** What enabling VFs came to. */
export type VfEnableResult = { ok: true; vfs: ScannedFunction[] } | { ok: false; reason: string };

export interface PciScannerOptions {
  /** Refuse (without writing VF Enable) when the bridge above does not decode the VFs' buses (default true, as FreeBSD does). */
  checkVfBuses?: boolean;
}

const SRIOV_ID = 0x0010;
const S = { CONTROL: 0x08, INITIAL: 0x0c, TOTAL: 0x0e, NUM: 0x10, OFFSET: 0x14, STRIDE: 0x16, VF_DEVICE: 0x1a, PAGES: 0x1c, PAGE: 0x20, VF_BAR0: 0x24 } as const;
const VF_ENABLE = 1, VF_MSE = 8;

export class PciScanner {
  constructor(readonly host: PciHostAccess, private readonly o: PciScannerOptions = {}) {}

  private r(f: { bus: number; dev: number; func: number }, off: number, w: 1 | 2 | 4): number { return this.host.configRead(f.bus, f.dev, f.func, off, w) >>> 0; }
  private w(f: { bus: number; dev: number; func: number }, off: number, w: 1 | 2 | 4, v: number): void { this.host.configWrite(f.bus, f.dev, f.func, off, w, v >>> 0); }

  /** Scan from bus 0 down every bridge (each bus once; at most 256). */
  scan(): PciScanResult {
    const out: PciScanResult = { functions: [], bridges: [] };
    const seen = new Set<number>();
    const walk = (bus: number, parent: ScannedFunction | undefined): void => {
      if (seen.has(bus)) return;
      seen.add(bus);
      for (let dev = 0; dev < 32; dev++) {
        if (this.r({ bus, dev, func: 0 }, 0, 2) === 0xffff) continue;
        const multi = (this.r({ bus, dev, func: 0 }, 0x0e, 1) & 0x80) !== 0;
        for (let func = 0; func < (multi ? 8 : 1); func++) {
          const at = { bus, dev, func };
          const id = this.r(at, 0, 4);
          if ((id & 0xffff) === 0xffff) continue;
          const ht = this.r(at, 0x0e, 1);
          const f: ScannedFunction = {
            bus, dev, func, rid: (bus << 8) | (dev << 3) | func, vendor: id & 0xffff, device: id >>> 16,
            classCode: this.r(at, 0x08, 4) >>> 8, headerType: ht & 0x7f, multiFunction: func === 0 && multi,
            bars: this.bars(at, (ht & 0x7f) === 1 ? 2 : 6, 0x10), parent,
          };
          out.functions.push(f);
          if ((ht & 0x7f) === 1) {
            f.bridge = { primary: this.r(at, 0x18, 1), secondary: this.r(at, 0x19, 1), subordinate: this.r(at, 0x1a, 1) };
            out.bridges.push(f);
            if (f.bridge.secondary > bus) walk(f.bridge.secondary, f);
          } else {
            f.sriov = this.readSriov(f);
          }
        }
      }
    };
    walk(0, undefined);
    return out;
  }

  /** Size the BARs at `base`.. by writing all ones with decode off (PCI 3.0 §6.2.5.1), restoring each. */
  private bars(f: { bus: number; dev: number; func: number }, count: number, base: number, cmdAt: number | null = 0x04): ScannedBar[] {
    const out: ScannedBar[] = [];
    const cmd = cmdAt === null ? 0 : this.r(f, cmdAt, 2);
    if (cmdAt !== null) this.w(f, cmdAt, 2, cmd & ~3);
    for (let i = 0; i < count; i++) {
      const off = base + 4 * i;
      const orig = this.r(f, off, 4);
      this.w(f, off, 4, 0xffffffff);
      const probe = this.r(f, off, 4);
      this.w(f, off, 4, orig);
      if (probe === 0) continue;
      if (probe & 1) { out.push({ index: i, kind: "io", prefetchable: false, size: ((~(probe & ~3)) & 0xffff) + 1, base: orig & ~3 }); continue; }
      const is64 = ((probe >> 1) & 3) === 2;
      const hi = is64 ? this.r(f, off + 4, 4) : 0;
      out.push({ index: i, kind: is64 ? "mem64" : "mem32", prefetchable: (probe & 8) !== 0, size: (~(probe & ~0xf) >>> 0) + 1, base: hi * 2 ** 32 + ((orig & ~0xf) >>> 0) });
      if (is64) i++;
    }
    if (cmdAt !== null) this.w(f, cmdAt, 2, cmd);
    return out;
  }

  private findSriov(f: ScannedFunction): number {
    let at = 0x100;
    for (let steps = 0; steps < (0x1000 - 0x100) / 4 && at >= 0x100; steps++) {
      const h = this.r(f, at, 4);
      if (h === 0 || h === 0xffffffff) return 0;
      if ((h & 0xffff) === SRIOV_ID) return at;
      at = (h >>> 20) & 0xffc;
    }
    return 0;
  }

  private readSriov(f: ScannedFunction): ScannedSriov | undefined {
    const at = this.findSriov(f);
    if (!at) return undefined;
    return {
      at, totalVfs: this.r(f, at + S.TOTAL, 2), initialVfs: this.r(f, at + S.INITIAL, 2), numVfs: this.r(f, at + S.NUM, 2),
      vfDeviceId: this.r(f, at + S.VF_DEVICE, 2), vfBars: this.bars(f, 6, at + S.VF_BAR0, null),
    };
  }

  /**
   * Enable `n` VFs of `pf` as an OS driver does; then find them at their
   * routing IDs. Refuses before VF Enable when n is above TotalVFs or (with
   * checkVfBuses) a VF's bus is past the subordinate bus of the bridge above
   * the PF; reports the device's refusal when VF Enable does not read back set.
   */
  enableVfs(pf: ScannedFunction, n: number): VfEnableResult {
    const s = pf.sriov;
    if (!s) return { ok: false, reason: `${fmt(pf)} has no SR-IOV capability` };
    if (!Number.isInteger(n) || n < 1 || n > s.totalVfs) return { ok: false, reason: `${n} VFs: TotalVFs is ${s.totalVfs}` };
    this.w(pf, s.at + S.NUM, 2, n);
    const offset = this.r(pf, s.at + S.OFFSET, 2), stride = this.r(pf, s.at + S.STRIDE, 2);
    const rids = Array.from({ length: n }, (_, i) => pf.rid + offset + i * stride);
    const last = rids[rids.length - 1];
    const end = pf.parent?.bridge?.subordinate ?? 255;
    if ((this.o.checkVfBuses ?? true) && (last > 0xffff || last >> 8 > end)) {
      this.w(pf, s.at + S.NUM, 2, 0);
      return { ok: false, reason: `VF ${n - 1} would be on bus ${last >> 8}, past the subordinate bus ${end} of the bridge above ${fmt(pf)}` };
    }
    if (this.r(pf, s.at + S.PAGES, 4) & 1) this.w(pf, s.at + S.PAGE, 4, 1); // 4 KiB pages
    this.w(pf, s.at + S.CONTROL, 2, VF_ENABLE | VF_MSE);
    if (!(this.r(pf, s.at + S.CONTROL, 2) & VF_ENABLE)) {
      this.w(pf, s.at + S.CONTROL, 2, 0);
      this.w(pf, s.at + S.NUM, 2, 0);
      return { ok: false, reason: `${fmt(pf)} did not set VF Enable` };
    }
    s.numVfs = n;
    const vfs: ScannedFunction[] = [];
    for (let i = 0; i < n; i++) {
      const at = { bus: rids[i] >> 8, dev: (rids[i] >> 3) & 0x1f, func: rids[i] & 7 };
      // A VF's Vendor ID reads FFFFh (SR-IOV §9.3.4.1.1): presence shows in its class code.
      const cls = this.r(at, 0x08, 4);
      if (cls === 0xffffffff) return { ok: false, reason: `VF ${i} at ${fmt(at)} does not answer` };
      vfs.push({
        ...at, rid: rids[i], vendor: pf.vendor, device: s.vfDeviceId, classCode: cls >>> 8, headerType: this.r(at, 0x0e, 1) & 0x7f,
        multiFunction: false, parent: pf.parent, vf: { pf, index: i },
        bars: s.vfBars.map((b) => ({ ...b, base: b.base === 0 ? 0 : b.base + i * b.size })),
      });
    }
    return { ok: true, vfs };
  }

  /** Clear VF Enable and NumVFs. */
  disableVfs(pf: ScannedFunction): void {
    if (!pf.sriov) return;
    this.w(pf, pf.sriov.at + S.CONTROL, 2, 0);
    this.w(pf, pf.sriov.at + S.NUM, 2, 0);
    pf.sriov.numVfs = 0;
  }

  /** A driver's PciFunction over a found function (see the top of the file). */
  functionView(f: ScannedFunction): PciFunction {
    const host = this.host;
    const bar = (i: number) => f.bars.find((b) => b.index === i);
    const ids = f.vf ? ((f.device << 16) | f.vendor) >>> 0 : null;
    return {
      bars: f.bars.map((b): BarInfo => ({ index: b.index, size: b.size, kind: b.kind, prefetchable: b.prefetchable })),
      configRead: (off, w) => {
        const v = host.configRead(f.bus, f.dev, f.func, off, w) >>> 0;
        if (ids === null || off >= 4) return v;
        const shift = 8 * off, mask = w === 4 ? 0xffffffff : (1 << (8 * w)) - 1;
        return (ids >>> shift) & mask;
      },
      configWrite: (off, w, v) => host.configWrite(f.bus, f.dev, f.func, off, w, v),
      barRead: (i, off, w) => {
        const b = bar(i);
        if (!b || b.base === 0 || off < 0 || off + w > b.size) return w === 4 ? 0xffffffff : (1 << (8 * w)) - 1;
        return b.kind === "io" ? host.ioRead(b.base + off, w) : host.memRead(b.base + off, w);
      },
      barWrite: (i, off, w, v) => {
        const b = bar(i);
        if (!b || b.base === 0 || off < 0 || off + w > b.size) return;
        if (b.kind === "io") host.ioWrite(b.base + off, w, v); else host.memWrite(b.base + off, w, v);
      },
    };
  }
}

function fmt(f: { bus: number; dev: number; func: number }): string {
  return `${f.bus.toString(16).padStart(2, "0")}:${f.dev.toString(16).padStart(2, "0")}.${f.func}`;
}
