// IOAPIC delivery through the local APICs' router: edge against level,
// polarity, masks, remote IRR and its EOI (broadcast and directed), delivery
// and destination modes, a bounded flood, several IOAPICs.
import { describe, it, expect } from "vitest";
import { ApicBus, IoApic, IoApicBoard, ManualClock, ApicEvent } from "../../../src/index.js";
import { newCore } from "../../support/core.js";
import { ioapicVm, IoApicDriver, GuestCpu, irr } from "./support.js";

describe("IOAPIC delivery", () => {
  it("edge: one message per inactive → active edge; holding or re-driving the level sends nothing more", async () => {
    const { io, bus } = await ioapicVm(2);
    const d = new IoApicDriver(io);
    d.program(4, { vector: 0x31, dest: 1 });
    const a = bus.apic(1);
    io.setPin(4, true);
    expect(irr(a, 0x31)).toBe(true);
    expect(irr(bus.apic(0), 0x31)).toBe(false);
    a.ack(); a.mmioWrite(0xb0, 4, 0);
    io.setPin(4, true); // still high: no edge
    expect(a.pendingVector()).toBeNull();
    io.setPin(4, false); io.setPin(4, true);
    expect(a.pendingVector()).toBe(0x31);
    expect(io.counters()).toMatchObject({ delivered: 2n, noTarget: 0n });
    expect(d.remoteIrr(4)).toBe(false); // edge entries never set remote IRR
    a.ack(); a.mmioWrite(0xb0, 4, 0);
    expect(bus.takeEoiBroadcasts()).toEqual([]); // and their vector is edge in TMR: no EOI broadcast
  });

  it("polarity: an active-low entry is asserted while its pin is low", async () => {
    const { io, bus } = await ioapicVm(1);
    const d = new IoApicDriver(io);
    io.setPin(9, true); // idle high
    d.program(9, { vector: 0x40, activeLow: true });
    expect(bus.apic(0).pendingVector()).toBeNull();
    io.setPin(9, false);
    expect(bus.apic(0).pendingVector()).toBe(0x40);
  });

  it("edge on a masked pin is lost; a level asserted while masked is delivered when unmasked", async () => {
    const { io, bus } = await ioapicVm(1);
    const d = new IoApicDriver(io);
    const a = bus.apic(0);
    d.program(3, { vector: 0x33, masked: true });
    io.setPin(3, true); io.setPin(3, false);
    d.unmask(3);
    expect(a.pendingVector()).toBeNull();
    expect(io.counters().edgeMasked).toBe(1n);
    d.program(5, { vector: 0x35, level: true, masked: true });
    io.setPin(5, true);
    expect(a.pendingVector()).toBeNull();
    d.unmask(5);
    expect(a.pendingVector()).toBe(0x35);
    expect(d.remoteIrr(5)).toBe(true);
  });

  it("level: remote IRR holds further messages until the EOI broadcast; a line still asserted at EOI is delivered again", async () => {
    const { io, bus } = await ioapicVm(1);
    const d = new IoApicDriver(io);
    const a = bus.apic(0);
    d.program(7, { vector: 0x51, level: true });
    io.setPin(7, true);
    expect(d.remoteIrr(7)).toBe(true);
    expect(a.ack()).toBe(0x51);
    io.setPin(7, false); io.setPin(7, true); // re-asserted while in service: held by remote IRR
    expect(io.counters().levelCoalesced).toBe(1n);
    expect(a.pendingVector()).toBeNull();
    a.mmioWrite(0xb0, 4, 0); // EOI of a level vector: broadcast to the IOAPIC, which takes it on its next call
    expect(io.service()).toBe(1);
    expect(a.pendingVector()).toBe(0x51); // still asserted: sent again
    expect(d.remoteIrr(7)).toBe(true);
    expect(io.counters()).toMatchObject({ remoteIrrCleared: 1n, redelivered: 1n, eoiBroadcast: 1n, delivered: 2n });
    a.ack();
    io.setPin(7, false);
    a.mmioWrite(0xb0, 4, 0);
    expect(d.remoteIrr(7)).toBe(false); // the register read took the broadcast first
    expect(a.pendingVector()).toBeNull();
  });

  it("a flood of level assertions costs one message per EOI", async () => {
    const { io, bus } = await ioapicVm(1);
    const d = new IoApicDriver(io);
    const a = bus.apic(0);
    d.program(2, { vector: 0x60, level: true });
    for (let i = 0; i < 10_000; i++) { io.setPin(2, true); io.setPin(2, false); }
    io.setPin(2, true);
    expect(io.counters()).toMatchObject({ delivered: 1n, levelCoalesced: 10_000n });
    expect(bus.counters().delivered).toBe(1n);
    // The guest's EOIs are the only thing that lets another message out.
    const cpu = new GuestCpu(a, io);
    expect(cpu.run(5)).toBe(5);
    expect(io.counters().delivered).toBe(6n);
  });

  it("directed EOI: with EOI broadcast suppressed (SVR bit 12) only the EOI register clears remote IRR", async () => {
    const { io, bus } = await ioapicVm(1);
    const d = new IoApicDriver(io);
    const a = bus.apic(0);
    a.mmioWrite(0xf0, 4, 0x11ff);
    d.program(10, { vector: 0x70, level: true });
    io.setPin(10, true);
    a.ack(); io.setPin(10, false); a.mmioWrite(0xb0, 4, 0);
    expect(io.service()).toBe(0);
    expect(d.remoteIrr(10)).toBe(true);
    expect(d.eoi(0x71)).toBe(0); // another vector: no match
    expect(d.remoteIrr(10)).toBe(true);
    d.eoi(0x70);
    expect(d.remoteIrr(10)).toBe(false);
    expect(io.counters()).toMatchObject({ eoiDirected: 2n, remoteIrrCleared: 1n, eoiBroadcast: 0n });
  });

  it("version 0x11: the level → edge → level toggle a guest without the EOI register uses clears remote IRR", async () => {
    const { io, bus } = await ioapicVm(1, { version: 0x11 });
    const d = new IoApicDriver(io);
    const a = bus.apic(0);
    a.mmioWrite(0xf0, 4, 0x11ff); // broadcast suppressed, and no EOI register: the toggle is all there is
    d.program(11, { vector: 0x72, level: true });
    io.setPin(11, true);
    a.ack(); io.setPin(11, false); a.mmioWrite(0xb0, 4, 0);
    expect(d.remoteIrr(11)).toBe(true);
    d.program(11, { vector: 0x72, level: false, masked: true });
    expect(d.remoteIrr(11)).toBe(false);
    d.program(11, { vector: 0x72, level: true });
    io.setPin(11, true);
    expect(a.pendingVector()).toBe(0x72);
  });

  it("delivery modes: NMI, INIT, ExtINT become events; SMI too; 011 and 110 are reserved and counted", async () => {
    const { io, bus } = await ioapicVm(2);
    const d = new IoApicDriver(io);
    const a = bus.apic(1);
    const fire = (pin: number) => { io.setPin(pin, true); io.setPin(pin, false); };
    d.program(0, { vector: 0, dm: 4, dest: 1 }); fire(0);
    d.program(1, { vector: 0, dm: 5, dest: 1 }); fire(1);
    d.program(2, { vector: 0, dm: 7, dest: 1 }); fire(2);
    d.program(3, { vector: 0, dm: 2, dest: 1 }); fire(3);
    expect(a.takeEvents()).toBe(ApicEvent.nmi | ApicEvent.init | ApicEvent.extint | ApicEvent.smi);
    d.program(4, { vector: 0x40, dm: 3, dest: 1 }); fire(4);
    d.program(5, { vector: 0x40, dm: 6, dest: 1 }); fire(5);
    expect(io.counters().reservedMode).toBe(2n);
    expect(a.pendingVector()).toBeNull();
    // NMI with the trigger bit set is still edge (§3.2.4): no remote IRR, one message per edge.
    d.program(6, { vector: 0, dm: 4, dest: 1, level: true });
    io.setPin(6, true);
    expect(d.remoteIrr(6)).toBe(false);
    expect(a.takeEvents()).toBe(ApicEvent.nmi);
  });

  it("destinations: physical broadcast 0xFF, logical flat, lowest priority, and one that matches nobody", async () => {
    const { io, bus } = await ioapicVm(3);
    const d = new IoApicDriver(io);
    d.program(1, { vector: 0x41, dest: 0xff });
    io.setPin(1, true);
    expect([0, 1, 2].map((i) => irr(bus.apic(i), 0x41))).toEqual([true, true, true]);
    bus.apic(0).mmioWrite(0xd0, 4, 0x01000000);
    bus.apic(2).mmioWrite(0xd0, 4, 0x04000000);
    d.program(2, { vector: 0x42, dest: 0x05, logical: true });
    io.setPin(2, true);
    expect([0, 1, 2].map((i) => irr(bus.apic(i), 0x42))).toEqual([true, false, true]);
    bus.apic(0).mmioWrite(0x80, 4, 0x80); // TPR: APIC 2 has the lowest priority
    d.program(3, { vector: 0x43, dm: 1, dest: 0x05, logical: true });
    io.setPin(3, true);
    expect([0, 1, 2].map((i) => irr(bus.apic(i), 0x43))).toEqual([false, false, true]);
    d.program(4, { vector: 0x44, dest: 9, level: true });
    io.setPin(4, true);
    expect(io.counters().noTarget).toBe(1n);
    expect(d.remoteIrr(4)).toBe(false); // no local APIC accepted it
    d.program(4, { vector: 0x44, dest: 1, level: true }); // re-aimed: the asserted line goes out at once
    expect(irr(bus.apic(1), 0x44)).toBe(true);
    expect(d.remoteIrr(4)).toBe(true);
  });

  it("extended destination ID (bits 55:49) reaches x2APICs up to 1023 of a 1024-vCPU VM when the APICs read it", async () => {
    const core = await newCore(1 << 16);
    const bus = ApicBus.create(core, { cpus: 1024, clock: new ManualClock(), msiExtendedDestId: true });
    for (const id of [299, 1023]) bus.apic(id).wrmsr(0x80f, 0x1ffn); // x2APIC mode from power-up (ID > 254): software-enable
    bus.apic(255).wrmsr(0x80f, 0x1ffn);
    const io = IoApic.create(core, { pinLevels: IoApicBoard.idleLevels(0) });
    const d = new IoApicDriver(io);
    d.program(20, { vector: 0x90, dest: 299 & 0xff, extDest: 299 >> 8, activeLow: true, level: true });
    io.setPin(20, false);
    expect(bus.apic(299).pendingVector()).toBe(0x90);
    expect(bus.apic(299 & 0xff).pendingVector()).toBeNull();
    // 1023 = 0x3FF: a low byte of 0xFF with extended bits set is APIC 1023, not the 8-bit broadcast.
    d.program(21, { vector: 0x91, dest: 0xff, extDest: 3, activeLow: true, level: true });
    io.setPin(21, false);
    expect(bus.apic(1023).pendingVector()).toBe(0x91);
    expect(bus.apic(255).pendingVector()).toBeNull();
    expect(io.counters()).toMatchObject({ delivered: 2n, noTarget: 0n });
  });

  it("two IOAPICs: GSIs split by base; an EOI broadcast reaches both", async () => {
    const { core, io, bus } = await ioapicVm(1);
    const second = IoApic.create(core, { id: 1, gsiBase: 24, pinLevels: IoApicBoard.idleLevels(24) });
    const board = new IoApicBoard([io, second]);
    expect(board.pinOf(30)).toEqual({ ioapic: second, pin: 6 });
    const d0 = new IoApicDriver(io), d1 = new IoApicDriver(second);
    d0.program(17, { vector: 0x80, level: true, activeLow: true });
    d1.program(6, { vector: 0x80, level: true, activeLow: true });
    board.gsi(17, true); board.gsi(30, true);
    expect(d0.remoteIrr(17) && d1.remoteIrr(6)).toBe(true);
    const a = bus.apic(0);
    a.ack();
    board.gsi(17, false); board.gsi(30, false);
    a.mmioWrite(0xb0, 4, 0);
    expect(d0.remoteIrr(17) || d1.remoteIrr(6)).toBe(false);
    board.gsi(99, true);
    expect(board.unwired).toBe(1);
    second.destroy(); // a line into a removed IOAPIC goes nowhere, and says so
    board.gsi(30, true);
    expect(board.unwired).toBe(2);
  });

  it("regression_board_idle_high_counted_as_masked_edges: pins created at the board's idle levels see no edge", async () => {
    // Driving the PCI pins high after creation used to count 8 lost edges on the masked reset entries.
    const { io } = await ioapicVm(1);
    expect(io.pins()).toBe(0xff0000);
    expect(io.counters().edgeMasked).toBe(0n);
    const core = io.core;
    const other = IoApic.create(core, { id: 1, gsiBase: 24 });
    new IoApicBoard([other]);
    expect(other.pins()).toBe(0xffffff);
    expect(other.counters().edgeMasked).toBe(24n); // without pinLevels the board's drive is 24 edges on masked entries
  });
});
