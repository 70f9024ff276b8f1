// Interrupt acceptance, priorities, EOI and errors (Intel SDM Vol. 3A ch. 11).
import { describe, it, expect } from "vitest";
import { ApicEvent, Status } from "../../../src/index.js";
import { apicVm, enableX, vecBit } from "./support.js";

const LEVEL = 1 << 15;

describe("priorities and acceptance", () => {
  it("PPR = TPR if TPR[7:4] ≥ ISRV[7:4], else ISRV[7:4]:0 (§11.8.3.1)", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    enableX(a);
    expect(a.mmioRead(0xa0)).toBe(0);                  // nothing in service, TPR 0
    bus.deliver(0, 0x51);
    expect(a.ack()).toBe(0x51);                       // ISRV = 0x51
    const cases: Array<[number, number]> = [[0x00, 0x50], [0x40, 0x50], [0x4f, 0x50], [0x50, 0x50], [0x52, 0x52], [0x5f, 0x5f], [0x60, 0x60], [0xff, 0xff]];
    for (const [tpr, ppr] of cases) {
      a.mmioWrite(0x80, 4, tpr);
      expect(a.mmioRead(0xa0), `TPR ${tpr.toString(16)}`).toBe(ppr);
    }
  });

  it("an IRR vector is delivered only if its class is above PPR's class (§11.8.3.1, §11.8.4)", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    enableX(a);
    a.mmioWrite(0x80, 4, 0x50);
    bus.deliver(0, 0x5f);
    expect(a.pendingVector()).toBeNull();             // same class as TPR: held
    bus.deliver(0, 0x60);
    expect(a.pendingVector()).toBe(0x60);
    expect(a.ack()).toBe(0x60);
    expect(a.pendingVector()).toBeNull();             // 0x5f is below the in-service class 6
    a.mmioWrite(0xb0, 4, 0);                          // EOI 0x60
    expect(a.pendingVector()).toBeNull();             // TPR still 0x50
    a.mmioWrite(0x80, 4, 0x4f);
    expect(a.pendingVector()).toBe(0x5f);             // lowering TPR releases it
  });

  it("CR8 is TPR[7:4]: MOV to CR8 sets the class and clears TPR[3:0] (§11.8.6)", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    enableX(a);
    a.mmioWrite(0x80, 4, 0x3c);
    expect(a.cr8).toBe(3);
    expect(a.setCr8(5)).toBe(Status.OK);
    expect(a.mmioRead(0x80)).toBe(0x50);
    bus.deliver(0, 0x5e);
    expect(a.pendingVector()).toBeNull();
    expect(a.setCr8(16)).toBe(Status.ERR_INVALID_ARG);
    expect(a.setCr8(4)).toBe(Status.OK);
    expect(a.pendingVector()).toBe(0x5e);
  });

  it("nested interrupts: a higher class preempts, EOI retires the highest in-service vector first (§11.8.4, §11.8.5)", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    enableX(a);
    bus.deliver(0, 0x40);
    expect(a.ack()).toBe(0x40);
    bus.deliver(0, 0x80);
    expect(a.pendingVector()).toBe(0x80);
    expect(a.ack()).toBe(0x80);
    bus.deliver(0, 0x45);
    bus.deliver(0, 0x41);
    expect(a.pendingVector()).toBeNull();
    expect(vecBit(a, 0x100, 0x40) && vecBit(a, 0x100, 0x80)).toBe(true);
    a.mmioWrite(0xb0, 4, 0);
    expect(vecBit(a, 0x100, 0x80)).toBe(false);
    expect(vecBit(a, 0x100, 0x40)).toBe(true);
    expect(a.pendingVector()).toBeNull();             // 0x45 is class 4, same as in-service 0x40
    a.mmioWrite(0xb0, 4, 0);
    expect(a.ack()).toBe(0x45);                       // highest pending first
    a.mmioWrite(0xb0, 4, 0);
    expect(a.ack()).toBe(0x41);
    a.mmioWrite(0xb0, 4, 0);
    expect(a.mmioRead(0xa0)).toBe(0);
    const before = bus.counters().eoiEmpty;
    a.mmioWrite(0xb0, 4, 0);                          // EOI with nothing in service
    expect(bus.counters().eoiEmpty - before).toBe(1n);
  });

  it("INTA with nothing deliverable returns the spurious vector and leaves ISR alone (§11.9)", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    a.mmioWrite(0xf0, 4, 0x1ef);
    expect(a.ack()).toBe(0xef);
    expect(a.mmioRead(0xa0)).toBe(0);
    expect(bus.counters().spurious).toBe(1n);
  });

  it("vectors 0..15 are illegal: not accepted, ESR bit 6 'Received Illegal Vector' (§11.5.2, §11.5.3)", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    enableX(a);
    bus.deliver(0, 0x0f);
    expect(a.mmioRead(0x200)).toBe(0);
    a.mmioWrite(0x280, 4, 0);
    expect(a.mmioRead(0x280)).toBe(0x40);
    expect(bus.counters().recvIllegal).toBe(1n);
  });

  it("a software-disabled APIC drops fixed interrupts but takes NMI/INIT/SMI/SIPI (§11.4.7.2)", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    expect(bus.deliver(0, 0x50)).toBe(1);
    expect(a.mmioRead(0x220)).toBe(0);
    expect(bus.counters().droppedDisabled).toBe(1n);
    bus.deliver(0, 4 << 8);
    expect(a.takeEvents()).toBe(ApicEvent.nmi);
  });
});

describe("level-triggered interrupts and EOI broadcast (§11.8.4, §11.8.5)", () => {
  it("a level-triggered vector sets TMR; its EOI is broadcast; an edge one is not", async () => {
    const { bus } = await apicVm(2);
    const a = bus.apic(1);
    enableX(a);
    bus.deliver(1, 0x61 | LEVEL);
    bus.deliver(1, 0x71);
    expect(vecBit(a, 0x180, 0x61)).toBe(true);
    expect(vecBit(a, 0x180, 0x71)).toBe(false);
    expect(a.ack()).toBe(0x71);
    a.mmioWrite(0xb0, 4, 0);
    expect(bus.takeEoiBroadcasts()).toEqual([]);
    expect(a.ack()).toBe(0x61);
    a.mmioWrite(0xb0, 4, 0);
    expect(bus.takeEoiBroadcasts()).toEqual([0x61]);
    expect(bus.takeEoiBroadcasts()).toEqual([]);
  });

  it("an edge-triggered acceptance clears the vector's TMR bit", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    enableX(a);
    bus.deliver(0, 0x61 | LEVEL);
    bus.deliver(0, 0x61);
    expect(vecBit(a, 0x180, 0x61)).toBe(false);
  });

  it("SVR bit 12 suppresses the EOI broadcast (§11.8.5)", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    a.mmioWrite(0xf0, 4, 0x11ff);
    bus.deliver(0, 0x61 | LEVEL);
    a.ack();
    a.mmioWrite(0xb0, 4, 0);
    expect(bus.takeEoiBroadcasts()).toEqual([]);
    expect(vecBit(a, 0x100, 0x61)).toBe(false);
  });
});

describe("errors (§11.5.3)", () => {
  it("ESR accumulates errors, shows them only after a write, and the error LVT fires on each", async () => {
    const { bus } = await apicVm(2);
    const a = bus.apic(0);
    enableX(a);
    a.mmioWrite(0x370, 4, 0xe3);                      // error LVT: vector 0xE3, unmasked
    a.mmioWrite(0x310, 4, 1 << 24);
    a.mmioWrite(0x300, 4, 0x4005);                    // fixed IPI with illegal vector 5: send error
    expect(bus.counters().sendIllegal).toBe(1n);
    expect(vecBit(bus.apic(1), 0x200, 5)).toBe(false);
    expect(a.pendingVector()).toBe(0xe3);
    a.mmioRead(0x7f0);                                // illegal register
    expect(a.mmioRead(0x280)).toBe(0);
    a.mmioWrite(0x280, 4, 0);
    expect(a.mmioRead(0x280)).toBe(0xa0);             // send illegal vector | illegal register address
    a.mmioWrite(0x280, 4, 0);
    expect(a.mmioRead(0x280)).toBe(0);
  });

  it("a masked error LVT records the error without an interrupt", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    enableX(a);
    a.mmioRead(0x7f0);
    expect(a.pendingVector()).toBeNull();
    a.mmioWrite(0x280, 4, 0);
    expect(a.mmioRead(0x280)).toBe(0x80);
  });
});

describe("LINT0/LINT1 (§11.5.1)", () => {
  it("ExtINT on LINT0 and NMI on LINT1 (the virtual-wire setup) become events on a rising edge", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    enableX(a);
    a.mmioWrite(0x350, 4, 7 << 8);
    a.mmioWrite(0x360, 4, 4 << 8);
    a.lint(0, true);
    a.lint(0, true);                                  // no new edge
    expect(a.takeEvents()).toBe(ApicEvent.extint);
    a.lint(1, true);
    expect(a.takeEvents()).toBe(ApicEvent.nmi);
    a.mmioWrite(0x360, 4, (4 << 8) | 0x10000);        // masked
    a.lint(1, false); a.lint(1, true);
    expect(a.takeEvents()).toBe(0);
  });

  it("a level-triggered fixed LINT sets remote IRR; EOI clears it and re-delivers while the line is high", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    enableX(a);
    a.mmioWrite(0x350, 4, 0x8000 | 0x66);
    a.lint(0, true);
    expect(a.mmioRead(0x350) & (1 << 14)).not.toBe(0);
    expect(a.ack()).toBe(0x66);
    a.mmioWrite(0xb0, 4, 0);
    expect(a.pendingVector()).toBe(0x66);             // still asserted: delivered again
    a.lint(0, false);
    expect(a.ack()).toBe(0x66);
    a.mmioWrite(0xb0, 4, 0);
    expect(a.mmioRead(0x350) & (1 << 14)).toBe(0);
    expect(a.pendingVector()).toBeNull();
  });
});

describe("other local sources (§11.5.1)", () => {
  it("thermal, performance and CMCI deliver through their LVTs; masked ones deliver nothing", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    enableX(a);
    a.mmioWrite(0x330, 4, 4 << 8);                    // thermal → NMI
    a.mmioWrite(0x340, 4, 0x10000 | 0x44);            // performance, masked
    a.mmioWrite(0x2f0, 4, 0x47);                      // CMCI → fixed 0x47
    expect(bus.core.exports.apic_lvt_fire(0, 0x330)).toBe(1);
    expect(a.takeEvents()).toBe(ApicEvent.nmi);
    expect(bus.core.exports.apic_lvt_fire(0, 0x340)).toBe(0);
    expect(bus.core.exports.apic_lvt_fire(0, 0x2f0)).toBe(1);
    expect(a.pendingVector()).toBe(0x47);
    expect(bus.core.exports.apic_lvt_fire(0, 0x320)).toBe(-Status.ERR_INVALID_ARG);
  });
});
