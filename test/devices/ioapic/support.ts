// Helpers for the IOAPIC suites: a VM with local APICs and an IOAPIC on a fake
// clock, and the guest's side written from the 82093AA datasheet and the SDM,
// independent of the model: an IOAPIC driver that programs redirection
// entries through IOREGSEL/IOWIN, a level-triggered device with a status
// register the driver acknowledges, and a vCPU that takes interrupts (INTA),
// runs handlers and EOIs its local APIC.
import { ApicBus, ManualClock, IoApic, IoApicBoard, type LocalApic, type IoApicOptions } from "../../../src/index.js";
import type { VmCore } from "../../../src/vm-core.js";
import { newCore } from "../../support/core.js";

export interface IoApicVm { core: VmCore; clock: ManualClock; bus: ApicBus; io: IoApic; board: IoApicBoard }

/** A VM with `cpus` software-enabled xAPICs, one IOAPIC and the PC board wiring (GSIs ≥ 16 active low). */
export async function ioapicVm(cpus = 2, opts: IoApicOptions & { core?: VmCore } = {}): Promise<IoApicVm> {
  const core = opts.core ?? await newCore(1 << 16);
  const clock = new ManualClock();
  const bus = ApicBus.create(core, { cpus, clock });
  for (let i = 0; i < cpus; i++) if (i < 255) bus.apic(i).mmioWrite(0xf0, 4, 0x1ff);
  const io = IoApic.create(core, { pinLevels: IoApicBoard.idleLevels(opts.gsiBase ?? 0), ...opts });
  const board = new IoApicBoard([io]);
  return { core, clock, bus, io, board };
}

/** Fields of a redirection entry as a guest writes them (82093AA §3.2.4). */
export interface Rte {
  vector: number;
  dm?: number;
  logical?: boolean;
  activeLow?: boolean;
  level?: boolean;
  masked?: boolean;
  dest?: number;
  /** Destination ID bits 14:8 (bits 55:49). */
  extDest?: number;
}

export function rteLo(r: Rte): number {
  return (r.vector & 0xff) | ((r.dm ?? 0) << 8) | (r.logical ? 1 << 11 : 0) | (r.activeLow ? 1 << 13 : 0) | (r.level ? 1 << 15 : 0) | (r.masked ? 1 << 16 : 0);
}
export function rteHi(r: Rte): number { return (((r.dest ?? 0) & 0xff) << 24 | ((r.extDest ?? 0) & 0x7f) << 17) >>> 0; }

/** The guest's IOAPIC driver: registers through IOREGSEL (0x00) and IOWIN (0x10). */
export class IoApicDriver {
  constructor(readonly io: IoApic) {}
  read(index: number): number { this.io.mmioWrite(0x00, 4, index); return this.io.mmioRead(0x10, 4); }
  write(index: number, v: number): void { this.io.mmioWrite(0x00, 4, index); this.io.mmioWrite(0x10, 4, v >>> 0); }
  /** Program entry `pin`: high dword first, then the low dword (which may unmask), as OSes do. */
  program(pin: number, r: Rte): void { this.write(0x11 + 2 * pin, rteHi(r)); this.write(0x10 + 2 * pin, rteLo(r)); }
  low(pin: number): number { return this.read(0x10 + 2 * pin); }
  high(pin: number): number { return this.read(0x11 + 2 * pin); }
  remoteIrr(pin: number): boolean { return (this.low(pin) & (1 << 14)) !== 0; }
  mask(pin: number): void { this.write(0x10 + 2 * pin, this.low(pin) | (1 << 16)); }
  unmask(pin: number): void { this.write(0x10 + 2 * pin, this.low(pin) & ~(1 << 16)); }
  /** Version-0x20 directed EOI (the EOI register at 0x40). */
  eoi(vector: number): number { return this.io.mmioWrite(0x40, 4, vector); }
}

/**
 * A level-triggered device: an event sets a bit in its status register; its
 * line is asserted while the status is non-zero; the driver acknowledges by
 * reading the status (read-to-clear), which deasserts the line.
 */
export class LevelDevice {
  status = 0;
  events = 0;
  constructor(readonly board: IoApicBoard, readonly gsi: number) {}
  private drive(): void { this.board.gsi(this.gsi, this.status !== 0); }
  event(bit = 1): void { this.events++; this.status |= bit; this.drive(); }
  readStatus(): number { const s = this.status; this.status = 0; this.drive(); return s; }
}

/**
 * One vCPU as the guest runs it: takes the pending vector (INTA), runs the
 * handler registered for it, EOIs its local APIC (SDM §11.8.5), and lets the
 * platform apply the EOI broadcast (the host's part of an EOI exit).
 */
export class GuestCpu {
  readonly handlers = new Map<number, () => void>();
  readonly taken: number[] = [];
  constructor(readonly apic: LocalApic, readonly io: IoApic) {}
  /** Take and handle one interrupt; returns its vector or null if none was pending. */
  step(): number | null {
    if (this.apic.pendingVector() === null) return null;
    const v = this.apic.ack();
    this.taken.push(v);
    this.handlers.get(v)?.();
    this.apic.mmioWrite(0xb0, 4, 0);
    this.io.service();
    return v;
  }
  /** Run until no interrupt is pending, at most `max` steps; returns the steps taken. */
  run(max = 100): number {
    let n = 0;
    while (n < max && this.step() !== null) n++;
    return n;
  }
}

/** Bit v of an xAPIC's IRR. */
export function irr(a: LocalApic, v: number): boolean { return ((a.mmioRead(0x200 + ((v >> 5) << 4)) >>> (v & 31)) & 1) === 1; }
