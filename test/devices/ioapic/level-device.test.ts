// A level-triggered device serviced through the IOAPIC and the local APICs'
// EOI broadcast, with the guest's side played by a driver: its handler reads
// the device's status (acknowledging it), then the vCPU EOIs its local APIC.
// The interrupt is re-raised after every EOI until the device is serviced;
// events that arrive while the vector is in service are not lost.
import { describe, it, expect } from "vitest";
import { InterruptRouter, pciIntxGsi } from "../../../src/index.js";
import { rng, testSeed } from "../../support/core.js";
import { ioapicVm, IoApicDriver, GuestCpu, LevelDevice } from "./support.js";

const VECTOR = 0x62;

async function rig() {
  const vm = await ioapicVm(2);
  const drv = new IoApicDriver(vm.io);
  const gsi = 19;
  drv.program(gsi, { vector: VECTOR, level: true, activeLow: true, dest: 1 });
  const dev = new LevelDevice(vm.board, gsi);
  const cpu = new GuestCpu(vm.bus.apic(1), vm.io);
  return { ...vm, drv, dev, cpu, gsi };
}

describe("a level-triggered device through the IOAPIC", () => {
  it("re-raised after each EOI until the handler services the device; then quiet", async () => {
    const { io, dev, cpu, drv, gsi } = await rig();
    let calls = 0;
    cpu.handlers.set(VECTOR, () => { if (++calls >= 4) dev.readStatus(); }); // the first three calls find it "busy" and return
    dev.event();
    expect(drv.remoteIrr(gsi)).toBe(true);
    expect(cpu.run()).toBe(4);
    expect(cpu.taken).toEqual([VECTOR, VECTOR, VECTOR, VECTOR]);
    expect(io.counters()).toMatchObject({ delivered: 4n, redelivered: 3n, remoteIrrCleared: 4n });
    expect(drv.remoteIrr(gsi)).toBe(false);
    expect(cpu.step()).toBeNull();
    expect(dev.events).toBe(1);
  });

  it("a driver that services the device first gets one interrupt per event", async () => {
    const { io, dev, cpu } = await rig();
    cpu.handlers.set(VECTOR, () => dev.readStatus());
    for (let i = 0; i < 5; i++) { dev.event(); expect(cpu.run()).toBe(1); }
    expect(io.counters()).toMatchObject({ delivered: 5n, redelivered: 0n, levelCoalesced: 0n });
  });

  it("an event between the handler's acknowledge and its EOI is delivered at the EOI", async () => {
    const { io, dev, cpu } = await rig();
    let first = true;
    cpu.handlers.set(VECTOR, () => {
      dev.readStatus();
      if (first) { first = false; dev.event(2); } // the device signals again before the handler returns
    });
    dev.event(1);
    expect(cpu.step()).toBe(VECTOR);
    expect(io.counters().levelCoalesced).toBe(1n); // held by remote IRR, not lost
    expect(cpu.step()).toBe(VECTOR);
    expect(dev.status).toBe(0);
    expect(cpu.step()).toBeNull();
  });

  it("two devices sharing a line (wire-OR in the router): the line stays asserted until both are serviced", async () => {
    const { io, board, cpu, drv } = await rig();
    const router = new InterruptRouter();
    router.setController({ msi: () => {}, intx: () => {}, gsi: (g, a) => board.gsi(g, a) });
    // Slots 3 and 7 both put INTA on GSI 16 + 3 = 19.
    expect(pciIntxGsi(3, 0)).toBe(19);
    expect(pciIntxGsi(7, 0)).toBe(19);
    const a = router.sinkFor("a", { bus: 0, slot: 3, func: 0 }), b = router.sinkFor("b", { bus: 0, slot: 7, func: 0 });
    const status = { a: 0, b: 0 };
    cpu.handlers.set(VECTOR, () => {
      // The handler of the shared line polls each device; this guest services only `a` on the first call.
      if (status.a) { status.a = 0; a.intx(0, false); return; }
      if (status.b) { status.b = 0; b.intx(0, false); }
    });
    status.a = 1; a.intx(0, true);
    status.b = 1; b.intx(0, true);
    expect(router.gsiAsserted(19)).toBe(true);
    expect(cpu.step()).toBe(VECTOR);
    expect(router.gsiAsserted(19)).toBe(true); // b still holds it
    expect(cpu.step()).toBe(VECTOR);
    expect(router.gsiAsserted(19)).toBe(false);
    expect(cpu.step()).toBeNull();
    expect(drv.remoteIrr(19)).toBe(false);
    expect(io.counters().delivered).toBe(2n);
  });

  it("sustained: random events and a handler that sometimes defers; every event is serviced, one message per EOI at most", async () => {
    const seed = testSeed();
    const r = rng(seed);
    try {
      const { io, dev, cpu, bus } = await rig();
      let serviced = 0;
      cpu.handlers.set(VECTOR, () => { if (r() < 0.6) { const s = dev.readStatus(); for (let v = s; v; v &= v - 1) serviced++; } });
      let raised = 0;
      for (let i = 0; i < 20_000; i++) {
        const x = r();
        if (x < 0.3) { const bit = 1 << Math.floor(r() * 8); if (!(dev.status & bit)) raised++; dev.event(bit); }
        else if (x < 0.8) cpu.step();
      }
      // Drain: the guest keeps taking the interrupt until the device has nothing left.
      cpu.handlers.set(VECTOR, () => { const s = dev.readStatus(); for (let v = s; v; v &= v - 1) serviced++; });
      cpu.run(10);
      expect(dev.status).toBe(0);
      expect(serviced).toBe(raised);
      const c = io.counters();
      // Each message was taken exactly once by the guest; the IOAPIC never sent while remote IRR was set.
      expect(Number(c.delivered)).toBe(cpu.taken.length);
      expect(c.delivered).toBe(c.remoteIrrCleared);
      expect(bus.apic(1).pendingVector()).toBeNull();
    } catch (err) { console.error(`level device seed ${seed} (VMDEV_SEED=${seed} to replay)`); throw err; }
  });
});
