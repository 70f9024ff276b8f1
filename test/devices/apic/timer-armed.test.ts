// The set-wide timer scans (apic_advance_all, apic_next_deadline_all) visit
// only APICs whose armed bit is set (assembly/apic/model.ts ApicSet.armed):
// every way a timer gets armed must set the bit — initial count, periodic
// re-arm, TSC deadline, restore — and a disarmed timer's bit goes without
// losing a timer armed again afterwards.
import { describe, it, expect } from "vitest";
import { Status } from "../../../src/index.js";
import { apicVm, enableX } from "./support.js";

const PERIODIC = 1 << 17, DEADLINE = 2 << 17;

describe("armed-timer scans", () => {
  it("the set-wide scans find timers armed by initial count, periodic re-arm and TSC deadline on any vCPU, and forget disarmed ones", async () => {
    const v = await apicVm(70);
    const { bus, clock } = v;
    for (const i of [0, 33, 69]) { enableX(bus.apic(i)); bus.apic(i).mmioWrite(0x3e0, 4, 0xb); }
    expect(bus.nextDeadline()).toBeNull();
    clock.t = 100n;
    bus.apic(69).mmioWrite(0x320, 4, 0x31);
    bus.apic(69).mmioWrite(0x380, 4, 500);             // one-shot at 600
    bus.apic(33).mmioWrite(0x320, 4, PERIODIC | 0x32);
    bus.apic(33).mmioWrite(0x380, 4, 300);             // periodic: 400, 700, ...
    expect(bus.nextDeadline()).toBe(400n);
    expect(bus.advance(400n)).toBe(1);
    expect(bus.nextDeadline()).toBe(600n);
    expect(bus.advance(600n)).toBe(1);                 // APIC 69's one-shot: now disarmed
    expect(bus.nextDeadline()).toBe(700n);
    bus.apic(33).mmioWrite(0x380, 4, 0);               // stopped
    expect(bus.nextDeadline()).toBeNull();
    expect(bus.advance(10_000n)).toBe(0);
    // Re-armed after its bit was dropped: found again.
    clock.t = 10_000n;
    bus.apic(69).mmioWrite(0x380, 4, 5);
    expect(bus.nextDeadline()).toBe(10_005n);
    bus.apic(0).mmioWrite(0x320, 4, DEADLINE | 0x33);
    bus.apic(0).wrmsr(0x6e0, 20_000n);                 // TSC deadline (1 GHz TSC: ns)
    expect(bus.advance(10_005n)).toBe(1);
    expect(bus.nextDeadline()).toBe(20_000n);
    expect(bus.advance(20_000n)).toBe(1);
    expect(bus.nextDeadline()).toBeNull();
    expect(bus.counters().timerFired).toBe(4n);
  });

  it("regression_restored_timer_is_scanned: a timer armed in a restored APIC fires from the set-wide advance", async () => {
    const src = await apicVm(40);
    const a = src.bus.apic(37);
    enableX(a);
    a.mmioWrite(0x3e0, 4, 0xb);
    a.mmioWrite(0x320, 4, 0x41);
    src.clock.t = 50n;
    a.mmioWrite(0x380, 4, 1000);
    const blob = a.saveState();
    const dst = await apicVm(40);
    expect(dst.bus.nextDeadline()).toBeNull();
    expect(dst.bus.apic(37).restoreState(blob)).toBe(Status.OK);
    expect(dst.bus.nextDeadline()).toBe(1050n);
    expect(dst.bus.advance(1050n)).toBe(1);
    expect(dst.bus.apic(37).pendingVector()).toBe(0x41);
  });
});
