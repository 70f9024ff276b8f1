// The function's BARs in v86's address space, each access delivered with the
// width the guest used. v86 hands MMIO to its handlers as bytes and dwords
// only: a 16-bit read arrives as two byte reads and a 16-bit write goes
// through `cpu.mmap_write16` as two byte writes. Writes are made whole again
// by wrapping `mmap_write16`; byte reads inside a wider register are served
// from one read of the whole register, for a function that reports its
// registers (PciFunction.mmioRegister) because it accepts only a register's
// own width. The adapter knows no device: the function says where its
// registers are.

import type { PciFunction } from "../../pci.js";
import type { MmioGate } from "./interrupts.js";
import type { PlacedBar, V86AdapterCounters, V86Cpu } from "./types.js";

/** v86 maps MMIO in blocks of this size. */
export const MMAP_GRANULE = 128 * 1024;

/** What the access handlers share: the (guarded) function, the counters, and the CPU's MMIO gate. */
export interface BarContext {
  fn: PciFunction;
  c: V86AdapterCounters;
  /** Each MMIO handler runs in the middle of a guest instruction: the gate tells the interrupt line so. */
  gate: MmioGate;
}

/** Map a memory BAR: `span` bytes (a multiple of MMAP_GRANULE) at `bar.base`; accesses past the BAR read ones and are dropped. */
export function mapMemBar(cpu: V86Cpu, { fn, c, gate }: BarContext, bar: PlacedBar, span: number): void {
  const { base, size, index } = bar;
  const off = (addr: number) => (addr >>> 0) - base; // v86 passes addresses as signed 32-bit
  const register = fn.mmioRegister;
  cpu.io.mmap_register(base, span,
    (addr) => {
      const o = off(addr);
      if (o >= size) { c.mmioOutside++; return 0xff; }
      c.mmioReads++;
      gate.depth++;
      try {
        const r = register ? register(index, o) : null;
        if (r && r.width > 1) return (fn.barRead(index, r.start, r.width) >>> (8 * (o - r.start))) & 0xff;
        return fn.barRead(index, o, 1) & 0xff;
      } finally { gate.depth--; }
    },
    (addr, v) => {
      const o = off(addr);
      if (o >= size) { c.mmioOutside++; return; }
      c.mmioWrites++;
      gate.depth++;
      try { fn.barWrite(index, o, 1, v & 0xff); } finally { gate.depth--; }
    },
    (addr) => {
      const o = off(addr);
      if (o + 4 > size) { c.mmioOutside++; return -1; }
      c.mmioReads++;
      gate.depth++;
      try { return fn.barRead(index, o, 4) | 0; } finally { gate.depth--; }
    },
    (addr, v) => {
      const o = off(addr);
      if (o + 4 > size) { c.mmioOutside++; return; }
      c.mmioWrites++;
      gate.depth++;
      try { fn.barWrite(index, o, 4, v >>> 0); } finally { gate.depth--; }
    });
}

/** Map an I/O BAR: v86 tells port handlers their width, so each access goes through as it came. */
export function mapIoBar(cpu: V86Cpu, { fn, c }: BarContext, bar: PlacedBar, owner: object): void {
  const { index, size } = bar;
  // One closure per port with its fixed offset: v86 moves these entries when the BIOS or the
  // guest reprograms the I/O BAR, and write handlers are not told the port.
  for (let i = 0; i < size; i++) {
    const o = i;
    cpu.io.register_read(bar.base + i, owner,
      () => { c.ioReads++; return fn.barRead(index, o, 1) & 0xff; },
      () => { c.ioReads++; return o + 2 <= size ? fn.barRead(index, o, 2) & 0xffff : 0xffff; },
      () => { c.ioReads++; return o + 4 <= size ? fn.barRead(index, o, 4) | 0 : -1; });
    cpu.io.register_write(bar.base + i, owner,
      (v) => { c.ioWrites++; fn.barWrite(index, o, 1, v & 0xff); },
      (v) => { c.ioWrites++; if (o + 2 <= size) fn.barWrite(index, o, 2, v & 0xffff); },
      (v) => { c.ioWrites++; if (o + 4 <= size) fn.barWrite(index, o, 4, v >>> 0); });
  }
}

/** v86 sends 16-bit MMIO writes through `cpu.mmap_write16` as two byte writes; deliver those to our BARs whole. */
export function hookMmioWrite16(cpu: V86Cpu, { fn, c, gate }: BarContext, placed: readonly PlacedBar[]): void {
  const mem = placed.filter((b) => b.kind !== "io");
  if (mem.length === 0) return;
  const inner = cpu.mmap_write16;
  cpu.mmap_write16 = function (this: V86Cpu, addr: number, value: number) {
    const a = addr >>> 0;
    for (const b of mem) {
      const o = a - b.base;
      if (o >= 0 && o + 2 <= b.size) {
        c.mmioWrites++;
        gate.depth++;
        try { fn.barWrite(b.index, o, 2, value & 0xffff); } finally { gate.depth--; }
        return;
      }
    }
    inner.call(this, addr, value);
  };
}
