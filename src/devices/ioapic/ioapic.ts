// Host API of the I/O APIC (assembly/ioapic/): one `IoApic` per chip, with
// its MMIO window (what a vCPU's access to 0xFEC00000.. is forwarded to), its
// 24 input pins (electrical levels the board drives), EOI processing and
// saved state. Messages go to the VM's local APICs through their router, so
// create the ApicBus first.
//
// Data flow of a level-triggered interrupt:
//  1. a device asserts its line; the board (IoApicBoard) drives the pin to its
//     active level;
//  2. the IOAPIC sends the entry's message to the local APICs and sets remote
//     IRR; further assertions send nothing;
//  3. the guest takes the vector (LocalApic.ack), services the device (which
//     deasserts the line) and EOIs its local APIC, which broadcasts the EOI
//     of the level-triggered vector;
//  4. the IOAPIC takes the broadcast (on its next call, or `service()`),
//     clears remote IRR, and sends again if the line is still asserted.

import { Status, VmdevError, check } from "../../status.js";
import type { VmCore } from "../../vm-core.js";
import type { DeviceModel } from "../../device.js";
import { DeviceKind } from "../../state.js";
import { readCounters, countersJson, type JsonCounter } from "../../tables.js";
import {
  IOAPIC_PINS, IoApicCounter, VERSION_XAPIC, VERSION_82093AA, RTE_DELIVERY_STATUS, RTE_DEST_LOGICAL, RTE_LEVEL, RTE_MASKED,
  RTE_POLARITY_LOW, RTE_REMOTE_IRR, RTE_DM_SHIFT, RTE_VECTOR_MASK,
} from "./defs.js";

/** How to create an IOAPIC. */
export interface IoApicOptions {
  /** IOAPIC ID 0..15 (default 0): the value of the ID register at reset, and the ID the MADT names. */
  id?: number;
  /** GSI of pin 0 (default 0); pins are GSIs gsiBase..gsiBase+23. */
  gsiBase?: number;
  /** 0x20 (default: the I/O xAPIC with the EOI register, for guests that suppress EOI broadcasts) or 0x11 (the 82093AA). */
  version?: typeof VERSION_XAPIC | typeof VERSION_82093AA;
  /** Instance name (default `ioapic<id>`). */
  name?: string;
  /** Electrical level of each pin at power-on (bit n = pin n; default all low): the board's idle levels (IoApicBoard.idleLevels). */
  pinLevels?: number;
}

/** A redirection entry, decoded (82093AA §3.2.4). */
export interface RedirectionEntry {
  vector: number;
  /** Bits 10:8: 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT (3 and 6 reserved). */
  deliveryMode: number;
  logical: boolean;
  /** Always false: delivery is immediate. */
  deliveryPending: boolean;
  activeLow: boolean;
  remoteIrr: boolean;
  level: boolean;
  masked: boolean;
  /** Bits 63:56. */
  destination: number;
  /** Bits 55:49: destination ID bits 14:8 for guests told of the extended destination ID. */
  extendedDestination: number;
}

/** Decode a raw redirection entry. */
export function decodeRedirection(raw: bigint): RedirectionEntry {
  const lo = Number(raw & 0xffff_ffffn), hi = Number(raw >> 32n);
  return {
    vector: lo & RTE_VECTOR_MASK,
    deliveryMode: (lo >>> RTE_DM_SHIFT) & 7,
    logical: (lo & RTE_DEST_LOGICAL) !== 0,
    deliveryPending: (lo & RTE_DELIVERY_STATUS) !== 0,
    activeLow: (lo & RTE_POLARITY_LOW) !== 0,
    remoteIrr: (lo & RTE_REMOTE_IRR) !== 0,
    level: (lo & RTE_LEVEL) !== 0,
    masked: (lo & RTE_MASKED) !== 0,
    destination: hi >>> 24,
    extendedDestination: (hi >>> 17) & 0x7f,
  };
}

/** One I/O APIC of a VM. */
export class IoApic implements DeviceModel {
  readonly kind = DeviceKind.ioapic;
  readonly name: string;
  readonly id: number;
  readonly gsiBase: number;
  readonly version: number;
  private h: number;

  private constructor(readonly core: VmCore, h: number, opts: Required<IoApicOptions>) {
    this.h = h;
    this.name = opts.name;
    this.id = opts.id;
    this.gsiBase = opts.gsiBase;
    this.version = opts.version;
  }

  /** Create an IOAPIC in `core` (whose local APICs exist). Throws VmdevError for a bad option, a duplicate ID or overlapping GSIs. */
  static create(core: VmCore, opts: IoApicOptions = {}): IoApic {
    const o: Required<IoApicOptions> = { id: opts.id ?? 0, gsiBase: opts.gsiBase ?? 0, version: opts.version ?? VERSION_XAPIC, name: opts.name ?? `ioapic${opts.id ?? 0}`, pinLevels: opts.pinLevels ?? 0 };
    const h = core.exports.ioapic_create(o.id >>> 0, o.gsiBase >>> 0, o.version >>> 0, o.pinLevels >>> 0);
    if (h < 0) throw new VmdevError(-h, `ioapic_create(id ${o.id}, gsi ${o.gsiBase}, version 0x${o.version.toString(16)})`);
    return new IoApic(core, h, o);
  }

  private get x() { return this.core.exports; }
  private get live(): number {
    if (this.h === 0) throw new VmdevError(Status.ERR_BAD_HANDLE, `${this.name} was destroyed`);
    return this.h;
  }

  /** Handle inside wasm (0 once destroyed). */
  get handle(): number { return this.h; }

  /** Does GSI `gsi` land on one of this IOAPIC's pins? */
  hasGsi(gsi: number): boolean { return gsi >= this.gsiBase && gsi < this.gsiBase + IOAPIC_PINS; }

  /** MMIO read at `offset` in the window; refused accesses (counted) read 0. */
  mmioRead(offset: number, width: 1 | 2 | 4 = 4): number {
    const s = this.x.ioapic_mmio_read(this.live, offset >>> 0, width);
    return s === Status.OK ? this.x.ioapic_value() >>> 0 : 0;
  }

  /** MMIO write at `offset` in the window; returns a Status (refused accesses are counted and change nothing). */
  mmioWrite(offset: number, width: 1 | 2 | 4, value: number): number {
    return this.x.ioapic_mmio_write(this.live, offset >>> 0, width, value >>> 0);
  }

  /** Drive input pin `pin` (0..23) to its electrical level (true = high). */
  setPin(pin: number, high: boolean): void {
    check(this.x.ioapic_set_pin(this.live, pin >>> 0, high ? 1 : 0), `${this.name} pin ${pin}`);
  }

  /** Electrical level of every pin (bit n = pin n). */
  pins(): number { return this.x.ioapic_pins(this.live) >>> 0; }

  /** Redirection entry `pin`, raw (remote IRR current). */
  redirectionRaw(pin: number): bigint {
    if (!Number.isInteger(pin) || pin < 0 || pin >= IOAPIC_PINS) throw new VmdevError(Status.ERR_INVALID_ARG, `${this.name}: no pin ${pin}`);
    return BigInt.asUintN(64, this.x.ioapic_rte(this.live, pin));
  }

  /** Redirection entry `pin`, decoded. */
  redirection(pin: number): RedirectionEntry { return decodeRedirection(this.redirectionRaw(pin)); }

  /**
   * Take the local APICs' pending EOI broadcasts (level-triggered vectors the
   * guest EOIed) and apply them to every IOAPIC of this VM. Returns the
   * vectors taken. Every other IOAPIC call does this first too.
   */
  service(): number { return this.x.ioapic_service(); }

  /** An EOI broadcast of `vector` to every IOAPIC of this VM, for a host that routes EOIs itself. Returns remote IRRs cleared. */
  broadcastEoi(vector: number): number {
    const n = this.x.ioapic_eoi(vector >>> 0);
    if (n < 0) throw new VmdevError(-n, `ioapic_eoi(${vector})`);
    return n;
  }

  /** Counters by name. */
  counters(): Record<keyof typeof IoApicCounter, bigint> {
    return readCounters(this.core.dv(), this.x.ioapic_counters_ptr(this.live) >>> 0, IoApicCounter);
  }
  /** {@link counters} as JSON-safe numbers (src/tables.ts countersJson: a number up to 2^53 − 1, else a decimal string). */
  countersJSON(): Record<keyof typeof IoApicCounter, JsonCounter> { return countersJson(this.counters()); }

  /** RESET: every entry masked, the ID back to its create value; pin levels stay (the board drives them). */
  reset(): void { check(this.x.ioapic_reset(this.live), "ioapic_reset"); }

  /** Save as an envelope blob (DeviceKind.IOAPIC). */
  saveState(): Uint8Array {
    const n = this.x.ioapic_save(this.live);
    if (n < 0) throw new VmdevError(-n, "ioapic_save");
    return this.core.io().slice(0, n);
  }

  /** Restore from a blob; returns a Status and leaves the IOAPIC untouched on any error. */
  restoreState(blob: Uint8Array): number {
    if (this.h === 0) return Status.ERR_BAD_HANDLE;
    try { this.core.ensureIo(blob.length); } catch { return Status.ERR_STATE_LENGTH; }
    this.core.io().set(blob, 0);
    return this.x.ioapic_restore(this.h, blob.length);
  }

  /** Give the IOAPIC's slot back (a later create reuses it). Safe to call twice. */
  destroy(): void {
    if (this.h === 0) return;
    this.x.ioapic_destroy(this.h);
    this.h = 0;
  }
}
