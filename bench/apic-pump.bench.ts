// The APIC timer pump's work per tick (src/devices/apic/machine.ts
// ApicTimerPump.run: advance every armed APIC to now, then find the earliest
// deadline) at 64, 256 and 1024 vCPUs, with one timer armed far in the
// future: a tick that fires nothing, the common one. The scans visit only
// APICs whose armed bit is set (assembly/apic/model.ts ApicSet.armed).
// Baseline: the same tick with every vCPU's timer armed, which visits every
// APIC's record, as each tick did before the armed bits. The pump ticks at
// most every APIC_POLL_MS, so one core's share is tick / APIC_POLL_MS.
import { ApicBus, ManualClock } from "../src/index.js";
import { APIC_POLL_MS } from "../src/devices/apic/machine.js";
import { benchCore, medianMs, type BenchRow } from "./support.js";

async function tickUs(cpus: number, armed: number): Promise<number> {
  const core = await benchCore(1 << 20);
  const bus = ApicBus.create(core, { cpus, clock: new ManualClock() });
  for (let i = 0; i < armed; i++) {
    const a = bus.apic(i);
    if ((a.base & (1n << 10n)) === 0n) a.wrmsr(0x1b, 0xfee00c00n); // x2APIC
    a.wrmsr(0x80f, 0x1ffn);              // software-enabled
    a.wrmsr(0x832, 0x40n);               // LVT timer: one-shot, vector 0x40
    a.wrmsr(0x838, 0xffff_ffffn);        // initial count: far away
  }
  if (bus.nextDeadline() === null) throw new Error("the timers did not arm");
  const reps = 1000;
  let sink = 0;
  const ms = medianMs(() => { for (let i = 0; i < reps; i++) { sink += bus.advance(1000n); if (bus.nextDeadline() === null) sink++; } }, 31, 3);
  if (sink !== 0) throw new Error("a tick fired or lost a timer");
  return (ms * 1000) / reps;
}

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const cpus of [64, 256, 1024]) {
    const one = await tickUs(cpus, 1), all = await tickUs(cpus, cpus);
    rows.push({
      name: `APIC timer pump tick, ${cpus} vCPUs, one timer armed`, value: one, unit: "µs", baseline: all, ratio: all / one,
      note: `baseline: every vCPU's timer armed (${((all * 1000) / cpus).toFixed(1)} ns per armed vCPU, the cost of every tick when all records were scanned); ratio = baseline / value; ${((one / (APIC_POLL_MS * 1000)) * 100).toFixed(4)}% of a core at one tick per ${APIC_POLL_MS} ms`,
    });
  }
  return rows;
}
