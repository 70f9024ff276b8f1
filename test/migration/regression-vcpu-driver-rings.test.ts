// A buffer the guest made available without a kick yet, at the moment the
// source freezes: the source's NIC (quiesced) leaves it alone, so it travels
// in the final round as guest RAM. Restoring the NIC on the destination must
// not process it: the destination verifies its RAM against the source's after
// the device states are in, and until CONFIRM the source may still take the
// VM back (a frame sent by the destination then would go out twice). The
// destination's resume looks at every queue and sends it, once.
import { describe, it, expect, afterEach } from "vitest";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine } from "../../src/machine/machine.js";
import { machinePciBus } from "../../src/machine/pci-bus.js";
import { MachineVirtioNet } from "../../src/devices/virtio-net/machine.js";
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
const cfg = () => { const c = new ConfigTree(); c.load(CONFIG.join("\n") + "\n"); return c; };
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
});
