// The inspector on a real IOAPIC state: redirection entries decoded as the
// guest's driver programmed them, remote IRR and the asserted line mid-interrupt.
import { describe, it, expect } from "vitest";
import { inspectDevice } from "../../../src/index.js";
import { ioapicVm, IoApicDriver, LevelDevice } from "./support.js";

type Rte = { pin: number; gsi: number; vector: number; trigger: string; polarity: string; masked: boolean; remoteIrr: boolean; destination: number; deliveryMode: string };

describe("inspect: IOAPIC", () => {
  it("decodes each redirection entry and the pins' levels", async () => {
    const vm = await ioapicVm(2, { id: 2 });
    const drv = new IoApicDriver(vm.io);
    drv.program(18, { vector: 0x61, level: true, activeLow: true, dest: 1 });
    drv.program(4, { vector: 0x34, dest: 0 });
    drv.program(9, { vector: 0x39, level: true, masked: true });
    new LevelDevice(vm.board, 18).event();
    expect(vm.bus.apic(1).ack()).toBe(0x61);
    const [dump] = await inspectDevice(vm.io);
    expect(dump.state.errors).toEqual([]);
    const d = dump.state.device as { id: number; pins: number; highPins: number[]; redirection: Rte[] };
    expect(d.id).toBe(2);
    expect(d.pins).toBe(24);
    // PCI lines 16..23 idle high; the active-low line 18 is asserted, so low.
    expect(d.highPins).toEqual([16, 17, 19, 20, 21, 22, 23]);
    expect(d.redirection).toHaveLength(24);
    expect(d.redirection[18]).toMatchObject({ pin: 18, vector: 0x61, trigger: "level", polarity: "low", masked: false, remoteIrr: true, destination: 1, deliveryMode: "fixed" });
    expect(d.redirection[4]).toMatchObject({ vector: 0x34, trigger: "edge", polarity: "high", masked: false, remoteIrr: false, destination: 0 });
    expect(d.redirection[9]).toMatchObject({ vector: 0x39, trigger: "level", masked: true, remoteIrr: false });
    expect(d.redirection.filter((r) => !r.masked).map((r) => r.pin)).toEqual([4, 18]);
  });
});
