// vCPUs multiplexed onto a bounded pool of threads: each vCPU keeps its own
// state machine, freezes (nested, one at a time or all), counters, workload
// stream and extension context on a shared thread, and a failing vCPU stops
// alone. Then the scale the pool is for: a 1024-vCPU Machine on the default
// pool runs its workload, freezes, thaws, takes an IPI broadcast through its
// 1024 local APICs (x2APIC) and migrates to a destination Machine in this
// process with memory and every APIC state verified.
import { describe, it, expect, afterEach } from "vitest";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine } from "../../src/machine/machine.js";
import { MAX_VCPUS } from "../../src/config/schema.js";
import { LapicDevice } from "../../src/devices/apic/machine.js";
import { migrate, receiveMigration, portPair, type DestinationFactory } from "../../src/migration/index.js";
import { MachineSource, machineDestinationFactory, type MachineDestination } from "../../src/migration/machine-adapter.js";
import { debugWasm } from "../support/core.js";
import { until, WATCHDOG_MS } from "../support/wait.js";
import { fullDigest } from "../migration/helpers.js";

const machines: Machine[] = [];
afterEach(async () => { for (const m of machines.splice(0)) await m.destroy(); });

const config = (text: string) => { const c = new ConfigTree(); c.load(text); return c; };
async function create(text: string, startVcpus = true): Promise<Machine> {
  const m = await Machine.create(config(text), { module: debugWasm(), variant: "debug", startVcpus });
  machines.push(m);
  return m;
}
const writesOf = (m: Machine) => m.vcpuStats().map((s) => s.writes);

describe("vCPUs multiplexed onto a pool of threads", () => {
  it("one thread runs four vCPUs, each with its own state machine: one freezes (nested) while the others run on", async () => {
    const m = await create("memory.size=1M\ncpus=4\nvcpu.threads=1\nworkload.rate=2000\n");
    expect(m.vcpus.threads).toBe(1);
    expect(m.vcpuStats().map((s) => s.thread)).toEqual([0, 0, 0, 0]);
    await until(() => writesOf(m).every((w) => w > 0), "every vCPU to write");
    expect(await m.vcpus.freeze(2, WATCHDOG_MS)).toBe("ok");
    expect(await m.vcpus.freeze(2, WATCHDOG_MS)).toBe("ok");
    expect(m.vcpus.cells[2].stateName).toBe("FROZEN");
    const at = writesOf(m);
    // Its thread goes on running the other three.
    await until(() => { const w = writesOf(m); return [0, 1, 3].every((i) => w[i] > at[i] + 50); }, "vCPUs 0, 1 and 3 to write on");
    expect(writesOf(m)[2]).toBe(at[2]);
    m.vcpus.thaw(2);
    expect(m.vcpus.isFrozen(2)).toBe(true);
    expect(writesOf(m)[2]).toBe(at[2]);
    m.vcpus.thaw(2);
    await until(() => writesOf(m)[2] > at[2], "vCPU 2 to write after its last thaw");
    // All of them, then each on its own again.
    expect(await m.vcpus.freezeAll(WATCHDOG_MS)).toBe("ok");
    expect(m.vcpuStats().every((s) => s.state === "FROZEN")).toBe(true);
    const frozen = writesOf(m);
    expect(m.vcpuStats().every((s) => s.exits >= 1)).toBe(true);
    m.vcpus.thawAll();
    await until(() => writesOf(m).every((w, i) => w > frozen[i]), "every vCPU to write after thawAll");
    expect(m.lock.stats().transitionsRefused).toBe(0);
    expect(m.vcpus.errors).toEqual([]);
  });

  it("each vCPU on a shared thread keeps its own workload stream: its sequence numbers count its writes only", async () => {
    // Two sequential vCPUs on one thread, each on its own 32-page window, writing whole pages.
    const m = await create("memory.size=1M\ncpus=2\nvcpu.threads=1\nworkload.pattern=sequential\nworkload.write_size=4096\nworkload.rate=3000\n" +
      "workload.pages=32\nvcpu.1.workload.first_page=64\n");
    await until(() => writesOf(m).every((w) => w >= 100), "100 writes from each vCPU");
    await m.pause();
    const w = writesOf(m);
    for (const [v, first] of [[0, 0], [1, 64]]) {
      // Each write ends its page in tag << 32 | sequence (assembly/machine/workload.ts): the vCPU's latest is its write count.
      const words = Array.from({ length: 32 }, (_, p) => m.core.guest.readU64((first + p) * 4096 + 4088));
      expect(words.every((x) => x >> 32n === BigInt(0x100 + v)), `vCPU ${v} tags`).toBe(true);
      expect(words.reduce((a, x) => (x & 0xffffffffn) > a ? x & 0xffffffffn : a, 0n), `vCPU ${v}`).toBe(BigInt(w[v]));
    }
    // Sequential sweeps of its own: the 32 pages hold 32 consecutive sequence numbers.
    const seqs = Array.from({ length: 32 }, (_, p) => Number(m.core.guest.readU64(p * 4096 + 4088) & 0xffffffffn)).sort((a, b) => a - b);
    expect(seqs[31] - seqs[0]).toBe(31);
  });

  it("a guest extension runs for every vCPU of a thread with its own index; a vCPU whose slice throws stops alone", async () => {
    const ext = new URL("../support/vcpu-extension.ts", import.meta.url).href;
    const m = await create(`memory.size=1M\ncpus=3\nvcpu.threads=1\nworkload.rate=1000\nvcpu.extension=${ext}\n`);
    await until(() => [0, 1, 2].every((i) => m.core.guest.readU32((200 + i) * 4096 + 4) > 0), "a slice of the extension for every vCPU");
    expect([0, 1, 2].map((i) => m.core.guest.readU32((200 + i) * 4096))).toEqual([0xe0e0, 0xe0e0, 0xe0e0]);

    const failing = new URL("../support/vcpu-extension-failing.ts", import.meta.url).href;
    const f = await create(`memory.size=1M\ncpus=3\nvcpu.threads=1\nworkload.rate=1000\nvcpu.extension=${failing}\n`);
    await until(() => f.vcpus.errors.length > 0, "vCPU 1 to fail");
    expect(f.vcpus.errors.map((e) => e.message)).toEqual(["vCPU 1: slice of vCPU 1 failed on purpose"]);
    await until(() => f.vcpus.cells[1].stateName === "IDLE", "the failed vCPU back to IDLE");
    const at = writesOf(f);
    await until(() => { const w = writesOf(f); return w[0] > at[0] && w[2] > at[2]; }, "vCPUs 0 and 2 to write on");
    expect(writesOf(f)[1]).toBe(at[1]);
    expect(await f.vcpus.freezeAll(WATCHDOG_MS)).toBe("ok");
    f.vcpus.thawAll();
  });

  it(`${MAX_VCPUS} vCPUs: every one runs, freezes, thaws, takes an IPI broadcast, and the Machine migrates with memory and APIC states verified`, async () => {
    expect(MAX_VCPUS).toBe(1024);
    const text = `memory.size=16M\ncpus=${MAX_VCPUS}\nlapic.x2apic=true\nworkload.rate=100\nworkload.pattern=uniform\n`;
    const src = await create(text);
    // The default pool: one thread per core of this host, at most one per vCPU.
    expect(src.vcpus.threads).toBeLessThanOrEqual(MAX_VCPUS);
    expect(src.vcpus.threads).toBeGreaterThanOrEqual(1);
    const lapics = (m: Machine) => m.devices.filter((d): d is LapicDevice => d instanceof LapicDevice);
    expect(lapics(src).length).toBe(MAX_VCPUS);
    await until(() => src.vcpuStats().every((s) => s.writes > 0), "every vCPU to write");

    // Freeze all: every vCPU FROZEN (by the host), nothing writes RAM.
    expect(await src.vcpus.freezeAll(WATCHDOG_MS)).toBe("ok");
    expect(src.vcpuStats().every((s) => s.state === "FROZEN")).toBe(true);
    expect(src.vcpus.cells.every((_, i) => src.vcpus.isFrozen(i))).toBe(true);
    const frozen = writesOf(src);
    const hash = src.ramHash();
    // An IPI broadcast (x2APIC destination 0xffffffff, fixed, vector 0x61) reaches every software-enabled APIC.
    for (const a of lapics(src)) expect(a.apic.wrmsr(0x80f, 0x1ffn)).toBe(0); // SVR: APIC enabled, spurious 0xff (SDM §11.9)
    expect(lapics(src)[0].bus.deliver(0xffffffff, 0x61, true)).toBe(MAX_VCPUS);
    expect(lapics(src).every((a) => a.apic.pendingVector() === 0x61)).toBe(true);
    expect(src.ramHash()).toBe(hash);
    expect(writesOf(src)).toEqual(frozen);
    src.vcpus.thawAll();
    await until(() => writesOf(src).every((w, i) => w > frozen[i]), "every vCPU to write after the thaw");

    // Migrate in this process; the destination is a frozen Machine of the same size until it resumes.
    let dest: MachineDestination | undefined;
    let atResume: { digest: bigint; apics: Uint8Array[] } | undefined;
    let srcApics: Uint8Array[] = [];
    const machineFactory = machineDestinationFactory(config(text), { module: debugWasm(), variant: "debug", onCreated: (d) => { dest = d; machines.push(d.machine); } });
    const factory: DestinationFactory = async (vm) => {
      const d = (await machineFactory(vm)) as MachineDestination;
      return {
        core: d.core, devices: d.devices,
        resume: async () => {
          atResume = { digest: fullDigest(d.machine.core), apics: lapics(d.machine).map((x) => x.saveState()) };
          await d.resume();
        },
      };
    };
    const [a, b] = portPair();
    const [report, result] = await Promise.all([
      migrate(new MachineSource(src), a, { downtimeLimitMs: 50, maxRounds: 4, onFrozen: () => { srcApics = lapics(src).map((x) => x.saveState()); } }),
      receiveMigration(b, factory),
    ]);
    expect(report.ok, report.error).toBe(true);
    expect(report.verified).toBe(true);
    expect(result.resumed).toBe(true);
    const d = dest!.machine;
    expect(d.vcpus.count).toBe(MAX_VCPUS);
    expect(atResume!.digest).toBe(fullDigest(src.core));
    expect(atResume!.apics.length).toBe(MAX_VCPUS);
    expect(atResume!.apics).toEqual(srcApics);
    expect(lapics(d).every((x) => x.apic.pendingVector() === 0x61)).toBe(true);
    // The source's vCPUs stay frozen for good; every destination vCPU runs.
    expect(src.vcpuStats().every((s) => s.state === "FROZEN")).toBe(true);
    await until(() => d.vcpuStats().every((s) => s.writes > 0), "every destination vCPU to write");
    expect(d.vcpus.errors).toEqual([]);
    expect(src.vcpus.errors).toEqual([]);
  }, 240_000);
});
