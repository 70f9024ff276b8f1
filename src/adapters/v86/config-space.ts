// The function's configuration space as v86's PCI bus sees it. Config cycles
// addressed to the function go to it, except the BAR and ROM registers, which
// v86 emulates itself (it keeps memory BARs where the adapter put them and
// moves I/O BAR handlers). With `hideMsi` the MSI and MSI-X capabilities are
// unlinked from the list the guest walks and writes to them are dropped: v86
// has no MSI delivery, so the driver falls back to INTx.

import { pciCapabilities, PCI_CAP_ID_MSI, PCI_CAP_ID_MSIX, PCI_CAP_PTR, PCI_STATUS, type PciFunction } from "../../pci.js";
import type { PlacedBar, V86AdapterCounters, V86Pci } from "./types.js";

export const PCI_BAR0 = 0x10;
const PCI_BAR_END = 0x28;
const PCI_ROM = 0x30;
const PCI_INTERRUPT_PIN = 0x3d;

/** The capability list as the guest sees it, and v86's view of the function's config space. */
export class V86ConfigSpace {
  /** Capability list as the guest sees it: offset → next pointer (MSI/MSI-X unlinked). */
  private capNext = new Map<number, number>();
  private capFirst = 0;
  /** Offsets of hidden capabilities' bytes (config writes there are dropped). */
  private hiddenCaps: Array<[number, number]> = [];

  constructor(private readonly hideMsi: boolean) {}

  /** Walk the capability list once (src/pci.ts, bounded) and unlink MSI/MSI-X. A broken list is kept up to the fault. */
  scan(fn: PciFunction): void {
    const caps = pciCapabilities(fn).caps.map(({ at, id }): [number, number] => [at, id]);
    const kept = caps.filter(([, id]) => !this.hideMsi || (id !== PCI_CAP_ID_MSI && id !== PCI_CAP_ID_MSIX));
    this.capFirst = kept.length ? kept[0][0] : 0;
    for (let i = 0; i < kept.length; i++) this.capNext.set(kept[i][0], i + 1 < kept.length ? kept[i + 1][0] : 0);
    for (let i = 0; i < caps.length; i++) {
      const [at, id] = caps[i];
      if (this.hideMsi && (id === PCI_CAP_ID_MSI || id === PCI_CAP_ID_MSIX)) {
        // MSI-X capability is 12 bytes (PCI 3.0 §6.8.2); MSI at most 24 (§6.8.1).
        this.hiddenCaps.push([at, at + (id === PCI_CAP_ID_MSIX ? 12 : 24)]);
      }
    }
  }

  /** Route config cycles for device `id` on v86's bus to `fn` (see the top of this file). */
  hook(pci: V86Pci, id: number, fn: PciFunction, c: V86AdapterCounters): void {
    const self = this;
    const own = (off: number) => (off >= PCI_BAR0 && off < PCI_BAR_END) || (off >= PCI_ROM && off < PCI_ROM + 4);
    const query = pci.pci_query, w8 = pci.pci_write8, w16 = pci.pci_write16, w32 = pci.pci_write32;
    pci.pci_query = function (this: V86Pci) {
      const bdf = (this.pci_addr[2] << 8) | this.pci_addr[1];
      const off = this.pci_addr[0] & 0xfc;
      if (bdf !== id || own(off)) return query.call(this);
      c.configReads++;
      this.pci_status32[0] = 0x80000000 | 0;
      this.pci_response32[0] = self.filter(off, fn.configRead(off, 4) >>> 0) | 0;
    };
    const mirrorBar = (bus: V86Pci, off: number) => {
      const space = bus.device_spaces[id];
      if (space && off >= PCI_BAR0 && off < PCI_BAR_END) fn.configWrite(off & ~3, 4, space[(off & ~3) >> 2] >>> 0);
    };
    const route = (inner: (addr: number, v: number) => void, width: 1 | 2 | 4, mask: number) =>
      function (this: V86Pci, addr: number, v: number) {
        const bdf = (addr >> 8) & 0xffff;
        const off = addr & 0xff;
        if (bdf !== id) return inner.call(this, addr, v);
        c.configWrites++;
        if (own(off)) { inner.call(this, addr, v); mirrorBar(this, off); return; }
        if (off % width !== 0) return; // v86 only issues naturally aligned cycles; anything else is dropped
        if (self.isHidden(off, width)) return;
        fn.configWrite(off, width, (v & mask) >>> 0);
      };
    pci.pci_write8 = route(w8, 1, 0xff);
    pci.pci_write16 = route(w16, 2, 0xffff);
    pci.pci_write32 = route(w32, 4, 0xffffffff);
  }

  /**
   * The 256-byte config image v86 stores: the function's 64-byte header with our
   * BAR placement and an interrupt pin. v86 itself only uses the BAR, ROM and
   * pin fields; every other read is served live by the function. The rest is
   * not copied: reading it can have effects (a data window into a BAR, for one).
   */
  image(fn: PciFunction, placed: readonly PlacedBar[]): number[] {
    const img = new Array<number>(256).fill(0);
    for (let off = 0; off < 0x40; off += 4) {
      const v = this.filter(off, fn.configRead(off, 4) >>> 0);
      for (let k = 0; k < 4; k++) img[off + k] = (v >>> (8 * k)) & 0xff;
    }
    for (let off = PCI_BAR0; off < PCI_BAR_END; off++) img[off] = 0;
    for (let off = PCI_ROM; off < PCI_ROM + 4; off++) img[off] = 0;
    for (const b of placed) {
      // Memory BARs are presented as 32-bit non-prefetchable: v86 sizes them that way and
      // never relocates them, and they sit below 4 GiB (a mem64 BAR's upper half reads 0).
      const v = b.kind === "io" ? (b.base | 1) >>> 0 : b.base >>> 0;
      for (let k = 0; k < 4; k++) img[PCI_BAR0 + 4 * b.index + k] = (v >>> (8 * k)) & 0xff;
    }
    if (img[PCI_INTERRUPT_PIN] === 0 || img[PCI_INTERRUPT_PIN] > 4) img[PCI_INTERRUPT_PIN] = 1; // INTA#
    return img;
  }

  /** The dword at `off` as the guest sees it: capability pointers skip hidden capabilities. */
  private filter(off: number, v: number): number {
    if (this.capNext.size === 0 && this.hiddenCaps.length === 0) return v >>> 0;
    const setByte = (x: number, k: number, byte: number) => ((x & ~(0xff << (8 * k))) | (byte << (8 * k))) >>> 0;
    if (off === PCI_CAP_PTR) v = setByte(v, 0, this.capFirst);
    for (const [at, next] of this.capNext) if ((at & ~3) === off) v = setByte(v, (at + 1) & 3, next);
    if (this.capFirst === 0 && off === (PCI_STATUS & ~3)) v = (v & ~(0x10 << 16)) >>> 0;
    return v >>> 0;
  }

  private isHidden(off: number, width: number): boolean {
    for (const [lo, hi] of this.hiddenCaps) if (off < hi && off + width > lo) return true;
    return false;
  }
}
