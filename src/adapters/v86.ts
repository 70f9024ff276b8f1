// Plugs a vmdev PCI function (virtio-net) into the v86 emulator.
//
// Data flow:
//  1. Before the emulator exists, create a `V86PciAdapter`; its `guestRam`
//     (foreign placement accessors) and `interrupts` go into `VmCore.create`
//     and the device's `create`.
//  2. In v86's `emulator-ready` event (CPU and devices built, BIOS not yet run)
//     call `adapter.attach(emulator, fn)`: it registers I/O-port handlers, maps
//     the memory BARs above RAM, then registers the PCI function on v86's bus.
//  3. Config-space cycles for the function go to `fn.configRead/configWrite`,
//     except the BAR registers, which v86 keeps (memory BARs are fixed in v86).
//  4. BAR accesses go to `fn.barRead/barWrite`; the device's writes to guest
//     RAM go through `guestRam` into v86's memory and invalidate its JIT cache.
//  5. `interrupts.intx(pin, level)` drives v86's PCI interrupt line (v86 has no MSI),
//     working around two faults of v86's interrupt delivery (see "interrupt
//     delivery" below).
//  6. `linkResponder`/`linkV86NetworkBus` connect the NIC's frames; and
//     `saveV86Machine`/`restoreV86Machine` save the devices next to v86's state.
//
// v86 specifics this relies on (v86 0.5.462, build/libv86.mjs keeps these names):
// `emulator.v86.cpu` with `mem8`, `wasm_memory`, `memory_size`, `jit_dirty_cache`,
// `io.register_read/register_write/mmap_register`, `devices.pci` with
// `register_device`, `raise_irq/lower_irq`, `pci_query`, `pci_write8/16/32`,
// `pci_addr`, `pci_response32`, `pci_status32`; `cpu.flags` and
// `get_pic_addr_master/slave` (the 8259 state, laid out by v86's save format). v86 splits 16-bit MMIO into two
// byte accesses in `cpu.mmap_write16`; the adapter wraps it so the device sees
// one 16-bit write (virtio 1.2 §4.1.3.1: drivers use the register's width).

import type { ForeignRam } from "../wasm.js";
import type { InterruptSink, MsiMessage, DeviceModel } from "../device.js";
import type { PciFunction, BarInfo } from "../pci.js";
import { Status } from "../status.js";

// ---- the slice of v86 the adapter touches (structural: v86 is not a dependency) ----

/** v86's CPU object (`emulator.v86.cpu`), as far as the adapter uses it. */
export interface V86Cpu {
  mem8: Uint8Array;
  wasm_memory: WebAssembly.Memory;
  memory_size: ArrayLike<number>;
  jit_dirty_cache(start: number, end: number): void;
  io: {
    register_read(port: number, device: object, r8?: (port: number) => number, r16?: (port: number) => number, r32?: (port: number) => number): void;
    register_write(port: number, device: object, w8?: (v: number) => void, w16?: (v: number) => void, w32?: (v: number) => void): void;
    mmap_register(base: number, size: number, r8: (a: number) => number, w8: (a: number, v: number) => void, r32?: (a: number) => number, w32?: (a: number, v: number) => void): void;
  };
  devices: { pci: V86Pci };
  mmap_write16(addr: number, value: number): void;
  /** EFLAGS as v86 keeps it in its memory (a view; its JIT keeps IF there, never in a register). */
  flags: { [index: number]: number };
  /** Addresses in `wasm_memory` of v86's two 8259 states (src/rust/cpu/pic.rs `Pic0`). */
  get_pic_addr_master(): number;
  get_pic_addr_slave(): number;
}

/** v86's PCI bus (`cpu.devices.pci`). */
export interface V86Pci {
  register_device(dev: V86PciDevice): Int32Array;
  raise_irq(pciId: number): void;
  lower_irq(pciId: number): void;
  pci_query(): void;
  pci_write8(addr: number, v: number): void;
  pci_write16(addr: number, v: number): void;
  pci_write32(addr: number, v: number): void;
  pci_addr: Uint8Array;
  pci_response32: Int32Array;
  pci_status32: Int32Array;
  device_spaces: Array<Int32Array | undefined>;
}

/** What `register_device` wants. */
export interface V86PciDevice {
  name: string;
  pci_id: number;
  pci_space: number[];
  pci_bars: Array<{ size: number } | undefined>;
}

/** v86's event bus. */
export interface V86Bus {
  register(name: string, fn: (data: never) => void, thisArg?: object): void;
  send(name: string, data?: unknown): void;
}

/** A `V86` instance (v86's `build/libv86.mjs`), as far as the adapter uses it. */
export interface V86Emulator {
  v86: { cpu: V86Cpu };
  emulator_bus?: V86Bus;
  save_state(): Promise<ArrayBuffer>;
  restore_state(state: ArrayBuffer): Promise<void>;
  is_running?(): boolean;
  run?(): Promise<void> | void;
  stop?(): Promise<void> | void;
}

// ---- the adapter ----

/** Where the adapter places things in v86's machine. */
export interface V86PciAdapterOptions {
  /** Name on v86's PCI bus and in saved machines. Default "vmdev-net0". */
  name?: string;
  /** PCI device number on bus 0 (1..31; v86 uses 0 and 1 itself). Default 12. */
  deviceNumber?: number;
  /** Guest-physical address of the first memory BAR; must lie above RAM, 128 KiB aligned. Default 0xE8000000. */
  mmioBase?: number;
  /** First I/O port for I/O BARs (at or above 0x1000, so v86's BAR moves keep them). Default 0xC000. */
  ioBase?: number;
  /**
   * Unlink the MSI and MSI-X capabilities from the capability list the guest
   * walks (and drop writes to them), so the driver falls back to INTx: v86 has
   * no MSI delivery. Default true.
   */
  hideMsi?: boolean;
}

/** Counters the adapter keeps (all accesses it routed, and what it refused). */
export interface V86AdapterCounters {
  mmioReads: number;
  mmioWrites: number;
  /** MMIO accesses inside a mapped 128 KiB window but past the BAR's end (read as ones, writes dropped). */
  mmioOutside: number;
  ioReads: number;
  ioWrites: number;
  configReads: number;
  configWrites: number;
  /** Rising edges of the INTx line (after attach, or counted by attach/restore when they bring the line up). */
  irqRaised: number;
  /** Falling edges; `irqRaised - irqLowered` is 1 while the line is up, else 0. */
  irqLowered: number;
  /**
   * Level changes made while the guest was inside an MMIO access with
   * interrupts enabled: v86 took the new level without dispatching, and
   * delivers the interrupt at its next instruction-boundary check.
   */
  irqHeld: number;
  /**
   * Cascade requests withdrawn from v86's master 8259 after the line fell:
   * the slave no longer backed them, and v86 would have acknowledged them
   * with no vector (see `withdrawStaleCascade`).
   */
  cascadeWithdrawn: number;
  /** MSI messages the device sent; v86 has no MSI, so they are dropped. */
  msiDropped: number;
  /** Guest-RAM accesses refused (outside v86's RAM, or before attach). */
  ramFaults: number;
  /** Ranges passed to v86's `jit_dirty_cache`. */
  jitInvalidations: number;
  /** Exceptions the function threw; caught here so none unwinds into v86 (reads return ones). */
  deviceErrors: number;
}

/** A BAR as placed in v86's address space. */
export interface PlacedBar extends BarInfo {
  /** Guest-physical address (memory) or port (I/O). */
  base: number;
}

// ---- interrupt delivery ----
//
// v86 0.5.462's `device_raise_irq`/`device_lower_irq` (src/rust/cpu/cpu.rs)
// update the 8259 pair (and the IOAPIC) and then call `handle_irqs`, which
// acknowledges the interrupt and enters its handler at once when IF is set.
// Between instructions that is right, and v86's own devices only raise from
// port I/O, which its JIT ends a block on. Inside an MMIO access it is wrong:
// a JIT-compiled block keeps EIP and the general registers in wasm locals, so
// the interrupt frame is pushed with a stale EIP and ESP, IF is cleared, and
// when the block ends it writes its locals back over the handler's entry
// state. The 8259 then has the IRQ in service, the handler never runs, no EOI
// comes, and every interrupt at or below the cascade's priority is dead. So a
// level change made inside one of the adapter's MMIO handlers (on any adapter
// of that CPU) is given to v86 with IF masked for the call: v86 takes the new
// level and dispatches at its next interrupt check (end of an instruction
// batch, STI, HLT, POPF, another device's interrupt), as a CPU takes an
// interrupt at an instruction boundary after the write.
//
// Second, v86's master 8259 latches its cascade input (IR2) as an edge. When a
// level-triggered slave line falls before the CPU acknowledges it, the slave
// stops requesting but the master's IRR keeps IR2; the acknowledge then sets
// IR2 in the master's ISR, finds nothing on the slave and returns no vector,
// so nothing will ever send its EOI. A real 8259A answers a request withdrawn
// before INTA with its spurious IR7 vector and puts nothing in service (Intel
// 8259A data sheet, "Interrupt sequence"). The adapter withdraws such a stale
// IR2 from the master's IRR after each falling edge of its line.

const FLAG_IF = 1 << 9;
/** Byte offsets in v86's `Pic0` (src/rust/cpu/pic.rs; fixed by its save format, 13 bytes). */
const PIC_IRQ_ENABLED = 0, PIC_ISR = 2, PIC_IRR = 3, PIC_ELCR = 10, PIC_SPECIAL_MASK = 12;
const PIC_STATE_BYTES = 13;
const PIC_CASCADE = 1 << 2;

/** Whether an 8259 in v86's state presents a request to the CPU or its master (v86's `Pic0::get_irq`). */
function picRequests(p: Uint8Array): boolean {
  const pending = p[PIC_IRR] & p[PIC_IRQ_ENABLED];
  if (pending === 0) return false;
  const isr = p[PIC_ISR];
  if (isr === 0) return true;
  const special = p[PIC_SPECIAL_MASK] !== 0 ? p[PIC_IRQ_ENABLED] : 0xff;
  return (isr & -isr & special) > (pending & -pending); // a higher-priority IRQ is not in service
}

/** Depth of MMIO handlers the guest's CPU is inside, shared by every adapter of that CPU. */
interface MmioGate { depth: number }
const mmioGates = new WeakMap<object, MmioGate>();
function mmioGate(cpu: object): MmioGate {
  let g = mmioGates.get(cpu);
  if (!g) { g = { depth: 0 }; mmioGates.set(cpu, g); }
  return g;
}

const MMAP_GRANULE = 128 * 1024;
const PCI_STATUS = 0x06;
const PCI_CAP_PTR = 0x34;
const PCI_CAP_ID_MSI = 0x05;
const PCI_CAP_ID_VNDR = 0x09;
const PCI_CAP_ID_MSIX = 0x11;
const VIRTIO_PCI_CAP_COMMON_CFG = 1;

/**
 * Field layout of the virtio-pci common configuration structure (virtio 1.2
 * §4.1.4.3) as [offset, width]. 64-bit fields are accessed as two 32-bit halves.
 */
const VIRTIO_COMMON_FIELDS: ReadonlyArray<readonly [number, number]> = [
  [0x00, 4], [0x04, 4], [0x08, 4], [0x0c, 4], [0x10, 2], [0x12, 2], [0x14, 1], [0x15, 1],
  [0x16, 2], [0x18, 2], [0x1a, 2], [0x1c, 2], [0x1e, 2], [0x20, 4], [0x24, 4], [0x28, 4],
  [0x2c, 4], [0x30, 4], [0x34, 4], [0x38, 2], [0x3a, 2],
];

/** Where a byte read lands: the register that holds it. */
interface RegisterSpan { start: number; width: 1 | 2 | 4 }

/**
 * A virtio-pci function's common configuration window, found by walking its
 * vendor capabilities (§4.1.4). v86 splits a 16-bit MMIO read into two byte
 * reads; the device only accepts a register's own width there (§4.1.3.1), so
 * byte reads inside that window read the whole register and pick the byte.
 */
function virtioCommonWindow(fn: PciFunction): { bar: number; start: number; end: number } | null {
  const b = (off: number) => (fn.configRead(off & ~3, 4) >>> (8 * (off & 3))) & 0xff;
  if ((fn.configRead(0, 4) & 0xffff) !== 0x1af4) return null;
  let at = b(PCI_CAP_PTR) & 0xfc;
  for (let n = 0; at >= 0x40 && n < 48; n++) {
    if (b(at) === PCI_CAP_ID_VNDR && b(at + 3) === VIRTIO_PCI_CAP_COMMON_CFG) {
      const bar = b(at + 4), off = fn.configRead(at + 8, 4) >>> 0, len = fn.configRead(at + 12, 4) >>> 0;
      return { bar, start: off, end: off + len };
    }
    at = b(at + 1) & 0xfc;
  }
  return null;
}

function commonField(off: number): RegisterSpan | null {
  for (const [start, width] of VIRTIO_COMMON_FIELDS) if (off >= start && off < start + width) return { start, width: width as 1 | 2 | 4 };
  return null;
}
const PCI_BAR0 = 0x10;
const PCI_BAR_END = 0x28;
const PCI_ROM = 0x30;
const PCI_INTERRUPT_PIN = 0x3d;

function isPow2(n: number): boolean { return n > 0 && (n & (n - 1)) === 0; }
function alignUp(n: number, a: number): number { return Math.ceil(n / a) * a; }

/**
 * Guest RAM owned by v86: copies to and from `cpu.mem8`'s bytes in v86's wasm
 * memory. The view is rebuilt when v86's memory grows (its buffer changes).
 */
class V86GuestRam implements ForeignRam {
  private cpu: V86Cpu | null = null;
  private view: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private size = 0;
  constructor(private readonly counters: V86AdapterCounters) {}

  bind(cpu: V86Cpu): void {
    this.cpu = cpu;
    this.offset = cpu.mem8.byteOffset;
    this.size = cpu.memory_size[0] >>> 0;
    this.view = new Uint8Array(0);
  }

  private ram(): Uint8Array | null {
    const cpu = this.cpu;
    if (!cpu) return null;
    const buf = cpu.wasm_memory.buffer;
    if (this.view.buffer !== buf || this.view.byteLength !== this.size) this.view = new Uint8Array(buf, this.offset, this.size);
    return this.view;
  }

  private inRange(gpa: number, len: number): boolean {
    return Number.isInteger(gpa) && gpa >= 0 && len >= 0 && gpa + len <= this.size;
  }

  read(gpa: number, dst: Uint8Array): boolean {
    const ram = this.ram();
    if (!ram || !this.inRange(gpa, dst.length)) { this.counters.ramFaults++; return false; }
    dst.set(ram.subarray(gpa, gpa + dst.length));
    return true;
  }

  write(gpa: number, src: Uint8Array): boolean {
    const ram = this.ram();
    if (!ram || !this.inRange(gpa, src.length)) { this.counters.ramFaults++; return false; }
    ram.set(src, gpa);
    return true;
  }

  written(gpa: number, len: number): void {
    if (!this.cpu || len <= 0 || !this.inRange(gpa, len)) return;
    // Code the guest may have JIT-compiled from these pages is stale now.
    this.cpu.jit_dirty_cache(gpa, gpa + len);
    this.counters.jitInvalidations++;
  }
}

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
  private readonly mmioBase: number;
  private readonly ioBase: number;
  private pci: V86Pci | null = null;
  private cpu: V86Cpu | null = null;
  private gate: MmioGate = { depth: 0 };
  private picMaster = 0;
  private picSlave = 0;
  private fn: PciFunction | null = null;
  private placed: PlacedBar[] = [];
  private level = false;
  private readonly hideMsi: boolean;
  /** Capability list as the guest sees it: offset → next pointer (MSI/MSI-X unlinked). */
  private capNext = new Map<number, number>();
  private capFirst = 0;
  /** Offsets of hidden capabilities' bytes (config writes there are dropped). */
  private hiddenCaps: Array<[number, number]> = [];
  private common: { bar: number; start: number; end: number } | null = null;

  constructor(opts: V86PciAdapterOptions = {}) {
    this.name = opts.name ?? "vmdev-net0";
    const dev = opts.deviceNumber ?? 12;
    if (!Number.isInteger(dev) || dev < 2 || dev > 31) throw new RangeError(`deviceNumber ${dev} is not in 2..31`);
    this.pciId = dev * 8;
    this.mmioBase = opts.mmioBase ?? 0xe8000000;
    if (this.mmioBase % MMAP_GRANULE !== 0) throw new RangeError("mmioBase must be a multiple of 128 KiB");
    this.ioBase = opts.ioBase ?? 0xc000;
    this.hideMsi = opts.hideMsi ?? true;
    this.ram = new V86GuestRam(this.c);
    this.guestRam = this.ram;
    this.interrupts = {
      msi: (_msg: MsiMessage) => { this.c.msiDropped++; },
      intx: (_pin: number, level: boolean) => this.setLevel(level),
    };
  }

  /** A snapshot of the adapter's counters. */
  counters(): V86AdapterCounters { return { ...this.c }; }

  /** The BARs as placed (valid after `attach`). */
  get bars(): readonly PlacedBar[] { return this.placed; }

  /** Whether the PCI interrupt line is currently asserted. */
  get irqLevel(): boolean { return this.level; }

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
    if (pci.device_spaces[this.pciId]) throw new Error(`${this.name}: PCI device ${this.pciId >> 3} is taken`);
    fn = this.guarded(fn);
    this.ram.bind(cpu);
    this.cpu = cpu;
    this.gate = mmioGate(cpu);
    this.picMaster = cpu.get_pic_addr_master() >>> 0;
    this.picSlave = cpu.get_pic_addr_slave() >>> 0;
    this.scanCapabilities(fn);
    this.common = virtioCommonWindow(fn);
    this.placeBars(cpu, fn);
    this.fn = fn;
    this.pci = pci;
    this.hookConfigCycles(pci, fn);
    this.hookMmio16(cpu);
    pci.register_device({ name: this.name, pci_id: this.pciId, pci_space: this.configImage(fn), pci_bars: this.v86Bars() });
    // The function's own BAR registers mirror where v86 placed it.
    for (const b of this.placed) fn.configWrite(PCI_BAR0 + 4 * b.index, 4, b.kind === "io" ? (b.base | 1) >>> 0 : b.base >>> 0);
    for (const b of this.placed) if (b.kind === "mem64") fn.configWrite(PCI_BAR0 + 4 * (b.index + 1), 4, 0);
    if (this.level) { this.c.irqRaised++; this.drive(true); }
  }

  /**
   * The function behind a fence: the guest drives every call, and nothing it
   * does may throw into v86's CPU loop. A throw is counted; reads return ones.
   */
  private guarded(fn: PciFunction): PciFunction {
    const c = this.c;
    const ones = (w: number) => (w === 4 ? 0xffffffff : (1 << (8 * w)) - 1);
    return {
      bars: fn.bars,
      configRead: (o, w) => { try { return fn.configRead(o, w); } catch { c.deviceErrors++; return ones(w); } },
      configWrite: (o, w, v) => { try { fn.configWrite(o, w, v); } catch { c.deviceErrors++; } },
      barRead: (b, o, w) => { try { return fn.barRead(b, o, w); } catch { c.deviceErrors++; return ones(w); } },
      barWrite: (b, o, w, v) => { try { fn.barWrite(b, o, w, v); } catch { c.deviceErrors++; } },
    };
  }

  private setLevel(level: boolean): void {
    if (level === this.level) return;
    this.level = level;
    if (!this.pci) return; // not attached yet: attach drives the line from `level`
    if (level) this.c.irqRaised++; else this.c.irqLowered++;
    this.drive(level);
  }

  /** Give v86 the line's level (see "interrupt delivery" above). */
  private drive(level: boolean): void {
    const cpu = this.cpu!, pci = this.pci!;
    const hold = this.gate.depth > 0 && (cpu.flags[0] & FLAG_IF) !== 0;
    if (hold) { cpu.flags[0] &= ~FLAG_IF; this.c.irqHeld++; }
    try {
      if (level) pci.raise_irq(this.pciId); else pci.lower_irq(this.pciId);
    } finally {
      if (hold) cpu.flags[0] |= FLAG_IF;
    }
    if (!level) this.withdrawStaleCascade();
  }

  /** Take IR2 out of the master's IRR when the slave no longer requests (see "interrupt delivery"). */
  private withdrawStaleCascade(): void {
    const buf = this.cpu!.wasm_memory.buffer;
    const master = new Uint8Array(buf, this.picMaster, PIC_STATE_BYTES);
    if ((master[PIC_IRR] & PIC_CASCADE) === 0 || (master[PIC_ELCR] & PIC_CASCADE) !== 0) return;
    if (picRequests(new Uint8Array(buf, this.picSlave, PIC_STATE_BYTES))) return;
    master[PIC_IRR] &= ~PIC_CASCADE;
    this.c.cascadeWithdrawn++;
  }

  private placeBars(cpu: V86Cpu, fn: PciFunction): void {
    const ramTop = cpu.memory_size[0] >>> 0;
    if (this.mmioBase < ramTop) throw new Error(`${this.name}: mmioBase 0x${this.mmioBase.toString(16)} is inside RAM (top 0x${ramTop.toString(16)})`);
    let mem = this.mmioBase;
    let port = this.ioBase;
    const used = new Set<number>();
    for (const bar of fn.bars) {
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
        this.mapIo(cpu, fn, p);
        this.placed.push(p);
        port += bar.size;
      } else {
        // v86 maps MMIO in 128 KiB blocks; a BAR is naturally aligned (PCI 3.0 §6.2.5.1).
        const span = alignUp(bar.size, MMAP_GRANULE);
        mem = alignUp(mem, Math.max(bar.size, MMAP_GRANULE));
        if (mem + span > 0xfe000000) throw new Error(`${this.name}: memory BARs do not fit below 0xFE000000`);
        const p: PlacedBar = { ...bar, base: mem };
        this.mapMem(cpu, fn, p, span);
        this.placed.push(p);
        mem += span;
      }
    }
  }

  private mapMem(cpu: V86Cpu, fn: PciFunction, bar: PlacedBar, span: number): void {
    const { base, size, index } = bar;
    const c = this.c;
    const gate = this.gate;
    const off = (addr: number) => (addr >>> 0) - base; // v86 passes addresses as signed 32-bit
    // Each handler runs in the middle of a guest instruction: `gate` tells drive() so.
    cpu.io.mmap_register(base, span,
      (addr) => {
        const o = off(addr);
        if (o >= size) { c.mmioOutside++; return 0xff; }
        c.mmioReads++;
        gate.depth++;
        try {
          const cw = this.common;
          if (cw && cw.bar === index && o >= cw.start && o < cw.end) {
            const f = commonField(o - cw.start);
            if (f && f.width > 1) return (fn.barRead(index, cw.start + f.start, f.width) >>> (8 * (o - cw.start - f.start))) & 0xff;
          }
          return fn.barRead(index, o, 1) & 0xff;
        } finally { gate.depth--; }
      },
      (addr, v) => {
        const o = off(addr);
        if (o >= size) { c.mmioOutside++; return; }
        c.mmioWrites++;
        gate.depth++;
        try { fn.barWrite(index, o, 1, v & 0xff); } finally { gate.depth--; }
      },
      (addr) => {
        const o = off(addr);
        if (o + 4 > size) { c.mmioOutside++; return -1; }
        c.mmioReads++;
        gate.depth++;
        try { return fn.barRead(index, o, 4) | 0; } finally { gate.depth--; }
      },
      (addr, v) => {
        const o = off(addr);
        if (o + 4 > size) { c.mmioOutside++; return; }
        c.mmioWrites++;
        gate.depth++;
        try { fn.barWrite(index, o, 4, v >>> 0); } finally { gate.depth--; }
      });
  }

  private mapIo(cpu: V86Cpu, fn: PciFunction, bar: PlacedBar): void {
    const { index, size } = bar;
    const c = this.c;
    // One closure per port with its fixed offset: v86 moves these entries when the BIOS or the
    // guest reprograms the I/O BAR, and write handlers are not told the port.
    for (let i = 0; i < size; i++) {
      const o = i;
      cpu.io.register_read(bar.base + i, this,
        () => { c.ioReads++; return fn.barRead(index, o, 1) & 0xff; },
        () => { c.ioReads++; return o + 2 <= size ? fn.barRead(index, o, 2) & 0xffff : 0xffff; },
        () => { c.ioReads++; return o + 4 <= size ? fn.barRead(index, o, 4) | 0 : -1; });
      cpu.io.register_write(bar.base + i, this,
        (v) => { c.ioWrites++; fn.barWrite(index, o, 1, v & 0xff); },
        (v) => { c.ioWrites++; if (o + 2 <= size) fn.barWrite(index, o, 2, v & 0xffff); },
        (v) => { c.ioWrites++; if (o + 4 <= size) fn.barWrite(index, o, 4, v >>> 0); });
    }
  }

  /** v86 sends 16-bit MMIO writes through `cpu.mmap_write16` as two byte writes; deliver ours whole. */
  private hookMmio16(cpu: V86Cpu): void {
    const mem = this.placed.filter((b) => b.kind !== "io");
    if (mem.length === 0) return;
    const fn = this.fn!;
    const c = this.c;
    const gate = this.gate;
    const inner = cpu.mmap_write16;
    cpu.mmap_write16 = function (this: V86Cpu, addr: number, value: number) {
      const a = addr >>> 0;
      for (const b of mem) {
        const o = a - b.base;
        if (o >= 0 && o + 2 <= b.size) {
          c.mmioWrites++;
          gate.depth++;
          try { fn.barWrite(b.index, o, 2, value & 0xffff); } finally { gate.depth--; }
          return;
        }
      }
      inner.call(this, addr, value);
    };
  }

  /**
   * Config cycles addressed to our function go to it, except the BAR and ROM
   * registers, which v86 emulates itself (it keeps memory BARs where we put them
   * and moves I/O BAR handlers). v86's own config-space copy is used for those
   * and for the interrupt pin its IRQ routing reads.
   */
  private hookConfigCycles(pci: V86Pci, fn: PciFunction): void {
    const id = this.pciId;
    const c = this.c;
    const self = this;
    const own = (off: number) => (off >= PCI_BAR0 && off < PCI_BAR_END) || (off >= PCI_ROM && off < PCI_ROM + 4);
    const query = pci.pci_query, w8 = pci.pci_write8, w16 = pci.pci_write16, w32 = pci.pci_write32;
    pci.pci_query = function (this: V86Pci) {
      const bdf = (this.pci_addr[2] << 8) | this.pci_addr[1];
      const off = this.pci_addr[0] & 0xfc;
      if (bdf !== id || own(off)) return query.call(this);
      c.configReads++;
      this.pci_status32[0] = 0x80000000 | 0;
      this.pci_response32[0] = self.filterConfig(off, fn.configRead(off, 4) >>> 0) | 0;
    };
    const mirrorBar = (self: V86Pci, off: number) => {
      const space = self.device_spaces[id];
      if (space && off >= PCI_BAR0 && off < PCI_BAR_END) fn.configWrite(off & ~3, 4, space[(off & ~3) >> 2] >>> 0);
    };
    const route = (inner: (addr: number, v: number) => void, width: 1 | 2 | 4, mask: number) =>
      function (this: V86Pci, addr: number, v: number) {
        const bdf = (addr >> 8) & 0xffff;
        const off = addr & 0xff;
        if (bdf !== id) return inner.call(this, addr, v);
        c.configWrites++;
        if (own(off)) { inner.call(this, addr, v); mirrorBar(this, off); return; }
        if (off % width !== 0) return; // v86 only issues naturally aligned cycles; anything else is dropped
        if (self.isHidden(off, width)) return;
        fn.configWrite(off, width, (v & mask) >>> 0);
      };
    pci.pci_write8 = route(w8, 1, 0xff);
    pci.pci_write16 = route(w16, 2, 0xffff);
    pci.pci_write32 = route(w32, 4, 0xffffffff);
  }

  /**
   * The 256-byte config image v86 stores: the function's 64-byte header with our
   * BAR placement and an interrupt pin. v86 itself only uses the BAR, ROM and
   * pin fields; every other read is served live by the function. The rest is
   * not copied: reading it can have effects (virtio's pci_cfg_data window, §4.1.4.9).
   */
  private configImage(fn: PciFunction): number[] {
    const img = new Array<number>(256).fill(0);
    for (let off = 0; off < 0x40; off += 4) {
      const v = this.filterConfig(off, fn.configRead(off, 4) >>> 0);
      for (let k = 0; k < 4; k++) img[off + k] = (v >>> (8 * k)) & 0xff;
    }
    for (let off = PCI_BAR0; off < PCI_BAR_END; off++) img[off] = 0;
    for (let off = PCI_ROM; off < PCI_ROM + 4; off++) img[off] = 0;
    for (const b of this.placed) {
      // Memory BARs are presented as 32-bit non-prefetchable: v86 sizes them that way and
      // never relocates them, and they sit below 4 GiB (a mem64 BAR's upper half reads 0).
      const v = b.kind === "io" ? (b.base | 1) >>> 0 : b.base >>> 0;
      for (let k = 0; k < 4; k++) img[PCI_BAR0 + 4 * b.index + k] = (v >>> (8 * k)) & 0xff;
    }
    if (img[PCI_INTERRUPT_PIN] === 0 || img[PCI_INTERRUPT_PIN] > 4) img[PCI_INTERRUPT_PIN] = 1; // INTA#
    return img;
  }

  private v86Bars(): Array<{ size: number } | undefined> {
    const bars: Array<{ size: number } | undefined> = [];
    for (const b of this.placed) bars[b.index] = { size: b.size };
    return bars;
  }

  /** Walk the capability list once (bounded: at most 48 entries, PCI 3.0 §6.7) and unlink MSI/MSI-X. */
  private scanCapabilities(fn: PciFunction): void {
    const b = (off: number) => (fn.configRead(off & ~3, 4) >>> (8 * (off & 3))) & 0xff;
    const caps: Array<[number, number]> = [];
    if (b(PCI_STATUS) & 0x10) {
      let at = b(PCI_CAP_PTR) & 0xfc;
      const seen = new Set<number>();
      while (at >= 0x40 && !seen.has(at) && caps.length < 48) {
        seen.add(at);
        caps.push([at, b(at)]);
        at = b(at + 1) & 0xfc;
      }
    }
    const kept = caps.filter(([, id]) => !this.hideMsi || (id !== PCI_CAP_ID_MSI && id !== PCI_CAP_ID_MSIX));
    this.capFirst = kept.length ? kept[0][0] : 0;
    for (let i = 0; i < kept.length; i++) this.capNext.set(kept[i][0], i + 1 < kept.length ? kept[i + 1][0] : 0);
    for (let i = 0; i < caps.length; i++) {
      const [at, id] = caps[i];
      if (this.hideMsi && (id === PCI_CAP_ID_MSI || id === PCI_CAP_ID_MSIX)) {
        // MSI-X capability is 12 bytes (PCI 3.0 §6.8.2); MSI at most 24 (§6.8.1).
        this.hiddenCaps.push([at, at + (id === PCI_CAP_ID_MSIX ? 12 : 24)]);
      }
    }
  }

  /** The dword at `off` as the guest sees it: capability pointers skip hidden capabilities. */
  private filterConfig(off: number, v: number): number {
    if (this.capNext.size === 0 && this.hiddenCaps.length === 0) return v >>> 0;
    const setByte = (x: number, k: number, byte: number) => ((x & ~(0xff << (8 * k))) | (byte << (8 * k))) >>> 0;
    if (off === PCI_CAP_PTR) v = setByte(v, 0, this.capFirst);
    for (const [at, next] of this.capNext) if ((at & ~3) === off) v = setByte(v, (at + 1) & 3, next);
    if (this.capFirst === 0 && off === (PCI_STATUS & ~3)) v = (v & ~(0x10 << 16)) >>> 0;
    return v >>> 0;
  }

  private isHidden(off: number, width: number): boolean {
    for (const [lo, hi] of this.hiddenCaps) if (off < hi && off + width > lo) return true;
    return false;
  }

  /**
   * Take the line level saved with a machine. v86's restored state carries the
   * line too; it is driven again so both agree even if a blob's two halves do
   * not (v86's 8259 and IOAPIC take a repeated level as no change). Counted as
   * an edge only when the adapter's own level changes, so `irqRaised -
   * irqLowered` stays the level.
   */
  restoreLevel(level: boolean): void {
    const changed = level !== this.level;
    this.level = level;
    if (!this.pci) return;
    if (changed) { if (level) this.c.irqRaised++; else this.c.irqLowered++; }
    this.drive(level);
  }
}

// ---- frames ----

/** The NIC side of a frame link (VirtioNet has these members). */
export interface FrameEndpoint {
  onTransmit: ((frame: Uint8Array) => void) | null;
  /** Host→guest; returns a Status. */
  receive(frame: Uint8Array): number;
}

/** Counters of a frame link. */
export interface FrameLinkCounters {
  /** Frames the guest transmitted. */
  txFrames: number;
  txBytes: number;
  /** Frames delivered to the guest (receive returned OK). */
  rxFrames: number;
  rxBytes: number;
  /** Deliveries the NIC refused and that were retried (`maxRetries`). */
  rxRetries: number;
  /** Frames refused by the NIC (after any retries) or dropped because the pending queue was full. */
  rxDropped: number;
  /** Exceptions thrown by the peer or the NIC, caught (the frame is dropped). */
  errors: number;
}

/** Options of a {@link FrameLink}. */
export interface FrameLinkOptions {
  /** Frames waiting for guest buffers before new ones are dropped. Default 256. */
  maxPending?: number;
  /**
   * How many times a refused frame is retried (1 ms apart) before it is dropped.
   * Default 0: VirtioNet keeps its own receive backlog, and a refusal (ERR_FULL)
   * means it already dropped and counted the frame. Raise it for endpoints
   * without a backlog.
   */
  maxRetries?: number;
  /** Called with every frame in either direction (tests, capture). */
  tap?: (dir: "tx" | "rx", frame: Uint8Array) => void;
}

/**
 * Delivers frames to the NIC outside the device's own call stack (never
 * re-entering it from `onTransmit`), in order; optionally retrying frames the
 * NIC refuses (`maxRetries`).
 */
export class FrameLink {
  private readonly c: FrameLinkCounters = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, rxRetries: 0, rxDropped: 0, errors: 0 };
  private readonly pending: Uint8Array[] = [];
  private tries = 0;
  /** Cancels the pending delivery turn, if one is scheduled. */
  private scheduled: (() => void) | null = null;
  private closed = false;
  private readonly maxPending: number;
  private readonly maxRetries: number;

  constructor(private readonly nic: FrameEndpoint, peer: (frame: Uint8Array) => void, private readonly opts: FrameLinkOptions = {}) {
    this.maxPending = opts.maxPending ?? 256;
    this.maxRetries = opts.maxRetries ?? 0;
    nic.onTransmit = (frame) => {
      this.c.txFrames++;
      this.c.txBytes += frame.length;
      const copy = frame.slice(); // the device may reuse its buffer
      // Runs inside the guest's notify write: a throwing peer must not unwind into the device.
      try {
        opts.tap?.("tx", copy);
        peer(copy);
      } catch {
        this.c.errors++;
      }
    };
  }

  /** A snapshot of the link's counters. */
  counters(): FrameLinkCounters { return { ...this.c }; }

  /** Queue a frame for the guest. */
  deliver(frame: Uint8Array): void {
    if (this.closed) return;
    if (this.pending.length >= this.maxPending) { this.c.rxDropped++; return; }
    this.pending.push(frame);
    this.schedule(0);
  }

  /**
   * Hand every pending frame to the NIC now (e.g. with the emulator stopped,
   * before a save: the device backlogs what the guest has no buffers for).
   * Frames it still refuses stay pending.
   */
  drain(): void {
    if (this.scheduled) { this.scheduled(); this.scheduled = null; }
    if (this.deliverPending(false) === "refused") this.schedule(1);
  }

  /** Frames waiting for delivery. */
  get pendingFrames(): number { return this.pending.length; }

  /** Stop delivering; the NIC's `onTransmit` is cleared. */
  close(): void {
    this.closed = true;
    this.nic.onTransmit = null;
    if (this.scheduled) this.scheduled();
    this.scheduled = null;
    this.pending.length = 0;
  }

  /** One delivery; a throw counts as an error and drops the frame (reported as ERR_INVALID_ARG). */
  private receiveOnce(f: Uint8Array): number {
    try {
      return this.nic.receive(f);
    } catch {
      this.c.errors++;
      return Status.ERR_INVALID_ARG;
    }
  }

  private schedule(ms: number): void {
    if (this.scheduled || this.closed) return;
    const run = () => { this.scheduled = null; this.flush(); };
    // A new frame goes in on the next turn of the event loop (setImmediate; a 0 ms timer waits
    // about 1 ms in Node, which bounds request/response traffic); a refused one waits `ms`.
    if (ms === 0 && typeof setImmediate === "function") {
      const h = setImmediate(run);
      this.scheduled = () => clearImmediate(h);
    } else {
      const h = setTimeout(run, ms);
      this.scheduled = () => clearTimeout(h);
    }
  }

  private flush(): void {
    if (this.deliverPending(true) === "refused") {
      this.c.rxRetries++;
      this.schedule(1);
    }
  }

  /**
   * Hand pending frames to the NIC in order until it refuses one. A frame the
   * NIC rejects as invalid is dropped; with `retry`, so is one refused more
   * than `maxRetries` times in a row. Returns "refused" when the head frame
   * is still waiting, "done" when nothing is pending (or the link closed).
   */
  private deliverPending(retry: boolean): "done" | "refused" {
    while (this.pending.length > 0 && !this.closed) {
      const f = this.pending[0];
      const st = this.receiveOnce(f);
      if (st === Status.OK) {
        this.pending.shift();
        this.tries = 0;
        this.c.rxFrames++;
        this.c.rxBytes += f.length;
        this.opts.tap?.("rx", f);
      } else if (st === Status.ERR_INVALID_ARG || (retry && ++this.tries > this.maxRetries)) {
        this.pending.shift();
        this.tries = 0;
        this.c.rxDropped++;
      } else {
        return "refused";
      }
    }
    return "done";
  }
}

/** Anything that answers frames (e.g. `Responder` from src/net/responder.ts). */
export interface FramePeer { handle(frame: Uint8Array): Uint8Array[] }

/** Connect the NIC to a host-side peer: each guest frame goes to `peer.handle`, replies go back in. */
export function linkResponder(nic: FrameEndpoint, peer: FramePeer, opts: FrameLinkOptions = {}): FrameLink {
  let link: FrameLink;
  link = new FrameLink(nic, (frame) => { for (const r of peer.handle(frame)) link.deliver(r); }, opts);
  return link;
}

/**
 * Connect the NIC to v86's network bus as its `net<id>` device: guest frames are
 * sent as `net<id>-send` (what v86's network adapters listen to) and
 * `net<id>-receive` frames go to the guest. Use with `net_device: { type: "none" }`
 * plus an adapter on the bus, or your own listener.
 */
export function linkV86NetworkBus(nic: FrameEndpoint, emulator: V86Emulator, id = 0, opts: FrameLinkOptions = {}): FrameLink {
  const bus = emulator.emulator_bus;
  if (!bus) throw new Error("this v86 build has no emulator_bus");
  const link = new FrameLink(nic, (frame) => bus.send(`net${id}-send`, frame), opts);
  bus.register(`net${id}-receive`, ((frame: Uint8Array) => link.deliver(new Uint8Array(frame))) as (d: never) => void);
  return link;
}

// ---- save/restore next to v86's state ----

const MACHINE_MAGIC = [0x56, 0x4d, 0x56, 0x38, 0x36, 0x4d, 0x43, 0x48]; // "VMV86MCH"
const MACHINE_VERSION = 1;
const MAX_NAME = 256;

/** A device saved with the machine, and the adapter that connects it. */
export interface V86MachineDevice {
  /** The device; `quiesce`/`resume` (VirtioNet has them) are called around the save when present. */
  device: DeviceModel & { quiesce?(): void; resume?(): void };
  adapter?: V86PciAdapter;
}

/**
 * Save v86's state and the devices' states in one blob. Stops the emulator for
 * the duration (and resumes it if it was running) so both halves are from the
 * same instant.
 */
export async function saveV86Machine(emulator: V86Emulator, devices: V86MachineDevice[]): Promise<Uint8Array> {
  const running = emulator.is_running?.() ?? false;
  if (running) await emulator.stop?.();
  // Give back descriptors fetched but not used, so the saved rings show them to the guest again.
  for (const d of devices) d.device.quiesce?.();
  try {
    const v86State = new Uint8Array(await emulator.save_state());
    const parts: Array<[string, Uint8Array, number]> = devices.map((d) => [d.device.name, d.device.saveState(), d.adapter?.irqLevel ? 1 : 0]);
    return encodeMachine(v86State, parts);
  } finally {
    for (const d of devices) d.device.resume?.();
    if (running) await emulator.run?.();
  }
}

/**
 * Restore a blob from `saveV86Machine`. The blob is validated first. v86's
 * state goes first (devices may look at guest RAM — their rings — when they
 * restore), then the devices. If v86 or any device refuses, v86 and the devices
 * are put back as they were. Returns a Status; never throws for a bad blob.
 */
export async function restoreV86Machine(emulator: V86Emulator, blob: Uint8Array, devices: V86MachineDevice[]): Promise<number> {
  const parsed = decodeMachine(blob);
  if (typeof parsed === "number") return parsed;
  const byName = new Map(parsed.devices.map((d) => [d.name, d]));
  if (byName.size !== parsed.devices.length || byName.size !== devices.length) return Status.ERR_STATE_INVALID;
  for (const d of devices) if (!byName.has(d.device.name)) return Status.ERR_STATE_INVALID;
  const running = emulator.is_running?.() ?? false;
  if (running) await emulator.stop?.();
  try {
    const deviceBackups = devices.map((d) => d.device.saveState());
    const v86Backup = await emulator.save_state();
    const rollback = async (restoredDevices: number) => {
      for (let i = 0; i < restoredDevices; i++) devices[i].device.restoreState(deviceBackups[i]);
      await emulator.restore_state(v86Backup);
    };
    const v = parsed.v86;
    try {
      await emulator.restore_state(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer);
    } catch {
      await rollback(0);
      return Status.ERR_STATE_INVALID;
    }
    for (let i = 0; i < devices.length; i++) {
      const st = devices[i].device.restoreState(byName.get(devices[i].device.name)!.state);
      if (st !== Status.OK) { await rollback(i); return st; }
    }
    for (const d of devices) d.adapter?.restoreLevel(byName.get(d.device.name)!.irq === 1);
    return Status.OK;
  } finally {
    if (running) await emulator.run?.();
  }
}

function encodeMachine(v86State: Uint8Array, parts: Array<[string, Uint8Array, number]>): Uint8Array {
  const enc = new TextEncoder();
  const names = parts.map(([n]) => enc.encode(n));
  let size = 8 + 4 + 4 + 4 + v86State.length;
  for (let i = 0; i < parts.length; i++) size += 4 + names[i].length + 1 + 4 + parts[i][1].length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out.set(MACHINE_MAGIC, 0);
  let p = 8;
  dv.setUint32(p, MACHINE_VERSION, true); p += 4;
  dv.setUint32(p, parts.length, true); p += 4;
  for (let i = 0; i < parts.length; i++) {
    dv.setUint32(p, names[i].length, true); p += 4;
    out.set(names[i], p); p += names[i].length;
    out[p++] = parts[i][2];
    dv.setUint32(p, parts[i][1].length, true); p += 4;
    out.set(parts[i][1], p); p += parts[i][1].length;
  }
  dv.setUint32(p, v86State.length, true); p += 4;
  out.set(v86State, p);
  return out;
}

interface DecodedMachine { v86: Uint8Array; devices: Array<{ name: string; irq: number; state: Uint8Array }> }

/** Parse a machine blob; a Status number when it is malformed. */
export function decodeMachine(blob: Uint8Array): DecodedMachine | number {
  if (!(blob instanceof Uint8Array) || blob.length < 20) return Status.ERR_STATE_LENGTH;
  for (let i = 0; i < 8; i++) if (blob[i] !== MACHINE_MAGIC[i]) return Status.ERR_STATE_MAGIC;
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  let p = 8;
  const need = (n: number) => p + n <= blob.length;
  if (dv.getUint32(p, true) !== MACHINE_VERSION) return Status.ERR_STATE_VERSION;
  p += 4;
  const count = dv.getUint32(p, true); p += 4;
  if (count > 64) return Status.ERR_STATE_INVALID;
  const dec = new TextDecoder("utf-8", { fatal: true });
  const devices: DecodedMachine["devices"] = [];
  for (let i = 0; i < count; i++) {
    if (!need(4)) return Status.ERR_STATE_LENGTH;
    const nl = dv.getUint32(p, true); p += 4;
    if (nl === 0 || nl > MAX_NAME) return Status.ERR_STATE_INVALID;
    if (!need(nl + 1 + 4)) return Status.ERR_STATE_LENGTH;
    let name: string;
    try { name = dec.decode(blob.subarray(p, p + nl)); } catch { return Status.ERR_STATE_INVALID; }
    p += nl;
    const irq = blob[p++];
    if (irq > 1) return Status.ERR_STATE_INVALID;
    const sl = dv.getUint32(p, true); p += 4;
    if (!need(sl)) return Status.ERR_STATE_LENGTH;
    devices.push({ name, irq, state: blob.subarray(p, p + sl) });
    p += sl;
  }
  if (!need(4)) return Status.ERR_STATE_LENGTH;
  const vl = dv.getUint32(p, true); p += 4;
  if (p + vl !== blob.length) return Status.ERR_STATE_LENGTH;
  return { v86: blob.subarray(p, p + vl), devices };
}
