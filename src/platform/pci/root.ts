// The host bridge: where the CPU's configuration cycles, memory and I/O
// accesses enter the PCI hierarchy. Bus 0 is its bus; configuration access
// by bus/device/function (the ECAM view, PCIe Base §7.2.2, 4 KiB per
// function) and by Configuration Mechanism #1 (I/O ports 0xCF8/0xCFC, PCI
// 3.0 §3.2.2.3.2, 256 bytes per function). It decodes buses 0..lastBus;
// a cycle for a bus beyond that, or one nothing answers, is a master abort:
// reads return all ones, writes are dropped, both counted.

import { accessOk, ones, EXT_CFG_SIZE } from "./defs.js";
import { PciSegment, withMultiFunction, type BarHit, type ConfigTarget } from "./segment.js";

/** Options of a {@link PciRoot}. */
export interface PciRootOptions {
  /** Last bus number the host bridge decodes (default 255). */
  lastBus?: number;
}

/** What the host bridge counts. */
export interface PciRootCounters {
  configReads: number;
  configWrites: number;
  /** Configuration cycles no function answered (reads all ones). */
  masterAborts: number;
  /** Malformed accesses (bus/device/function or offset out of range, width, alignment). */
  badAccess: number;
  /** Memory and I/O accesses no BAR decoded. */
  unclaimed: number;
}

const CF8 = 0xcf8, CFC = 0xcfc;

/** The root of a PCI hierarchy. */
export class PciRoot {
  /** Bus 0. */
  readonly bus: PciSegment;
  readonly lastBus: number;
  private readonly c: PciRootCounters = { configReads: 0, configWrites: 0, masterAborts: 0, badAccess: 0, unclaimed: 0 };
  private cf8 = 0;

  constructor(o: PciRootOptions = {}) {
    this.lastBus = o.lastBus ?? 255;
    if (!Number.isInteger(this.lastBus) || this.lastBus < 0 || this.lastBus > 255) throw new RangeError(`lastBus ${o.lastBus} is not in 0..255`);
    this.bus = new PciSegment(() => 0, (b) => b <= this.lastBus);
  }

  counters(): PciRootCounters { return { ...this.c }; }

  /** The function a configuration cycle for bus/device/function reaches, if any. */
  find(bus: number, dev: number, func: number): ConfigTarget | undefined {
    if (!valid(bus, dev, func) || bus > this.lastBus) return undefined;
    const devfn = dev * 8 + func;
    return bus === 0 ? this.bus.type0(devfn) : this.bus.type1(bus, devfn);
  }

  /** A configuration read (offset < 4096). */
  configRead(bus: number, dev: number, func: number, offset: number, width: 1 | 2 | 4): number {
    this.c.configReads++;
    if (!valid(bus, dev, func) || !accessOk(offset, width, EXT_CFG_SIZE)) { this.c.badAccess++; return ones(width); }
    const t = this.find(bus, dev, func);
    if (!t) { this.c.masterAborts++; return ones(width); }
    return withMultiFunction(t, offset, width, t.fn.configRead(offset, width) >>> 0);
  }

  /** A configuration write (offset < 4096). */
  configWrite(bus: number, dev: number, func: number, offset: number, width: 1 | 2 | 4, value: number): void {
    this.c.configWrites++;
    if (!valid(bus, dev, func) || !accessOk(offset, width, EXT_CFG_SIZE)) { this.c.badAccess++; return; }
    const t = this.find(bus, dev, func);
    if (!t) { this.c.masterAborts++; return; }
    t.fn.configWrite(offset, width, value >>> 0);
  }

  /** The BAR that decodes a memory (or I/O) address, if any. */
  decode(addr: number, io = false): BarHit | undefined { return this.bus.decode(addr, io); }

  /** A memory read at a physical address; unclaimed reads all ones. */
  memRead(addr: number, width: 1 | 2 | 4): number {
    const hit = this.decode(addr, false);
    if (!hit) { this.c.unclaimed++; return ones(width); }
    return hit.fn.barRead(hit.bar, hit.offset, width);
  }

  memWrite(addr: number, width: 1 | 2 | 4, value: number): void {
    const hit = this.decode(addr, false);
    if (!hit) { this.c.unclaimed++; return; }
    hit.fn.barWrite(hit.bar, hit.offset, width, value);
  }

  /** An I/O port read: 0xCF8/0xCFC-0xCFF are Configuration Mechanism #1, the rest go to I/O BARs. */
  ioRead(port: number, width: 1 | 2 | 4): number {
    if (port === CF8 && width === 4) return this.cf8 >>> 0;
    if (port >= CFC && port + width <= CFC + 4) {
      const a = this.cf8;
      if (!(a & 0x8000_0000)) return ones(width);
      return this.configRead((a >>> 16) & 0xff, (a >>> 11) & 0x1f, (a >>> 8) & 7, (a & 0xfc) + (port - CFC), width);
    }
    const hit = this.decode(port, true);
    if (!hit) { this.c.unclaimed++; return ones(width); }
    return hit.fn.barRead(hit.bar, hit.offset, width);
  }

  ioWrite(port: number, width: 1 | 2 | 4, value: number): void {
    if (port === CF8 && width === 4) { this.cf8 = (value & 0x80ff_fffc) >>> 0; return; }
    if (port >= CFC && port + width <= CFC + 4) {
      const a = this.cf8;
      if (!(a & 0x8000_0000)) return;
      this.configWrite((a >>> 16) & 0xff, (a >>> 11) & 0x1f, (a >>> 8) & 7, (a & 0xfc) + (port - CFC), width, value);
      return;
    }
    const hit = this.decode(port, true);
    if (!hit) { this.c.unclaimed++; return; }
    hit.fn.barWrite(hit.bar, hit.offset, width, value);
  }
}

function valid(bus: number, dev: number, func: number): boolean {
  return Number.isInteger(bus) && bus >= 0 && bus <= 255 && Number.isInteger(dev) && dev >= 0 && dev <= 31 && Number.isInteger(func) && func >= 0 && func <= 7;
}
