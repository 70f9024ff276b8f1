// The IOAPIC as a machine device: one `ioapic0` per machine (a platform
// device of the default registry, created after the local APICs). It
// installs itself as the machine's interrupt controller — MSIs to the local
// APICs as before, and the INTx lines, which the InterruptRouter swizzles to
// GSIs 16..19 and wire-ORs, to its pins through the board's wiring
// (IoApicBoard: PCI lines active low). An EOI pump takes the local APICs' EOI
// broadcasts within IOAPIC_POLL_MS even when nothing else calls the IOAPIC
// (an EOI done on a vCPU thread, or a guest that only EOIs).
//
// Keys (`ioapic.<key>`): id (0..15, default 0), version (0x20 default, 0x11).
// The registers are reached through `IoApicDevice.ioapic.mmioRead/mmioWrite`
// at window offsets (the machine has no guest-physical MMIO map; the MADT
// places the window at 0xFEC00000).

import type { JsonCounter } from "../../tables.js";
import { VmdevError, Status } from "../../status.js";
import { DeviceKind } from "../../state.js";
import { validators } from "../../config/schema.js";
import type { InterruptRouter } from "../../machine/interrupts.js";
import type { MachineDevice, PlatformDeviceFactory } from "../../machine/registry.js";
import { lapicSetOf } from "../apic/machine.js";
import type { ApicBus } from "../apic/device.js";
import { IoApic } from "./ioapic.js";
import { IoApicBoard } from "./board.js";
import { VERSION_82093AA, VERSION_XAPIC } from "./defs.js";

/** Longest the EOI pump sleeps: an EOI broadcast no IOAPIC call takes is applied within this. */
export const IOAPIC_POLL_MS = 5;

/** A machine's IOAPIC, its board wiring and EOI pump. */
export class IoApicDevice implements MachineDevice {
  readonly kind = DeviceKind.ioapic;
  readonly name: string;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** EOI broadcasts the pump took. */
  pumped = 0;

  constructor(readonly ioapic: IoApic, readonly board: IoApicBoard, private readonly router: InterruptRouter, name: string) {
    this.name = name;
  }

  /** Start the EOI pump (idempotent). */
  startPump(): void {
    if (this.timer) return;
    const run = () => {
      if (this.ioapic.handle !== 0) this.pumped += this.ioapic.service();
      this.timer = setTimeout(run, IOAPIC_POLL_MS);
      this.timer.unref?.();
    };
    this.timer = setTimeout(run, 0);
    this.timer.unref?.();
  }

  /** Stop the EOI pump. */
  stopPump(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  saveState(): Uint8Array { return this.ioapic.saveState(); }

  /**
   * Restore the IOAPIC (untouched on error), then drive its pins from the
   * lines' owners: the devices restored before it drove their INTx lines, and
   * the router's wire-OR of them is what the pins must show.
   */
  restoreState(blob: Uint8Array): number {
    const s = this.ioapic.restoreState(blob);
    if (s === Status.OK) this.board.resync((gsi) => this.router.gsiAsserted(gsi));
    return s;
  }

  /** The IOAPIC's counters, JSON-safe. */
  countersJSON(): Record<string, JsonCounter> { return this.ioapic.countersJSON(); }

  /** RESET of the IOAPIC (entries masked); the lines keep their levels. */
  reset(): void { this.ioapic.reset(); }

  destroy(): void {
    this.stopPump();
    this.ioapic.destroy();
  }
}

/** Registry entry for the machine's IOAPIC. */
export const ioapicFactory: PlatformDeviceFactory = {
  name: "ioapic",
  description: "I/O APIC (24 pins at GSIs 0..23; PCI INTx swizzled to GSIs 16..19, active low); messages to the local APICs",
  keys: [
    { pattern: "id", validate: validators.int(0, 15), default: "0", description: "IOAPIC ID (the MADT names it)" },
    { pattern: "version", validate: validators.oneOf("0x20", "0x11"), default: "0x20", description: "0x20: I/O xAPIC with the EOI register (directed EOI); 0x11: 82093AA" },
  ],
  create(ctx) {
    const set = lapicSetOf(ctx.core);
    if (!set) throw new VmdevError(Status.ERR_NOT_READY, "the IOAPIC needs the machine's local APICs (the lapic device)");
    const version = Number(ctx.options.version ?? "0x20") === VERSION_82093AA ? VERSION_82093AA : VERSION_XAPIC;
    const ioapic = IoApic.create(ctx.core, { id: Number(ctx.options.id ?? 0), gsiBase: 0, version, name: ctx.instanceName, pinLevels: IoApicBoard.idleLevels(0) });
    const board = new IoApicBoard([ioapic]);
    const bus: ApicBus = set.bus;
    ctx.router.setController({
      msi: (_source, msg) => { bus.msi(msg); },
      intx: () => {},
      gsi: (gsi, asserted) => board.gsi(gsi, asserted),
    });
    const dev = new IoApicDevice(ioapic, board, ctx.router, ctx.instanceName);
    dev.startPump();
    return dev;
  },
  memoryBytes: (_options, core) => core.exports.ioapic_memory_bytes() >>> 0,
};
