// A restored NIC stays quiesced until its resume: a host frame that reaches it
// between the restore and the resume (a switch peer's, a backend's) waits in
// its backlog, counted, and writes no guest RAM — a migration destination
// verifies its RAM against the source's after the device states are in, and
// until CONFIRM the source may still take the VM back. Nothing is sent and no
// interrupt raised either; the resume delivers the frame and sends what the
// guest queued. For virtio-net, the e1000 and the NE2000.
import { describe, it, expect, afterEach } from "vitest";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine } from "../../src/machine/machine.js";
import { machinePciBus } from "../../src/machine/pci-bus.js";
import type { MachineVirtioNet } from "../../src/devices/virtio-net/machine.js";
import type { MachineE1000 } from "../../src/devices/e1000/machine.js";
import type { MachineNe2k } from "../../src/devices/ne2k/machine.js";
import { E1000Driver } from "../../src/guest/e1000/driver.js";
import { Ne2kDriver } from "../../src/guest/ne2k/driver.js";
import { pciPortIo } from "../../src/guest/ne2k/port-io.js";
import { GuestRam } from "../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../../src/guest/virtio/net-driver.js";
import { PciTransport } from "../../src/guest/virtio/transport.js";
import { frame, seqOf } from "../../src/guest/virtio/frames.js";
import { Status } from "../../src/status.js";
import { debugWasm } from "../support/core.js";

const machines: Machine[] = [];
afterEach(async () => { for (const m of machines.splice(0)) await m.destroy(); });

const PAGES = 8192; // memory.size=32M
const cfg = (model: string) => {
  const c = new ConfigTree();
  c.load(["memory.size=32M", "cpus=1", `pci.0.3.0.device=${model}`].join("\n") + "\n");
  return c;
};

/** A guest driver of each model: its MAC, what it received, a frame sent. */
const drivers = {
  "virtio-net": (m: Machine) => {
    const drv = new VirtioNetDriver(new PciTransport(machinePciBus(m).find(0, 3, 0)!.fn, { msixVectors: 64 }), new GuestRam(m.core), new InterruptRecorder(), { heap: [16 << 20, 32 << 20] });
    drv.init();
    return {
      mac: drv.mac, held: "rxHeld",
      received: () => { drv.service(); drv.pollRx(); return drv.takeReceived().map((f) => seqOf(f.data)); },
      send: (f: Uint8Array) => drv.transmit(f, 0),
    };
  },
  e1000: (m: Machine) => {
    const drv = new E1000Driver(machinePciBus(m).find(0, 3, 0)!.fn, new GuestRam(m.core), { heap: [16 << 20, 24 << 20] });
    drv.init();
    return {
      mac: drv.mac, held: "rxBacklogged",
      received: () => { drv.pollRx(); return drv.takeReceived().map((f) => seqOf(f.data)); },
      send: (f: Uint8Array) => drv.transmit(f),
    };
  },
  ne2k: (m: Machine) => {
    const fn = machinePciBus(m).find(0, 3, 0)!.fn;
    fn.configWrite(4, 2, 1); // I/O space
    const drv = new Ne2kDriver(pciPortIo(fn));
    drv.probe(); drv.init();
    return {
      mac: drv.mac, held: "rxBacklogged",
      received: () => { drv.service(); return drv.takeReceived().map((f) => seqOf(f)); },
      send: (f: Uint8Array) => { const ok = drv.transmit(f); drv.service(); return ok; },
    };
  },
};

describe("a restored NIC before its resume", () => {
  for (const [model, driver] of Object.entries(drivers)) {
    it(`regression_restored_nic_writes_no_guest_ram_before_resume (${model})`, async () => {
      const m = await Machine.create(cfg(model), { module: debugWasm(), variant: "debug" });
      machines.push(m);
      const dev = m.devicesByNode.get("pci.0.3.0") as MachineVirtioNet | MachineE1000 | MachineNe2k;
      const drv = driver(m);
      expect(drv.received()).toEqual([]);
      const sent: number[] = [];
      dev.nic.onTransmit = (f) => { sent.push(seqOf(f)); };
      let interrupts = 0;
      dev.events.addEventListener("interrupt", () => { interrupts++; });

      // The guest is frozen (as a destination's is until its resume): only the device could write RAM.
      await m.pause();
      dev.nic.quiesce();
      const blob = dev.saveState();
      expect(dev.restoreState(blob)).toBe(Status.OK);
      m.core.dirty.enable();
      const hashes = () => Array.from({ length: PAGES }, (_, p) => m.core.exports.gm_hash_page(p, 0n));
      const before = hashes();
      const held = () => (dev.nic.counters() as Record<string, bigint>)[drv.held];
      const heldBefore = held();

      // A peer's frame between the restore and the resume: held, counted, nothing written.
      expect(dev.nic.receive(frame({ dst: drv.mac, seq: 7 }))).toBe(Status.OK);
      expect(held()).toBe(heldBefore + 1n);
      expect(dev.nic.backlogLength).toBe(1);
      expect(m.core.dirty.harvest()).toEqual([]);
      expect(hashes()).toEqual(before);
      expect(interrupts).toBe(0);
      // A frame the guest queues is not sent either (the driver's own ring writes are the guest's).
      expect(drv.send(frame({ dst: Uint8Array.of(2, 0, 0, 0, 0, 9), seq: 8 }))).toBe(true);
      expect(sent).toEqual([]);
      expect(drv.received()).toEqual([]);

      // The resume lifts it: the held frame reaches the guest, the queued one goes out.
      dev.nic.resume();
      expect(drv.received()).toEqual([7]);
      expect(dev.nic.backlogLength).toBe(0);
      if (model !== "ne2k") expect(hashes()).not.toEqual(before);
      drv.received();
      expect(sent).toEqual([8]);
      expect(interrupts).toBeGreaterThan(0);
      expect(dev.nic.receive(frame({ dst: drv.mac, seq: 9 }))).toBe(Status.OK);
      expect(drv.received()).toEqual([9]);
      m.resume();
    });
  }
});
