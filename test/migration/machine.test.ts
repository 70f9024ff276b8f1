// Live migration of the real Machine: vCPU workers dirtying memory, one local
// APIC per vCPU with a pending IRR bit (an MSI from a PCI device and one routed
// to vCPU 1) and a timer armed on the source, in-process and over TCP. The
// destination's APIC state equals the source's; the timer fires on the
// destination at its guest-time deadline; failures hand the Machine back running.
import { describe, it, expect, afterEach } from "vitest";
import { VmCore } from "../../src/index.js";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine } from "../../src/machine/machine.js";
import { LapicDevice, APIC_POLL_MS } from "../../src/machine/lapic.js";
import type { MemtestDevice } from "../../src/machine/memtest.js";
import { ApicReg } from "../../src/apic/apic-bus.js";
import {
  migrate, receiveMigration, portPair, listen, connect, FaultyTransport, Msg, type Transport, type Fault,
} from "../../src/migration/index.js";
import { MachineSource, machineDestinationFactory, type MachineDestination } from "../../src/migration/machine-adapter.js";
import { debugWasm } from "../support/core.js";
import { fullDigest, sleep } from "./helpers.js";

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
  const codec = await VmCore.create({ module: debugWasm(), variant: "debug", ramBytes: 1 << 16 });
  const factory = machineDestinationFactory(o.destConfig ?? config(), { module: debugWasm(), variant: "debug", onCreated: (d) => { dest = d; machines.push(d.machine); } });
  const srcLink = o.srcFault ? new FaultyTransport(links[0], o.srcFault) : links[0];
  const [report, result] = await Promise.all([
    migrate(new MachineSource(src), srcLink, {
      replyTimeoutMs: 5000, downtimeLimitMs: 20, maxRounds: 4,
      // Frozen, before the devices are saved: arm a timer whose deadline lies after the migration.
      onFrozen: () => { frozenAt = src.clock.now(); if (o.arm) deadline = armTimer(src); },
    }),
    receiveMigration(links[1], factory, codec, { idleTimeoutMs: 5000 }),
  ]);
  return { report, result, dest, deadline: deadline as bigint | null, frozenAt };
}

async function expectMigrated(src: Machine, r: Awaited<ReturnType<typeof run>>) {
  const { report, result, dest } = r;
  expect(report.ok, report.error).toBe(true);
  expect(report.verified).toBe(true);
  expect(result.resumed).toBe(true);
  const d = dest!.machine;
  // Guest memory and every saved state moved: the clock, the memtest device, one APIC per vCPU.
  expect(fullDigest(d.core)).toBe(fullDigest(src.core));
  expect(d.stateDevices.map((x) => x.name)).toEqual(["clock", "memtest0", "lapic0", "lapic1"]);
  const [s0, s1] = lapics(src), [d0, d1] = lapics(d);
  expect(d0.saveState()).toEqual(s0.saveState());
  expect(d1.saveState()).toEqual(s1.saveState());
  expect(irr(d0, 48) && irr(d1, 0x41)).toBe(true);
  expect(irr(d0, 0x41) || irr(d1, 48)).toBe(false);
  // The destination's vCPUs run after resume; the source's stay frozen for good.
  const srcWrites = src.vcpuStats().reduce((a, s) => a + s.writes, 0);
  await sleep(60);
  expect(d.vcpuStats().every((s) => s.writes > 0)).toBe(true);
  expect(src.vcpuStats().reduce((a, s) => a + s.writes, 0)).toBe(srcWrites);
  expect(src.paused || src.lock.stats().writeLocks > 0).toBe(true);
}

describe("live migration of a Machine", () => {
  it("in-process: RAM dirtied by vCPU workers, APIC state with pending IRR bits, and a timer that fires at its guest deadline on the destination", async () => {
    const src = await sourceMachine();
    await sleep(30); // the vCPUs dirty pages before and during pre-copy
    const r = await run(src, portPair(), { arm: true });
    expect(r.report.rounds).toBeGreaterThanOrEqual(2);
    const deadline = r.deadline!;
    const d = r.dest!.machine;
    const d0 = lapics(d)[0];
    // The deadline travelled in guest time and has not passed: guest time stood still from the save to the resume.
    expect(d0.apic.nextDeadline()).toBe(deadline);
    // Guest time carried: it continues from the source's (never back to 0), short of the deadline.
    expect(d.clock.now()).toBeGreaterThanOrEqual(r.frozenAt);
    expect(d.clock.now()).toBeLessThan(deadline);
    expect(src.clock.running).toBe(false);
    expect(irr(d0, TIMER_VECTOR)).toBe(false);
    await expectMigrated(src, r);
    let seenAt = 0n;
    for (let i = 0; i < 2000 && !seenAt; i++) { await sleep(1); if (irr(d0, TIMER_VECTOR)) seenAt = d.clock.now(); }
    expect(seenAt).toBeGreaterThanOrEqual(deadline);
    // Fired by the pump within its poll period plus scheduling slack.
    expect(Number(seenAt - deadline) / 1e6).toBeLessThan(APIC_POLL_MS + 100);
    expect(d0.apic.nextDeadline()).toBeNull();
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
    const w = src.vcpuStats().reduce((a, s) => a + s.writes, 0);
    await sleep(40);
    expect(src.vcpuStats().reduce((a, s) => a + s.writes, 0)).toBeGreaterThan(w);
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
