// The inspector on real local-APIC states: IRR/ISR/TMR as exactly the vectors
// raised, LVTs and the timer decoded as programmed.
import { describe, it, expect } from "vitest";
import { defaultDecoders, inspectBlob, inspectDevice } from "../../../src/index.js";
import { apicVm, enableX, icr, sendX } from "./support.js";

type Dump = { irr: number[]; isr: number[]; tmr: number[]; tpr: string; svr: { enabled: boolean; spuriousVector: number };
  lvt: { timer: { vector: number; timerMode: string; masked: boolean }; lint0: { deliveryMode: string; masked: boolean }; error: { vector: number } };
  timer: { initialCount: number; divide: number; deadlineNs: string }; icr: { vector: number; destination: string }; apicBase: { mode: string; bsp: boolean } };

describe("inspect: local APIC", () => {
  it("lists exactly the vectors raised in IRR, the one in service in ISR, the level one in TMR", async () => {
    const { bus, clock } = await apicVm(2);
    clock.t = 1000n;
    const a = bus.apic(1), b = bus.apic(0);
    enableX(a); enableX(b);
    a.mmioWrite(0x80, 4, 0x10);
    bus.deliver(1, 0x90 | (1 << 15));     // level-triggered: TMR
    expect(a.ack()).toBe(0x90);           // now in service
    sendX(b, 1, icr(0x41));
    sendX(b, 1, icr(0x62));
    a.mmioWrite(0x370, 4, 0xee);
    a.mmioWrite(0x3e0, 4, 0x3);           // divide by 16
    a.mmioWrite(0x320, 4, (1 << 17) | 0x33);
    a.mmioWrite(0x380, 4, 1234);
    const [dump] = await inspectDevice(a);
    expect(dump.state.errors).toEqual([]);
    expect(dump.state.kindName).toBe("local-apic");
    const d = dump.state.device as Dump;
    expect(d.irr).toEqual([0x41, 0x62]);
    expect(d.isr).toEqual([0x90]);
    expect(d.tmr).toEqual([0x90]);
    expect(d.tpr).toBe("0x10");
    expect(d.svr).toMatchObject({ enabled: true, spuriousVector: 0xff });
    expect(d.lvt.timer).toMatchObject({ vector: 0x33, timerMode: "periodic", masked: false });
    expect(d.lvt.error.vector).toBe(0xee);
    expect(d.lvt.lint0.masked).toBe(true);
    expect(d.timer.initialCount).toBe(1234);
    expect(d.timer.divide).toBe(16);
    expect(d.timer.deadlineNs).not.toBe("none");
    expect(d.apicBase).toMatchObject({ mode: "xapic", bsp: false });
    // The sender's ICR holds the last IPI it sent, to APIC 1.
    const sender = (await inspectBlob(b.saveState(), { decoders: defaultDecoders() })).device as Dump;
    expect(sender.icr).toMatchObject({ vector: 0x62, destination: "0x01000000" });
    expect(sender.apicBase.bsp).toBe(true);
  });
});
