// One PCI bus (a "segment" of the hierarchy): the functions on it by
// device/function number, and how a configuration cycle or a memory or I/O
// access finds its target below it (PCI-to-PCI Bridge Architecture 1.2
// §3.1.2.1 for configuration, §4 for address decode).
//
// A type 0 cycle selects a function on this bus. A type 1 cycle names another
// bus: the bridge on this bus whose secondary..subordinate range holds it
// takes it, and turns it into type 0 when it is its secondary bus (else it
// passes type 1 on). Routing is by the bridges' registers as the guest
// programmed them, so a bus no bridge decodes is unreachable. A physical
// function with SR-IOV answers for its VFs' routing IDs, on this bus or on
// bus numbers above it ("virtual" buses, PCIe Base §9.2.1.2), which the
// bridge above must decode to forward to.

import type { PciFunction } from "../../pci.js";
import { Cfg, Cmd, HEADER_MULTI_FUNCTION, rid } from "./defs.js";

/** A memory or I/O access that found its function: the BAR and the offset in it. */
export interface BarHit { fn: PciFunction; bar: number; offset: number }

/** Where a function sits: the bus it is on and what decodes bus numbers above that bus. */
export interface PciPlace {
  readonly segment: PciSegment;
  readonly devfn: number;
  /** The function's routing ID now (its bus number is what the bridge above was programmed with). */
  rid(): number;
}

/**
 * A function that answers for routing IDs besides its own (a physical
 * function's VFs). The segment asks it when nothing else on the bus takes a
 * cycle, and for decode of its VFs' BARs.
 */
export interface VfHost {
  /** The VF at routing ID `r` (absolute), if enabled and present. */
  vfAt(r: number): PciFunction | undefined;
  /** A memory (or I/O) access at `addr` that a VF's BAR decodes. */
  decodeVf(addr: number, io: boolean): BarHit | undefined;
}

/** A function that wants to know where it is (an SR-IOV physical function does: its VFs' routing IDs follow its own). */
export interface PlacedFunction { attached(place: PciPlace | null): void }

/** What a bridge on a bus offers the bus: its decode ranges and the bus behind it. */
export interface Downstream {
  /** Whether a type 1 cycle for `bus` goes through it (secondary ≤ bus ≤ subordinate, not held in reset). */
  claimsBus(bus: number): boolean;
  readonly secondaryNumber: number;
  readonly bus: PciSegment;
  /** Whether memory (I/O) at `addr` is forwarded to the secondary side. */
  forwardsAddress(addr: number, io: boolean): boolean;
  /** Whether the bus is in secondary bus reset (nothing is forwarded). */
  readonly inReset: boolean;
}

/** What a configuration cycle found: the function, and the bus and devfn it answered on (physical functions only). */
export interface ConfigTarget { fn: PciFunction; segment: PciSegment | null; devfn: number }

const isVfHost = (f: unknown): f is VfHost => typeof (f as Partial<VfHost>).vfAt === "function";
const isDownstream = (f: unknown): f is Downstream => typeof (f as Partial<Downstream>).claimsBus === "function" && (f as Partial<Downstream>).bus instanceof PciSegment;
const isPlaced = (f: unknown): f is PlacedFunction => typeof (f as Partial<PlacedFunction>).attached === "function";

/** One PCI bus. */
export class PciSegment {
  private readonly fns = new Map<number, PciFunction>();
  /** The bridge this bus is behind, where that bridge sits (null for the root bus or a bridge on no bus). */
  upstream: PciPlace | null = null;

  /**
   * `number()` is the bus number (0 for the root bus, a bridge's Secondary Bus
   * Number register behind it); `decodes(bus)` whether a type 1 cycle for
   * `bus` can reach this segment at all (the upstream bridge's range).
   */
  constructor(readonly number: () => number, readonly decodes: (bus: number) => boolean) {}

  /** Put `fn` at device `dev`, function `func`. Throws if the address is taken or out of range (host configuration errors). */
  attach(dev: number, func: number, fn: PciFunction): void {
    if (!Number.isInteger(dev) || dev < 0 || dev > 31 || !Number.isInteger(func) || func < 0 || func > 7) throw new RangeError(`PCI device ${dev} function ${func} is out of range (device ≤ 31, function ≤ 7)`);
    const devfn = dev * 8 + func;
    if (this.fns.has(devfn)) throw new Error(`PCI ${dev}.${func} on this bus is taken`);
    this.fns.set(devfn, fn);
    if (isPlaced(fn)) fn.attached({ segment: this, devfn, rid: () => rid(this.number(), dev, func) });
  }

  /** Take the function at `dev`.`func` off the bus (returns it, or undefined). */
  detach(dev: number, func: number): PciFunction | undefined {
    const devfn = dev * 8 + func;
    const fn = this.fns.get(devfn);
    if (!fn) return undefined;
    this.fns.delete(devfn);
    if (isPlaced(fn)) fn.attached(null);
    return fn;
  }

  /** The physical function at `devfn`, if any. */
  at(devfn: number): PciFunction | undefined { return this.fns.get(devfn); }

  /** Physical functions by devfn, in order. */
  entries(): Array<[number, PciFunction]> { return [...this.fns].sort((a, b) => a[0] - b[0]); }

  /** Bridges on this bus, in devfn order. */
  bridges(): Downstream[] { return this.entries().map(([, f]) => f).filter((f): f is PciFunction & Downstream => isDownstream(f)); }

  /** Whether device `dev` has functions besides 0 (its function 0 then reports the multi-function bit). */
  multiFunction(dev: number): boolean {
    for (let f = 1; f < 8; f++) if (this.fns.has(dev * 8 + f)) return true;
    return false;
  }

  /** A type 0 cycle on this bus. A device answers only when it has function 0 (PCI 3.0 §6.2.1). */
  type0(devfn: number): ConfigTarget | undefined {
    const fn = this.fns.get(devfn);
    if (fn && (devfn & 7) === 0) return { fn, segment: this, devfn };
    if (fn && this.fns.has(devfn & ~7)) return { fn, segment: this, devfn };
    const vf = this.vfFor(rid(this.number(), devfn >> 3, devfn & 7));
    return vf ? { fn: vf, segment: null, devfn } : undefined;
  }

  /**
   * A type 1 cycle arriving at this bus for `bus`. Depth is bounded by the
   * hierarchy the host built (each step goes one bridge down).
   */
  type1(bus: number, devfn: number): ConfigTarget | undefined {
    for (const b of this.bridges()) {
      if (!b.claimsBus(bus)) continue;
      return bus === b.secondaryNumber ? b.bus.type0(devfn) : b.bus.type1(bus, devfn);
    }
    const vf = this.vfFor(rid(bus, devfn >> 3, devfn & 7));
    return vf ? { fn: vf, segment: null, devfn } : undefined;
  }

  /**
   * The slot and pin on the root bus that INTx pin `pin` (0 = INTA#) of device
   * `dev` on this bus arrives at: each bridge on the way maps device D's pin P
   * to its own pin (D + P) mod 4 (Bridge Architecture 1.2 §9.1, Table 9-1).
   * The host's router takes it from there (src/machine/interrupts.ts
   * pciIntxGsi). Bounded by the depth of the hierarchy.
   */
  intxAtRoot(dev: number, pin: number): { slot: number; pin: number } {
    let seg: PciSegment = this, d = dev, p = pin & 3;
    while (seg.upstream) {
      p = (d + p) & 3;
      d = seg.upstream.devfn >> 3;
      seg = seg.upstream.segment;
    }
    return { slot: d, pin: p };
  }

  /** Whether a bridge on this bus takes type 1 cycles for `bus` (a VF there would be shadowed). */
  bridgeClaims(bus: number): boolean { return this.bridges().some((b) => b.claimsBus(bus)); }

  private vfFor(r: number): PciFunction | undefined {
    for (const [, f] of this.fns) if (isVfHost(f)) { const v = f.vfAt(r); if (v) return v; }
    return undefined;
  }

  /**
   * The BAR that decodes memory (or I/O) address `addr` on this bus or below
   * it: a function with Memory (I/O) Space enabled and a BAR holding it, a VF
   * of an SR-IOV function, or a bridge with the space enabled and a window
   * holding it (then the same below it). First match in devfn order.
   */
  decode(addr: number, io: boolean): BarHit | undefined {
    for (const [, f] of this.entries()) {
      if (isDownstream(f)) {
        if (!f.inReset && f.forwardsAddress(addr, io)) { const hit = f.bus.decode(addr, io); if (hit) return hit; }
        continue;
      }
      const hit = barDecode(f, addr, io) ?? (isVfHost(f) ? f.decodeVf(addr, io) : undefined);
      if (hit) return hit;
    }
    return undefined;
  }
}

/** Base address programmed in BAR `index` of `fn` (a mem64 BAR with its upper half). */
export function barBase(fn: Pick<PciFunction, "configRead">, index: number, kind: "mem32" | "mem64" | "io"): number {
  const lo = fn.configRead(Cfg.BAR0 + 4 * index, 4) >>> 0;
  if (kind === "io") return lo & ~3;
  const hi = kind === "mem64" ? fn.configRead(Cfg.BAR0 + 4 * index + 4, 4) >>> 0 : 0;
  return hi * 2 ** 32 + ((lo & ~0xf) >>> 0);
}

/** The BAR of an endpoint that holds `addr`, when its command register enables that space and the BAR is placed (non-zero). */
export function barDecode(fn: PciFunction, addr: number, io: boolean): BarHit | undefined {
  const cmd = fn.configRead(Cfg.COMMAND, 2);
  if (!(cmd & (io ? Cmd.IO : Cmd.MEMORY))) return undefined;
  for (const b of fn.bars) {
    if ((b.kind === "io") !== io) continue;
    const base = barBase(fn, b.index, b.kind);
    if (base !== 0 && addr >= base && addr < base + b.size) return { fn, bar: b.index, offset: addr - base };
  }
  return undefined;
}

/** Whether `target` is function 0 of a multi-function device (its Header Type reads bit 7). */
export function withMultiFunction(t: ConfigTarget, off: number, width: 1 | 2 | 4, v: number): number {
  if (!t.segment || (t.devfn & 7) !== 0 || !t.segment.multiFunction(t.devfn >> 3)) return v;
  if (off > Cfg.HEADER_TYPE || off + width <= Cfg.HEADER_TYPE) return v;
  return (v | (HEADER_MULTI_FUNCTION << (8 * (Cfg.HEADER_TYPE - off)))) >>> 0;
}
