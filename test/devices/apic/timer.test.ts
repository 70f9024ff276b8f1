// APIC timer on a fake guest clock (Intel SDM Vol. 3A §11.5.4, §11.5.4.1).
import { describe, it, expect } from "vitest";
import { Status } from "../../../src/index.js";
import { apicVm, enableX } from "./support.js";

const ONESHOT = 0, PERIODIC = 1 << 17, DEADLINE = 2 << 17;

async function timerVm(opts: { busHz?: number; tscHz?: number } = {}) {
  const v = await apicVm(2, opts);
  const a = v.bus.apic(0);
  enableX(a);
  a.mmioWrite(0x3e0, 4, 0xb);                       // divide by 1
  return { ...v, a };
}

describe("one-shot and periodic (§11.5.4)", () => {
  it("one-shot counts down from the initial count and fires once at zero", async () => {
    const { a, clock, bus } = await timerVm();
    a.mmioWrite(0x320, 4, ONESHOT | 0x30);
    clock.t = 1000n;
    a.mmioWrite(0x380, 4, 1000);
    expect(a.nextDeadline()).toBe(2000n);
    clock.t = 1400n;
    expect(a.mmioRead(0x390)).toBe(600);
    expect(a.advance(1999n)).toBe(false);
    expect(a.advance(2000n)).toBe(true);
    expect(a.pendingVector()).toBe(0x30);
    clock.t = 5000n;
    expect(a.mmioRead(0x390)).toBe(0);
    expect(a.nextDeadline()).toBeNull();
    expect(a.advance(1_000_000n)).toBe(false);
    expect(bus.counters().timerFired).toBe(1n);
  });

  it("divide configuration: 0..7 → 2, 4, 8, 16, 32, 64, 128, 1 (Figure 11-10)", async () => {
    const { a, clock } = await timerVm();
    const encodings = [0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa, 0xb];
    const divisors = [2, 4, 8, 16, 32, 64, 128, 1];
    a.mmioWrite(0x320, 4, 0x30);
    encodings.forEach((dcr, k) => {
      a.mmioWrite(0x3e0, 4, dcr);
      clock.t = 0n;
      a.mmioWrite(0x380, 4, 100);
      expect(a.nextDeadline(), `dcr ${dcr}`).toBe(BigInt(100 * divisors[k]));
      clock.t = BigInt(divisors[k] * 30);
      expect(a.mmioRead(0x390)).toBe(70);
    });
  });

  it("the bus clock scales the count: 100 MHz means 10 ns per tick", async () => {
    const { a, clock } = await timerVm({ busHz: 100e6 });
    a.mmioWrite(0x320, 4, 0x30);
    clock.t = 0n;
    a.mmioWrite(0x380, 4, 7);
    expect(a.nextDeadline()).toBe(70n);
    clock.t = 35n;
    expect(a.mmioRead(0x390)).toBe(4);              // 3 ticks elapsed
  });

  it("periodic reloads the initial count and re-arms (§11.5.4)", async () => {
    const { a, clock } = await timerVm();
    a.mmioWrite(0x320, 4, PERIODIC | 0x31);
    a.mmioWrite(0x380, 4, 500);
    expect(a.advance(500n)).toBe(true);
    expect(a.nextDeadline()).toBe(1000n);
    clock.t = 750n;
    expect(a.mmioRead(0x390)).toBe(250);
    expect(a.ack()).toBe(0x31);
    a.mmioWrite(0xb0, 4, 0);
    expect(a.advance(1000n)).toBe(true);
    expect(a.nextDeadline()).toBe(1500n);
  });

  it("periodic ticks the host missed are coalesced into one interrupt and counted", async () => {
    const { a, bus } = await timerVm();
    a.mmioWrite(0x320, 4, PERIODIC | 0x31);
    a.mmioWrite(0x380, 4, 500);                     // deadlines 500, 1000, 1500, ...
    expect(a.advance(2100n)).toBe(true);
    expect(a.nextDeadline()).toBe(2500n);
    expect(bus.counters().timerMissed).toBe(3n);
  });

  it("writing 0 to the initial count stops the timer; a masked LVT counts without interrupting", async () => {
    const { a } = await timerVm();
    a.mmioWrite(0x320, 4, 0x30);
    a.mmioWrite(0x380, 4, 100);
    a.mmioWrite(0x380, 4, 0);
    expect(a.nextDeadline()).toBeNull();
    a.mmioWrite(0x320, 4, 0x10030);
    a.mmioWrite(0x380, 4, 100);
    expect(a.advance(100n)).toBe(true);
    expect(a.pendingVector()).toBeNull();
  });

  it("changing the timer mode disarms it (§11.5.4.1)", async () => {
    const { a } = await timerVm();
    a.mmioWrite(0x320, 4, 0x30);
    a.mmioWrite(0x380, 4, 100);
    a.mmioWrite(0x320, 4, PERIODIC | 0x30);
    expect(a.nextDeadline()).toBeNull();
    a.mmioWrite(0x320, 4, PERIODIC | 0x31);         // same mode, new vector: still disarmed, not re-armed
    expect(a.nextDeadline()).toBeNull();
  });
});

describe("TSC-deadline mode (§11.5.4.1)", () => {
  it("fires when the guest TSC reaches IA32_TSC_DEADLINE; TSC = ns × tscHz / 1e9", async () => {
    const { a, clock } = await timerVm({ tscHz: 2e9 });
    a.mmioWrite(0x320, 4, DEADLINE | 0x40);
    clock.t = 1000n;
    expect(a.wrmsr(0x6e0, 5000n)).toBe(Status.OK);   // 2500 ns
    expect(a.rdmsr(0x6e0).value).toBe(5000n);
    expect(a.nextDeadline()).toBe(2500n);
    expect(a.advance(2499n)).toBe(false);
    expect(a.advance(2500n)).toBe(true);
    expect(a.pendingVector()).toBe(0x40);
    expect(a.rdmsr(0x6e0).value).toBe(0n);           // disarmed after firing
  });

  it("a deadline already in the past fires at once", async () => {
    const { a, clock } = await timerVm({ tscHz: 2e9 });
    a.mmioWrite(0x320, 4, DEADLINE | 0x40);
    clock.t = 10_000n;
    a.wrmsr(0x6e0, 7n);
    expect(a.pendingVector()).toBe(0x40);
    expect(a.nextDeadline()).toBeNull();
  });

  it("deadlines that are not whole ns round up, never early", async () => {
    const { a } = await timerVm({ tscHz: 3e9 });
    a.mmioWrite(0x320, 4, DEADLINE | 0x40);
    a.wrmsr(0x6e0, 1000n);                           // 333.33 ns
    expect(a.nextDeadline()).toBe(334n);
  });

  it("writing 0 disarms; the initial count is ignored and the current count reads 0 in deadline mode", async () => {
    const { a } = await timerVm();
    a.mmioWrite(0x320, 4, DEADLINE | 0x40);
    a.wrmsr(0x6e0, 5000n);
    a.wrmsr(0x6e0, 0n);
    expect(a.nextDeadline()).toBeNull();
    a.mmioWrite(0x380, 4, 100);
    expect(a.mmioRead(0x380)).toBe(0);
    expect(a.mmioRead(0x390)).toBe(0);
    expect(a.nextDeadline()).toBeNull();
  });

  it("outside deadline mode IA32_TSC_DEADLINE reads 0 and ignores writes", async () => {
    const { a } = await timerVm();
    a.mmioWrite(0x320, 4, 0x40);
    expect(a.wrmsr(0x6e0, 5000n)).toBe(Status.OK);
    expect(a.rdmsr(0x6e0).value).toBe(0n);
    expect(a.nextDeadline()).toBeNull();
  });
});

describe("scheduling across vCPUs", () => {
  it("next-deadline over all APICs is the earliest, and advance fires only those due", async () => {
    const { bus, clock } = await apicVm(3);
    for (const [i, count] of [[0, 900], [1, 300], [2, 600]] as const) {
      const a = bus.apic(i); enableX(a);
      a.mmioWrite(0x3e0, 4, 0xb); a.mmioWrite(0x320, 4, 0x30 + i);
      a.mmioWrite(0x380, 4, count);
    }
    expect(bus.nextDeadline()).toBe(300n);
    clock.t = 600n;
    expect(bus.advance()).toBe(2);
    expect(bus.nextDeadline()).toBe(900n);
    expect([0, 1, 2].map((i) => bus.apic(i).pendingVector())).toEqual([null, 0x31, 0x32]);
  });
});
