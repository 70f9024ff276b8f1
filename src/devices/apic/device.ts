// Host API of the local APICs (assembly/apic/): the VM's APIC set as an
// `ApicBus` (routing, MSI, timers, EOI broadcasts) and one `LocalApic` per
// vCPU (registers, interrupt acknowledge, events, saved state).
//
// Guest time is injected: the bus reads `clock.now()` (guest ns, src/clock.ts)
// for every access that needs it, so tests drive it with a fake clock and a
// migrated VM keeps its timers in guest time.

import { Status, VmdevError, check } from "../../status.js";
import type { VmCore } from "../../vm-core.js";
import type { DeviceModel, InterruptSink, MsiMessage } from "../../device.js";
import { DeviceKind } from "../../state.js";
import type { GuestClock } from "../../clock.js";
import { readCounters, countersJson, type JsonCounter } from "../../tables.js";
import { ApicCounter, ApicMsr, NO_DEADLINE } from "./defs.js";

/** Options of `ApicBus.create`. */
export interface ApicBusOptions {
  /** Number of vCPUs (1..4096); vCPU i has APIC ID i. */
  cpus: number;
  /** Guest time source (ns). */
  clock: GuestClock;
  /** APIC timer input clock before the divider, Hz (default 1 GHz). */
  busHz?: number;
  /** Guest TSC rate for TSC-deadline mode, Hz (default 1 GHz: TSC = guest ns). */
  tscHz?: number;
  /** Read MSI address bits 11:5 as destination ID bits 14:8 (advertise it to the guest first; default off). */
  msiExtendedDestId?: boolean;
  /** Where legacy INTx lines go (there is no IOAPIC here); ignored when absent. */
  intx?: (pin: number, level: boolean) => void;
}

/** Result of an MSR read. */
export interface MsrResult { status: number; value: bigint }

/**
 * The VM's local APICs and the router between them. Implements the device side
 * of `InterruptSink`, so a PCI function's MSI-X can be wired straight to it.
 */
export class ApicBus implements InterruptSink {
  /** The VM core the APIC set lives in. */
  readonly core: VmCore;
  /** Guest time source read by every access that needs the time. */
  readonly clock: GuestClock;
  /** Number of vCPUs (APIC IDs 0..cpus-1). */
  readonly cpus: number;
  private readonly apics: LocalApic[];
  private readonly intxHandler?: (pin: number, level: boolean) => void;

  private constructor(core: VmCore, opts: ApicBusOptions) {
    this.core = core;
    this.clock = opts.clock;
    this.cpus = opts.cpus;
    this.intxHandler = opts.intx;
    this.apics = Array.from({ length: opts.cpus }, (_, i) => new LocalApic(this, i));
  }

  /** Create the APIC set of `core` (once per VM). */
  static create(core: VmCore, opts: ApicBusOptions): ApicBus {
    const s = core.exports.apic_create(opts.cpus, BigInt(opts.busHz ?? 1e9), BigInt(opts.tscHz ?? 1e9));
    check(s, "apic_create");
    if (opts.msiExtendedDestId) check(core.exports.apic_msi_ext_dest(1), "apic_msi_ext_dest");
    return new ApicBus(core, opts);
  }

  /**
   * Bind to the APIC set another instance created on the same shared memory
   * (a vCPU worker after `VmCore.attach`). Each APIC's registers belong to its
   * own vCPU's thread; deliveries (IPIs, MSIs) may come from any thread.
   */
  static attach(core: VmCore, opts: Omit<ApicBusOptions, "cpus" | "busHz" | "tscHz" | "msiExtendedDestId">): ApicBus {
    const cpus = core.exports.apic_count() >>> 0;
    if (cpus === 0) throw new VmdevError(Status.ERR_NOT_READY, "apic attach: no APIC set in this VM");
    return new ApicBus(core, { ...opts, cpus });
  }

  /** The APIC of vCPU `i`. */
  apic(i: number): LocalApic {
    const a = this.apics[i];
    if (!a) throw new VmdevError(Status.ERR_BAD_HANDLE, `apic ${i}`);
    return a;
  }

  /** Deliver an MSI; returns the number of APICs reached (negative status for a malformed message, counted). */
  msi(msg: MsiMessage): number {
    return this.core.exports.apic_msi(msg.addressLo >>> 0, msg.addressHi >>> 0, msg.data >>> 0);
  }

  /** INTx has no IOAPIC here: forwarded to the `intx` option, if any. */
  intx(pin: number, level: boolean): void { this.intxHandler?.(pin, level); }

  /**
   * Route a message from outside the APICs (an IOAPIC redirection entry):
   * `lo` in ICR-low layout (vector, delivery mode << 8, logical << 11,
   * level << 14, trigger << 15), `dest` 8-bit, or 32-bit with `x2`.
   */
  deliver(dest: number, lo: number, x2 = false): number {
    return this.core.exports.apic_deliver(dest >>> 0, lo >>> 0, x2 ? 1 : 0);
  }

  /** Vectors whose EOI the guest broadcast (level-triggered), lowest first; the IOAPIC clears their remote IRR. */
  takeEoiBroadcasts(): number[] {
    const out: number[] = [];
    for (let v = this.core.exports.apic_eoi_take(); v >= 0; v = this.core.exports.apic_eoi_take()) out.push(v);
    return out;
  }

  /** Fire every timer due at `now` (default: the clock). Returns how many fired. */
  advance(now: bigint = this.clock.now()): number { return this.core.exports.apic_advance_all(now); }

  /** Earliest timer deadline over all vCPUs (guest ns), or null. */
  nextDeadline(): bigint | null {
    const d = BigInt.asUintN(64, this.core.exports.apic_next_deadline_all());
    return d === NO_DEADLINE ? null : d;
  }

  /** APIC counters by name. */
  counters(): Record<keyof typeof ApicCounter, bigint> {
    return readCounters(this.core.dv(), this.core.exports.apic_counters_ptr() >>> 0, ApicCounter);
  }
  /** {@link counters} as JSON-safe numbers (src/tables.ts countersJson: a number up to 2^53 − 1, else a decimal string). */
  countersJSON(): Record<keyof typeof ApicCounter, JsonCounter> { return countersJson(this.counters()); }
}

/** The local APIC of one vCPU. */
export class LocalApic implements DeviceModel {
  /** DeviceKind of the saved state (LOCAL_APIC). */
  readonly kind = DeviceKind.localApic;
  /** `lapic<index>`. */
  readonly name: string;
  /** The set this APIC belongs to. */
  readonly bus: ApicBus;
  /** vCPU index, also the APIC ID. */
  readonly index: number;

  /** Use `ApicBus.apic(i)`; constructed by the bus. */
  constructor(bus: ApicBus, index: number) {
    this.bus = bus;
    this.index = index;
    this.name = `lapic${index}`;
  }

  private get x() { return this.bus.core.exports; }
  private now(): bigint { return this.bus.clock.now(); }

  /** xAPIC MMIO read; refused accesses (counted) read 0. */
  mmioRead(offset: number, width: 1 | 2 | 4 = 4): number {
    const s = this.x.apic_mmio_read(this.index, offset >>> 0, width, this.now());
    return s === Status.OK ? Number(BigInt.asUintN(64, this.x.apic_value()) & 0xffff_ffffn) : 0;
  }

  /** xAPIC MMIO write; returns a Status (refused accesses are counted and change nothing). */
  mmioWrite(offset: number, width: 1 | 2 | 4, value: number): number {
    return this.x.apic_mmio_write(this.index, offset >>> 0, width, value >>> 0, this.now());
  }

  /** RDMSR; status ERR_FAULT means inject #GP. */
  rdmsr(msr: number): MsrResult {
    const status = this.x.apic_msr_read(this.index, msr >>> 0, this.now());
    return { status, value: status === Status.OK ? BigInt.asUintN(64, this.x.apic_value()) : 0n };
  }

  /** WRMSR; returns a Status (ERR_FAULT means inject #GP; nothing changed). */
  wrmsr(msr: number, value: bigint): number {
    return this.x.apic_msr_write(this.index, msr >>> 0, BigInt.asUintN(64, value), this.now());
  }

  /** The vector the vCPU should take now, or null. */
  pendingVector(): number | null {
    const v = this.x.apic_intr_pending(this.index);
    return v >= 0 ? v : null;
  }

  /** Interrupt acknowledge: IRR → ISR; returns the vector (the spurious vector if nothing is deliverable). */
  ack(): number { return this.x.apic_intr_ack(this.index); }

  /** Take pending INIT/SIPI/NMI/SMI/ExtINT events (ApicEvent bits). */
  takeEvents(): number { return this.x.apic_events_take(this.index); }

  /** Vector of the last start-up IPI. */
  get sipiVector(): number { return this.x.apic_sipi_vector(this.index); }

  /** Drive LINT0 (0) or LINT1 (1). */
  lint(pin: 0 | 1, level: boolean): number { return this.x.apic_lint(this.index, pin, level ? 1 : 0); }

  /** Fire the timer if due at `now` (default: the clock); returns true if it fired. */
  advance(now: bigint = this.now()): boolean { return this.x.apic_advance(this.index, now) === 1; }

  /** Guest ns of the next timer event, or null. */
  nextDeadline(): bigint | null {
    const d = BigInt.asUintN(64, this.x.apic_next_deadline(this.index));
    return d === NO_DEADLINE ? null : d;
  }

  /** CR8 (SDM §11.8.6): the task-priority class, TPR[7:4]. */
  get cr8(): number { return this.x.apic_cr8_read(this.index); }
  /** MOV to CR8; returns a Status (ERR_INVALID_ARG for values above 15: inject #GP). */
  setCr8(value: number): number { return this.x.apic_cr8_write(this.index, value >>> 0); }

  /** IA32_APIC_BASE. */
  get base(): bigint { return this.rdmsr(ApicMsr.apicBase).value; }

  /** INIT reset (SDM §11.4.7.3): what the vCPU loop does when it takes an INIT event. */
  initReset(): void { check(this.x.apic_reset(this.index, 1), "apic_reset"); }

  /** Power-up reset. */
  reset(): void { check(this.x.apic_reset(this.index, 0), "apic_reset"); }

  /** Save this APIC as an envelope blob (timer deadlines in guest time). */
  saveState(): Uint8Array {
    return this.bus.core.saveEnvelope("apic_save", () => this.x.apic_save(this.index));
  }

  /** Restore from a blob; returns a Status and leaves the APIC untouched on any error. */
  restoreState(blob: Uint8Array): number {
    return this.bus.core.restoreEnvelope(blob, (len) => this.x.apic_restore(this.index, len));
  }
}
