// Interrupt routing: every device gets an InterruptSink that names it; the
// sinks forward to one pluggable InterruptController (the local APIC's
// router once it exists, or an embedding emulator's PIC/IOAPIC). Until one is
// set, interrupts are counted and offered to listeners, which is what tests
// and the CLI observe.

import type { InterruptSink, MsiMessage } from "../device.js";

/** Where the machine delivers device interrupts. */
export interface InterruptController {
  /** A message-signalled interrupt from device `source`. */
  msi(source: string, msg: MsiMessage): void;
  /** Device `source` drives INTx `pin` (0..3 = A..D) to `level`. */
  intx(source: string, pin: number, level: boolean): void;
}

/** Counts per device. */
export interface InterruptCounts { msi: number; intxAsserts: number; intxLevels: boolean[] }

/** The machine's interrupt router. */
export class InterruptRouter {
  private controller: InterruptController | null = null;
  private readonly counts = new Map<string, InterruptCounts>();
  private readonly listeners: Array<InterruptController> = [];

  /** Route everything to `c` (the APIC router, an emulator's PIC); null to only count. */
  setController(c: InterruptController | null): void { this.controller = c; }

  /** Also tell `l` about every interrupt (tests, tracing). Returns a function that removes it. */
  listen(l: InterruptController): () => void {
    this.listeners.push(l);
    return () => { const i = this.listeners.indexOf(l); if (i >= 0) this.listeners.splice(i, 1); };
  }

  /** The sink handed to device `source`. */
  sinkFor(source: string): InterruptSink {
    const c = this.countsOf(source);
    return {
      msi: (msg) => {
        c.msi++;
        this.controller?.msi(source, msg);
        for (const l of this.listeners) l.msi(source, msg);
      },
      intx: (pin, level) => {
        if (!Number.isInteger(pin) || pin < 0 || pin > 3) return; // INTA..INTD only
        if (level && !c.intxLevels[pin]) c.intxAsserts++;
        c.intxLevels[pin] = level;
        this.controller?.intx(source, pin, level);
        for (const l of this.listeners) l.intx(source, pin, level);
      },
    };
  }

  private countsOf(source: string): InterruptCounts {
    let c = this.counts.get(source);
    if (!c) { c = { msi: 0, intxAsserts: 0, intxLevels: [false, false, false, false] }; this.counts.set(source, c); }
    return c;
  }

  /** Interrupt counts of device `source`. */
  countsFor(source: string): InterruptCounts { return { ...this.countsOf(source), intxLevels: [...this.countsOf(source).intxLevels] }; }
}
