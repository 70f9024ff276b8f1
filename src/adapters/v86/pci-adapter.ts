// Plugs a vmdev PCI function into the v86 emulator.
//
// Data flow:
//  1. Before the emulator exists, create a `V86PciAdapter`; its `guestRam`
//     (foreign placement accessors) and `interrupts` go into `VmCore.create`
//     and the device's `create`.
//  2. In v86's `emulator-ready` event (CPU and devices built, BIOS not yet run)
//     call `adapter.attach(emulator, fn)`: it registers I/O-port handlers, maps
//     the memory BARs above RAM, then registers the PCI function on v86's bus.
//  3. Config-space cycles for the function go to `fn.configRead/configWrite`,
//     except the BAR registers, which v86 keeps (memory BARs are fixed in v86)
//     (config-space.ts).
//  4. BAR accesses go to `fn.barRead/barWrite` with the guest's width
//     (mmio-widths.ts); the device's writes to guest RAM go through `guestRam`
//     into v86's memory and invalidate its JIT cache (guest-ram.ts).
//  5. `interrupts.intx(pin, level)` drives v86's PCI interrupt line (v86 has no
//     MSI), working around two faults of v86's interrupt delivery (interrupts.ts).
//  6. `linkV86NetworkBus` (network-bus.ts, or `linkResponder` from
//     src/net/host-link.ts) connects a NIC's frames; `saveV86Machine` /
//     `restoreV86Machine` (machine-state.ts) save the devices next to v86's state.

import type { ForeignRam } from "../../wasm.js";
import type { InterruptSink, MsiMessage } from "../../device.js";
import type { PciFunction } from "../../pci.js";
import { V86ConfigSpace, PCI_BAR0 } from "./config-space.js";
import { V86GuestRam } from "./guest-ram.js";
import { V86IrqLine } from "./interrupts.js";
import { MMAP_GRANULE, hookMmioWrite16, mapIoBar, mapMemBar, type BarContext } from "./mmio-widths.js";
import type { PlacedBar, V86AdapterCounters, V86Cpu, V86Emulator, V86PciAdapterOptions } from "./types.js";

function isPow2(n: number): boolean { return n > 0 && (n & (n - 1)) === 0; }
function alignUp(n: number, a: number): number { return Math.ceil(n / a) * a; }

/**
 * Attaches one vmdev PCI function to a v86 machine. Create it before the
 * emulator, hand `guestRam` and `interrupts` to the core and device, then call
 * `attach` from v86's `emulator-ready` event.
 */
export class V86PciAdapter {
  readonly name: string;
  /** v86's `pci_id`: bus 0, device `deviceNumber`, function 0 (devfn = device × 8). */
  readonly pciId: number;
  /** Foreign guest-RAM accessors for `VmCore.create({ foreign })`. */
  readonly guestRam: ForeignRam;
  /** Interrupt sink for the device: INTx drives v86's PCI line; MSI is dropped and counted. */
  readonly interrupts: InterruptSink;
  private readonly c: V86AdapterCounters = {
    mmioReads: 0, mmioWrites: 0, mmioOutside: 0, ioReads: 0, ioWrites: 0, configReads: 0, configWrites: 0,
    irqRaised: 0, irqLowered: 0, irqHeld: 0, cascadeWithdrawn: 0, msiDropped: 0, ramFaults: 0, jitInvalidations: 0, deviceErrors: 0,
  };
  private readonly ram: V86GuestRam;
  private readonly line: V86IrqLine;
  private readonly config: V86ConfigSpace;
  private readonly mmioBase: number;
  private readonly ioBase: number;
  private fn: PciFunction | null = null;
  private placed: PlacedBar[] = [];

  constructor(opts: V86PciAdapterOptions = {}) {
    this.name = opts.name ?? "vmdev-net0";
    const dev = opts.deviceNumber ?? 12;
    if (!Number.isInteger(dev) || dev < 2 || dev > 31) throw new RangeError(`deviceNumber ${dev} is not in 2..31`);
    this.pciId = dev * 8;
    this.mmioBase = opts.mmioBase ?? 0xe8000000;
    if (this.mmioBase % MMAP_GRANULE !== 0) throw new RangeError("mmioBase must be a multiple of 128 KiB");
    this.ioBase = opts.ioBase ?? 0xc000;
    this.config = new V86ConfigSpace(opts.hideMsi ?? true);
    this.ram = new V86GuestRam(this.c);
    this.guestRam = this.ram;
    this.line = new V86IrqLine(this.pciId, this.c);
    this.interrupts = {
      msi: (_msg: MsiMessage) => { this.c.msiDropped++; },
      intx: (_pin: number, level: boolean) => this.line.set(level),
    };
  }

  /** A snapshot of the adapter's counters. */
  counters(): V86AdapterCounters { return { ...this.c }; }

  /** The BARs as placed (valid after `attach`). */
  get bars(): readonly PlacedBar[] { return this.placed; }

  /** Whether the PCI interrupt line is currently asserted. */
  get irqLevel(): boolean { return this.line.asserted; }

  /**
   * Register `fn` on the emulator's PCI bus. Call from `emulator-ready`, before
   * the BIOS enumerates PCI. Throws if v86 lacks what the adapter needs or the
   * BARs do not fit (host configuration errors, not guest input).
   */
  attach(emulator: V86Emulator, fn: PciFunction): void {
    if (this.fn) throw new Error(`${this.name}: already attached`);
    const cpu = emulator?.v86?.cpu;
    const pci = cpu?.devices?.pci;
    for (const [ok, what] of [
      [cpu && cpu.io && typeof cpu.io.mmap_register === "function", "cpu.io.mmap_register"],
      [pci && typeof pci.register_device === "function", "devices.pci.register_device"],
      [pci && typeof pci.pci_query === "function" && pci.pci_addr && pci.pci_response32, "devices.pci config-cycle internals"],
      [cpu && typeof cpu.jit_dirty_cache === "function" && cpu.wasm_memory, "cpu.jit_dirty_cache/wasm_memory"],
      [cpu && cpu.flags && typeof cpu.flags[0] === "number" && typeof cpu.get_pic_addr_master === "function" && typeof cpu.get_pic_addr_slave === "function", "cpu.flags/get_pic_addr_master/get_pic_addr_slave"],
    ] as const) {
      if (!ok) throw new Error(`${this.name}: this v86 build has no ${what}`);
    }
    if (!cpu || !pci) throw new Error(`${this.name}: this v86 build has no v86.cpu.devices.pci`);
    if (pci.device_spaces[this.pciId]) throw new Error(`${this.name}: PCI device ${this.pciId >> 3} is taken`);
    fn = this.guarded(fn);
    this.ram.bind(cpu);
    this.line.bindCpu(cpu);
    this.config.scan(fn);
    const ctx: BarContext = { fn, c: this.c, gate: this.line.gate };
    this.placeBars(cpu, ctx);
    this.fn = fn;
    this.line.attach(pci);
    this.config.hook(pci, this.pciId, fn, this.c);
    hookMmioWrite16(cpu, ctx, this.placed);
    pci.register_device({ name: this.name, pci_id: this.pciId, pci_space: this.config.image(fn, this.placed), pci_bars: this.v86Bars() });
    // The function's own BAR registers mirror where v86 placed it.
    for (const b of this.placed) fn.configWrite(PCI_BAR0 + 4 * b.index, 4, b.kind === "io" ? (b.base | 1) >>> 0 : b.base >>> 0);
    for (const b of this.placed) if (b.kind === "mem64") fn.configWrite(PCI_BAR0 + 4 * (b.index + 1), 4, 0);
    this.line.start();
  }

  /**
   * Take the line level saved with a machine. v86's restored state carries the
   * line too; it is driven again so both agree even if a blob's two halves do
   * not (v86's 8259 and IOAPIC take a repeated level as no change). Counted as
   * an edge only when the adapter's own level changes, so `irqRaised -
   * irqLowered` stays the level.
   */
  restoreLevel(level: boolean): void { this.line.restore(level); }

  /**
   * The function behind a fence: the guest drives every call, and nothing it
   * does may throw into v86's CPU loop. A throw is counted; reads return ones.
   */
  private guarded(fn: PciFunction): PciFunction {
    const c = this.c;
    const ones = (w: number) => (w === 4 ? 0xffffffff : (1 << (8 * w)) - 1);
    const register = fn.mmioRegister?.bind(fn);
    return {
      bars: fn.bars,
      configRead: (o, w) => { try { return fn.configRead(o, w); } catch { c.deviceErrors++; return ones(w); } },
      configWrite: (o, w, v) => { try { fn.configWrite(o, w, v); } catch { c.deviceErrors++; } },
      barRead: (b, o, w) => { try { return fn.barRead(b, o, w); } catch { c.deviceErrors++; return ones(w); } },
      barWrite: (b, o, w, v) => { try { fn.barWrite(b, o, w, v); } catch { c.deviceErrors++; } },
      // A register outside the BAR or of no access width is ignored: the byte goes through as is.
      mmioRegister: register && ((b, o) => {
        let r;
        try { r = register(b, o); } catch { c.deviceErrors++; return null; }
        if (!r || !(r.width === 1 || r.width === 2 || r.width === 4) || !(o >= r.start && o < r.start + r.width)) return null;
        return r;
      }),
    };
  }

  private placeBars(cpu: V86Cpu, ctx: BarContext): void {
    const ramTop = cpu.memory_size[0] >>> 0;
    if (this.mmioBase < ramTop) throw new Error(`${this.name}: mmioBase 0x${this.mmioBase.toString(16)} is inside RAM (top 0x${ramTop.toString(16)})`);
    let mem = this.mmioBase;
    let port = this.ioBase;
    const used = new Set<number>();
    for (const bar of ctx.fn.bars) {
      if (!Number.isInteger(bar.index) || bar.index < 0 || bar.index > 5 || used.has(bar.index) || (bar.kind === "mem64" && (bar.index > 4 || used.has(bar.index + 1)))) {
        throw new Error(`${this.name}: bad BAR index ${bar.index}`);
      }
      if (!isPow2(bar.size)) throw new Error(`${this.name}: BAR ${bar.index} size ${bar.size} is not a power of two`);
      used.add(bar.index);
      if (bar.kind === "mem64") used.add(bar.index + 1);
      if (bar.kind === "io") {
        if (bar.size > 256) throw new Error(`${this.name}: I/O BAR ${bar.index} larger than 256 ports`);
        port = alignUp(port, Math.max(bar.size, 4));
        const p: PlacedBar = { ...bar, base: port };
        mapIoBar(cpu, ctx, p, this);
        this.placed.push(p);
        port += bar.size;
      } else {
        // v86 maps MMIO in 128 KiB blocks; a BAR is naturally aligned (PCI 3.0 §6.2.5.1).
        const span = alignUp(bar.size, MMAP_GRANULE);
        mem = alignUp(mem, Math.max(bar.size, MMAP_GRANULE));
        if (mem + span > 0xfe000000) throw new Error(`${this.name}: memory BARs do not fit below 0xFE000000`);
        const p: PlacedBar = { ...bar, base: mem };
        mapMemBar(cpu, ctx, p, span);
        this.placed.push(p);
        mem += span;
      }
    }
  }

  private v86Bars(): Array<{ size: number } | undefined> {
    const bars: Array<{ size: number } | undefined> = [];
    for (const b of this.placed) bars[b.index] = { size: b.size };
    return bars;
  }
}

