// End to end, in process: a source VM with vCPU workers dirtying memory
// migrates to a destination; the destination's memory equals the source's.
import { describe, it, expect, afterEach } from "vitest";
import { until } from "../support/wait.js";
import { rig, runMigration, fullDigest, type Rig } from "./helpers.js";

let current: Rig | undefined;
afterEach(async () => { await current?.src.stop(); current = undefined; });

describe("live migration (in process)", () => {
  it("migrates a running VM: digests equal, source retired, destination resumed, NIC announced", async () => {
    const r = (current = await rig({ ramMiB: 8, dirtyMiBps: 8 }));
    await r.src.start();
    await until(() => r.src.writes() > 0, "the vCPUs to dirty pages before pre-copy");
    const { report, result } = await runMigration(r);
    expect(report.error).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(result.ok).toBe(true);
    expect(report.running).toBe("destination");
    expect(r.src.isRetired).toBe(true);
    expect(r.src.paused).toBe(true);
    expect(r.dest!.resumed).toBe(true);
    expect(r.destDevices[0].announced).toBe(1);
    expect(r.srcDevices[0].quiesced).toBe(1);
    expect([...r.destDevices[0].state]).toEqual([9, 8, 7, 6]);
    // The source is frozen for good, so its memory can be compared with the destination's now.
    expect(fullDigest(r.dest!.core)).toBe(fullDigest(r.src.core));
    expect(report.digest).toBe(result.digest);
    expect(report.rounds).toBeGreaterThanOrEqual(2);
    expect(report.skippedZeroPages).toBeGreaterThan(0);
    expect(report.verified).toBe(true);
  });
});
