// Interrupt routing: every device gets an InterruptSink that names it; the
// sinks forward to one pluggable InterruptController (the local APIC's
// router once it exists, or an embedding emulator's PIC/IOAPIC). Until one is
// set, interrupts are counted and offered to listeners, which is what tests
// and the CLI observe.
//
// The router is also the board's INTx wiring. A PCI function's sink knows its
// slot; its INTx pin p drives global system interrupt
// pciIntxGsi(slot, p) = 16 + ((slot + p) mod 4), the rotation the PCI-to-PCI
// bridge architecture defines for devices behind a bridge, so INTA of
// neighbouring slots lands on different lines. Lines are shared wire-OR: a GSI is asserted while any
// (device, pin) routed to it is, and the controller's `gsi` hears each change
// of that OR (the IOAPIC's pins). Every bus is wired like bus 0 (there are no
// bridges to swizzle through). The ACPI _PRT (src/platform/acpi) describes
// the same table to the guest.

import type { InterruptSink, MsiMessage } from "../device.js";

/** Where the machine delivers device interrupts. */
export interface InterruptController {
  /** A message-signalled interrupt from device `source`. */
  msi(source: string, msg: MsiMessage): void;
  /** Device `source` drives INTx `pin` (0..3 = A..D) to `level`. */
  intx(source: string, pin: number, level: boolean): void;
  /** The wire-OR of the INTx lines routed to global system interrupt `gsi` became `asserted` (board-level controllers: an IOAPIC). */
  gsi?(gsi: number, asserted: boolean): void;
}

/** First GSI of the PCI INTx lines (GSIs 0..15 are the ISA IRQs). */
export const PCI_INTX_GSI_BASE = 16;

/** The GSI INTx pin `pin` (0..3 = A..D) of a function in slot `slot` drives: 16 + ((slot + pin) mod 4). */
export function pciIntxGsi(slot: number, pin: number): number { return PCI_INTX_GSI_BASE + ((slot + pin) & 3); }

/** Where a PCI function sits, for the INTx wiring. */
export interface IntxAddress { bus: number; slot: number; func: number }

/** Counts per device. */
export interface InterruptCounts { msi: number; intxAsserts: number; intxLevels: boolean[] }

/** The machine's interrupt router. */
export class InterruptRouter {
  private controller: InterruptController | null = null;
  private readonly counts = new Map<string, InterruptCounts>();
  private readonly listeners: Array<InterruptController> = [];
  /** Per GSI, the `source:pin` lines asserting it. */
  private readonly gsiLines = new Map<number, Set<string>>();
  /** The sink of each source, for lowerAll. */
  private readonly sinks = new Map<string, InterruptSink>();

  /** Route everything to `c` (the APIC router, an emulator's PIC); null to only count. The GSIs asserted now are replayed to it. */
  setController(c: InterruptController | null): void {
    this.controller = c;
    for (const [gsi, lines] of this.gsiLines) if (lines.size > 0) c?.gsi?.(gsi, true);
  }

  /** Is global system interrupt `gsi` asserted (any INTx line routed to it asserted)? */
  gsiAsserted(gsi: number): boolean { return (this.gsiLines.get(gsi)?.size ?? 0) > 0; }

  /** Also tell `l` about every interrupt (tests, tracing). Returns a function that removes it. */
  listen(l: InterruptController): () => void {
    this.listeners.push(l);
    return () => { const i = this.listeners.indexOf(l); if (i >= 0) this.listeners.splice(i, 1); };
  }

  /** The sink handed to device `source`; with `address` (a PCI function) its INTx pins also drive their GSIs. */
  sinkFor(source: string, address?: IntxAddress): InterruptSink {
    const c = this.countsOf(source);
    const sink: InterruptSink = {
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
        if (address) this.driveGsi(pciIntxGsi(address.slot, pin), `${source}:${pin}`, level);
      },
    };
    this.sinks.set(source, sink);
    return sink;
  }

  /**
   * Device `source` is gone (a hot-unplug): lower every INTx pin it still
   * asserts (its GSIs follow), as a removed function drives no line.
   */
  lowerAll(source: string): void {
    const c = this.counts.get(source), sink = this.sinks.get(source);
    if (!c || !sink) return;
    c.intxLevels.forEach((level, pin) => { if (level) sink.intx(pin, false); });
    this.sinks.delete(source);
  }

  private driveGsi(gsi: number, line: string, level: boolean): void {
    let lines = this.gsiLines.get(gsi);
    if (!lines) { lines = new Set(); this.gsiLines.set(gsi, lines); }
    const was = lines.size > 0;
    if (level) lines.add(line); else lines.delete(line);
    const now = lines.size > 0;
    if (now === was) return;
    this.controller?.gsi?.(gsi, now);
    for (const l of this.listeners) l.gsi?.(gsi, now);
  }

  private countsOf(source: string): InterruptCounts {
    let c = this.counts.get(source);
    if (!c) { c = { msi: 0, intxAsserts: 0, intxLevels: [false, false, false, false] }; this.counts.set(source, c); }
    return c;
  }

  /** Interrupt counts of device `source`. */
  countsFor(source: string): InterruptCounts { return { ...this.countsOf(source), intxLevels: [...this.countsOf(source).intxLevels] }; }
}
