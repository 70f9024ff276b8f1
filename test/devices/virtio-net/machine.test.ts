// virtio-net as a Machine device: built from the config tree (bhyve keys and
// the `-s` shorthand), found on the machine's PCI bus, interrupts through the
// InterruptRouter (MSI-X and INTx), backends, and guest traffic to a peer VM
// that survives quiesce → save → restore into a fresh Machine with no frame
// lost or duplicated.
import { describe, it, expect } from "vitest";
import { ConfigTree, ConfigError } from "../../../src/config/tree.js";
import { Machine } from "../../../src/machine/machine.js";
import { configFromArgs } from "../../../src/cli/run.js";
import { MachineVirtioNet, virtioNetFactory } from "../../../src/devices/virtio-net/machine.js";
import { DeviceRegistry } from "../../../src/machine/registry.js";
import type { VmCore } from "../../../src/vm-core.js";
import { machinePciBus } from "../../../src/machine/pci-bus.js";
import { createNetPeer, startNetTraffic } from "../../../src/guest/traffic.js";
import { Status } from "../../../src/index.js";
import { GuestRam } from "../../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../../../src/guest/virtio/net-driver.js";
import { PciTransport } from "../../../src/guest/virtio/transport.js";
import { frame, macStr, seqOf } from "../../../src/guest/virtio/frames.js";
import { debugWasm } from "../../support/core.js";
import { until } from "../../support/wait.js";

const config = (lines: string) => { const c = new ConfigTree(); c.load(lines); return c; };
const create = (c: ConfigTree, startVcpus = false) => Machine.create(c, { module: debugWasm(), variant: "debug", startVcpus });

describe("virtio-net in the machine", () => {
  it("-s 3,virtio-net,mac=… and pci.0.3.0.device=virtio-net build the same NIC, found by bus/slot/function", async () => {
    const a = configFromArgs({ memory: "8M", slot: ["3,virtio-net,mac=52:54:00:aa:bb:03,queues=2"] });
    expect(a.get("pci.0.3.0.device")).toBe("virtio-net");
    expect(a.get("pci.0.3.0.mac")).toBe("52:54:00:aa:bb:03");
    const b = config("memory.size=8M\npci.0.3.0.device=virtio-net\npci.0.3.0.mac=52:54:00:aa:bb:03\npci.0.3.0.queues=2\n");
    for (const c of [a, b]) {
      const m = await create(c);
      try {
        const dev = m.devicesByNode.get("pci.0.3.0");
        expect(dev).toBeInstanceOf(MachineVirtioNet);
        expect(dev!.name).toBe("virtio-net0");
        const bus = machinePciBus(m);
        expect(bus.find(0, 4, 0)).toBeUndefined();
        expect(bus.configRead({ bus: 0, slot: 4, func: 0 }, 0, 2)).toBe(0xffff);
        const e = bus.find(0, 3, 0)!;
        expect(e.device).toBe(dev);
        expect(bus.findById(0x1af4, 0x1041).map((x) => x.node)).toEqual(["pci.0.3.0"]);
        const drv = new VirtioNetDriver(new PciTransport(e.fn, { msixVectors: 64 }), new GuestRam(m.core), new InterruptRecorder(), { queuePairs: 2, heap: [4 << 20, 8 << 20] });
        drv.init();
        expect(macStr(drv.mac)).toBe("52:54:00:aa:bb:03");
        expect(drv.maxPairs).toBe(2);
        expect(drv.activePairs).toBe(2);
      } finally { await m.destroy(); }
    }
  });

  it("bad virtio-net keys are errors naming the key; a default MAC is unicast and stable", async () => {
    const bad: Array<[string, RegExp]> = [
      ["pci.0.3.0.mac=01:00:5e:00:00:01", /pci\.0\.3\.0\.mac.*unicast/],
      ["pci.0.3.0.queues=9", /pci\.0\.3\.0\.queues/],
      ["pci.0.3.0.mtu=20", /pci\.0\.3\.0\.mtu/],
      ["pci.0.3.0.queue_size=100", /pci\.0\.3\.0\.queue_size.*power of two/],
      ["pci.0.3.0.backend=tap0", /pci\.0\.3\.0\.backend/],
      ["pci.0.3.0.speed=10G", /pci\.0\.3\.0\.speed.*unknown key/],
    ];
    for (const [line, re] of bad) {
      const c = config(`memory.size=4M\npci.0.3.0.device=virtio-net\n${line}\n`);
      await expect(create(c)).rejects.toThrow(ConfigError);
      await expect(create(c)).rejects.toThrow(re);
    }
    const macOf = async () => {
      const m = await create(config("memory.size=4M\npci.0.3.0.device=virtio-net\npci.0.4.0.device=virtio-net\n"));
      try {
        return [3, 4].map((s) => {
          const fn = machinePciBus(m).find(0, s, 0)!.fn;
          const t = new PciTransport(fn);
          return Array.from({ length: 6 }, (_, i) => t.cfgRead(i, 1));
        });
      } finally { await m.destroy(); }
    };
    const [m3, m4] = await macOf();
    expect(m3[0] & 1).toBe(0);
    expect(m3.slice(0, 3)).toEqual([0x52, 0x54, 0x00]);
    expect(m3).not.toEqual(m4);
    expect(await macOf()).toEqual([m3, m4]);
  });

  it("interrupts go through the machine's router: MSI-X messages, or INTx pin A without MSI-X", async () => {
    for (const msix of [true, false]) {
      const m = await create(config("memory.size=8M\npci.0.3.0.device=virtio-net\npci.0.3.0.backend=loopback\n"));
      try {
        const irq = new InterruptRecorder();
        const seen: string[] = [];
        m.interrupts.setController({ msi: (src) => seen.push(`msi:${src}`), intx: (src, pin, level) => seen.push(`intx:${src}:${pin}:${level}`) });
        m.interrupts.listen({ msi: (_s, msg) => irq.msi(msg), intx: (_s, pin, level) => irq.intx(pin, level) });
        const drv = new VirtioNetDriver(new PciTransport(machinePciBus(m).find(0, 3, 0)!.fn, { msixVectors: msix ? 64 : 0 }), new GuestRam(m.core), irq, { heap: [4 << 20, 8 << 20] });
        drv.init();
        drv.setRxMode(1, true); // promiscuous: the looped-back frame is for another MAC
        expect(drv.transmit(frame({ dst: Uint8Array.of(2, 0, 0, 0, 0, 9), seq: 77 }))).toBe(true);
        drv.service();
        const got = drv.takeReceived();
        expect(got.map((f) => seqOf(f.data))).toEqual([77]);
        const counts = m.interrupts.countsFor("virtio-net0");
        if (msix) {
          expect(counts.msi).toBeGreaterThan(0);
          expect(counts.intxAsserts).toBe(0);
          expect(seen.every((s) => s === "msi:virtio-net0")).toBe(true);
        } else {
          expect(counts.msi).toBe(0);
          expect(counts.intxAsserts).toBeGreaterThan(0);
          expect(seen).toContain("intx:virtio-net0:0:true");
          expect(counts.intxLevels[0]).toBe(false); // the driver's ISR read deasserted it
        }
      } finally { await m.destroy(); }
    }
  });

  it("backend=switch:NAME joins the machine's NICs on one in-wasm switch", async () => {
    const m = await create(config("memory.size=8M\npci.0.3.0.device=virtio-net\npci.0.3.0.backend=switch:lan\npci.0.4.0.device=virtio-net\npci.0.4.0.backend=switch:lan\n"));
    try {
      const bus = machinePciBus(m);
      const mk = (slot: number, heap: [number, number]) => {
        const irq = new InterruptRecorder();
        const name = bus.find(0, slot, 0)!.device.name;
        m.interrupts.listen({ msi: (s, msg) => { if (s === name) irq.msi(msg); }, intx: () => {} });
        const d = new VirtioNetDriver(new PciTransport(bus.find(0, slot, 0)!.fn, { msixVectors: 64 }), new GuestRam(m.core), irq, { heap });
        d.init();
        return d;
      };
      const d3 = mk(3, [2 << 20, 5 << 20]), d4 = mk(4, [5 << 20, 8 << 20]);
      for (let i = 0; i < 10; i++) expect(d3.transmit(frame({ dst: d4.mac, src: d3.mac, seq: i }))).toBe(true);
      d4.service();
      expect(d4.takeReceived().map((f) => seqOf(f.data))).toEqual([...Array(10).keys()]);
    } finally { await m.destroy(); }
  });

  it("traffic refuses a vCPU workload that would write the driver's rings", async () => {
    const m = await create(config("memory.size=8M\npci.0.3.0.device=virtio-net\n"));
    const peer = await createNetPeer({ module: debugWasm(), variant: "debug" });
    try {
      await expect(startNetTraffic(m, peer)).rejects.toThrow(/workload\.pages=1536/);
    } finally { await m.destroy(); }
  });

  it("traffic to a peer VM survives quiesce → save → restore into a fresh Machine: lost 0, duplicated 0", async () => {
    // vCPU workers dirty the first 6 MiB; the driver model owns the last 2 MiB.
    const cfg = "memory.size=8M\ncpus=1\nworkload.pages=1536\nworkload.rate=2000\npci.0.3.0.device=virtio-net\npci.0.3.0.mac=52:54:00:00:00:03\n";
    const m1 = await create(config(cfg), true);
    const peer = await createNetPeer({ module: debugWasm(), variant: "debug" });
    let m2: Machine | null = null;
    try {
      const t = await startNetTraffic(m1, peer, { window: 96, burst: 24, rxBuffers: 16 });
      await until(() => t.stats().received >= 2000);

      // Quiesce and save under the write lock (as migration's stop-and-copy does).
      const release = await m1.writeLock();
      void release; // the source never runs again
      const ramAtLock = m1.ramHash();
      const at = t.stats();
      const dev1 = m1.devicesByNode.get("pci.0.3.0") as MachineVirtioNet;
      for (const d of m1.devices) (d as MachineVirtioNet).quiesce?.();
      const blobs = new Map([...m1.devicesByNode].map(([node, d]) => [node, d.saveState()]));
      // Frames in flight at the save: the test only means something if there are some.
      expect(at.inFlight).toBeGreaterThan(0);
      // Nothing writes the source's RAM while it is locked, traffic included.
      await new Promise((r) => setTimeout(r, 30));
      expect(m1.ramHash()).toBe(ramAtLock);
      expect(t.stats().sent).toBe(at.sent);

      m2 = await create(config(cfg), false);
      m2.core.guest.writeBytes(0, m1.core.guest.readBytes(0, m1.core.guest.size));
      expect(() => t.repoint(m2!)).toThrow(/not running a driver/);
      for (const [node, blob] of blobs) expect(m2.devicesByNode.get(node)!.restoreState(blob)).toBe(Status.OK);
      const inBacklog = dev1.nic.backlogLength;
      // Frames in flight sit in all three places: on the link, in the NIC's backlog (device state), in the RX ring (guest RAM).
      expect(at.linkQueued.toMachine).toBeGreaterThan(0);
      expect(inBacklog).toBeGreaterThan(0);
      expect(at.inFlight).toBeGreaterThan(at.linkQueued.toMachine + inBacklog);
      t.repoint(m2);
      await m2.pause().then(() => m2!.resume()); // vCPUs not started: a no-op freeze that must not hang
      await until(() => t.stats().received >= at.sent + 2000);
      const s = await t.stop();
      expect(s.repoints).toBe(1);
      expect(s.pauses).toBeGreaterThanOrEqual(1);
      expect(s.sent).toBeGreaterThan(at.sent);
      expect(s.duplicated).toBe(0);
      expect(s.lost).toBe(0);
      expect(s.received).toBe(s.sent);
      expect(s.peerReceived).toBe(s.sent);
      expect(s.outOfOrder).toBe(0);
      const dev2 = m2.devicesByNode.get("pci.0.3.0") as MachineVirtioNet;
      expect(dev2.framesLost()).toBe(0);
      expect(dev1.framesLost()).toBe(0);
      expect(m2.interrupts.countsFor("virtio-net0").msi).toBeGreaterThan(0);
    } finally {
      await m1.destroy();
      await m2?.destroy();
    }
  });
});

describe("traffic between two machines", () => {
  it("a peer Machine that is write-locked stops too; frames wait on the link, none lost", async () => {
    const cfg = (mac: string) => config(`memory.size=8M\ncpus=1\nworkload.pages=1536\nworkload.rate=1000\npci.0.3.0.device=virtio-net\npci.0.3.0.mac=${mac}\n`);
    const a = await create(cfg("52:54:00:00:00:0a"), true), b = await create(cfg("52:54:00:00:00:0b"), true);
    try {
      const t = await startNetTraffic(a, b, { window: 32 });
      await until(() => t.stats().received >= 500);
      const release = await b.writeLock();
      const hash = b.ramHash();
      const at = t.stats();
      await new Promise((r) => setTimeout(r, 30));
      expect(t.stats().peerReceived).toBe(at.peerReceived); // the peer's driver is stopped
      expect(b.ramHash()).toBe(hash);                       // and nothing lands in its RAM
      expect(t.stats().sent - at.sent).toBeLessThanOrEqual(32);
      release();
      await until(() => t.stats().received >= at.received + 500);
      const s = await t.stop();
      expect([s.lost, s.duplicated, s.outOfOrder]).toEqual([0, 0, 0]);
      expect(s.pauses).toBeGreaterThanOrEqual(1);
      expect(a.interrupts.countsFor("virtio-net0").msi).toBeGreaterThan(0);
      expect(b.interrupts.countsFor("virtio-net0").msi).toBeGreaterThan(0);
    } finally { await a.destroy(); await b.destroy(); }
  });
});

describe("workload window", () => {
  it("workload.first_page / workload.pages confine the vCPUs' writes (a driver's rings stay untouched)", async () => {
    const m = await create(config("memory.size=4M\ncpus=2\nworkload.first_page=100\nworkload.pages=50\nworkload.pattern=uniform\n"), false);
    try {
      expect(m.workloads.map((w) => [w.firstPage, w.pageCount])).toEqual([[100, 50], [100, 50]]);
      m.core.dirty.enable();
      await m.vcpus.start(m.core.shareable(), m.workloads, 1000);
      await until(() => m.vcpuStats().every((s) => s.writes > 2000));
      await m.pause();
      const ranges = m.core.dirty.harvest();
      expect(ranges.length).toBeGreaterThan(0);
      for (const r of ranges) { expect(r.page).toBeGreaterThanOrEqual(100); expect(r.page + r.count).toBeLessThanOrEqual(150); }
      m.resume();
    } finally { await m.destroy(); }
  });
});

describe("virtio-net handles in the machine", () => {
  /** The default NIC factory, remembering the core the machine gave it. */
  const spying = (cores: VmCore[]) => new DeviceRegistry().register({ ...virtioNetFactory, create: (ctx) => { cores.push(ctx.core); return virtioNetFactory.create(ctx); } });
  const live = (core: VmCore) => Array.from({ length: 15 }, (_, i) => i + 1).filter((h) => core.exports.vnet_status(h) >= 0);

  it("regression_machine_destroy_keeps_nic_handles: destroy frees every NIC and its switch", async () => {
    const m = await create(config("memory.size=4M\npci.0.3.0.device=virtio-net\npci.0.4.0.device=virtio-net\npci.0.4.0.backend=switch:lan\npci.0.5.0.device=virtio-net\npci.0.5.0.backend=switch:lan\n"));
    expect(live(m.core)).toEqual([1, 2, 3]);
    await m.destroy();
    expect(live(m.core)).toEqual([]);
    expect(m.core.exports.vnet_switch_create()).toBe(1); // the machine's switch went with its last port
  });

  it("regression_machine_create_failure_keeps_nic_handles: a machine that fails to build frees the NICs it had made", async () => {
    const cores: VmCore[] = [];
    const registry = spying(cores).register({ name: "boom", description: "fails", keys: [], create: () => { throw new Error("no such hardware"); } });
    await expect(Machine.create(config("memory.size=4M\npci.0.3.0.device=virtio-net\npci.0.4.0.device=virtio-net\npci.0.5.0.device=boom\n"), { module: debugWasm(), variant: "debug", startVcpus: false, registry }))
      .rejects.toThrow(/pci\.0\.5\.0\.device: no such hardware/);
    expect(cores.length).toBe(2);
    expect(live(cores[0])).toEqual([]);
  });

  it("regression_nic_leaked_when_backend_fails: a NIC whose switch cannot be made is destroyed, not left behind", async () => {
    const cores: VmCore[] = [];
    const lines = ["memory.size=4M"];
    for (let s = 0; s < 5; s++) lines.push(`pci.0.${3 + s}.0.device=virtio-net`, `pci.0.${3 + s}.0.backend=switch:sw${s}`); // 4 switches at most
    await expect(Machine.create(config(lines.join("\n") + "\n"), { module: debugWasm(), variant: "debug", startVcpus: false, registry: spying(cores) }))
      .rejects.toThrow(/pci\.0\.7\.0\.device: nsw_create/);
    expect(cores.length).toBe(5);
    expect(live(cores[0])).toEqual([]);
  });
});
