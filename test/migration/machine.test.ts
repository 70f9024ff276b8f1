// Live migration of the real Machine: vCPU workers dirtying memory, one local
// APIC per vCPU with a pending IRR bit (an MSI from a PCI device and one routed
// to vCPU 1) and a timer armed on the source, in-process and over TCP. The
// destination's APIC state equals the source's; the timer fires on the
// destination at its guest-time deadline; failures hand the Machine back running.
// The destination's memory and device states are compared as they stand at
// its resume, before its vCPUs and guest clock start.
import { describe, it, expect, afterEach, vi, type MockInstance } from "vitest";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine } from "../../src/machine/machine.js";
import { LapicDevice, lapicSetOf } from "../../src/devices/apic/machine.js";
import type { MemtestDevice } from "../../src/devices/memtest/device.js";
import { ApicReg, type ApicBus } from "../../src/devices/apic/index.js";
import { migrate, receiveMigration, portPair, listen, connect, Msg, type Transport, type DestinationFactory } from "../../src/migration/index.js";
import { FaultyTransport, type Fault } from "../../src/testing/index.js";
import { MachineSource, machineDestinationFactory, type MachineDestination } from "../../src/migration/machine-adapter.js";
import { debugWasm } from "../support/core.js";
import { until } from "../support/wait.js";
import { fullDigest } from "./helpers.js";

const machines: Machine[] = [];
afterEach(async () => { for (const m of machines.splice(0)) await m.destroy(); });

const CONFIG = "memory.size=8M\ncpus=2\nworkload.pattern=hot\nworkload.rate=2000\npci.0.3.0.device=memtest\npci.0.3.0.gpa=1M\npci.0.3.0.size=4K\npci.0.3.0.msi=48\n";
const config = (text = CONFIG) => { const c = new ConfigTree(); c.load(text); return c; };
const TIMER_VECTOR = 0x50;
const TIMER_NS = 150_000_000n; // 150 ms of guest time after the freeze

async function sourceMachine(): Promise<Machine> {
  const m = await Machine.create(config(), { module: debugWasm(), variant: "debug" });
  machines.push(m);
  for (const a of lapics(m)) expect(a.apic.mmioWrite(ApicReg.svr, 4, 0x1ff)).toBe(0); // software-enable (SDM §11.9)
  (m.devicesByNode.get("pci.0.3.0") as MemtestDevice).tick(4); // memtest MSI: vector 48 to APIC 0
  m.interrupts.sinkFor("test").msi({ addressLo: 0xfee01000, addressHi: 0, data: 0x41 }); // vector 0x41 to APIC 1
  return m;
}

const lapics = (m: Machine) => m.devices.filter((d): d is LapicDevice => d instanceof LapicDevice);
const irr = (d: LapicDevice, v: number) => ((d.apic.mmioRead(ApicReg.irr + 0x10 * (v >> 5)) >>> (v & 31)) & 1) === 1;
const writes = (m: Machine) => m.vcpuStats().reduce((a, s) => a + s.writes, 0);

/** The destination frozen at its resume: RAM, device states, guest clock and timer as the migration left them. */
interface AtResume { digest: bigint; apics: Uint8Array[]; irr: boolean[][]; clockRunning: boolean; clockNow: bigint; nextDeadline: bigint | null }
const IRR_VECTORS = [48, 0x41, TIMER_VECTOR];

/** Arm vCPU 0's one-shot timer TIMER_NS ahead (divide by 1, 1 GHz bus); returns the deadline in guest ns. */
function armTimer(m: Machine): bigint {
  const a = lapics(m)[0].apic;
  expect(a.mmioWrite(ApicReg.timerDivide, 4, 0xb)).toBe(0);
  expect(a.mmioWrite(ApicReg.lvtTimer, 4, TIMER_VECTOR)).toBe(0);
  expect(a.mmioWrite(ApicReg.timerInitial, 4, Number(TIMER_NS))).toBe(0);
  return a.nextDeadline()!;
}

async function run(src: Machine, links: [Transport, Transport], o: { srcFault?: Fault; destConfig?: ConfigTree; arm?: boolean } = {}) {
  let dest: MachineDestination | undefined;
  let deadline: bigint | null = null;
  let frozenAt = 0n;
  let srcApics: Uint8Array[] = [];
  let atResume: AtResume | undefined;
  let advances: MockInstance<ApicBus["advance"]> | undefined;
  const machineFactory = machineDestinationFactory(o.destConfig ?? config(), { module: debugWasm(), variant: "debug", onCreated: (d) => { dest = d; machines.push(d.machine); } });
  // The destination as migration sees it, recording its frozen state just before it resumes.
  const factory: DestinationFactory = async (vm) => {
    const d = (await machineFactory(vm)) as MachineDestination;
    return {
      core: d.core, devices: d.devices,
      resume: async () => {
        const m = d.machine, ls = lapics(m);
        atResume = {
          digest: fullDigest(m.core), apics: ls.map((x) => x.saveState()), irr: ls.map((x) => IRR_VECTORS.map((v) => irr(x, v))),
          clockRunning: m.clock.running, clockNow: m.clock.now(), nextDeadline: ls[0].apic.nextDeadline(),
        };
        // Every advance the timer pump makes from here on, with the guest time it advanced to.
        advances = vi.spyOn(lapicSetOf(m.core)!.bus, "advance");
        await d.resume();
      },
    };
  };
  const srcLink = o.srcFault ? new FaultyTransport(links[0], o.srcFault) : links[0];
  const [report, result] = await Promise.all([
    migrate(new MachineSource(src), srcLink, {
      downtimeLimitMs: 20, maxRounds: 4,
      // Frozen, before the devices are saved: arm a timer whose deadline lies after the migration, and take
      // the APIC states the migration saves next. (The source's guest clock runs on until it retires, so a
      // timer due meanwhile fires on the frozen source after the save: compare with the states as saved.)
      onFrozen: () => { frozenAt = src.clock.now(); if (o.arm) deadline = armTimer(src); srcApics = lapics(src).map((x) => x.saveState()); },
    }),
    receiveMigration(links[1], factory),
  ]);
  return { report, result, dest, deadline: deadline as bigint | null, frozenAt, srcApics, atResume, advances };
}

async function expectMigrated(src: Machine, r: Awaited<ReturnType<typeof run>>) {
  const { report, result, dest, atResume: at } = r;
  expect(report.ok, report.error).toBe(true);
  expect(report.verified).toBe(true);
  expect(result.resumed).toBe(true);
  const d = dest!.machine;
  // Guest memory and every saved state moved (the source is frozen for good, the destination as it resumed):
  // the clock, the memtest device, one APIC per vCPU, the IOAPIC.
  expect(at!.digest).toBe(fullDigest(src.core));
  expect(d.stateDevices.map((x) => x.name)).toEqual(["clock", "memtest0", "lapic0", "lapic1", "ioapic0"]);
  expect(at!.apics).toEqual(r.srcApics);
  // Pending IRR bits (48, 0x41, the timer's): 48 on vCPU 0, 0x41 on vCPU 1, the timer not yet fired.
  expect(at!.irr).toEqual([[true, false, false], [false, true, false]]);
  // The destination's vCPUs run after resume; the source's stay frozen for good.
  const srcWrites = writes(src);
  await until(() => d.vcpuStats().every((s) => s.writes > 0), "every destination vCPU to write");
  expect(writes(src)).toBe(srcWrites);
  expect(src.vcpuStats().every((s) => s.state === "FROZEN")).toBe(true);
  expect(src.paused || src.lock.stats().writeLocks > 0).toBe(true);
}

describe("live migration of a Machine", () => {
  it("in-process: RAM dirtied by vCPU workers, APIC state with pending IRR bits, and a timer that fires at its guest deadline on the destination", async () => {
    const src = await sourceMachine();
    // The vCPUs dirty pages before and during pre-copy.
    await until(() => src.vcpuStats().every((s) => s.writes > 0), "every source vCPU to write");
    const r = await run(src, portPair(), { arm: true });
    expect(r.report.rounds).toBeGreaterThanOrEqual(2);
    const deadline = r.deadline!;
    const at = r.atResume!;
    const d = r.dest!.machine;
    const d0 = lapics(d)[0];
    const { pump } = lapicSetOf(d.core)!;
    // The deadline travelled in guest time and had not passed: guest time stood still from the save to the resume,
    // and it carried: it continues from the source's (never back to 0), short of the deadline.
    expect(at.clockRunning).toBe(false);
    expect(at.nextDeadline).toBe(deadline);
    expect(at.clockNow).toBeGreaterThanOrEqual(r.frozenAt);
    expect(at.clockNow).toBeLessThan(deadline);
    expect(d.clock.now()).toBeGreaterThanOrEqual(at.clockNow);
    expect(src.clock.running).toBe(false);
    await expectMigrated(src, r);
    // The timer pump delivers it.
    await until(() => pump.fired > 0, "the timer pump to fire the migrated timer");
    expect(pump.fired).toBe(1);
    expect(irr(d0, TIMER_VECTOR)).toBe(true);
    expect(d0.apic.nextDeadline()).toBeNull();
    // At its guest deadline: the first advance that reached the deadline fired it, none before it did.
    const calls = r.advances!.mock.calls.map((c) => BigInt(c[0]!));
    const results = r.advances!.mock.results.map((x) => x.value as number);
    const firing = results.findIndex((n) => n > 0);
    expect(firing).toBeGreaterThanOrEqual(0);
    expect(calls[firing]).toBeGreaterThanOrEqual(deadline);
    expect(calls.slice(0, firing).every((t) => t < deadline)).toBe(true);
  });

  it("over loopback TCP", async () => {
    const src = await sourceMachine();
    const l = await listen(0);
    const accepted = l.accept();
    const a = await connect(l.port);
    const b = await accepted;
    l.server.close();
    await expectMigrated(src, await run(src, [a, b]));
  });

  it("a device state lost in stop-and-copy: the source Machine runs again with its APIC state, the destination never resumes", async () => {
    const src = await sourceMachine();
    const before = lapics(src).map((x) => x.saveState());
    const { report, result, dest } = await run(src, portPair(), { srcFault: { type: Msg.DEVICE, action: "drop" } });
    expect(report.ok).toBe(false);
    expect(report.running).toBe("source");
    expect(result.resumed).toBe(false);
    expect(dest!.machine.vcpuStats().every((s) => s.writes === 0)).toBe(true);
    expect(src.paused).toBe(false);
    expect(lapics(src).map((x) => x.saveState())).toEqual(before);
    const w = writes(src);
    await until(() => writes(src) > w, "the source's vCPUs to write again");
  });

  it("a destination configured without the source's PCI device refuses the VM; the source keeps running", async () => {
    const src = await sourceMachine();
    const { report, result } = await run(src, portPair(), { destConfig: config("memory.size=8M\n") });
    expect(report.ok).toBe(false);
    expect(report.failedPhase).toBe("handshake");
    expect(result.error).toMatch(/no device memtest0/);
    expect(src.paused).toBe(false);
  });
});
