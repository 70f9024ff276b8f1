// The board's wiring between interrupt lines and IOAPIC pins: global system
// interrupt (GSI) g is pin g - gsiBase of the IOAPIC whose range holds it,
// and each line has the electrical level it is asserted at, as on a PC:
//   * GSIs 0..15 are the ISA IRQs: active high (ISA "conforms to the bus",
//     ACPI MPS INTI flags 00); the MADT's interrupt source overrides name the
//     exceptions (IRQ 0 on GSI 2, the SCI).
//   * GSIs 16 and up carry PCI INTx#: active low and level-triggered, which
//     is what ACPI says of a _PRT entry that names a GSI directly (ACPI 6.x
//     §6.2.13) and what the guest then programs into the entry's polarity.
// An idle active-low line is high: create an IOAPIC with
// `pinLevels: IoApicBoard.idleLevels(gsiBase)` so its pins start there (the
// board drives any pin that does not when it is built). The board is an InterruptController-style sink: `gsi(g, asserted)`
// is what the machine's InterruptRouter calls with the wire-OR of the INTx
// lines routed to g.

import { VmdevError, Status } from "../../status.js";
import { IOAPIC_PINS } from "./defs.js";
import type { IoApic } from "./ioapic.js";

/** First GSI wired active low (the PCI INTx lines). */
export const PCI_GSI_FIRST = 16;

const defaultActiveLow = (gsi: number) => gsi >= PCI_GSI_FIRST;

/** Where GSIs land and how they are asserted. */
export interface IoApicBoardOptions {
  /** Is GSI `gsi` asserted low? Default: GSIs ≥ 16 (PCI INTx#). */
  activeLow?: (gsi: number) => boolean;
}

/** The wiring of a VM's GSIs to its IOAPICs' pins. */
export class IoApicBoard {
  /** Electrical idle levels of the 24 pins from GSI `gsiBase` (bit n = pin n): high where the line is active low. */
  static idleLevels(gsiBase: number, activeLow: (gsi: number) => boolean = defaultActiveLow): number {
    let bits = 0;
    for (let pin = 0; pin < IOAPIC_PINS; pin++) if (activeLow(gsiBase + pin)) bits |= 1 << pin;
    return bits >>> 0;
  }

  private readonly activeLow: (gsi: number) => boolean;
  /** Assertions that reached no IOAPIC pin (a GSI no live IOAPIC has). */
  unwired = 0;

  constructor(readonly ioapics: readonly IoApic[], opts: IoApicBoardOptions = {}) {
    this.activeLow = opts.activeLow ?? defaultActiveLow;
    for (const io of ioapics) {
      const idle = IoApicBoard.idleLevels(io.gsiBase, this.activeLow), now = io.pins();
      for (let pin = 0; pin < IOAPIC_PINS; pin++) if (((idle ^ now) >>> pin) & 1) io.setPin(pin, ((idle >>> pin) & 1) === 1);
    }
  }

  /** The IOAPIC and pin of `gsi`, if any (a destroyed IOAPIC has none). */
  pinOf(gsi: number): { ioapic: IoApic; pin: number } | undefined {
    const io = this.ioapics.find((a) => a.handle !== 0 && a.hasGsi(gsi));
    return io ? { ioapic: io, pin: gsi - io.gsiBase } : undefined;
  }

  /** Is GSI `gsi` wired active low? */
  isActiveLow(gsi: number): boolean { return this.activeLow(gsi); }

  /** Drive GSI `gsi` to asserted (its active level) or idle. */
  gsi(gsi: number, asserted: boolean): void {
    const p = this.pinOf(gsi);
    if (!p) { if (asserted) this.unwired++; return; }
    p.ioapic.setPin(p.pin, asserted !== this.activeLow(gsi));
  }

  /** Assert, then release, an edge-triggered line (an ISA device's pulse). */
  pulse(gsi: number): void { this.gsi(gsi, true); this.gsi(gsi, false); }

  /** Is GSI `gsi` at its active level now? */
  asserted(gsi: number): boolean {
    const p = this.pinOf(gsi);
    if (!p) throw new VmdevError(Status.ERR_INVALID_ARG, `GSI ${gsi} is on no IOAPIC`);
    return (((p.ioapic.pins() >>> p.pin) & 1) === 1) !== this.activeLow(gsi);
  }

  /** Drive every pin to what `isAsserted(gsi)` says (after a restore: the lines' owners are the truth). */
  resync(isAsserted: (gsi: number) => boolean): void {
    for (const io of this.ioapics) {
      if (io.handle === 0) continue;
      for (let pin = 0; pin < IOAPIC_PINS; pin++) this.gsi(io.gsiBase + pin, isAsserted(io.gsiBase + pin));
    }
  }
}
