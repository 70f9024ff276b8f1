// MSI decode and delivery (Intel SDM Vol. 3A §11.11) and the InterruptSink wiring.
import { describe, it, expect } from "vitest";
import { ApicBus, ApicEvent, ManualClock, Status, type InterruptSink, type MsiMessage } from "../../../src/index.js";
import { newCore, rng, testSeed } from "../../support/core.js";
import { apicVm, enableX, enableX2 } from "./support.js";

/** Message address/data as a device driver composes them (Figures 11-24/11-25). */
function msi(dest: number, vector: number, o: { logical?: boolean; rh?: boolean; dm?: number; level?: boolean } = {}): MsiMessage {
  return {
    addressLo: (0xfee << 20) | ((dest & 0xff) << 12) | (o.rh ? 8 : 0) | (o.logical ? 4 : 0),
    addressHi: (dest >>> 8) << 8,
    data: vector | ((o.dm ?? 0) << 8) | (o.level ? (1 << 15) | (1 << 14) : 0),
  };
}

describe("MSI (§11.11)", () => {
  it("physical fixed edge: vector into the destination's IRR only (§11.11.1, §11.11.2)", async () => {
    const { bus } = await apicVm(4);
    for (let i = 0; i < 4; i++) enableX(bus.apic(i));
    expect(bus.msi(msi(2, 0x41))).toBe(1);
    expect(bus.apic(2).pendingVector()).toBe(0x41);
    expect([0, 1, 3].map((i) => bus.apic(i).pendingVector())).toEqual([null, null, null]);
  });

  it("1024 vCPUs: the extended destination in address-high reaches x2APIC ID 1000", async () => {
    const { bus } = await apicVm(1024);
    for (let i = 0; i < 1024; i++) enableX2(bus.apic(i));
    const m = msi(1000, 0x42);
    expect(m.addressHi).toBe(0x300);
    expect(bus.msi(m)).toBe(1);
    const hit = Array.from({ length: 1024 }, (_, i) => i).filter((i) => bus.apic(i).pendingVector() === 0x42);
    expect(hit).toEqual([1000]);
    expect(bus.msi(msi(0xff, 0x43))).toBe(1024);     // destination 0xFF without extension: broadcast
  });

  it("extended destination ID: address bits 11:5 are destination bits 14:8 when enabled, ignored otherwise", async () => {
    for (const on of [true, false]) {
      const core = await newCore(1 << 20);
      const bus = ApicBus.create(core, { cpus: 1024, clock: new ManualClock(), msiExtendedDestId: on });
      for (let i = 0; i < 1024; i++) enableX2(bus.apic(i));
      // ID 1000 = 0x3E8: 0xE8 in bits 19:12, 0x3 in bits 11:5.
      expect(bus.msi({ addressLo: 0xfee00000 | (0xe8 << 12) | (0x3 << 5), addressHi: 0, data: 0x44 })).toBe(1);
      const hit = Array.from({ length: 1024 }, (_, i) => i).filter((i) => bus.apic(i).pendingVector() === 0x44);
      expect(hit).toEqual(on ? [1000] : [0xe8]);
    }
  });

  it("logical destination (DM = 1) and RH = 1 lowest-priority redirection (§11.11.1)", async () => {
    const { bus } = await apicVm(4);
    for (let i = 0; i < 4; i++) { const a = bus.apic(i); enableX(a); a.mmioWrite(0xd0, 4, (1 << i) << 24); a.mmioWrite(0x80, 4, [0x30, 0x20, 0x10, 0x40][i]); }
    expect(bus.msi(msi(0x0b, 0x50, { logical: true }))).toBe(3);
    expect(bus.msi(msi(0x0f, 0x51, { logical: true, rh: true }))).toBe(1);
    expect(bus.core.exports.apic_irr_highest(2)).toBe(0x51);
    expect(bus.msi(msi(0x0f, 0x52, { logical: true, dm: 1 }))).toBe(1); // lowest-priority delivery mode
    expect(bus.core.exports.apic_irr_highest(2)).toBe(0x52);
  });

  it("level-triggered MSI sets TMR and its EOI is broadcast", async () => {
    const { bus } = await apicVm(2);
    const a = bus.apic(1);
    enableX(a);
    bus.msi(msi(1, 0x61, { level: true }));
    expect(a.ack()).toBe(0x61);
    a.mmioWrite(0xb0, 4, 0);
    expect(bus.takeEoiBroadcasts()).toEqual([0x61]);
  });

  it("NMI, SMI, INIT and ExtINT delivery modes become events", async () => {
    const { bus } = await apicVm(2);
    for (const [dm, ev] of [[4, ApicEvent.nmi], [2, ApicEvent.smi], [5, ApicEvent.init], [7, ApicEvent.extint]] as const) {
      expect(bus.msi(msi(1, 0, { dm }))).toBe(1);
      expect(bus.apic(1).takeEvents()).toBe(ev);
    }
  });

  it("a bad address or a reserved delivery mode is refused and counted, never delivered", async () => {
    const { bus } = await apicVm(2);
    enableX(bus.apic(1));
    expect(bus.msi({ addressLo: 0xfed01000, addressHi: 0, data: 0x41 })).toBe(-Status.ERR_INVALID_ARG);
    expect(bus.msi({ ...msi(1, 0x41), data: 0x341 })).toBe(-Status.ERR_INVALID_ARG);
    expect(bus.msi({ ...msi(1, 0x41), data: 0x641 })).toBe(-Status.ERR_INVALID_ARG); // no start-up by MSI
    expect(bus.counters().msiBad).toBe(3n);
    expect(bus.apic(1).pendingVector()).toBeNull();
  });

  it("a device wired through InterruptSink reaches the APIC", async () => {
    const { bus } = await apicVm(2);
    enableX(bus.apic(1));
    const sink: InterruptSink = bus;
    const device = { raise: (s: InterruptSink) => s.msi(msi(1, 0x99)) };
    device.raise(sink);
    expect(bus.apic(1).pendingVector()).toBe(0x99);
  });
});

describe("MSI fast path", () => {
  it("agrees with the general router: random MSIs vs the same messages through apic_deliver", async () => {
    const seed = testSeed();
    const r = rng(seed);
    const a = await apicVm(300), b = await apicVm(300);
    for (const v of [a, b]) {
      for (let i = 0; i < 300; i++) {
        const c = v.bus.apic(i);
        if (i % 7 === 3) continue;                    // some stay software-disabled
        if (i > 200) enableX2(c); else enableX(c);
      }
      v.bus.apic(5).wrmsr(0x1b, 0n);                  // one hardware-disabled
    }
    for (let k = 0; k < 3000; k++) {
      const dest = [r() * 300, r() * 0x110, 0xff, 299, 5][(r() * 5) | 0] | 0;
      const vector = (r() * 256) | 0;
      const dm = [0, 0, 0, 1, 2, 4, 5, 7][(r() * 8) | 0];
      const logical = r() < 0.2;
      const level = r() < 0.3;
      const m = { addressLo: (0xfee << 20) | ((dest & 0xff) << 12) | (logical ? 4 : 0), addressHi: dest & ~0xff, data: vector | (dm << 8) | (level ? 0xc000 : 0) };
      const lo = vector | (dm << 8) | (logical ? 1 << 11 : 0) | (level ? 0xc000 : 0);
      const ra = a.bus.msi(m);
      const rb = b.bus.deliver(dest, lo, (dest & ~0xff) !== 0);
      expect(ra, `seed ${seed} msg ${k}`).toBe(rb);
    }
    for (let i = 0; i < 300; i++) expect(a.bus.apic(i).saveState(), `seed ${seed} apic ${i}`).toEqual(b.bus.apic(i).saveState());
    expect(a.bus.counters()).toEqual(b.bus.counters());
  });
});
