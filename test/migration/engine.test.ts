// Pre-copy engine behaviour: auto-converge and the bandwidth cap, a source
// and destination whose guest RAM is owned by an embedding emulator
// (foreign placement), and the thin MigrationSource seam itself.
import { describe, it, expect } from "vitest";
import { migrate, receiveMigration, portPair, type MigrationSource, type MigrationDestination, type Transport } from "../../src/migration/index.js";
import { newCore, FakeEmulatorRam, rng, testSeed } from "../support/core.js";
import { rig, runMigration, type Rig } from "./helpers.js";

/**
 * The source's link, with a guest that outruns it: before every frame leaves,
 * every page of RAM is written again (through the port, so dirty-marked), except
 * while the vCPUs are frozen. However fast or slow the machine, each round ends
 * with all of RAM dirty, so the vCPUs outrun any link by construction.
 */
function outrunningGuest(r: Rig): (t: Transport) => Transport {
  let n = 0;
  return (t) => ({
    label: t.label, onData: (cb) => t.onData(cb), onClose: (cb) => t.onClose(cb), close: () => t.close(),
    consumed: (bytes) => t.consumed(bytes),
    get buffered() { return t.buffered; },
    get bufferedHighWater() { return t.bufferedHighWater; },
    send: (bytes) => {
      if (!r.src.paused) for (let p = 0; p < r.src.core.guest.pages; p++) r.src.core.guest.writeU32(p * 4096 + (n % 1024) * 4, ++n);
      return t.send(bytes);
    },
  });
}

describe("pre-copy engine", () => {
  it("auto-converge throttles vCPUs that outrun a capped link, then lifts the throttle", async () => {
    const r = await rig({ ramMiB: 4, dirtyMiBps: 64, pattern: "uniform", fill: 4 << 20 });
    await r.src.start();
    try {
      const told: number[] = [];
      const { report } = await runMigration(r, {
        mig: { bandwidthLimit: 16e6, downtimeLimitMs: 30, maxRounds: 12, onRound: () => { told.push(r.src.throttle); } },
        srcWrap: outrunningGuest(r),
      });
      expect(report.ok, report.error).toBe(true);
      expect(report.throttleMax).toBeGreaterThanOrEqual(0.2);
      // The vCPUs were told: their control word carried the throttle while the rounds ran.
      expect(Math.max(...told)).toBeGreaterThanOrEqual(0.2);
      expect(r.src.throttle).toBe(0);
      // The cap holds: never much faster than 16 MB/s on average.
      expect(report.bytesSent / (report.totalTimeMs / 1000)).toBeLessThan(16e6 * 1.25);
      // Throttle rises round by round once engaged.
      const t = report.roundStats.map((s) => s.throttle);
      for (let i = 1; i < t.length; i++) expect(t[i]).toBeGreaterThanOrEqual(t[i - 1]);
    } finally {
      await r.src.stop();
    }
  });

  it("without auto-converge the round cap ends pre-copy and the throttle stays off", async () => {
    const r = await rig({ ramMiB: 4, dirtyMiBps: 64, pattern: "uniform", fill: 4 << 20 });
    await r.src.start();
    try {
      const { report } = await runMigration(r, { mig: { bandwidthLimit: 16e6, downtimeLimitMs: -1, maxRounds: 4, autoConverge: false } });
      expect(report.ok, report.error).toBe(true);
      expect(report.rounds).toBe(5); // 4 pre-copy rounds and the stop-and-copy round
      expect(report.throttleMax).toBe(0);
    } finally {
      await r.src.stop();
    }
  });

  it("migrates foreign-placement RAM (emulator-owned) through the port on both sides", async () => {
    const seed = testSeed();
    const rand = rng(seed);
    const size = 2 << 20;
    const sram = new FakeEmulatorRam(size), dram = new FakeEmulatorRam(size);
    const score = await newCore(size, { foreign: sram });
    for (let p = 0; p < 512; p += 2) sram.bytes.fill((rand() * 255 + 1) | 0, p * 4096, p * 4096 + 4096);
    let frozen = false, writes = 0;
    // The whole seam a machine implements: core, devices, write lock, throttle.
    const src: MigrationSource = {
      core: score, devices: [],
      writeLock: async () => { frozen = true; return () => { frozen = false; }; },
      setThrottle: () => {},
    };
    const dcore = await newCore(size, { foreign: dram });
    let resumed = false;
    const dest: MigrationDestination = { core: dcore, devices: [], resume: () => { resumed = true; } };
    const [a, b] = portPair();
    const [report, res] = await Promise.all([
      migrate(src, a, {
        downtimeLimitMs: -1, maxRounds: 3, verify: "full",
        // The "guest" writes between rounds, through the port like a device would.
        onRound: () => { if (!frozen) { writes++; score.guest.writeU32(4096 * (writes * 7), 0xc0de + writes); } },
      }),
      receiveMigration(b, async () => dest),
    ]);
    expect(report.ok, `seed ${seed}: ${report.error}`).toBe(true);
    expect(res.resumed && resumed).toBe(true);
    expect(report.deltaPages + report.fullPages).toBeGreaterThan(256);
    expect(Buffer.compare(dram.bytes, sram.bytes)).toBe(0);
    // Destination writes went through the port: the emulator was told about them (JIT invalidation hook).
    expect(dram.notified.length).toBeGreaterThan(0);
  });
});
