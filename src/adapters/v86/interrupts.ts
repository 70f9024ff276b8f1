// The adapter's PCI interrupt line into v86 (v86 has no MSI), and the two
// faults of v86's interrupt delivery it works around.
//
// v86 0.5.462's `device_raise_irq`/`device_lower_irq` (src/rust/cpu/cpu.rs)
// update the 8259 pair (and the IOAPIC) and then call `handle_irqs`, which
// acknowledges the interrupt and enters its handler at once when IF is set.
// Between instructions that is right, and v86's own devices only raise from
// port I/O, which its JIT ends a block on. Inside an MMIO access it is wrong:
// a JIT-compiled block keeps EIP and the general registers in wasm locals, so
// the interrupt frame is pushed with a stale EIP and ESP, IF is cleared, and
// when the block ends it writes its locals back over the handler's entry
// state. The 8259 then has the IRQ in service, the handler never runs, no EOI
// comes, and every interrupt at or below the cascade's priority is dead. So a
// level change made inside one of the adapter's MMIO handlers (on any adapter
// of that CPU) is given to v86 with IF masked for the call: v86 takes the new
// level and dispatches at its next interrupt check (end of an instruction
// batch, STI, HLT, POPF, another device's interrupt), as a CPU takes an
// interrupt at an instruction boundary after the write.
//
// Second, v86's master 8259 latches its cascade input (IR2) as an edge. When a
// level-triggered slave line falls before the CPU acknowledges it, the slave
// stops requesting but the master's IRR keeps IR2; the acknowledge then sets
// IR2 in the master's ISR, finds nothing on the slave and returns no vector,
// so nothing will ever send its EOI. A real 8259A answers a request withdrawn
// before INTA with its spurious IR7 vector and puts nothing in service (Intel
// 8259A data sheet, "Interrupt sequence"). The adapter withdraws such a stale
// IR2 from the master's IRR after each falling edge of its line.

import type { V86AdapterCounters, V86Cpu, V86Pci } from "./types.js";

const FLAG_IF = 1 << 9;
/** Byte offsets in v86's `Pic0` (src/rust/cpu/pic.rs; fixed by its save format, 13 bytes). */
const PIC_IRQ_ENABLED = 0, PIC_ISR = 2, PIC_IRR = 3, PIC_ELCR = 10, PIC_SPECIAL_MASK = 12;
const PIC_STATE_BYTES = 13;
const PIC_CASCADE = 1 << 2;

/** Whether an 8259 in v86's state presents a request to the CPU or its master (v86's `Pic0::get_irq`). */
function picRequests(p: Uint8Array): boolean {
  const pending = p[PIC_IRR] & p[PIC_IRQ_ENABLED];
  if (pending === 0) return false;
  const isr = p[PIC_ISR];
  if (isr === 0) return true;
  const special = p[PIC_SPECIAL_MASK] !== 0 ? p[PIC_IRQ_ENABLED] : 0xff;
  return (isr & -isr & special) > (pending & -pending); // a higher-priority IRQ is not in service
}

/** Depth of MMIO handlers the guest's CPU is inside, shared by every adapter of that CPU. */
export interface MmioGate { depth: number }
const mmioGates = new WeakMap<object, MmioGate>();
export function mmioGate(cpu: object): MmioGate {
  let g = mmioGates.get(cpu);
  if (!g) { g = { depth: 0 }; mmioGates.set(cpu, g); }
  return g;
}

/**
 * One function's INTx line: the level the device drives, given to v86 (with
 * IF masked inside an MMIO access) once attached, and a stale cascade request
 * withdrawn after each falling edge.
 */
export class V86IrqLine {
  private cpu: V86Cpu | null = null;
  private pci: V86Pci | null = null;
  /** Shared with the adapter's MMIO handlers: they count themselves in and out. */
  gate: MmioGate = { depth: 0 };
  private picMaster = 0;
  private picSlave = 0;
  private level = false;

  constructor(private readonly pciId: number, private readonly c: V86AdapterCounters) {}

  /** The CPU whose 8259s the line reaches, and whose MMIO gate its handlers share. */
  bindCpu(cpu: V86Cpu): void {
    this.cpu = cpu;
    this.gate = mmioGate(cpu);
    this.picMaster = cpu.get_pic_addr_master() >>> 0;
    this.picSlave = cpu.get_pic_addr_slave() >>> 0;
  }

  /** Start driving v86's line on its PCI bus (level changes before this wait for start()). */
  attach(pci: V86Pci): void { this.pci = pci; }

  /** Whether the line is asserted. */
  get asserted(): boolean { return this.level; }

  /** Drive the line now when the device raised it before attach (counted as its first edge). */
  start(): void { if (this.level) { this.c.irqRaised++; this.drive(true); } }

  set(level: boolean): void {
    if (level === this.level) return;
    this.level = level;
    if (!this.pci) return; // not attached yet: start() drives the line from `level`
    if (level) this.c.irqRaised++; else this.c.irqLowered++;
    this.drive(level);
  }

  /** Take a saved level (see V86PciAdapter.restoreLevel): driven again, counted only when it changes. */
  restore(level: boolean): void {
    const changed = level !== this.level;
    this.level = level;
    if (!this.pci) return;
    if (changed) { if (level) this.c.irqRaised++; else this.c.irqLowered++; }
    this.drive(level);
  }

  /** Give v86 the line's level (see the top of this file). */
  private drive(level: boolean): void {
    const cpu = this.cpu!, pci = this.pci!;
    const hold = this.gate.depth > 0 && (cpu.flags[0] & FLAG_IF) !== 0;
    if (hold) { cpu.flags[0] &= ~FLAG_IF; this.c.irqHeld++; }
    try {
      if (level) pci.raise_irq(this.pciId); else pci.lower_irq(this.pciId);
    } finally {
      if (hold) cpu.flags[0] |= FLAG_IF;
    }
    if (!level) this.withdrawStaleCascade();
  }

  /** Take IR2 out of the master's IRR when the slave no longer requests (see the top of this file). */
  private withdrawStaleCascade(): void {
    const buf = this.cpu!.wasm_memory.buffer;
    const master = new Uint8Array(buf, this.picMaster, PIC_STATE_BYTES);
    if ((master[PIC_IRR] & PIC_CASCADE) === 0 || (master[PIC_ELCR] & PIC_CASCADE) !== 0) return;
    if (picRequests(new Uint8Array(buf, this.picSlave, PIC_STATE_BYTES))) return;
    master[PIC_IRR] &= ~PIC_CASCADE;
    this.c.cascadeWithdrawn++;
  }
}
