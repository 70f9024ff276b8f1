// Machine assembly from config: RAM, devices through the registry, interrupt
// routing, vCPU workers and their workload (patterns, rate, throttle),
// pause/resume and teardown; the workload and memtest wasm exports.
import { describe, it, expect } from "vitest";
import { ConfigTree, ConfigError } from "../../src/config/tree.js";
import { Machine, createDefaultRegistry } from "../../src/machine/machine.js";
import { MemtestDevice } from "../../src/devices/memtest/device.js";
import { memtestFactory } from "../../src/devices/memtest/machine.js";
import { DeviceRegistry } from "../../src/machine/registry.js";
import { siblingModule } from "../../src/vcpu/spawn.js";
import { Status, type MsiMessage } from "../../src/index.js";
import { debugWasm, newCore, rng, testSeed } from "../support/core.js";
import { tsWorker } from "../support/workers.js";
import { until, WATCHDOG_MS } from "../support/wait.js";

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const config = (lines: string) => { const c = new ConfigTree(); c.load(lines); return c; };
const create = (lines: string, startVcpus = true, registry?: DeviceRegistry) => Machine.create(config(lines), { module: debugWasm(), variant: "debug", startVcpus, registry });

describe("machine assembly", () => {
  it("builds RAM, devices in PCI order with unique names, and routes their interrupts", async () => {
    const m = await create("name=t1\nmemory.size=2M\ncpus=1\npci.0.5.0.device=memtest\npci.0.5.0.msi=48\npci.0.3.0.device=memtest\npci.0.3.0.gpa=64K\npci.0.3.0.size=4K\n", false);
    try {
      expect(m.name).toBe("t1");
      expect(m.core.guest.size).toBe(2 << 20);
      expect(m.devices.map((d) => d.name)).toEqual(["memtest0", "memtest1", "lapic0", "ioapic0"]);
      expect([...m.devicesByNode.keys()]).toEqual(["pci.0.3.0", "pci.0.5.0", "lapic.0", "ioapic"]);
      const seen: Array<[string, MsiMessage]> = [];
      m.interrupts.setController({ msi: (src, msg) => seen.push([src, msg]), intx: () => {} });
      m.core.dirty.enable();
      const a = m.devices[0] as MemtestDevice, b = m.devices[1] as MemtestDevice;
      a.tick(2048); // 8 KiB of words into a 4 KiB window: wraps inside it
      b.tick(10);
      expect(m.core.dirty.harvest()).toEqual([{ page: 0, count: 1 }, { page: 16, count: 1 }]);
      expect(m.core.guest.readU32(64 * 1024 + 4)).toBe(1026);
      expect(seen).toEqual([["memtest1", { addressLo: 0xfee00000, addressHi: 0, data: 48 }]]);
      expect(m.interrupts.countsFor("memtest1").msi).toBe(1);
      expect(m.interrupts.countsFor("memtest0").msi).toBe(0);
    } finally { await m.destroy(); }
  });

  it("memtest saves and restores through the envelope: identity, and untouched by fuzzed blobs", async () => {
    const m = await create("memory.size=1M\ncpus=1\npci.0.3.0.device=memtest\npci.0.3.0.size=4K\n", false);
    try {
      const d = m.devices[0] as MemtestDevice;
      d.tick(100);
      const blob = d.saveState();
      d.tick(5);
      expect(d.restoreState(blob)).toBe(Status.OK);
      expect(d.ticks).toBe(100n);
      expect(d.saveState()).toEqual(blob);
      const seed = testSeed();
      const rand = rng(seed);
      for (let i = 0; i < 300; i++) {
        const bad = blob.slice(0, rand() < 0.1 ? Math.floor(rand() * blob.length) : blob.length);
        for (let f = 1 + Math.floor(rand() * 4); f > 0 && bad.length; f--) bad[Math.floor(rand() * bad.length)] ^= 1 << Math.floor(rand() * 8);
        const st = d.restoreState(bad);
        if (st !== Status.OK) expect(d.saveState(), `seed ${seed}`).toEqual(blob);
      }
      d.reset();
      expect(d.ticks).toBe(0n);
    } finally { await m.destroy(); }
  });

  it("a device registered by another model plugs in with a few lines, and its options are validated", async () => {
    const made: string[] = [];
    const registry = createDefaultRegistry().register({
      name: "fake-nic", description: "test", positional: ["backend"],
      keys: [{ pattern: "backend", validate: () => null, description: "" }, { pattern: "mac", validate: (v) => (v.includes(":") ? null : "bad mac"), description: "" }],
      create: (ctx) => { made.push(`${ctx.instanceName}@${ctx.node}:${JSON.stringify(ctx.options)}`); return { kind: 2, name: ctx.instanceName, saveState: () => new Uint8Array(0), restoreState: () => 0, reset: () => {} }; },
    });
    const m = await create("memory.size=1M\npci.0.4.0.device=fake-nic\npci.0.4.0.mac=02:00:00:00:00:01\npci.0.4.0.backend=tap0\n", false, registry);
    await m.destroy();
    expect(made).toEqual([`fake-nic0@pci.0.4.0:{"mac":"02:00:00:00:00:01","backend":"tap0"}`]);
    await expect(create("memory.size=1M\npci.0.4.0.device=fake-nic\npci.0.4.0.mac=zz\n", false, registry)).rejects.toThrow(/pci.0.4.0.mac: bad mac/);
  });

  it("per-vCPU devices (the APIC's shape) get one instance per vCPU, their keys validated, and can take over interrupt routing", async () => {
    const made: Array<[string, number, string | undefined]> = [];
    const delivered: string[] = [];
    // A registry without the real local APIC, so only the fake per-vCPU device routes interrupts.
    const registry = new DeviceRegistry().register(memtestFactory).registerVcpuDevice({
      name: "fakeapic", description: "test",
      keys: [{ pattern: "mode", validate: (v) => (v === "xapic" || v === "x2apic" ? null : "want xapic or x2apic"), description: "" }],
      create: (ctx) => {
        made.push([ctx.instanceName, ctx.vcpu, ctx.options.mode]);
        if (ctx.vcpu === 0) ctx.router.setController({ msi: (src, msg) => delivered.push(`${src}:${msg.data}`), intx: () => {} });
        return { kind: 3, name: ctx.instanceName, saveState: () => new Uint8Array(0), restoreState: () => 0, reset: () => {} };
      },
    });
    const m = await create("memory.size=1M\ncpus=2\nfakeapic.mode=x2apic\npci.0.3.0.device=memtest\npci.0.3.0.msi=33\n", false, registry);
    try {
      expect(made).toEqual([["fakeapic0", 0, "x2apic"], ["fakeapic1", 1, "x2apic"]]);
      expect(m.devices.map((d) => d.name)).toEqual(["memtest0", "fakeapic0", "fakeapic1"]);
      expect(m.devicesByNode.get("fakeapic.1")?.name).toBe("fakeapic1");
      (m.devices[0] as MemtestDevice).tick(1);
      expect(delivered).toEqual(["memtest0:33"]);
    } finally { await m.destroy(); }
    await expect(create("memory.size=1M\nfakeapic.mode=pic\n", false, registry)).rejects.toThrow("fakeapic.mode: want xapic or x2apic");
    await expect(create("memory.size=1M\nfakeapic.colour=1\n", false, registry)).rejects.toThrow("fakeapic.colour: unknown key for device fakeapic");
    expect(() => createDefaultRegistry().registerVcpuDevice({ name: "memory", description: "", keys: [], create: () => { throw new Error(); } })).toThrow(/config node/);
  });

  it("a device that fails to build is reported against its node and the devices built so far are torn down", async () => {
    // memtest's window lies outside 1 MiB of RAM: the wasm refuses it.
    const e = await create("memory.size=1M\npci.0.3.0.device=memtest\npci.0.4.0.device=memtest\npci.0.4.0.gpa=2M\n", false).catch((x) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).key).toBe("pci.0.4.0.device");
  });
});

describe("vCPU workers", () => {
  it("dirty only the hot set with the hot pattern, and every page of the window with sequential", async () => {
    const hot = await create("memory.size=1M\ncpus=2\nworkload.pattern=hot\nworkload.hotset=8\n", false);
    hot.core.dirty.enable();
    await hot.vcpus.start(hot.core.shareable(), hot.workloads, 200);
    // Enough writes that every page of the hot set has been hit many times over.
    await until(() => hot.vcpuStats().every((s) => s.writes >= 1000), "1000 writes from each vCPU");
    await hot.pause();
    const pages = hot.core.dirty.harvest();
    await hot.destroy();
    expect(pages).toEqual([{ page: 0, count: 8 }]);

    const seq = await create("memory.size=1M\ncpus=1\nworkload.pattern=sequential\nworkload.write_size=4096\n", false);
    seq.core.dirty.enable();
    await seq.vcpus.start(seq.core.shareable(), seq.workloads, 200);
    // One pass over the 256-page window.
    await until(() => seq.vcpuStats()[0].writes >= 256, "256 sequential writes");
    await seq.pause();
    const s = seq.core.dirty.harvest();
    await seq.destroy();
    expect(s).toEqual([{ page: 0, count: 256 }]);
  });

  it("keeps to the configured rate, and a paused machine's vCPUs write nothing", async () => {
    const t0 = performance.now(); // before the workers start
    const m = await create("memory.size=1M\ncpus=2\nworkload.rate=2000\nvcpu.1.workload.rate=500\n");
    try {
      // At least 200 ms of running, and until both vCPUs have written (the bounds below hold for any span).
      await tick(200);
      await until(() => m.vcpuStats().every((s) => s.writes > 0), "every vCPU to write");
      await m.pause();
      const elapsed = (performance.now() - t0) / 1000;
      const [a, b] = m.vcpuStats().map((s) => s.writes);
      // Token bucket: at most rate × time plus one 10 ms burst.
      expect(a).toBeLessThanOrEqual(2000 * elapsed + 20 + 1);
      expect(b).toBeLessThanOrEqual(500 * elapsed + 5 + 1);
      expect(a).toBeGreaterThan(0);
      expect(b).toBeGreaterThan(0);
      expect(m.vcpuStats().every((s) => s.state === "FROZEN")).toBe(true);
      const h = m.ramHash();
      await tick(30);
      expect(m.vcpuStats().map((s) => s.writes)).toEqual([a, b]);
      expect(m.ramHash()).toBe(h);
      m.resume();
      expect(() => m.resume()).toThrow(/not paused/);
    } finally { await m.destroy(); }
  });

  it("throttle limits the fraction of time a vCPU runs", async () => {
    const m = await create("memory.size=1M\ncpus=1\nvcpu.slice_us=500\n");
    try {
      m.setThrottle(0.2);
      expect(m.vcpus.throttle(0)).toBe(0.2);
      await tick(5);
      const s0 = m.vcpuStats()[0];
      let s1 = s0;
      // At least 100 ms of vCPU time under the throttle.
      await until(() => { s1 = m.vcpuStats()[0]; return s1.runMs + s1.sleepMs - s0.runMs - s0.sleepMs >= 100; }, "100 ms of vCPU time");
      const run = s1.runMs - s0.runMs, sleep = s1.sleepMs - s0.sleepMs;
      expect(sleep).toBeGreaterThan(run); // 20% running: it sleeps about four times as long as it runs
      expect(() => m.setThrottle(0)).toThrow(RangeError);
      const rate = m.sampleDirtyRate();
      expect(rate.writesPerSec.length).toBe(1);
      expect(rate.total.writesPerSec).toBeGreaterThan(0);
    } finally { await m.destroy(); }
  });

  it("teardown stops every worker, refuses new leases and locks, and is idempotent", async () => {
    const m = await create("memory.size=1M\ncpus=2\npci.0.3.0.device=memtest\npci.0.3.0.interval_ms=1\n");
    const lease = await m.signLease(() => false);
    await tick(20);
    const before = m.core.counters().badHandle;
    await m.destroy({ timeoutMs: 50 });
    await m.destroy();
    expect(lease.broken).toBe(true);
    expect(m.lock.leaseCount).toBe(0);
    expect(m.lock.readers).toBe(0);
    await expect(m.signLease(() => true)).rejects.toThrow(/destroyed/);
    await expect(m.writeLock()).rejects.toThrow(/destroyed/);
    expect(m.vcpuStats().every((s) => s.state === "IDLE")).toBe(true);
    // The device's wasm slot is gone.
    expect((m.devices[0] as MemtestDevice).ticks).toBe(0n);
    expect(m.core.counters().badHandle).toBeGreaterThan(before);
  });

  it("regression_terminated_vcpu_left_running: a stop that must terminate its workers still leaves every vCPU IDLE", async () => {
    // Under load a 50 ms teardown timed out, the workers were terminated mid-run and their vCPUs stayed RUNNING.
    const m = await create("memory.size=1M\ncpus=2\n");
    await tick(20);
    await m.destroy({ timeoutMs: 0 });
    expect(m.vcpuStats().map((s) => s.state)).toEqual(["IDLE", "IDLE"]);
  });

  it("a device worker runs under a lease (attachToMachine + runUnderLease): it stops for every write lock and re-signs after", async () => {
    const m = await create("memory.size=1M\ncpus=1\n", false);
    const control = new SharedArrayBuffer(4);
    const w = tsWorker(new URL("../support/queue-worker.worker.ts", import.meta.url), { handle: m.workerHandle(), control, page: 9 });
    const msgs: Array<{ ready?: boolean; stats?: { leases: number; steps: number; expiries: number }; end?: string }> = [];
    const ready = new Promise<void>((r) => w.on("message", (x) => { msgs.push(x); if (x.ready) r(); }));
    const exited = new Promise<void>((r) => w.once("exit", () => r()));
    const page = () => m.core.guest.readBytes(9 * 4096, 4096);
    try {
      await ready;
      m.core.dirty.enable();
      // The worker has stepped (written its page) under a lease before the first write lock.
      const blank = page();
      await until(() => Buffer.compare(page(), blank) !== 0, "the worker's first step");
      for (let i = 0; i < 20; i++) {
        // Each write lock finds the worker holding a lease (signed again after the previous one).
        await until(() => m.lock.leaseCount > 0, "the worker to sign a lease");
        const release = await m.writeLock({ timeoutMs: WATCHDOG_MS });
        m.core.dirty.harvestEach(() => {});
        const h = m.ramHash();
        await tick(1);
        expect(m.ramHash()).toBe(h);
        expect(m.core.dirty.count()).toBe(0);
        release();
      }
      // The worker counts the last expiry when it next polls its lease: let it sign again before it is told to stop
      // (a stop seen first ends its loop with that expiry uncounted).
      await until(() => m.lock.leaseCount > 0, "the worker to sign again after the last write lock");
    } finally {
      Atomics.store(new Int32Array(control), 0, 1);
      await exited;
      await m.destroy();
    }
    const done = msgs.find((x) => x.stats)!;
    expect(done.end).toBe("ok");
    expect(done.stats!.expiries).toBe(20);
    expect(done.stats!.leases).toBeGreaterThan(done.stats!.expiries);
    expect(done.stats!.steps).toBeGreaterThan(0);
  });

  it("a guest extension module runs in every vCPU while it is RUNNING, and stops with a freeze", async () => {
    const ext = new URL("../support/vcpu-extension.ts", import.meta.url).href;
    const m = await create(`memory.size=1M\ncpus=2\nworkload.rate=1000\nvcpu.extension=${ext}\n`);
    try {
      await until(() => [0, 1].every((i) => m.core.guest.readU32((200 + i) * 4096 + 4) > 0), "a slice of the extension in every vCPU");
      await m.pause();
      for (const i of [0, 1]) {
        expect(m.core.guest.readU32((200 + i) * 4096)).toBe(0xe0e0);
        expect(m.core.guest.readU32((200 + i) * 4096 + 4)).toBeGreaterThan(0);
      }
      const h = m.ramHash();
      await tick(20);
      expect(m.ramHash()).toBe(h);
      m.resume();
    } finally { await m.destroy(); }
  });

  it("picks .ts worker entries from sources and .js from dist", () => {
    expect(siblingModule("file:///x/src/vcpu/host.ts", "vcpu-worker").href).toBe("file:///x/src/vcpu/vcpu-worker.ts");
    expect(siblingModule("file:///x/dist/vcpu/host.js", "vcpu-worker").href).toBe("file:///x/dist/vcpu/vcpu-worker.js");
  });
});

describe("wasm: vcpu_dirty and mach_ram_hash", () => {
  it("validates its arguments and skips holes", async () => {
    const core = await newCore(1 << 20, { holes: [[64 * 1024, 64 * 1024]] });
    const e = core.exports;
    core.dirty.enable();
    expect(e.vcpu_dirty(3, 0, 256, 0, 10, 8, 1)).toBe(-Status.ERR_INVALID_ARG);
    expect(e.vcpu_dirty(0, 0, 256, 0, 10, 12, 1)).toBe(-Status.ERR_INVALID_ARG);
    expect(e.vcpu_dirty(0, 0, 256, 0, 10, 8192, 1)).toBe(-Status.ERR_INVALID_ARG);
    expect(e.vcpu_dirty(0, 200, 57, 0, 10, 8, 1)).toBe(-Status.ERR_RANGE);
    expect(e.vcpu_dirty(0, 0, 0, 0, 10, 8, 1)).toBe(-Status.ERR_RANGE);
    expect(core.dirty.count()).toBe(0);
    // Sequential over pages 0..31: pages 16..31 are the hole.
    expect(e.vcpu_dirty(2, 0, 32, 0, 32, 4096, 7)).toBe(16);
    expect(core.dirty.harvest()).toEqual([{ page: 0, count: 16 }]);
    expect(core.guest.readU64(4096 * 3 + 4088)).toBe((7n << 32n) | 4n);
    expect(core.guest.readU8(4096 * 3)).toBe(4); // the fill byte of the 4th write
    const h = BigInt.asUintN(64, e.mach_ram_hash(0, 256, 0n));
    expect(h).not.toBe(0n);
    expect(BigInt.asUintN(64, e.mach_ram_hash(0, 257, 0n))).toBe(0n);
    core.guest.writeU8(200 * 4096, 1);
    expect(BigInt.asUintN(64, e.mach_ram_hash(0, 256, 0n))).not.toBe(h);
  });
});
