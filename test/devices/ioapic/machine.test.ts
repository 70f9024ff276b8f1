// The IOAPIC in the Machine: every machine has one (`ioapic0`); a virtio-net
// without MSI-X drives INTx pin A, which the router swizzles to GSI 19
// (slot 3) and the IOAPIC delivers to the local APICs. The guest's side is the
// virtio driver model plus an IOAPIC driver and a vCPU that takes the vector,
// runs the handler (the ISR read acknowledges the device) and EOIs; the
// interrupt is re-raised until the device is serviced, also across a save and
// restore into a fresh Machine mid-interrupt.
import { describe, it, expect } from "vitest";
import { ConfigTree } from "../../../src/config/tree.js";
import { Machine } from "../../../src/machine/machine.js";
import { LapicDevice } from "../../../src/devices/apic/machine.js";
import { IoApicDevice } from "../../../src/devices/ioapic/machine.js";
import { machinePciBus } from "../../../src/machine/pci-bus.js";
import { Status } from "../../../src/index.js";
import { GuestRam } from "../../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../../../src/guest/virtio/net-driver.js";
import { PciTransport } from "../../../src/guest/virtio/transport.js";
import { frame, seqOf } from "../../../src/guest/virtio/frames.js";
import { debugWasm } from "../../support/core.js";
import { until } from "../../support/wait.js";
import { IoApicDriver, GuestCpu } from "./support.js";

const VECTOR = 0x58;
const CONFIG = "memory.size=8M\ncpus=2\npci.0.3.0.device=virtio-net\npci.0.3.0.backend=loopback\n";
const config = (text: string) => { const c = new ConfigTree(); c.load(text); return c; };
const create = (text = CONFIG, startFrozen = false) => Machine.create(config(text), { module: debugWasm(), variant: "debug", startVcpus: false, startFrozen });
const ioapicOf = (m: Machine) => m.devicesByNode.get("ioapic") as IoApicDevice;
const lapics = (m: Machine) => m.devices.filter((d): d is LapicDevice => d instanceof LapicDevice);

/** The guest: local APICs enabled, GSI 19 (slot 3, INTA) programmed level/active low to vCPU 1, a virtio-net driver on INTx. */
function guest(m: Machine) {
  for (const d of lapics(m)) d.apic.mmioWrite(0xf0, 4, 0x1ff);
  const io = ioapicOf(m).ioapic;
  new IoApicDriver(io).program(19, { vector: VECTOR, level: true, activeLow: true, dest: 1 });
  const irq = new InterruptRecorder();
  m.interrupts.listen({ msi: (_s, msg) => irq.msi(msg), intx: (_s, pin, level) => irq.intx(pin, level) });
  const drv = new VirtioNetDriver(new PciTransport(machinePciBus(m).find(0, 3, 0)!.fn, { msixVectors: 0 }), new GuestRam(m.core), irq, { heap: [4 << 20, 8 << 20] });
  drv.init();
  drv.setRxMode(1, true); // promiscuous: the looped-back frame is addressed elsewhere
  return { io, drv, irq, cpu: new GuestCpu(lapics(m)[1].apic, io) };
}

describe("the Machine's IOAPIC", () => {
  it("is a platform device of every machine; ioapic.id and ioapic.version configure it; bad keys name themselves", async () => {
    const m = await create("memory.size=1M\nioapic.id=5\nioapic.version=0x11\n");
    try {
      const d = ioapicOf(m);
      expect(d.name).toBe("ioapic0");
      const drv = new IoApicDriver(d.ioapic);
      expect(drv.read(0)).toBe(5 << 24);
      expect(drv.read(1)).toBe(0x00170011);
      // The PCI lines idle high (active low); the ISA ones low.
      expect(d.ioapic.pins()).toBe(0xff0000);
    } finally { await m.destroy(); }
    await expect(create("memory.size=1M\nioapic.id=16\n")).rejects.toThrow(/^ioapic\.id: want a whole number from 0 to 15/);
    await expect(create("memory.size=1M\nioapic.version=0x12\n")).rejects.toThrow(/^ioapic\.version: want one of 0x20, 0x11/);
    await expect(create("memory.size=1M\nioapic.base=1\n")).rejects.toThrow("ioapic.base: unknown key for device ioapic");
  });

  it("virtio-net INTx reaches vCPU 1 through GSI 19; re-raised after each EOI until the handler reads the ISR", async () => {
    const m = await create();
    try {
      const { io, drv, irq, cpu } = guest(m);
      let calls = 0;
      cpu.handlers.set(VECTOR, () => { if (++calls === 3) drv.service(); }); // two deferrals, then the real handler
      expect(drv.transmit(frame({ dst: Uint8Array.of(2, 0, 0, 0, 0, 9), seq: 41 }))).toBe(true);
      expect(irq.intxLevel).toBe(true);
      expect(m.interrupts.gsiAsserted(19)).toBe(true);
      expect(io.redirection(19).remoteIrr).toBe(true);
      expect(lapics(m)[0].apic.pendingVector()).toBeNull();
      expect(cpu.run()).toBe(3);
      expect(drv.takeReceived().map((f) => seqOf(f.data))).toEqual([41]);
      expect(irq.intxLevel).toBe(false);
      expect(m.interrupts.gsiAsserted(19)).toBe(false);
      expect(io.counters()).toMatchObject({ delivered: 3n, redelivered: 2n });
      expect(io.redirection(19).remoteIrr).toBe(false);
    } finally { await m.destroy(); }
  });

  it("an EOI no IOAPIC call follows is taken by the EOI pump", async () => {
    const m = await create();
    try {
      const { io, drv } = guest(m);
      expect(drv.transmit(frame({ dst: Uint8Array.of(2, 0, 0, 0, 0, 9), seq: 1 }))).toBe(true);
      const a = lapics(m)[1].apic;
      expect(a.ack()).toBe(VECTOR);
      a.mmioWrite(0xb0, 4, 0); // the handler did nothing; the line is still asserted
      await until(() => a.pendingVector() === VECTOR, "the pump to re-deliver the still-asserted line");
      expect(ioapicOf(m).pumped).toBeGreaterThanOrEqual(1);
      expect(io.counters().redelivered).toBe(1n);
    } finally { await m.destroy(); }
  });

  it("saved mid-interrupt (remote IRR set, line asserted, vector in service), restored into a fresh Machine: the cycle completes there", async () => {
    const src = await create();
    const dst = await create(CONFIG, true);
    try {
      const { drv } = guest(src);
      expect(drv.transmit(frame({ dst: Uint8Array.of(2, 0, 0, 0, 0, 9), seq: 7 }))).toBe(true);
      expect(lapics(src)[1].apic.ack()).toBe(VECTOR);
      await src.pause();
      dst.core.guest.writeBytes(0, src.core.guest.readBytes(0, src.core.guest.size));
      const blobs = src.stateDevices.map((d) => d.saveState());
      expect(dst.stateDevices.map((d) => d.name)).toEqual(src.stateDevices.map((d) => d.name));
      dst.stateDevices.forEach((d, i) => expect(d.restoreState(blobs[i]), d.name).toBe(Status.OK));
      const io = ioapicOf(dst).ioapic;
      expect(io.redirection(19)).toMatchObject({ vector: VECTOR, remoteIrr: true, level: true, activeLow: true });
      expect(dst.interrupts.gsiAsserted(19)).toBe(true); // the restored NIC drove its line again
      // The guest goes on on the destination: EOI, taken again (ISR unread), then the handler reads the ISR.
      const a = lapics(dst)[1].apic;
      const transport = new PciTransport(machinePciBus(dst).find(0, 3, 0)!.fn);
      a.mmioWrite(0xb0, 4, 0);
      io.service();
      expect(a.ack()).toBe(VECTOR);
      expect(transport.takeIsr() & 1).toBe(1);
      a.mmioWrite(0xb0, 4, 0);
      io.service();
      expect(dst.interrupts.gsiAsserted(19)).toBe(false);
      expect(io.redirection(19).remoteIrr).toBe(false);
      expect(a.pendingVector()).toBeNull();
      expect(io.counters()).toMatchObject({ redelivered: 1n, remoteIrrCleared: 2n });
    } finally { await src.destroy(); await dst.destroy(); }
  });
});
