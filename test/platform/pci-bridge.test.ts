// The PCI-to-PCI bridge and the host bridge: type 1 forwarding by the bus
// numbers the guest programs (two levels deep), secondary bus reset, memory
// and I/O windows with the command register's decode, Configuration
// Mechanism #1, and functions without function 0.
import { describe, expect, it } from "vitest";
import { pciRig } from "./pci-rig.js";
import { assignPci } from "../../src/platform/pci/firmware.js";
import { Bridge, BridgeCtl, Cmd } from "../../src/platform/pci/defs.js";
import { PciRoot } from "../../src/platform/pci/root.js";
import { PciBridge } from "../../src/platform/pci/bridge.js";
import type { PciFunction } from "../../src/pci.js";
import { pciIntxGsi } from "../../src/machine/interrupts.js";

function blank(id: number): PciFunction {
  return { bars: [], configRead: (o, w) => (o === 0 ? (w === 4 ? id >>> 0 : id & 0xffff) : 0), configWrite: () => {}, barRead: () => 0, barWrite: () => {} };
}

describe("PCI-to-PCI bridge", () => {
  it("forwards type 1 cycles only for the buses its registers name, two levels deep, and none while its secondary bus is in reset", async () => {
    const root = new PciRoot();
    const b = new PciBridge(), c = new PciBridge();
    root.bus.attach(3, 0, b);
    b.bus.attach(0, 0, c);
    c.bus.attach(5, 0, blank(0x1234_5678));
    expect(root.configRead(4, 5, 0, 0, 4)).toBe(0xffffffff); // power-on: bus numbers 0, nothing forwarded
    root.configWrite(0, 3, 0, Bridge.SECONDARY_BUS, 1, 3);
    root.configWrite(0, 3, 0, Bridge.SUBORDINATE_BUS, 1, 3);
    root.configWrite(3, 0, 0, Bridge.SECONDARY_BUS, 1, 4);
    root.configWrite(3, 0, 0, Bridge.SUBORDINATE_BUS, 1, 4);
    expect(c.secondaryNumber).toBe(4);
    expect(root.configRead(4, 5, 0, 0, 4)).toBe(0xffffffff); // B's range [3, 3] stops short of bus 4
    root.configWrite(0, 3, 0, Bridge.SUBORDINATE_BUS, 1, 4);
    expect(root.configRead(4, 5, 0, 0, 4)).toBe(0x1234_5678);
    root.configWrite(0, 3, 0, Bridge.CONTROL, 2, BridgeCtl.SEC_BUS_RESET);
    expect(root.configRead(4, 5, 0, 0, 4)).toBe(0xffffffff);
    expect(root.configRead(3, 0, 0, 0, 2)).toBe(0xffff);
    root.configWrite(0, 3, 0, Bridge.CONTROL, 2, 0);
    expect(root.configRead(3, 0, 0, 0, 2)).toBe(0x1b36);
    expect(root.counters().masterAborts).toBe(4);
    // Read-only parts of the header do not move.
    root.configWrite(0, 3, 0, 0, 4, 0);
    root.configWrite(0, 3, 0, 0x0e, 1, 0);
    expect([root.configRead(0, 3, 0, 0, 2), root.configRead(0, 3, 0, 0x0e, 1), root.configRead(0, 3, 0, 0x08, 4) >>> 8]).toEqual([0x1b36, 1, 0x060400]);
  });

  it("decodes memory and I/O behind it only with the space enabled in its command register and the address in a window", async () => {
    const r = await pciRig();
    const rep = assignPci(r.root);
    const pfBar4 = rep.bars.find((b) => b.bus === 1 && !b.vf && b.index === 4)!;
    expect(r.root.decode(pfBar4.base + 0x14)).toMatchObject({ bar: 4, offset: 0x14 });
    const cmd = r.a.command;
    r.a.configWrite(4, 2, cmd & ~Cmd.MEMORY);
    expect(r.root.decode(pfBar4.base)).toBeUndefined();
    r.a.configWrite(4, 2, cmd);
    // Move the window's base past the BAR: its address is no longer forwarded; back, and it is.
    const base = r.a.configRead(Bridge.MEM_BASE, 2);
    r.a.configWrite(Bridge.MEM_BASE, 2, (((pfBar4.base + 0x10_0000) >>> 16) & 0xfff0));
    expect(r.root.decode(pfBar4.base)).toBeUndefined();
    r.a.configWrite(Bridge.MEM_BASE, 2, base);
    expect(r.root.decode(pfBar4.base)).toMatchObject({ bar: 4, offset: 0 });
    // The e1000's I/O BAR on bus 0, through port I/O.
    const io = rep.bars.find((b) => b.kind === "io")!;
    expect(r.root.decode(io.base, true)).toMatchObject({ bar: io.index, offset: 0 });
    expect(r.root.decode(io.base + io.size, true)).toBeUndefined();
    // Prefetchable window registers: 64-bit capable, off after firmware (nothing prefetchable behind).
    expect(r.a.configRead(Bridge.PREF_BASE, 2) & 0xf).toBe(1);
    expect(r.a.prefWindow()).toBeNull();
  });

  it("Configuration Mechanism #1 (0xCF8/0xCFC) reaches the same functions, 256 bytes each", async () => {
    const r = await pciRig();
    assignPci(r.root);
    const cf8 = (bus: number, dev: number, fn: number, off: number) => (0x8000_0000 | (bus << 16) | (dev << 11) | (fn << 8) | off) >>> 0;
    r.root.ioWrite(0xcf8, 4, cf8(0, 2, 1, 0));
    expect(r.root.ioRead(0xcfc, 4)).toBe(0x1041_1af4);
    expect(r.root.ioRead(0xcfe, 2)).toBe(0x1041);
    r.root.ioWrite(0xcf8, 4, cf8(0, 1, 0, 0x18));
    expect(r.root.ioRead(0xcfc + 1, 1)).toBe(1); // bridge A's secondary bus
    r.root.ioWrite(0xcf8, 4, cf8(0, 1, 0, 0x18) & 0x7fffffff);
    expect(r.root.ioRead(0xcfc, 4)).toBe(0xffffffff); // enable bit clear
  });

  it("a function without function 0 in its slot is not seen (PCI 3.0 §6.2.1); function 0's header type reads the multi-function bit", () => {
    const root = new PciRoot();
    root.bus.attach(4, 1, blank(0x1111_2222));
    expect(root.configRead(0, 4, 1, 0, 4)).toBe(0xffffffff);
    root.bus.attach(4, 0, blank(0x3333_4444));
    expect(root.configRead(0, 4, 1, 0, 4)).toBe(0x1111_2222);
    expect(root.configRead(0, 4, 0, 0x0e, 1)).toBe(0x80);
    expect(root.configRead(0, 4, 0, 0x0c, 2)).toBe(0);
    root.bus.detach(4, 1);
    expect(root.configRead(0, 4, 0, 0x0e, 1)).toBe(0);
    expect(() => root.bus.attach(4, 0, blank(1))).toThrow(/taken/);
  });

  it("INTx behind bridges is swizzled at each one (Bridge Architecture §9.1) to the slot and pin the root's router sees", async () => {
    const r = await pciRig();
    // The PF at 01:00.0 behind A (00:01.0): INTA# → A's pin (0 + 0) mod 4 = INTA# of slot 1.
    expect(r.a.bus.intxAtRoot(0, 0)).toEqual({ slot: 1, pin: 0 });
    // Device 5 behind A, INTB#: (5 + 1) mod 4 = INTC# of slot 1.
    expect(r.a.bus.intxAtRoot(5, 1)).toEqual({ slot: 1, pin: 2 });
    // Two levels: the function behind C (00.0 on B's bus) behind B (00:03.0), INTD#: C maps (0 + 3) = 3, B maps (0 + 3) = 3.
    expect(r.c.bus.intxAtRoot(0, 3)).toEqual({ slot: 3, pin: 3 });
    expect(r.c.bus.intxAtRoot(2, 1)).toEqual({ slot: 3, pin: 3 });
    const at = r.c.bus.intxAtRoot(2, 1);
    expect(pciIntxGsi(at.slot, at.pin)).toBe(16 + ((3 + 3) & 3));
    expect(r.root.bus.intxAtRoot(7, 2)).toEqual({ slot: 7, pin: 2 });
  });
});
