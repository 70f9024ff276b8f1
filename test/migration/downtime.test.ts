// The downtime, counted honestly: both definitions, every part, and the
// estimate made before stop-and-copy. Times depend on the machine, so the
// assertions are on what the parts add up to and on what the estimate
// predicted in pages and bytes; the timing figures are in `npm run bench`.
import { describe, it, expect, afterEach } from "vitest";
import { rig, runMigration, type Rig } from "./helpers.js";
import { jsonSummary, summaryLines } from "../../src/migration/report.js";
import type { DowntimeParts, MigrationReport } from "../../src/migration/index.js";

let current: Rig | undefined;
afterEach(async () => { await current?.src.stop(); current = undefined; });

const sum = (p: DowntimeParts) => Object.values(p).reduce((a, b) => a + b, 0);
const finalRound = (r: MigrationReport) => r.roundStats[r.roundStats.length - 1];

describe("downtime", () => {
  for (const verify of ["deferred", "full"] as const) {
    it(`${verify} verify: the parts add up to the freeze-to-running downtime; the last byte leaves before the destination runs`, async () => {
      const r = (current = await rig({ ramMiB: 4, dirtyMiBps: 4 }));
      await r.src.start();
      const { report } = await runMigration(r, { mig: { verify, maxRounds: 4 } });
      expect(report.ok, report.error).toBe(true);
      const d = report.downtime;
      expect(d.toRunningMs).toBe(report.downtimeMs);
      expect(sum(d.parts)).toBeCloseTo(d.toRunningMs, 6);
      for (const v of Object.values(d.parts)) expect(v).toBeGreaterThanOrEqual(0);
      // QEMU's definition stops at the digest, before the verdict, CONFIRM and RESUMED.
      expect(d.toLastByteMs).toBeGreaterThan(0);
      expect(d.toLastByteMs).toBeLessThan(d.toRunningMs);
      expect(d.toLastByteMs).toBeGreaterThanOrEqual(d.parts.lock + d.parts.harvest + d.parts.send + d.parts.deviceState - 1e-6);
      expect(report.verifyMs).toBe(d.parts.verify);
      // The JSON and the summary carry both definitions and the parts.
      const j = jsonSummary(report) as { downtime: { toLastByteMs: number; parts: Record<string, number> }; estimate: { parts: Record<string, number> } };
      expect(Object.keys(j.downtime.parts)).toEqual(["lock", "harvest", "send", "deviceState", "verify", "confirm", "resume"]);
      expect(Object.keys(j.estimate.parts)).toEqual(Object.keys(j.downtime.parts));
      const text = summaryLines(report).join("\n");
      expect(text).toMatch(/^downtime: [\d.]+ ms until the destination runs; [\d.]+ ms until the last byte was sent$/m);
      expect(text).toMatch(/^downtime parts: lock [\d.]+, final harvest [\d.]+, send [\d.]+, device state [\d.]+, verify [\d.]+, confirm [\d.]+, resume [\d.]+ ms$/m);
      expect(text).toMatch(/^expected downtime: [\d.]+ ms \(lock 0.00, final harvest .*\); estimate ÷ actual [\d.]+$/m);
    });
  }

  it("an idle guest: the estimate predicts the final round exactly (no page, no byte), and the full-verify estimate holds a pass over all of RAM", async () => {
    const r = (current = await rig({ ramMiB: 4, vcpus: 0 }));
    const { report } = await runMigration(r, { mig: { verify: "full" } });
    expect(report.ok, report.error).toBe(true);
    const est = report.estimate!;
    expect(est.pages).toBe(0);
    expect(finalRound(report).pages).toBe(0);
    expect(est.bytes).toBe(0);
    // What the old estimate (the final round's send alone) left out: the pass over RAM, a round trip, the digest.
    expect(est.rates.hashMsPerPage).toBeGreaterThan(0);
    expect(est.parts.verify).toBeGreaterThanOrEqual(1024 * est.rates.hashMsPerPage);
    expect(est.parts.resume).toBe(est.rates.rttMs);
    expect(est.ms).toBeCloseTo(sum(est.parts), 9);
    expect(report.expectedDowntimeMs).toBe(est.ms);
  });

  it("deferred verify: the estimate holds no pass over RAM, and the pass after resume is reported apart from the downtime", async () => {
    const r = (current = await rig({ ramMiB: 4, vcpus: 0 }));
    const { report, result } = await runMigration(r);
    expect(report).toMatchObject({ ok: true, verified: true, verifyMode: "deferred", untrackedPages: 0 });
    expect(result.memoryVerified).toBe(true);
    const est = report.estimate!;
    expect(est.parts.verify).toBe(3 * est.rates.digestMs + est.rates.rttMs);
    expect(report.sourceCheckMs).toBeGreaterThan(0);
    expect(summaryLines(report).join("\n")).toMatch(/^source memory check after resume: [\d.]+ ms/m);
  });

  it("a dirtying guest: the final round sends at least the pages the estimate counted (dirty bits only accumulate until the final harvest)", async () => {
    const r = (current = await rig({ ramMiB: 8, dirtyMiBps: 8, pattern: "uniform" }));
    await r.src.start();
    const { report } = await runMigration(r, { mig: { maxRounds: 4, downtimeLimitMs: 1000 } });
    expect(report.ok, report.error).toBe(true);
    const est = report.estimate!;
    expect(finalRound(report).final).toBe(true);
    expect(finalRound(report).pages).toBeGreaterThanOrEqual(est.pages);
    expect(est.bytes).toBeCloseTo(est.pages * est.rates.bytesPerPage, 6);
    // The bytes per page the model used are the last pre-copy round's.
    const last = report.roundStats[report.roundStats.length - 2];
    if (last.round > 0 && last.pages > 0) expect(est.rates.bytesPerPage).toBeCloseTo(last.bytes / last.pages, 6);
  });
});
