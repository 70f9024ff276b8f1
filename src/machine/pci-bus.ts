// The machine's PCI bus as a guest driver sees it: functions by
// bus/slot/function (from the `pci.B.S.F` config nodes), configuration
// cycles, and BAR accesses. vmdev does not model a host bridge or BAR
// placement in a guest-physical address map: a driver finds a function by its
// address and reaches its BARs by BAR index and offset, which is what the
// virtio-pci transport of the driver model (src/guest/virtio/transport.ts)
// and the v86 adapter need.

import type { PciFunction } from "../pci.js";
import { parsePciNode, type PciAddress } from "../config/pci-node.js";
import type { MachineDevice } from "./registry.js";

export type { PciAddress };

/** One function on the bus. */
export interface PciBusEntry extends PciAddress {
  /** Config node, e.g. "pci.0.3.0". */
  node: string;
  device: MachineDevice;
  fn: PciFunction;
}

/** Vendor ID read from an empty slot (PCI Local Bus 3.0 §6.1: no device answers, all ones). */
export const PCI_NO_DEVICE = 0xffff;

/** The PCI functions of a machine by address. */
export class PciBus {
  private byAddr = new Map<string, PciBusEntry>();
  private seen = -1;

  /**
   * Every device of `devicesByNode` (a Machine's map) that has a `pci`
   * function, at its `pci.B.S.F` node. With `generation` (a Machine's
   * `pciGeneration`), the bus follows hot-plug and hot-unplug: it reads the
   * map again whenever the generation moved.
   */
  constructor(private readonly devicesByNode: ReadonlyMap<string, MachineDevice>, private readonly generation?: () => number) {
    this.scan();
  }

  private scan(): void {
    const gen = this.generation?.() ?? 0;
    if (gen === this.seen) return;
    this.seen = gen;
    this.byAddr = new Map();
    for (const [node, device] of this.devicesByNode) {
      const a = parsePciNode(node);
      const fn = (device as MachineDevice & { pci?: PciFunction | null }).pci;
      if (!a || !fn) continue;
      const { bus, slot, func } = a;
      this.byAddr.set(key(bus, slot, func), { bus, slot, func, node, device, fn });
    }
  }

  /** The function at bus/slot/function, if any. */
  find(bus: number, slot: number, func: number): PciBusEntry | undefined { this.scan(); return this.byAddr.get(key(bus, slot, func)); }

  /** Every function, in bus/slot/function order. */
  entries(): PciBusEntry[] {
    this.scan();
    return [...this.byAddr.values()].sort((a, b) => a.bus - b.bus || a.slot - b.slot || a.func - b.func);
  }

  /** Functions whose config space reads vendor `vendor` and device `device` (e.g. 0x1af4, 0x1041 for modern virtio-net). */
  findById(vendor: number, device: number): PciBusEntry[] {
    return this.entries().filter((e) => e.fn.configRead(0, 2) === vendor && e.fn.configRead(2, 2) === device);
  }

  /** A configuration read; an empty address reads all ones (width-sized). */
  configRead(a: PciAddress, offset: number, width: 1 | 2 | 4): number {
    const e = this.find(a.bus, a.slot, a.func);
    return e ? e.fn.configRead(offset, width) : ones(width);
  }

  /** A configuration write; ignored at an empty address. */
  configWrite(a: PciAddress, offset: number, width: 1 | 2 | 4, value: number): void {
    this.find(a.bus, a.slot, a.func)?.fn.configWrite(offset, width, value);
  }

  /** A BAR read; an empty address reads all ones. */
  barRead(a: PciAddress, bar: number, offset: number, width: 1 | 2 | 4): number {
    const e = this.find(a.bus, a.slot, a.func);
    return e ? e.fn.barRead(bar, offset, width) : ones(width);
  }

  /** A BAR write; ignored at an empty address. */
  barWrite(a: PciAddress, bar: number, offset: number, width: 1 | 2 | 4, value: number): void {
    this.find(a.bus, a.slot, a.func)?.fn.barWrite(bar, offset, width, value);
  }
}

function key(bus: number, slot: number, func: number): string { return `${bus}:${slot}.${func}`; }
function ones(width: 1 | 2 | 4): number { return width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff; }

/** The PCI bus of a machine (anything with `devicesByNode`, i.e. a Machine), following its hot-plugs when it counts them (`pciGeneration`). */
export function machinePciBus(m: { devicesByNode: ReadonlyMap<string, MachineDevice>; readonly pciGeneration?: number }): PciBus {
  return new PciBus(m.devicesByNode, "pciGeneration" in m ? () => m.pciGeneration ?? 0 : undefined);
}
