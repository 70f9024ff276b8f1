// The guest's port I/O to an NE2000's 32-port window: `in`/`out` of 8, 16
// and 32 bits at an offset of the window, and the string forms (`rep ins`,
// `rep outs`) when the path has them. Two ways in: a PCI function's I/O BAR
// (what a PCI bus gives a driver), or any window accessor (an ISA board at
// its base, or a device's own window API).
import type { PciFunction } from "../../pci.js";

export type IoWidth = 1 | 2 | 4;

/** Port access to the board, offsets relative to its base. */
export interface PortIo {
  read(off: number, width: IoWidth): number;
  write(off: number, width: IoWidth, value: number): void;
  /** `rep ins`: `count` reads of `width` at `off`, little-endian bytes. Optional. */
  readString?(off: number, width: IoWidth, count: number): Uint8Array;
  /** `rep outs`: `data.length / width` writes of `width` at `off`. Optional. */
  writeString?(off: number, width: IoWidth, data: Uint8Array): void;
}

/** A PCI function's I/O BAR `bar` as the driver's ports (PCI command I/O enable is the driver's job). */
export function pciPortIo(fn: PciFunction, bar = 0): PortIo {
  const b = fn.bars.find((x) => x.index === bar);
  if (!b || b.kind !== "io") throw new Error(`BAR ${bar} is not an I/O BAR`);
  return {
    read: (off, w) => fn.barRead(bar, off, w),
    write: (off, w, v) => fn.barWrite(bar, off, w, v),
  };
}

/** Counts every access that goes through `io` (a guest's port I/O is what costs it the most under emulation). */
export class CountingPortIo implements PortIo {
  reads = 0;
  writes = 0;
  readonly readString?: PortIo["readString"];
  readonly writeString?: PortIo["writeString"];
  constructor(private readonly io: PortIo) {
    if (io.readString) this.readString = (off, w, n) => { this.reads += n; return io.readString!(off, w, n); };
    if (io.writeString) this.writeString = (off, w, d) => { this.writes += d.length / w; io.writeString!(off, w, d); };
  }
  read(off: number, w: IoWidth): number { this.reads++; return this.io.read(off, w); }
  write(off: number, w: IoWidth, v: number): void { this.writes++; this.io.write(off, w, v); }
}
