// Saved state of the local APIC through the envelope: round trips, timers in
// guest time across machines, validation of hostile blobs (nothing changes on
// error), fuzzed blobs.
import { describe, it, expect } from "vitest";
import { Status, readEnvelopeHeader, DeviceKind, type LocalApic } from "../../../src/index.js";
import { rng, testSeed } from "../../support/core.js";
import { fields, reseal } from "../../support/envelope-blob.js";
import { apicVm, enableX, enableX2, icr, sendX, BASE, EN, EXTD } from "./support.js";

const T = { base: 1, id: 2, tpr: 3, ldr: 4, dfr: 5, svr: 6, isr: 7, tmr: 8, irr: 9, esr: 10, lvtTimer: 13, icr: 19, timerInitial: 20, timerStart: 22, timerDeadline: 23, timerPeriod: 24, tscDeadline: 25, events: 26 } as const;

const u32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0, true); return b; };
const u64 = (v: bigint) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true); return b; };

/** Put an APIC into a busy state: TPR, LDR, pending, in-service, level TMR, ESR, LVTs, a running periodic timer, events. */
function busy(a: LocalApic, other: LocalApic): void {
  enableX(a);
  a.mmioWrite(0x80, 4, 0x20);
  a.mmioWrite(0xd0, 4, 0x04000000);
  a.mmioWrite(0xe0, 4, 0x0fffffff);
  a.bus.deliver(a.index, 0x90 | (1 << 15));
  a.ack();
  a.bus.deliver(a.index, 0x41);
  a.mmioWrite(0x370, 4, 0xee);
  a.mmioRead(0x7f0);                      // ESR pending bit 7
  a.mmioWrite(0x350, 4, 0x700);
  a.mmioWrite(0x3e0, 4, 0x3);
  a.mmioWrite(0x320, 4, (1 << 17) | 0x33);
  a.mmioWrite(0x380, 4, 1234);
  sendX(other, a.index, icr(0, { dm: 4 }));  // NMI event pending
  sendX(a, other.index, icr(0x55));       // ICR holds a value
}

describe("APIC state (envelope, DeviceKind.LOCAL_APIC)", () => {
  it("save → restore → save is identity, in a VM on another core", async () => {
    const src = await apicVm(4);
    src.clock.t = 5_000n;
    busy(src.bus.apic(2), src.bus.apic(1));
    const blob = src.bus.apic(2).saveState();
    expect(readEnvelopeHeader(blob).kind).toBe(DeviceKind.localApic);
    const dst = await apicVm(4);
    const b = dst.bus.apic(2);
    expect(b.restoreState(blob)).toBe(Status.OK);
    expect(b.saveState()).toEqual(blob);
    // And the restored APIC behaves as the source did.
    expect(b.ack()).toBe(0xee);                    // the error interrupt the illegal access raised
    b.mmioWrite(0xb0, 4, 0);
    expect(dst.bus.takeEoiBroadcasts()).toEqual([]);
    expect(b.pendingVector()).toBeNull();          // 0x41 is below the in-service class 9
    b.mmioWrite(0xb0, 4, 0);
    expect(dst.bus.takeEoiBroadcasts()).toEqual([0x90]);
    expect(b.pendingVector()).toBe(0x41);
    expect(b.takeEvents()).toBe(4);
  });

  it("x2APIC state with an ID above 255 round-trips", async () => {
    const src = await apicVm(400);
    const a = src.bus.apic(399);
    enableX2(a);
    a.wrmsr(0x808, 0x30n);
    src.bus.deliver(399, 0x77, true);
    const blob = a.saveState();
    const dst = await apicVm(400);
    expect(dst.bus.apic(399).restoreState(blob)).toBe(Status.OK);
    expect(dst.bus.apic(399).rdmsr(0x802).value).toBe(399n);
    expect(dst.bus.apic(399).rdmsr(0x80d).value).toBe(BigInt((24 << 16) | (1 << 15)));
    expect(dst.bus.apic(399).pendingVector()).toBe(0x77);
    expect(dst.bus.apic(399).saveState()).toEqual(blob);
  });

  it("timer deadlines are guest time: restored on a host whose clock is elsewhere, they fire at the same guest moment", async () => {
    const src = await apicVm(1);
    const a = src.bus.apic(0);
    enableX(a);
    a.mmioWrite(0x3e0, 4, 0xb);
    a.mmioWrite(0x320, 4, 0x30);
    src.clock.t = 1_000n;
    a.mmioWrite(0x380, 4, 5_000);                  // fires at guest 6000
    src.clock.t = 3_000n;
    const blob = a.saveState();
    const dst = await apicVm(1);
    dst.clock.t = 3_000n;
    const b = dst.bus.apic(0);
    expect(b.restoreState(blob)).toBe(Status.OK);
    expect(b.nextDeadline()).toBe(6_000n);
    expect(b.mmioRead(0x390)).toBe(3_000);
    expect(b.advance(5_999n)).toBe(false);
    expect(b.advance(6_000n)).toBe(true);
    expect(b.pendingVector()).toBe(0x30);
  });

  it("TSC-deadline state survives a round trip", async () => {
    const src = await apicVm(1, { tscHz: 2e9 });
    const a = src.bus.apic(0);
    enableX(a);
    a.mmioWrite(0x320, 4, (2 << 17) | 0x40);
    a.wrmsr(0x6e0, 9_000n);
    const dst = await apicVm(1, { tscHz: 2e9 });
    expect(dst.bus.apic(0).restoreState(a.saveState())).toBe(Status.OK);
    expect(dst.bus.apic(0).rdmsr(0x6e0).value).toBe(9_000n);
    expect(dst.bus.apic(0).nextDeadline()).toBe(4_500n);
  });

  const lies: Array<[string, (f: Map<number, Uint8Array>) => void]> = [
    ["the blob was saved for another vCPU (ID ≠ index)", (f) => f.set(T.id, u32(3))],
    ["xAPIC mode with an ID above 0xFE", (f) => f.set(T.base, u64(BASE | EN))],
    ["EN = 0 with EXTD = 1", (f) => f.set(T.base, u64(BASE | EXTD))],
    ["reserved bits in IA32_APIC_BASE", (f) => f.set(T.base, u64(BASE | EN | EXTD | 1n))],
    ["a BSP flag on an AP", (f) => f.set(T.base, u64(BASE | EN | EXTD | (1n << 8n)))],
    ["an x2APIC LDR that is not derived from the ID", (f) => f.set(T.ldr, u32(1))],
    ["TPR above 0xFF", (f) => f.set(T.tpr, u32(0x100))],
    ["reserved SVR bits", (f) => f.set(T.svr, u32(0x2ff))],
    ["a vector 0..15 pending", (f) => f.set(T.irr, new Uint8Array(32).fill(0).map((_, i) => (i === 0 ? 1 : 0)))],
    ["an ISR of the wrong size", (f) => f.set(T.isr, new Uint8Array(16))],
    ["reserved LVT timer bits", (f) => f.set(T.lvtTimer, u32(1 << 19))],
    ["an armed timer in the reserved mode 11", (f) => f.set(T.lvtTimer, u32(3 << 17))],
    ["an armed count-down whose deadline is not start + period", (f) => f.set(T.timerDeadline, u64(12345n))],
    ["a TSC deadline outside deadline mode", (f) => f.set(T.tscDeadline, u64(5n))],
    ["reserved event bits", (f) => f.set(T.events, u32(0x40))],
    ["reserved ICR bits", (f) => f.set(T.icr, u64(1n << 12n))],
    ["a missing field", (f) => f.delete(T.dfr)],
  ];

  for (const [what, edit] of lies) {
    it(`restore rejects ${what} and leaves the APIC untouched`, async () => {
      const src = await apicVm(300);
      const a = src.bus.apic(299);
      enableX2(a);
      a.wrmsr(0x832, 0x30n); a.wrmsr(0x83e, 0xbn); a.wrmsr(0x838, 100n);
      const forged = await reseal(a.saveState(), edit);
      const dst = await apicVm(300);
      const victim = dst.bus.apic(299);
      enableX2(victim);
      victim.wrmsr(0x808, 0x40n);
      const before = victim.saveState();
      expect(victim.restoreState(forged)).toBe(Status.ERR_STATE_INVALID);
      expect(victim.saveState()).toEqual(before);
    });
  }

  it("a blob for another device kind is refused", async () => {
    const { bus, core } = await apicVm(1);
    expect(bus.apic(0).restoreState(core.saveLayout())).toBe(Status.ERR_STATE_KIND);
  });

  it("fuzzed blobs (bit flips, truncation, garbage) never trap and never change state", async () => {
    const seed = testSeed();
    const r = rng(seed);
    const src = await apicVm(4);
    busy(src.bus.apic(1), src.bus.apic(0));
    const good = src.bus.apic(1).saveState();
    const dst = await apicVm(4);
    const victim = dst.bus.apic(1);
    enableX(victim);
    const before = victim.saveState();
    for (let k = 0; k < 400; k++) {
      let b: Uint8Array = good.slice();
      const kind = k % 4;
      if (kind === 0) for (let j = 0; j < 1 + ((r() * 4) | 0); j++) b[(r() * b.length) | 0] ^= 1 << ((r() * 8) | 0);
      else if (kind === 1) b = b.slice(0, (r() * b.length) | 0);
      else if (kind === 2) b = Uint8Array.from({ length: (r() * 600) | 0 }, () => (r() * 256) | 0);
      else b = await reseal(good, (f) => { const tags = [...f.keys()]; const t = tags[(r() * tags.length) | 0]; const v = f.get(t)!; v[(r() * v.length) | 0] ^= 1 << ((r() * 8) | 0); });
      const s = victim.restoreState(b);
      if (s === Status.OK) { victim.restoreState(before); continue; } // a flip that stayed valid (e.g. a TMR bit)
      expect(s, `seed ${seed} case ${k}`).toBeGreaterThan(0);
      expect(victim.saveState(), `seed ${seed} case ${k}`).toEqual(before);
    }
  });
});

describe("APIC restore: timer state a guest could have programmed (SDM §11.5.4)", () => {
  const NO_DEADLINE = 0xffff_ffff_ffff_ffffn;
  const get64 = (f: Map<number, Uint8Array>, tag: number) => new DataView(f.get(tag)!.buffer).getBigUint64(0, true);

  /** A periodic timer at bus 1 GHz, divide by 1: 1000 ticks = 1000 ns. */
  async function periodic() {
    const vm = await apicVm(1);
    const a = vm.bus.apic(0);
    enableX(a);
    a.mmioWrite(0x3e0, 4, 0xb);
    a.mmioWrite(0x320, 4, (1 << 17) | 0x30);
    vm.clock.t = 100n;
    a.mmioWrite(0x380, 4, 1000);
    return { ...vm, a };
  }

  it("regression_apic_restore_impossible_period: initial count 0xFFFFFFFF with a 1 ns period is refused (it would fire on every advance)", async () => {
    const { a } = await periodic();
    const good = a.saveState();
    const forged = await reseal(good, (f) => {
      const start = get64(f, T.timerStart);
      f.set(T.timerInitial, u32(0xffffffff));
      f.set(T.timerPeriod, u64(1n));
      f.set(T.timerDeadline, u64(start + 1n));
    });
    const dst = await apicVm(1);
    const b = dst.bus.apic(0);
    enableX(b);
    const before = b.saveState();
    expect(b.restoreState(forged)).toBe(Status.ERR_STATE_INVALID);
    expect(b.saveState()).toEqual(before);
    // The blob the guest's programming produced restores and fires one period after its start.
    expect(b.restoreState(good)).toBe(Status.OK);
    expect(b.advance(200n)).toBe(false);
    expect(b.advance(1_099n)).toBe(false);
    expect(b.advance(1_100n)).toBe(true);
  });

  it("regression_apic_restore_period_other_divider: a period that no divide value gives for the initial count is refused", async () => {
    const { a } = await periodic();
    const forged = await reseal(a.saveState(), (f) => {
      const start = get64(f, T.timerStart);
      f.set(T.timerPeriod, u64(3000n));            // 1000 ticks: 1000·2^k ns only
      f.set(T.timerDeadline, u64(start + 3000n));
    });
    expect((await apicVm(1)).bus.apic(0).restoreState(forged)).toBe(Status.ERR_STATE_INVALID);
  });

  it("a divide value written while the timer counts keeps the period it was loaded with, and that state restores", async () => {
    const { a, clock } = await periodic();
    a.mmioWrite(0x3e0, 4, 0x3);                    // divide by 16 from now on; the running period stays 1000 ns
    clock.t = 150n;
    const blob = a.saveState();
    const dst = await apicVm(1);
    const b = dst.bus.apic(0);
    expect(b.restoreState(blob)).toBe(Status.OK);
    expect(b.nextDeadline()).toBe(1100n);
    expect(b.saveState()).toEqual(blob);
  });

  /** A TSC-deadline timer armed at 9000 ticks of a 2 GHz TSC: 4500 ns. */
  async function tscArmed() {
    const { bus } = await apicVm(1, { tscHz: 2e9 });
    const a = bus.apic(0);
    enableX(a);
    a.mmioWrite(0x320, 4, (2 << 17) | 0x40);
    a.wrmsr(0x6e0, 9_000n);
    return a;
  }

  it("regression_apic_restore_tsc_deadline_contradiction: an armed TSC deadline whose internal deadline is not the MSR value's time is refused", async () => {
    const good = (await tscArmed()).saveState();
    for (const deadline of [NO_DEADLINE - 1n, 4_499n, 4_501n, 1n]) {
      const forged = await reseal(good, (f) => f.set(T.timerDeadline, u64(deadline)));
      const dst = await apicVm(1, { tscHz: 2e9 });
      const b = dst.bus.apic(0);
      const before = b.saveState();
      expect(b.restoreState(forged), `deadline ${deadline}`).toBe(Status.ERR_STATE_INVALID);
      expect(b.saveState()).toEqual(before);
    }
    // The consistent blob restores and fires at the MSR value's time.
    const dst = await apicVm(1, { tscHz: 2e9 });
    const b = dst.bus.apic(0);
    expect(b.restoreState(good)).toBe(Status.OK);
    expect(b.advance(4_499n)).toBe(false);
    expect(b.advance(4_500n)).toBe(true);
    expect(b.pendingVector()).toBe(0x40);
  });

  it("regression_apic_restore_tsc_deadline_other_rate: a blob saved at another TSC rate is refused, not armed for the wrong moment", async () => {
    const blob = (await tscArmed()).saveState();
    const dst = await apicVm(1, { tscHz: 1e9 });
    expect(dst.bus.apic(0).restoreState(blob)).toBe(Status.ERR_STATE_INVALID);
  });
});
