// The slice of v86 the adapter touches (structural: v86 is not a dependency),
// and the adapter's options and counters.
//
// v86 specifics this relies on (v86 0.5.462, build/libv86.mjs keeps these names):
// `emulator.v86.cpu` with `mem8`, `wasm_memory`, `memory_size`, `jit_dirty_cache`,
// `io.register_read/register_write/mmap_register`, `devices.pci` with
// `register_device`, `raise_irq/lower_irq`, `pci_query`, `pci_write8/16/32`,
// `pci_addr`, `pci_response32`, `pci_status32`; `cpu.flags` and
// `get_pic_addr_master/slave` (the 8259 state, laid out by v86's save format).

import type { BarInfo } from "../../pci.js";

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

/** v86's event bus (`emulator.emulator_bus`, the devices' end: what it sends reaches `add_listener` listeners and network adapters). */
export interface V86Bus {
  register(name: string, fn: (data: never) => void, thisArg?: object): void;
  unregister?(name: string, fn: (data: never) => void): void;
  send(name: string, data?: unknown): void;
}

/** v86 events attachToV86 waits for. */
export type V86LifecycleEvent = "emulator-ready" | "emulator-started";

/**
 * A `V86` instance (v86's `build/libv86.mjs`), as far as the adapter uses it.
 * v86's own `V86` type (v86.d.ts) is assignable to it: the members it does not
 * declare (`v86`, `emulator_bus`) are optional here, and the adapter checks at
 * attach that the emulator has them.
 */
export interface V86Emulator {
  /** v86's machine: present once v86's wasm is loaded; `cpu.memory_size` is set at `emulator-ready`. */
  v86?: { cpu: V86Cpu; run?(): void; stop?(): void };
  emulator_bus?: V86Bus;
  save_state(): Promise<ArrayBuffer>;
  restore_state(state: ArrayBuffer): Promise<void>;
  is_running?(): boolean;
  run?(): Promise<void> | void;
  stop?(): Promise<void> | void;
  /** The adapter listens to these two (v86's own typing of them: no argument). */
  add_listener?(event: V86LifecycleEvent, listener: () => void): void;
  remove_listener?(event: V86LifecycleEvent, listener: () => void): void;
}

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
