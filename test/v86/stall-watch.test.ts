// The v86 workload's hang detector (test/support/stall-watch.ts).
import { describe, expect, it } from "vitest";
import { StallWatch } from "../support/stall-watch.js";

describe("StallWatch", () => {
  it("regression_v86_watchdog_counts_guest_instructions_not_wall_time: a slow boot on a busy host is not a hang", () => {
    // Seen under load: 30 s of wall time with no console line while the guest ran 1.19e9 instructions of a boot
    // that takes ≈ 6.5e9. The old detector (30 s wall and more than 1e7 instructions) called that a hang.
    const w = new StallWatch("0/0/0", 0, 0, 20e9, 30_000);
    let counter = 0;
    for (let ms = 100; ms <= 120_000; ms += 100) {
      counter = (counter + 1_000_000) >>> 0; // 10 MIPS: a v86 on a heavily loaded host
      expect(w.sample("0/0/0", counter, ms)).toBeNull();
    }
    expect(w.sinceChange).toBe(1_200_000_000);
  });

  it("calls a hang once the guest ran the budget with frozen progress, and reports the frozen time", () => {
    const w = new StallWatch("5/5/10", 0, 0, 3e9, 30_000);
    let counter = 0, ms = 0, hung: number | null = null;
    while (hung === null && ms < 1_000_000) {
      ms += 100;
      counter = (counter + 20_000_000) >>> 0; // 200 MIPS
      hung = w.sample("5/5/10", counter, ms);
    }
    expect(w.sinceChange).toBeGreaterThan(3e9);
    expect(hung).toBe(ms);
    expect(ms).toBe(30_000); // the budget is reached at 15 s; the wall-time floor holds it to 30 s
  });

  it("progress resets the count, and the 32-bit counter's wrap is followed", () => {
    const w = new StallWatch("a", 0xffff_0000, 0, 1e9, 0);
    expect(w.sample("a", 0x0000_ffff, 10)).toBeNull(); // wrapped: 0x1ffff instructions
    expect(w.sinceChange).toBe(0x1_ffff);
    expect(w.sample("b", 0x1000_0000, 20)).toBeNull();
    expect(w.sinceChange).toBe(0);
    expect(w.sample("b", 0x5000_0000, 30)).toBe(10); // 0x40000000 ≈ 1.07e9 > 1e9 with progress frozen since 20 ms
    expect(w.total).toBe(0x1_ffff + (0x1000_0000 - 0xffff) + 0x4000_0000);
  });

  it("a guest that stopped executing is never called hung (the host stopped running it)", () => {
    const w = new StallWatch("x", 42, 0, 3e9, 30_000);
    for (let ms = 1000; ms <= 600_000; ms += 1000) expect(w.sample("x", 42, ms)).toBeNull();
  });
});
