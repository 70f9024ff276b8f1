// `ring_port=copy|ring` on a Machine's virtio-net: the machine builds the
// ring pair and binds the NIC; the guest (the spec-written driver model) and
// a backend working the rings exchange frames; the mode switches live through
// the NIC's exclusive serializer; bad configs are refused naming the key; the
// memory plan covers the rings; a migrated Machine comes up bound again.
import { describe, it, expect, afterEach } from "vitest";
import { ConfigTree } from "../../../src/config/tree.js";
import { Machine } from "../../../src/machine/machine.js";
import { MachineVirtioNet } from "../../../src/devices/virtio-net/machine.js";
import { MachineRingPort } from "../../../src/devices/virtio-net/machine-ring-port.js";
import { NetmapRingUser } from "../../../src/rings/netmap-user.js";
import { machinePciBus } from "../../../src/machine/pci-bus.js";
import { VirtioNetDriver } from "../../../src/guest/virtio/net-driver.js";
import { PciTransport } from "../../../src/guest/virtio/transport.js";
import { GuestRam } from "../../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../../src/guest/virtio/interrupts.js";
import { VirtioNet } from "../../../src/devices/virtio-net/device.js";
import { migrate, receiveMigration, portPair } from "../../../src/migration/index.js";
import { MachineSource, machineDestinationFactory, type MachineDestination } from "../../../src/migration/machine-adapter.js";
import { debugWasm, newCore } from "../../support/core.js";
import { tagged } from "../../rings/support.js";

const machines: Machine[] = [];
afterEach(async () => { for (const m of machines.splice(0)) await m.destroy(); });

const BASE = ["memory.size=32M", "cpus=1", "pci.0.3.0.device=virtio-net", "pci.0.3.0.mac=52:54:00:00:00:0b"];
const cfg = (lines: string[]) => { const c = new ConfigTree(); for (const l of lines) { const i = l.indexOf("="); c.set(l.slice(0, i), l.slice(i + 1)); } return c; };
const seqAt = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset).getUint32(18, true);

async function machineWith(extra: string[]) {
  const m = await Machine.create(cfg([...BASE, ...extra]), { module: debugWasm(), variant: "debug" });
  machines.push(m);
  const dev = m.devicesByNode.get("pci.0.3.0") as MachineVirtioNet;
  const fn = machinePciBus(m).find(0, 3, 0)!.fn;
  // The driver's rings and buffers in the top half of guest RAM, away from the vCPU's workload pages.
  const drv = new VirtioNetDriver(new PciTransport(fn, { msixVectors: 64 }), new GuestRam(m.core), new InterruptRecorder(), { heap: [16 << 20, 32 << 20], queueSize: 256 });
  drv.init();
  return { m, dev, drv };
}

describe("a Machine virtio-net with ring_port", () => {
  it("ring_port=ring: the guest's frames reach the egress ring and the backend's reach the guest, none through the host callbacks; a live switch to copy mode waits for the backend, then frames take the callbacks", async () => {
    const { m, dev, drv } = await machineWith(["pci.0.3.0.ring_port=ring", "pci.0.3.0.ring_slots=32"]);
    const rp = dev.ringPort!;
    expect(rp).toBeInstanceOf(MachineRingPort);
    expect(rp.mode).toBe("ring");
    const host: Uint8Array[] = [];
    dev.nic.onTransmit = (f) => host.push(f.slice());
    const out = NetmapRingUser.attach(m.core, rp.egress.handle), inn = NetmapRingUser.attach(m.core, rp.ingress.handle);
    for (let i = 0; i < 10; i++) expect(drv.transmit(tagged(100, 1, i))).toBe(true);
    rp.sync();
    expect(out.receive().map(seqAt)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(inn.send([0, 1, 2].map((i) => tagged(90, 2, i)))).toBe(3);
    rp.sync();
    drv.poll();
    expect(drv.takeReceived().map((f) => seqAt(f.data))).toEqual([0, 1, 2]);
    expect(host).toEqual([]);

    // Held by the backend: the switch waits (the operation stays running) until it takes them.
    for (let i = 10; i < 13; i++) expect(drv.transmit(tagged(100, 1, i))).toBe(true);
    rp.sync();
    let done = false;
    const toCopy = rp.setMode("copy").then((r) => { done = true; return r; });
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    expect(dev.exclusive.running).toBe("ringMode:copy");
    expect(out.receive().map(seqAt)).toEqual([10, 11, 12]);
    const r = await toCopy;
    expect([r.ok, r.reason]).toEqual([true, undefined]);
    expect(rp.mode).toBe("copy");
    expect(drv.transmit(tagged(100, 1, 13))).toBe(true);
    expect(host.map(seqAt)).toEqual([13]);
    expect((await rp.setMode("ring")).ok).toBe(true);
    expect(drv.transmit(tagged(100, 1, 14))).toBe(true);
    rp.sync();
    expect(out.receive().map(seqAt)).toEqual([14]);
    expect(host.map(seqAt)).toEqual([13]);
    expect(dev.nic.counters().rxDropped).toBe(0n);
  });

  it("ring_port=copy starts bound in copy mode (frames through the callbacks) and ring_port=off (the default) has no ring port", async () => {
    const a = await machineWith(["pci.0.3.0.ring_port=copy"]);
    expect(a.dev.ringPort!.mode).toBe("copy");
    const host: Uint8Array[] = [];
    a.dev.nic.onTransmit = (f) => host.push(f.slice());
    expect(a.drv.transmit(tagged(80, 1, 7))).toBe(true);
    expect(host.map(seqAt)).toEqual([7]);
    const b = await machineWith([]);
    expect(b.dev.ringPort).toBeNull();
  });

  it("bad configs are refused naming the key: a ring port with another backend, ring_slots out of range, an unknown mode", async () => {
    const bad = (extra: string[]) => Machine.create(cfg([...BASE, ...extra]), { module: debugWasm(), variant: "debug" }).then((m) => { machines.push(m); return "created"; }, (e: Error) => e.message);
    expect(await bad(["pci.0.3.0.ring_port=ring", "pci.0.3.0.backend=loopback"])).toMatch(/pci\.0\.3\.0\.ring_port: ring_port=ring needs backend=host/);
    expect(await bad(["pci.0.3.0.ring_port=ring", "pci.0.3.0.backend=switch:lan"])).toMatch(/needs backend=host/);
    expect(await bad(["pci.0.3.0.ring_port=ring", "pci.0.3.0.ring_slots=8"])).toMatch(/ring_slots/);
    expect(await bad(["pci.0.3.0.ring_port=yes"])).toMatch(/ring_port/);
  });

  it("the memory plan covers what the ring port takes, and unplugging the NIC gives the port, rings and pool back", async () => {
    const core = await newCore(4 << 20);
    const nic = VirtioNet.create(core, { mac: "52:54:00:00:00:0b", transport: "pci", interrupts: { msi() {}, intx() {} } });
    const o = { slots: 256, mtu: 9000 };
    const planned = MachineRingPort.memoryBytes(core, o);
    const free0 = Number(core.exports.vm_memory_free());
    const rp = MachineRingPort.create(nic, o, "ring", () => { throw new Error("not used"); });
    const used = free0 - Number(core.exports.vm_memory_free());
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThanOrEqual(planned);
    expect(rp.pool.bufferSize).toBeGreaterThanOrEqual(9000 + 18);

    const { m, dev } = await machineWith(["pci.0.3.0.ring_port=ring"]);
    const handles = [dev.ringPort!.port.handle, dev.ringPort!.egress.handle, dev.ringPort!.ingress.handle, dev.ringPort!.pool.handle];
    await m.unplug("pci.0.3.0");
    expect(dev.ringPort).toBeNull();
    for (const h of handles) expect(m.core.exports.ring_kind(h)).toBe(0);
  });

  it("a migrated Machine comes up with its NIC bound to a ring port in the mode its config names; frames the backend sends reach the guest's posted buffers", async () => {
    // The vCPU's workload stays below the driver's rings and buffers (16 MiB up), as a guest's own pages would.
    const lines = ["pci.0.3.0.ring_port=ring", "workload.pages=4096"];
    const { m: src, dev, drv } = await machineWith(lines);
    expect(drv.transmit(tagged(100, 1, 0))).toBe(true);
    dev.ringPort!.sync();
    let dest: MachineDestination | undefined;
    const factory = machineDestinationFactory(cfg([...BASE, ...lines]), { module: debugWasm(), variant: "debug", onCreated: (d) => { dest = d; machines.push(d.machine); } });
    const [a, b] = portPair();
    const [report, result] = await Promise.all([migrate(new MachineSource(src), a, { maxRounds: 2 }), receiveMigration(b, factory)]);
    expect(report.ok, report.error).toBe(true);
    expect(result.resumed).toBe(true);
    const d = dest!.machine.devicesByNode.get("pci.0.3.0") as MachineVirtioNet;
    const rp = d.ringPort!;
    expect(rp.mode).toBe("ring");
    const rx0 = d.nic.counters().rxFrames;
    expect(NetmapRingUser.attach(d.nic.core, rp.ingress.handle).send([tagged(90, 2, 0), tagged(90, 2, 1)])).toBe(2);
    rp.sync();
    expect(d.nic.counters().rxFrames - rx0).toBe(2n);
    expect(d.nic.counters().rxDropped).toBe(0n);
  });
});
