// The interrupt line as the guest's interrupt controller sees it: the level
// of the NIC's INTx / ISA IRQ line and its rising edges.
import type { InterruptSink, MsiMessage } from "../../device.js";

export class IrqLine implements InterruptSink {
  level = false;
  /** Low → high transitions. */
  edges = 0;
  /** MSIs (an NE2000 sends none) and lines other than pin 0. */
  stray = 0;
  msi(_msg: MsiMessage): void { this.stray++; }
  intx(pin: number, level: boolean): void {
    if (pin !== 0) { this.stray++; return; }
    if (level && !this.level) this.edges++;
    this.level = level;
  }
}
