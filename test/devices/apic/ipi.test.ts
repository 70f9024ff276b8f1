// IPIs and destination resolution (Intel SDM Vol. 3A §11.6, §11.12.9–11.12.11).
import { describe, it, expect } from "vitest";
import { ApicEvent, Status, type LocalApic, type ApicBus } from "../../../src/index.js";
import { apicVm, enableX, enableX2, icr, sendX, sendX2, vecBit, vecBitX2 } from "./support.js";

const DM = { fixed: 0, lowest: 1, smi: 2, nmi: 4, init: 5, sipi: 6 } as const;
const SH = { none: 0, self: 1, all: 2, others: 3 } as const;

function irrHas(bus: ApicBus, i: number, v: number): boolean { return bus.core.exports.apic_irr_highest(i) === v; }
function receivers(bus: ApicBus, n: number, v: number): number[] {
  return Array.from({ length: n }, (_, i) => i).filter((i) => irrHas(bus, i, v));
}

describe("xAPIC destinations (§11.6.2)", () => {
  it("physical: the APIC whose ID matches; 0xFF is broadcast to all including the sender (§11.6.2.1)", async () => {
    const { bus } = await apicVm(4);
    for (let i = 0; i < 4; i++) enableX(bus.apic(i));
    sendX(bus.apic(0), 2, icr(0x50));
    expect(receivers(bus, 4, 0x50)).toEqual([2]);
    sendX(bus.apic(1), 0xff, icr(0x51));
    expect(receivers(bus, 4, 0x51)).toEqual([0, 1, 2, 3]);
    sendX(bus.apic(1), 9, icr(0x52));                  // no such APIC
    expect(receivers(bus, 4, 0x52)).toEqual([]);
    expect(bus.counters().noTarget).toBe(1n);
    expect(bus.apic(0).mmioRead(0x300) & (1 << 12)).toBe(0); // delivery status idle
  });

  it("logical flat: LDR[31:24] AND destination ≠ 0; 0xFF is broadcast (§11.6.2.2)", async () => {
    const { bus } = await apicVm(4);
    for (let i = 0; i < 4; i++) { enableX(bus.apic(i)); bus.apic(i).mmioWrite(0xd0, 4, (1 << i) << 24); }
    sendX(bus.apic(0), 0x06, icr(0x50, { logical: true }));
    expect(receivers(bus, 4, 0x50)).toEqual([1, 2]);
    sendX(bus.apic(0), 0xff, icr(0x51, { logical: true }));
    expect(receivers(bus, 4, 0x51)).toEqual([0, 1, 2, 3]);
  });

  it("logical cluster: cluster nibble equal and member bits intersect (§11.6.2.2)", async () => {
    const { bus } = await apicVm(4);
    const ldr = [0x11, 0x12, 0x21, 0x14];
    for (let i = 0; i < 4; i++) { const a = bus.apic(i); enableX(a); a.mmioWrite(0xe0, 4, 0x0fffffff); a.mmioWrite(0xd0, 4, ldr[i] << 24); }
    sendX(bus.apic(0), 0x13, icr(0x50, { logical: true }));
    expect(receivers(bus, 4, 0x50)).toEqual([0, 1]);
    sendX(bus.apic(0), 0x2f, icr(0x51, { logical: true }));
    expect(receivers(bus, 4, 0x51)).toEqual([2]);
    sendX(bus.apic(0), 0xff, icr(0x52, { logical: true }));
    expect(receivers(bus, 4, 0x52)).toEqual([0, 1, 2, 3]);
  });

  it("shorthands: self, all including self, all excluding self ignore the destination field (§11.6.1)", async () => {
    const { bus } = await apicVm(4);
    for (let i = 0; i < 4; i++) enableX(bus.apic(i));
    sendX(bus.apic(2), 0, icr(0x50, { sh: SH.self }));
    expect(receivers(bus, 4, 0x50)).toEqual([2]);
    sendX(bus.apic(2), 0, icr(0x51, { sh: SH.all }));
    expect(receivers(bus, 4, 0x51)).toEqual([0, 1, 2, 3]);
    sendX(bus.apic(2), 2, icr(0x52, { sh: SH.others }));
    expect(receivers(bus, 4, 0x52)).toEqual([0, 1, 3]);
  });

  it("every delivery mode × shorthand × destination mode reaches the set an independent oracle predicts", async () => {
    // Oracle from §11.6.1/§11.6.2: the destination set, then per mode what the receivers see.
    const n = 4, src = 1, vector = 0x66, dest = 0x0a; // physical: nobody (ID 10); logical flat: LDR bits 1 and 3
    const shapes: Array<{ name: string; sh: number; logical: boolean; dest: number; set: number[] }> = [
      { name: "physical", sh: SH.none, logical: false, dest: 3, set: [3] },
      { name: "physical-broadcast", sh: SH.none, logical: false, dest: 0xff, set: [0, 1, 2, 3] },
      { name: "logical-flat", sh: SH.none, logical: true, dest, set: [1, 3] },
      { name: "self", sh: SH.self, logical: false, dest: 0, set: [src] },
      { name: "all", sh: SH.all, logical: false, dest: 0, set: [0, 1, 2, 3] },
      { name: "others", sh: SH.others, logical: false, dest: 0, set: [0, 2, 3] },
    ];
    const eventOf: Record<number, number> = { [DM.smi]: ApicEvent.smi, [DM.nmi]: ApicEvent.nmi, [DM.init]: ApicEvent.init, [DM.sipi]: ApicEvent.sipi };
    for (const shape of shapes) {
      for (const [dmName, dm] of Object.entries(DM)) {
        const { bus } = await apicVm(n);
        for (let i = 0; i < n; i++) { enableX(bus.apic(i)); bus.apic(i).mmioWrite(0xd0, 4, (1 << i) << 24); }
        sendX(bus.apic(src), shape.dest, icr(vector, { dm, logical: shape.logical, sh: shape.sh }));
        const label = `${shape.name} × ${dmName}`;
        // "Self" carries fixed interrupts only; other combinations are invalid and send nothing.
        const invalid = shape.sh === SH.self && dm !== DM.fixed;
        const got = Array.from({ length: n }, (_, i) => (dm === DM.fixed || dm === DM.lowest ? irrHas(bus, i, vector) : bus.apic(i).takeEvents() === eventOf[dm]));
        const hit = got.flatMap((g, i) => (g ? [i] : []));
        if (invalid) expect(hit, label).toEqual([]);
        else if (dm === DM.lowest) {
          // All APRs equal (0): the tie-break picks the (vector mod k)-th member in ID order.
          expect(hit, label).toEqual([shape.set[vector % shape.set.length]]);
        } else expect(hit, label).toEqual(shape.set);
        if (dm === DM.sipi && !invalid) for (const i of shape.set) expect(bus.apic(i).sipiVector).toBe(vector);
      }
    }
  });

  it("the same matrix in x2APIC mode: 32-bit physical, 0xFFFFFFFF broadcast, cluster logical (§11.12.9, §11.12.10)", async () => {
    const n = 4, src = 1, vector = 0x66;
    const shapes: Array<{ name: string; sh: number; logical: boolean; dest: number; set: number[] }> = [
      { name: "physical", sh: SH.none, logical: false, dest: 3, set: [3] },
      { name: "physical-broadcast", sh: SH.none, logical: false, dest: 0xffffffff, set: [0, 1, 2, 3] },
      { name: "logical-cluster", sh: SH.none, logical: true, dest: 0b1010, set: [1, 3] },        // cluster 0, members 1 and 3
      { name: "logical-other-cluster", sh: SH.none, logical: true, dest: (1 << 16) | 0b1010, set: [] },
      { name: "self", sh: SH.self, logical: false, dest: 0, set: [src] },
      { name: "all", sh: SH.all, logical: false, dest: 0, set: [0, 1, 2, 3] },
      { name: "others", sh: SH.others, logical: false, dest: 0, set: [0, 2, 3] },
    ];
    const eventOf: Record<number, number> = { [DM.smi]: ApicEvent.smi, [DM.nmi]: ApicEvent.nmi, [DM.init]: ApicEvent.init, [DM.sipi]: ApicEvent.sipi };
    for (const shape of shapes) {
      for (const [dmName, dm] of Object.entries(DM)) {
        const { bus } = await apicVm(n);
        for (let i = 0; i < n; i++) enableX2(bus.apic(i));
        expect(sendX2(bus.apic(src), shape.dest, icr(vector, { dm, logical: shape.logical, sh: shape.sh }))).toBe(Status.OK);
        const label = `x2 ${shape.name} × ${dmName}`;
        const invalid = shape.sh === SH.self && dm !== DM.fixed;
        const hit = Array.from({ length: n }, (_, i) => i).filter((i) => (dm === DM.fixed || dm === DM.lowest ? irrHas(bus, i, vector) : bus.apic(i).takeEvents() === eventOf[dm]));
        if (invalid || shape.set.length === 0) expect(hit, label).toEqual([]);
        else if (dm === DM.lowest) expect(hit, label).toEqual([shape.set[vector % shape.set.length]]);
        else expect(hit, label).toEqual(shape.set);
      }
    }
  });

  it("INIT level de-assert is accepted and counted but delivers no INIT (§11.6.1)", async () => {
    const { bus } = await apicVm(2);
    sendX(bus.apic(0), 1, icr(0, { dm: DM.init, level: false, trigger: true }));
    expect(bus.apic(1).takeEvents()).toBe(0);
    expect(bus.counters().initDeassert).toBe(1n);
    sendX(bus.apic(0), 1, icr(0, { dm: DM.init }));
    expect(bus.apic(1).takeEvents()).toBe(ApicEvent.init);
  });

  it("INIT then SIPI: the AP bring-up sequence surfaces as events, and INIT reset keeps ID and mode (§11.4.7.3, §8.4.4.1)", async () => {
    const { bus } = await apicVm(2);
    const ap = bus.apic(1);
    enableX(ap);
    ap.mmioWrite(0x80, 4, 0x20);
    sendX(bus.apic(0), 1, icr(0, { dm: DM.init }));
    expect(ap.takeEvents()).toBe(ApicEvent.init);
    ap.initReset();
    expect(ap.mmioRead(0x80)).toBe(0);
    expect(ap.mmioRead(0xf0)).toBe(0xff);
    expect(ap.mmioRead(0x20) >>> 24).toBe(1);
    sendX(bus.apic(0), 1, icr(0x9a, { dm: DM.sipi }));
    expect(ap.takeEvents()).toBe(ApicEvent.sipi);
    expect(ap.sipiVector).toBe(0x9a);
  });

  it("reserved delivery modes are not sent (Figure 11-12)", async () => {
    const { bus } = await apicVm(2);
    enableX(bus.apic(1));
    sendX(bus.apic(0), 1, icr(0x50, { dm: 3 }));
    sendX(bus.apic(0), 1, icr(0x50, { dm: 7 }));
    expect(receivers(bus, 2, 0x50)).toEqual([]);
    expect(bus.apic(1).takeEvents()).toBe(0);
    expect(bus.counters().sendIllegal).toBe(2n);
  });
});

describe("lowest-priority arbitration (§11.6.2.4)", () => {
  async function four(tprs: number[]) {
    const v = await apicVm(4);
    for (let i = 0; i < 4; i++) { enableX(v.bus.apic(i)); v.bus.apic(i).mmioWrite(0xd0, 4, (1 << i) << 24); v.bus.apic(i).mmioWrite(0x80, 4, tprs[i]); }
    return v;
  }

  it("the APIC with the lowest arbitration priority wins", async () => {
    const { bus } = await four([0x20, 0x30, 0x10, 0x40]);
    sendX(bus.apic(0), 0x0f, icr(0x70, { dm: DM.lowest, logical: true }));
    expect(receivers(bus, 4, 0x70)).toEqual([2]);
    expect(bus.counters().lowestPriority).toBe(1n);
  });

  it("APR counts a pending IRR class above TPR (Figure 11-15)", async () => {
    const { bus } = await four([0x10, 0x10, 0x10, 0x10]);
    bus.deliver(0, 0x90); bus.deliver(1, 0x90); bus.deliver(3, 0x90); // APR 0x90 everywhere but APIC 2
    sendX(bus.apic(0), 0x0f, icr(0x71, { dm: DM.lowest, logical: true }));
    expect(receivers(bus, 4, 0x71)).toEqual([2]);
  });

  it("ties: the (vector mod k)-th of the tied APICs in ID order (documented tie-break)", async () => {
    const { bus } = await four([0x20, 0x10, 0x30, 0x10]);
    sendX(bus.apic(0), 0x0f, icr(0x40, { dm: DM.lowest, logical: true }));
    sendX(bus.apic(0), 0x0f, icr(0x41, { dm: DM.lowest, logical: true }));
    expect(receivers(bus, 4, 0x40)).toEqual([1]);
    expect(receivers(bus, 4, 0x41)).toEqual([3]);
  });

  it("software-disabled APICs do not take part", async () => {
    const { bus } = await four([0x20, 0x30, 0x10, 0x40]);
    bus.apic(2).mmioWrite(0xf0, 4, 0xff);
    sendX(bus.apic(0), 0x0f, icr(0x70, { dm: DM.lowest, logical: true }));
    expect(receivers(bus, 4, 0x70)).toEqual([0]);
  });
});

describe("x2APIC IPIs (§11.12.9–11.12.11)", () => {
  async function x2vm(n: number) {
    const v = await apicVm(n);
    for (let i = 0; i < n; i++) enableX2(v.bus.apic(i));
    return v;
  }

  it("64-bit ICR: physical to a 32-bit ID, broadcast 0xFFFFFFFF, and the ICR reads back (§11.12.9)", async () => {
    const { bus } = await x2vm(300);
    expect(sendX2(bus.apic(0), 299, icr(0x50))).toBe(Status.OK);
    expect(receivers(bus, 300, 0x50)).toEqual([299]);
    expect(bus.apic(0).rdmsr(0x830).value).toBe((299n << 32n) | BigInt(icr(0x50)));
    sendX2(bus.apic(5), 0xffffffff, icr(0x51));
    expect(receivers(bus, 300, 0x51).length).toBe(300);
    sendX2(bus.apic(5), 0xff, icr(0x52));            // 0xFF is an ordinary x2APIC ID, not a broadcast
    expect(receivers(bus, 300, 0x52)).toEqual([255]);
  });

  it("logical: cluster ID[31:16] and member bitmap[15:0] against the derived LDR (§11.12.10.1)", async () => {
    const { bus } = await x2vm(300);
    sendX2(bus.apic(0), (2 << 16) | 0b1000_0000_0000_0101, icr(0x50, { logical: true }));
    expect(receivers(bus, 300, 0x50)).toEqual([32, 34, 47]);
    sendX2(bus.apic(0), (18 << 16) | 0xffff, icr(0x51, { logical: true })); // cluster 18 = IDs 288..303, only 288..299 exist
    expect(receivers(bus, 300, 0x51)).toEqual(Array.from({ length: 12 }, (_, k) => 288 + k));
    sendX2(bus.apic(0), 0xffffffff, icr(0x52, { logical: true }));
    expect(receivers(bus, 300, 0x52).length).toBe(300);
  });

  it("SELF IPI MSR delivers a fixed edge interrupt to the writer (§11.12.11)", async () => {
    const { bus } = await x2vm(3);
    expect(bus.apic(1).wrmsr(0x83f, 0x77n)).toBe(Status.OK);
    expect(receivers(bus, 3, 0x77)).toEqual([1]);
    expect(vecBitX2(bus.apic(1), 0x820, 0x77)).toBe(true);
    expect(vecBitX2(bus.apic(1), 0x818, 0x77)).toBe(false);
  });

  it("1024 vCPUs: an IPI from vCPU 0 reaches exactly vCPU 1000; NMI to all-but-self reaches 1023 (§11.6.1)", async () => {
    const { bus } = await x2vm(1024);
    sendX2(bus.apic(0), 1000, icr(0xa0));
    expect(receivers(bus, 1024, 0xa0)).toEqual([1000]);
    expect(bus.apic(1000).pendingVector()).toBe(0xa0);
    sendX2(bus.apic(1000), 0, icr(0, { dm: DM.nmi, sh: SH.others }));
    const nmis = Array.from({ length: 1024 }, (_, i) => bus.apic(i).takeEvents() === ApicEvent.nmi);
    expect(nmis.filter(Boolean).length).toBe(1023);
    expect(nmis[1000]).toBe(false);
    sendX2(bus.apic(3), (63 << 16) | 0xffff, icr(0xa1, { logical: true }));
    expect(receivers(bus, 1024, 0xa1)).toEqual(Array.from({ length: 16 }, (_, k) => 1008 + k));
  });
});

export type { LocalApic };
