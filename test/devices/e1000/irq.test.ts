// Interrupt moderation on guest time (a manual clock): ITR's minimum interval
// between assertions, RDTR/RADV for receive and TIDV/TADV for transmit
// descriptors with IDE, and the flush bits. Nothing here waits on the wall clock.
import { describe, it, expect } from "vitest";
import { e1000Rig } from "./rig.js";
import { frame, mac } from "../../../src/guest/virtio/frames.js";
import { Reg, Icr } from "../../../src/guest/e1000/defs.js";

const US = 1000n;

describe("e1000 interrupt moderation", () => {
  it("ITR: a cause inside the interval waits for its end, then asserts; the deadline says when", async () => {
    const r = await e1000Rig({ driver: { itr: 1000 } }); // 1000 × 256 ns = 256 µs
    r.drv.read(Reg.ICR);
    const asserts0 = r.irq.intxAsserts;
    r.drv.write(Reg.ICS, Icr.RXT0);
    expect(r.irq.intxAsserts).toBe(asserts0 + 1);
    const t0 = r.clock.t;
    r.drv.read(Reg.ICR);
    r.clock.advance(100n * US);
    r.drv.write(Reg.ICS, Icr.RXT0);
    expect(r.irq.intxLevel).toBe(false);
    expect(r.dev.nextDeadline()).toBe(t0 + 256n * US);
    r.clock.advance(155n * US);
    r.dev.advance();
    expect(r.irq.intxLevel).toBe(false);
    r.clock.advance(1n * US);
    r.dev.advance();
    expect(r.irq.intxLevel).toBe(true);
    expect(r.irq.intxAsserts).toBe(asserts0 + 2);
    expect(r.dev.counters().irqThrottled).toBe(1n);
  });

  it("RDTR restarts with each frame, RADV bounds the wait from the first; RDTR 0 is immediate; FPD flushes", async () => {
    const r = await e1000Rig({ driver: { rdtr: 10, radv: 25 } }); // 10.24 µs, 25.6 µs
    r.drv.read(Reg.ICR);
    const t0 = r.clock.t;
    const rx = () => r.dev.receive(frame({ dst: r.drv.mac, length: 64 }));
    rx();
    expect(r.irq.intxLevel).toBe(false);
    expect(r.dev.nextDeadline()).toBe(t0 + 10240n);
    // A frame every 8 µs keeps the packet timer from expiring; the absolute one fires at 25.6 µs.
    for (let i = 1; i <= 3; i++) { r.clock.t = t0 + BigInt(i) * 8n * US; r.dev.advance(); rx(); expect(r.irq.intxLevel).toBe(false); }
    r.clock.t = t0 + 25600n;
    r.dev.advance();
    expect(r.irq.intxLevel).toBe(true);
    expect(r.drv.read(Reg.ICR) & Icr.RXT0).toBe(Icr.RXT0);
    // FPD fires a pending delay at once.
    rx();
    expect(r.irq.intxLevel).toBe(false);
    r.drv.write(Reg.RDTR, 10 | 0x80000000);
    expect(r.irq.intxLevel).toBe(true);
    expect(r.drv.read(Reg.RDTR)).toBe(10);
    r.drv.read(Reg.ICR);
    r.drv.write(Reg.RDTR, 0);
    rx();
    expect(r.irq.intxLevel).toBe(true);
  });

  it("TIDV/TADV delay TXDW of descriptors with IDE; without IDE it is immediate", async () => {
    const r = await e1000Rig({ driver: { ide: true, tidv: 8, tadv: 32 } });
    r.drv.read(Reg.ICR);
    const t0 = r.clock.t;
    r.drv.transmit(frame({ dst: mac("02:00:00:00:00:01"), length: 64 }));
    expect(r.irq.intxLevel).toBe(false);
    expect(r.dev.nextDeadline()).toBe(t0 + 8192n);
    r.clock.t = t0 + 8191n;
    r.dev.advance();
    expect(r.irq.intxLevel).toBe(false);
    r.clock.t = t0 + 8192n;
    r.dev.advance();
    expect(r.drv.read(Reg.ICR) & Icr.TXDW).toBe(Icr.TXDW);
    const q = await e1000Rig({ driver: { ide: false, tidv: 8 } });
    q.drv.read(Reg.ICR);
    q.drv.transmit(frame({ dst: mac("02:00:00:00:00:01"), length: 64 }));
    expect(q.irq.intxLevel).toBe(true);
    expect(q.dev.nextDeadline()).toBeNull();
  });

  it("time that runs backwards is ignored for timers and counted", async () => {
    const r = await e1000Rig({ driver: { rdtr: 10 } });
    r.clock.t = 1_000_000n;
    r.dev.receive(frame({ dst: r.drv.mac, length: 64 }));
    const at = r.dev.nextDeadline()!;
    r.clock.t = 0n;
    r.dev.advance();
    expect(r.dev.nextDeadline()).toBe(at);
    expect(r.dev.counters().clockBackwards).toBe(1n);
  });
});
