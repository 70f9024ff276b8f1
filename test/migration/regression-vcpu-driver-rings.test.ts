// A buffer the guest made available without a kick yet, at the moment the
// source freezes: the source's NIC (quiesced) leaves it alone, so it travels
// in the final round as guest RAM. Restoring the NIC on the destination must
// not process it: the destination verifies its RAM against the source's after
// the device states are in, and until CONFIRM the source may still take the
// VM back (a frame sent by the destination then would go out twice). The
// destination's resume looks at every queue and sends it, once. Likewise a
// host frame that reaches a NIC during the downtime (held in its backlog,
// saved with its state) is delivered to the guest by the destination's
// resume, not by its restore; for virtio-net and the e1000 alike.
import { describe, it, expect, afterEach } from "vitest";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine } from "../../src/machine/machine.js";
import { machinePciBus } from "../../src/machine/pci-bus.js";
import { MachineVirtioNet } from "../../src/devices/virtio-net/machine.js";
import type { MachineE1000 } from "../../src/devices/e1000/machine.js";
import { E1000Driver } from "../../src/guest/e1000/driver.js";
import { GuestRam } from "../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../../src/guest/virtio/net-driver.js";
import { PciTransport } from "../../src/guest/virtio/transport.js";
import { frame, seqOf } from "../../src/guest/virtio/frames.js";
import { migrate, receiveMigration, portPair } from "../../src/migration/index.js";
import { MachineSource, machineDestinationFactory, type MachineDestination } from "../../src/migration/machine-adapter.js";
import { debugWasm } from "../support/core.js";

const machines: Machine[] = [];
afterEach(async () => { for (const m of machines.splice(0)) await m.destroy(); });

// The vCPUs dirty [0, 16 MiB); the driver's rings and buffers live in [16 MiB, 32 MiB).
const CONFIG = ["memory.size=32M", "cpus=1", "workload.pages=4096", "pci.0.3.0.device=virtio-net"];
const cfg = (lines = CONFIG) => { const c = new ConfigTree(); c.load(lines.join("\n") + "\n"); return c; };
const nicOf = (m: Machine) => m.devicesByNode.get("pci.0.3.0") as MachineVirtioNet;

describe("migration with a guest buffer made available but not yet kicked", () => {
  it("regression_restore_processes_no_queue: the destination's RAM verifies, and the frame goes out once, from the destination after its resume", async () => {
    const src = await Machine.create(cfg(), { module: debugWasm(), variant: "debug" });
    machines.push(src);
    const drv = new VirtioNetDriver(new PciTransport(machinePciBus(src).find(0, 3, 0)!.fn, { msixVectors: 64 }), new GuestRam(src.core), new InterruptRecorder(), { heap: [16 << 20, 32 << 20] });
    drv.init();
    const fromSource: number[] = [];
    nicOf(src).nic.onTransmit = (f) => fromSource.push(seqOf(f));
    // The driver published the chain in the avail ring; its notify has not happened (§2.7.13).
    expect(drv.transmit(frame({ dst: Uint8Array.of(2, 0, 0, 0, 0, 9), seq: 41 }), 0, { kick: false })).toBe(true);

    let dest: MachineDestination | undefined;
    const fromDest: Array<{ seq: number; resumed: boolean }> = [];
    const factory = machineDestinationFactory(cfg(), {
      module: debugWasm(), variant: "debug",
      onCreated: (d) => {
        dest = d; machines.push(d.machine);
        nicOf(d.machine).nic.onTransmit = (f) => fromDest.push({ seq: seqOf(f), resumed: d.resumed });
      },
    });
    const [a, b] = portPair();
    const [report, received] = await Promise.all([migrate(new MachineSource(src), a, { maxRounds: 2 }), receiveMigration(b, factory)]);
    expect(report.error).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.verified).toBe(true);
    expect(report.untrackedPages).toBe(0);
    expect(received.resumed).toBe(true);
    expect(dest!.resumed).toBe(true);
    expect(fromSource).toEqual([]);
    expect(fromDest).toEqual([{ seq: 41, resumed: true }]);
  });

  /** A guest driver model of each NIC, able to continue on the destination's copy of the device and RAM. */
  const nics = {
    "virtio-net": (m: Machine) => {
      const drv = new VirtioNetDriver(new PciTransport(machinePciBus(m).find(0, 3, 0)!.fn, { msixVectors: 64 }), new GuestRam(m.core), new InterruptRecorder(), { heap: [16 << 20, 32 << 20] });
      drv.init();
      return {
        mac: drv.mac,
        rebind: (d: Machine) => drv.rebind(new PciTransport(machinePciBus(d).find(0, 3, 0)!.fn, { msixVectors: 64 }), new GuestRam(d.core)),
        received: () => { drv.service(); drv.pollRx(); return drv.takeReceived().map((f) => seqOf(f.data)); },
      };
    },
    e1000: (m: Machine) => {
      const drv = new E1000Driver(machinePciBus(m).find(0, 3, 0)!.fn, new GuestRam(m.core), { heap: [16 << 20, 24 << 20] });
      drv.init();
      return {
        mac: drv.mac,
        rebind: (d: Machine) => drv.rebind(machinePciBus(d).find(0, 3, 0)!.fn, new GuestRam(d.core)),
        received: () => { drv.pollRx(); return drv.takeReceived().map((f) => seqOf(f.data)); },
      };
    },
  };

  for (const [model, driver] of Object.entries(nics)) {
    it(`regression_restore_delivers_no_backlog_frame (${model}): a frame held during the downtime reaches the guest once, after the destination's resume`, async () => {
      const lines = CONFIG.map((l) => l.replace("device=virtio-net", `device=${model}`));
      const src = await Machine.create(cfg(lines), { module: debugWasm(), variant: "debug" });
      machines.push(src);
      const drv = driver(src);
      expect(drv.received()).toEqual([]);
      // The frame arrives once the NIC is quiesced for its save: the device holds it in its backlog.
      const srcNic = src.devicesByNode.get("pci.0.3.0") as MachineVirtioNet | MachineE1000;
      const quiesce = srcNic.quiesce.bind(srcNic);
      let held = -1;
      srcNic.quiesce = () => { quiesce(); expect(srcNic.nic.receive(frame({ dst: drv.mac, seq: 42 }))).toBe(0); held = srcNic.nic.backlogLength; };
      let dest: MachineDestination | undefined;
      let atResume: number[] | undefined;
      const factory = machineDestinationFactory(cfg(lines), {
        module: debugWasm(), variant: "debug",
        onCreated: (d) => { dest = d; machines.push(d.machine); },
        // The machine runs again, before its devices' announce (their look at every queue): what its guest finds in its RX ring.
        onResume: (d) => { drv.rebind(d.machine); atResume = drv.received(); },
      });
      const [a, b] = portPair();
      const [report, received] = await Promise.all([migrate(new MachineSource(src), a, { maxRounds: 2 }), receiveMigration(b, factory)]);
      expect(report.error).toBeUndefined();
      expect(report.ok).toBe(true);
      expect(report.verified).toBe(true);
      expect(held).toBe(1);
      expect(received.resumed).toBe(true);
      expect(dest!.resumed).toBe(true);
      expect(atResume).toEqual([]);
      expect(drv.received()).toEqual([42]);
      expect(drv.received()).toEqual([]);
    });
  }
});
