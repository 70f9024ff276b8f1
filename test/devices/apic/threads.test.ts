// APICs shared with vCPU worker threads: an attached instance finds the VM's
// APIC set and routes IPIs from its own APIC; two threads set and withdraw
// MSIs on the same IRR words at once and every thread's bits survive. (The
// IRR updates are atomic read-modify-writes; this test exercises them across
// threads but cannot force the few-nanosecond race window on every run.)
import { describe, it, expect } from "vitest";
import { ApicBus, ApicEvent, ManualClock, Status } from "../../../src/index.js";
import { newCore } from "../../support/core.js";
import { tsWorker } from "../../support/workers.js";

/** Run the APIC worker; resolves with the number of IRR bits it saw lost. */
function runWorker(data: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const w = tsWorker(new URL("./apic.worker.ts", import.meta.url), data);
    w.once("message", (m: { lost: number }) => resolve(m.lost));
    w.once("error", reject);
    w.once("exit", (code) => { if (code !== 0) reject(new Error(`worker exited ${code}`)); });
  });
}

describe("APIC threads", () => {
  it("workers attach to the APIC set; their IPIs and racing MSIs all land", async () => {
    const core = await newCore(1 << 20);
    const bus = ApicBus.create(core, { cpus: 300, clock: new ManualClock() });
    for (let i = 0; i < 300; i++) {
      const a = bus.apic(i);
      if ((a.base & (1n << 10n)) === 0n) expect(a.wrmsr(0x1b, 0xfee00c00n)).toBe(Status.OK);
      expect(a.wrmsr(0x80f, 0x1ffn)).toBe(Status.OK);
    }
    const even = Array.from({ length: 104 }, (_, k) => 0x20 + 2 * k); // 0x20..0xEE
    const odd = even.map((v) => v + 1);
    const start = new SharedArrayBuffer(4);
    const lost = await Promise.all([
      runWorker({ shared: core.shareable(), self: 1, ipiTo: 299, ipiVector: 0x91, vectors: even, rounds: 400, start }),
      runWorker({ shared: core.shareable(), self: 2, ipiTo: 298, ipiVector: 0x92, vectors: odd, rounds: 400, start }),
    ]);
    expect(lost).toEqual([0, 0]);
    expect(core.exports.apic_irr_highest(299)).toBe(0x91);
    expect(core.exports.apic_irr_highest(298)).toBe(0x92);
    const a0 = bus.apic(0);
    const irr = Array.from({ length: 8 }, (_, w) => Number(a0.rdmsr(0x820 + w).value));
    const want = [0, 0, 0, 0, 0, 0, 0, 0];
    for (const v of [...even, ...odd]) want[v >> 5] |= 1 << (v & 31);
    expect(irr.map((w) => w >>> 0)).toEqual(want.map((w) => w >>> 0));
    expect(a0.pendingVector()).toBe(0xef);
    expect(bus.apic(3).takeEvents()).toBe(ApicEvent.nmi);
  });

  it("an attached instance without an APIC set reports it", async () => {
    const core = await newCore(1 << 16);
    expect(() => ApicBus.attach(core, { clock: new ManualClock() })).toThrow(/ERR_NOT_READY/);
  });
});
