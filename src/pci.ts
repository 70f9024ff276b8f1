// A PCI function as an emulator's PCI bus sees it. virtio-pci implements this;
// adapters (v86) and the machine's PCI bus drive it.

export type BarKind = "mem32" | "mem64" | "io";

export interface BarInfo {
  /** BAR index 0..5 (a mem64 BAR uses index and index+1). */
  index: number;
  /** Size in bytes, a power of two. */
  size: number;
  kind: BarKind;
  prefetchable?: boolean;
}

export interface PciFunction {
  /** Configuration space: reads/writes of width 1, 2 or 4 at any offset < 256 (4096 for PCIe). */
  configRead(offset: number, width: 1 | 2 | 4): number;
  configWrite(offset: number, width: 1 | 2 | 4, value: number): void;
  /** The BARs the function implements. */
  readonly bars: readonly BarInfo[];
  /** Accesses inside a BAR, `offset` relative to its base. Invalid accesses read as all-ones and are counted. */
  barRead(bar: number, offset: number, width: 1 | 2 | 4): number;
  barWrite(bar: number, offset: number, width: 1 | 2 | 4, value: number): void;
}
