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
  /**
   * The register that holds byte `offset` of memory BAR `bar`: its first byte
   * and width, or null where the function takes any width. A bus that splits
   * wide accesses into bytes (v86 reads 16 bits as two bytes) reads the whole
   * register and picks the byte, for functions that accept only a register's
   * own width (virtio 1.2 §4.1.3.1). Optional: without it bytes are forwarded.
   */
  mmioRegister?(bar: number, offset: number): RegisterSpan | null;
}

/** Where a register lies in a BAR (see {@link PciFunction.mmioRegister}). */
export interface RegisterSpan { start: number; width: 1 | 2 | 4 }

/** PCI configuration-space offsets and bits the host layer reads (PCI Local Bus 3.0 §6.1, §6.7). */
export const PCI_STATUS = 0x06;
/** Status bit: the function has a capability list. */
export const PCI_STATUS_CAP_LIST = 0x10;
export const PCI_CAP_PTR = 0x34;
export const PCI_CAP_ID_MSI = 0x05;
export const PCI_CAP_ID_VNDR = 0x09;
export const PCI_CAP_ID_MSIX = 0x11;
/** Capabilities live in 0x40..0xFF: 48 dword-aligned entries fit in those 192 bytes. */
const PCI_CAP_MAX = 48;

/** One entry of a function's capability list: where it is and its ID. */
export interface PciCapability { at: number; id: number }

/**
 * Walk the capability list (PCI 3.0 §6.7), bounded: at most 48 entries (all
 * that fit), and it stops at a pointer back into the list or into the header.
 * `fault` says why it stopped there (null when the list ended or was cut at 48
 * entries); the entries before a fault are returned either way, and the
 * caller decides.
 */
export function pciCapabilities(fn: Pick<PciFunction, "configRead">): { caps: PciCapability[]; fault: string | null } {
  const caps: PciCapability[] = [];
  if (!(fn.configRead(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST)) return { caps, fault: null };
  const seen = new Set<number>();
  let at = fn.configRead(PCI_CAP_PTR, 1) & 0xfc;
  while (at !== 0 && caps.length < PCI_CAP_MAX) {
    if (seen.has(at) || at < 0x40) return { caps, fault: `PCI capability list loops or points into the header at 0x${at.toString(16)}` };
    seen.add(at);
    caps.push({ at, id: fn.configRead(at, 1) & 0xff });
    at = fn.configRead(at + 1, 1) & 0xfc;
  }
  return { caps, fault: null };
}

/**
 * Configuration cycles addressed by bus/device/function, and memory and I/O
 * accesses by physical address, as a CPU issues them to a host bridge
 * (src/platform/pci/root.ts is one). Firmware and guest drivers that scan a
 * PCI hierarchy work through this alone.
 */
export interface PciHostAccess {
  configRead(bus: number, dev: number, func: number, offset: number, width: 1 | 2 | 4): number;
  configWrite(bus: number, dev: number, func: number, offset: number, width: 1 | 2 | 4, value: number): void;
  memRead(addr: number, width: 1 | 2 | 4): number;
  memWrite(addr: number, width: 1 | 2 | 4, value: number): void;
  ioRead(port: number, width: 1 | 2 | 4): number;
  ioWrite(port: number, width: 1 | 2 | 4, value: number): void;
}
