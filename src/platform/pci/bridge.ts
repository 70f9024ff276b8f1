// A PCI-to-PCI bridge (PCI-to-PCI Bridge Architecture 1.2): a type 1 header
// with primary/secondary/subordinate bus numbers, an I/O window, a memory
// window and a 64-bit prefetchable memory window, Bridge Control, and a PCI
// Express capability (a root port, so PCIe software reaches the extended
// configuration space behind it). The bus behind it is `bus`.
//
// Forwarding (§3.1.2.1, §4): a type 1 configuration cycle for a bus in
// [secondary, subordinate] goes through, whatever the command register says;
// memory (I/O) goes to the secondary side only with Memory (I/O) Space
// enabled and the address inside a window (base > limit: the window is off).
// Secondary Bus Reset holds the bus behind it in reset: nothing is forwarded.
// Not modelled: the ISA and VGA decode of Bridge Control (the bits are kept,
// not acted on), an expansion ROM, BARs of the bridge itself, 32-bit I/O
// addressing, upstream (secondary → primary) decode, error reporting.

import type { BarInfo, PciFunction } from "../../pci.js";
import { Status } from "../../status.js";
import { HostKind, type EnvelopeField } from "../../state.js";
import {
  Bridge, BridgeCtl, Cfg, Cmd, CLASS_PCI_BRIDGE, HEADER_TYPE_BRIDGE, PCIE_CAP_ID, PcieType, STATUS_CAP_LIST, ones,
} from "./defs.js";
import { ConfigRegs } from "./regs.js";
import { PciSegment, type Downstream, type PciPlace, type PlacedFunction } from "./segment.js";
import { hostSeal, hostOpen } from "./seal.js";

/** Options of a {@link PciBridge}. */
export interface PciBridgeOptions {
  /** Vendor and device ID (default 0x1b36:0x0001, the ID QEMU gives its generic PCI bridge). */
  vendor?: number;
  device?: number;
  name?: string;
}

/** What a bridge counts. */
export interface PciBridgeCounters {
  configReads: number;
  configWrites: number;
  /** Malformed configuration accesses (width, alignment, range): reads all ones, writes dropped. */
  badAccess: number;
  /** Accesses to BARs the bridge does not have. */
  barAccess: number;
}

/** Where the PCI Express capability sits. */
const PCIE_AT = 0x40;

/** Field tags of a bridge's saved state. */
export const BridgeTag = { CONFIG: 1 } as const;
const PAYLOAD_VERSION = 1;

/** A PCI-to-PCI bridge and the bus behind it. */
export class PciBridge implements PciFunction, Downstream, PlacedFunction {
  readonly name: string;
  readonly kind = HostKind.pciBridge;
  /** The bridge has no BARs of its own. */
  readonly bars: readonly BarInfo[] = [];
  readonly regs = new ConfigRegs(256);
  /** The bus behind the bridge; attach functions to it. */
  readonly bus: PciSegment;
  private readonly c: PciBridgeCounters = { configReads: 0, configWrites: 0, badAccess: 0, barAccess: 0 };
  private readonly power: Uint8Array;

  constructor(o: PciBridgeOptions = {}) {
    this.name = o.name ?? "pci-bridge";
    const r = this.regs;
    r.set(Cfg.VENDOR, 2, o.vendor ?? 0x1b36);
    r.set(Cfg.DEVICE, 2, o.device ?? 0x0001);
    r.set(Cfg.STATUS, 2, STATUS_CAP_LIST);
    r.set(Cfg.REVISION, 4, (CLASS_PCI_BRIDGE << 8) >>> 0);
    r.set(Cfg.HEADER_TYPE, 1, HEADER_TYPE_BRIDGE);
    r.set(Cfg.CAP_PTR, 1, PCIE_AT);
    r.writable(Cfg.COMMAND, 2, Cmd.IO | Cmd.MEMORY | Cmd.BUS_MASTER | Cmd.PARITY | Cmd.SERR | Cmd.INTX_DISABLE);
    r.clearable(Cfg.STATUS, 2, 0xf900);
    r.writable(Cfg.CACHE_LINE, 1, 0xff);
    r.writable(Bridge.PRIMARY_BUS, 1, 0xff);
    r.writable(Bridge.SECONDARY_BUS, 1, 0xff);
    r.writable(Bridge.SUBORDINATE_BUS, 1, 0xff);
    // I/O base/limit: bits 7:4 are address bits 15:12; 3:0 read 0 (16-bit I/O decode).
    r.writable(Bridge.IO_BASE, 1, 0xf0);
    r.writable(Bridge.IO_LIMIT, 1, 0xf0);
    r.clearable(Bridge.SEC_STATUS, 2, 0xf900);
    r.writable(Bridge.MEM_BASE, 2, 0xfff0);
    r.writable(Bridge.MEM_LIMIT, 2, 0xfff0);
    // Prefetchable window: 64-bit (bits 3:0 = 1) with upper halves.
    r.set(Bridge.PREF_BASE, 2, 1);
    r.set(Bridge.PREF_LIMIT, 2, 1);
    r.writable(Bridge.PREF_BASE, 2, 0xfff0);
    r.writable(Bridge.PREF_LIMIT, 2, 0xfff0);
    r.writable(Bridge.PREF_BASE_UPPER, 4, 0xffffffff);
    r.writable(Bridge.PREF_LIMIT_UPPER, 4, 0xffffffff);
    r.writable(Cfg.INT_LINE, 1, 0xff);
    r.writable(Bridge.CONTROL, 2, BridgeCtl.PARITY | BridgeCtl.SERR | BridgeCtl.ISA | BridgeCtl.VGA | BridgeCtl.VGA16 | BridgeCtl.MASTER_ABORT | BridgeCtl.SEC_BUS_RESET);
    // PCI Express capability, version 2, a root port; its registers read as a port with nothing to report.
    r.set(PCIE_AT, 1, PCIE_CAP_ID);
    r.set(PCIE_AT + 2, 2, 2 | (PcieType.ROOT_PORT << 4) | (1 << 8) /* slot implemented */);
    this.power = r.bytes.slice();
    this.bus = new PciSegment(() => this.secondaryNumber, (b) => this.claimsBus(b));
  }

  /** A snapshot of the counters. */
  counters(): PciBridgeCounters { return { ...this.c }; }

  /** Where the bridge sits: the bus behind it learns its upstream (for the INTx swizzle). */
  attached(place: PciPlace | null): void { this.bus.upstream = place; }

  get primaryNumber(): number { return this.regs.bytes[Bridge.PRIMARY_BUS]; }
  get secondaryNumber(): number { return this.regs.bytes[Bridge.SECONDARY_BUS]; }
  get subordinateNumber(): number { return this.regs.bytes[Bridge.SUBORDINATE_BUS]; }
  get command(): number { return this.regs.read(Cfg.COMMAND, 2); }
  get control(): number { return this.regs.read(Bridge.CONTROL, 2); }
  get inReset(): boolean { return (this.control & BridgeCtl.SEC_BUS_RESET) !== 0; }

  /** Type 1 cycles for `bus` go through (§3.2.5.3–5): secondary ≤ bus ≤ subordinate, bus 0 never (it is the root's). */
  claimsBus(bus: number): boolean {
    return !this.inReset && bus !== 0 && bus >= this.secondaryNumber && bus <= this.subordinateNumber;
  }

  /** The I/O window [base, limit], or null when off (base > limit). */
  ioWindow(): [number, number] | null {
    const base = (this.regs.bytes[Bridge.IO_BASE] & 0xf0) << 8, limit = ((this.regs.bytes[Bridge.IO_LIMIT] & 0xf0) << 8) | 0xfff;
    return base <= limit ? [base, limit] : null;
  }

  /** The memory window [base, limit], or null when off. */
  memWindow(): [number, number] | null {
    const base = ((this.regs.read(Bridge.MEM_BASE, 2) & 0xfff0) << 16) >>> 0, limit = (((this.regs.read(Bridge.MEM_LIMIT, 2) & 0xfff0) << 16) | 0xfffff) >>> 0;
    return base <= limit ? [base, limit] : null;
  }

  /** The prefetchable memory window [base, limit] (64-bit), or null when off. */
  prefWindow(): [number, number] | null {
    const r = this.regs;
    const base = r.read(Bridge.PREF_BASE_UPPER, 4) * 2 ** 32 + (((r.read(Bridge.PREF_BASE, 2) & 0xfff0) << 16) >>> 0);
    const limit = r.read(Bridge.PREF_LIMIT_UPPER, 4) * 2 ** 32 + ((((r.read(Bridge.PREF_LIMIT, 2) & 0xfff0) << 16) | 0xfffff) >>> 0);
    return base <= limit ? [base, limit] : null;
  }

  forwardsAddress(addr: number, io: boolean): boolean {
    const inside = (w: [number, number] | null) => w !== null && addr >= w[0] && addr <= w[1];
    if (io) return (this.command & Cmd.IO) !== 0 && inside(this.ioWindow());
    return (this.command & Cmd.MEMORY) !== 0 && (inside(this.memWindow()) || inside(this.prefWindow()));
  }

  configRead(offset: number, width: 1 | 2 | 4): number {
    this.c.configReads++;
    if (!this.regs.ok(offset, width)) { this.c.badAccess++; return ones(width); }
    return this.regs.read(offset, width);
  }

  configWrite(offset: number, width: 1 | 2 | 4, value: number): void {
    this.c.configWrites++;
    if (!this.regs.write(offset, width, value >>> 0)) this.c.badAccess++;
  }

  barRead(_bar: number, _offset: number, width: 1 | 2 | 4): number { this.c.barAccess++; return ones(width); }
  barWrite(): void { this.c.barAccess++; }

  /** Power-on register values (the bus behind keeps its functions). */
  reset(): void { this.regs.bytes.set(this.power); }

  /** The bridge's registers as an envelope (HostKind.pciBridge). */
  saveState(): Uint8Array {
    return hostSeal(HostKind.pciBridge, PAYLOAD_VERSION, [{ tag: BridgeTag.CONFIG, value: this.regs.bytes.slice() }]);
  }

  /**
   * Restore the registers from an untrusted blob: envelope checks, then the
   * image must be 256 bytes whose read-only bits equal this bridge's (same
   * IDs, same capability). The bridge is untouched on error.
   */
  restoreState(blob: Uint8Array): number {
    const env = hostOpen(blob, HostKind.pciBridge);
    if (typeof env === "number") return env;
    if (env.header.payloadVersion !== PAYLOAD_VERSION) return Status.ERR_STATE_VERSION;
    const img = single(env.fields, BridgeTag.CONFIG);
    if (!img || !this.regs.consistent(img)) return Status.ERR_STATE_INVALID;
    this.regs.bytes.set(img);
    return Status.OK;
  }
}

/** The one field of `tag` (null when missing or repeated). */
export function single(fields: readonly EnvelopeField[], tag: number): Uint8Array | null {
  const f = fields.filter((x) => x.tag === tag);
  return f.length === 1 ? f[0].value : null;
}
