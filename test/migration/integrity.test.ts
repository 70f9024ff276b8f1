// End-to-end integrity: the destination refuses to run with memory that
// differs from the source's and names each differing page with the round it
// was last sent in; the source then resumes.
import { describe, it, expect, afterEach } from "vitest";
import { rig, runMigration, fullDigest, type Rig } from "./helpers.js";

let current: Rig | undefined;
afterEach(async () => { await current?.src.stop(); current = undefined; });

const PAGE = 4096;

describe("memory integrity", () => {
  it("full verify: a page corrupted on the destination behind the port is found, with its round", async () => {
    // The vCPUs write only pages 0..127, so page 300 (random data) is sent once, in round 0;
    // page 900 is zero: it travels in a zero run in round 0.
    const r = (current = await rig({ ramMiB: 4, dirtyMiBps: 4, workingSet: 0.125 }));
    await r.src.start();
    const { report, result } = await runMigration(r, {
      mig: { verify: "full", maxRounds: 3, onFrozen: (core) => core.guest.writeU32(3 * PAGE, 0x5eed) },
      // Flip a byte of pages 300, 900 and 3 (sent in the final round).
      recv: { beforeVerify: (d) => { d.core.guest.view(300 * PAGE + 5, 1)[0] ^= 0x40; d.core.guest.view(900 * PAGE, 1)[0] = 1; d.core.guest.view(3 * PAGE + 9, 1)[0] ^= 1; } },
    });
    expect(result.resumed).toBe(false);
    expect(report.ok).toBe(false);
    expect(report.running).toBe("source");
    expect(report.mismatchTotal).toBe(3);
    const finalRound = report.roundStats[report.roundStats.length - 1].round;
    expect(report.mismatches).toEqual([{ page: 3, round: finalRound }, { page: 300, round: 0 }, { page: 900, round: 0 }]);
    expect(report.error).toMatch(/3 pages differ/);
    expect(r.src.paused).toBe(false);
  });

  for (const verify of ["sent", "deferred"] as const) it(`${verify} verify: a write through the port on the destination after its page arrived is found`, async () => {
    const r = (current = await rig({ ramMiB: 4, dirtyMiBps: 4 }));
    await r.src.start();
    const { report, result } = await runMigration(r, {
      mig: { verify, maxRounds: 3 },
      recv: { beforeVerify: (d) => d.core.guest.writeU8(900 * PAGE, 0x77) },
    });
    expect(result.resumed).toBe(false);
    expect(report.mismatchTotal).toBe(1);
    expect(report.mismatches![0].page).toBe(900);
    expect(report.running).toBe("source");
  });

  it("full verify: a source write that escaped dirty tracking (the classic divergence bug) is caught", async () => {
    const r = (current = await rig({ ramMiB: 4, dirtyMiBps: 0 }));
    await r.src.start();
    const { report, result } = await runMigration(r, {
      mig: { verify: "full", maxRounds: 2, onFrozen: (core) => { core.guest.view(123 * PAGE, 4).fill(0xaa); } },
    });
    expect(result.resumed).toBe(false);
    expect(report.mismatches).toEqual([{ page: 123, round: 0 }]);
    expect(report.running).toBe("source");
  });

  it("regression_escaped_source_write_verified_by_default: the default (deferred) verify finds it after resume, names the page and tells the destination", async () => {
    // The vCPUs never touch page 123 (working set: pages 0..63), so it was sent once, in round 0,
    // and then changes under the freeze without being marked dirty.
    const r = (current = await rig({ ramMiB: 4, dirtyMiBps: 4, workingSet: 1 / 16 }));
    await r.src.start();
    const events: string[] = [];
    const { report, result } = await runMigration(r, {
      mig: { maxRounds: 3, onFrozen: (core) => { const v = core.guest.view(123 * PAGE + 40, 4); v[0] ^= 0xff; } },
      recv: { onEvent: (w) => events.push(w) },
    });
    expect(report.verifyMode).toBe("deferred");
    // Detected, not prevented: the destination runs (the digests of the pages as sent matched), the source stays frozen.
    expect(result.resumed).toBe(true);
    expect(report).toMatchObject({ ok: true, running: "destination", verified: false, pagesAsSent: true, untrackedPages: 1, untrackedFirstPage: 123 });
    expect(report.integrityError).toMatch(/^the destination runs with memory that differs from the source's: 1 pages changed after they were last sent \(first: page 123, written without being marked dirty: the dirty tracking missed it\)$/);
    expect(result).toMatchObject({ memoryVerified: false, sourceCheck: { changedPages: 1, firstPage: 123 } });
    expect(result.error).toMatch(/1 source pages changed after they were last sent \(first: page 123\)/);
    expect(events.slice(-2)).toEqual(["resumed", "source-check"]);
    expect(r.src.paused).toBe(true);
    expect(fullDigest(r.dest!.core)).not.toBe(fullDigest(r.src.core));
  });

  it("full verify refuses the same escaped write before the destination runs, and the source names the page", async () => {
    const r = (current = await rig({ ramMiB: 4, dirtyMiBps: 4, workingSet: 1 / 16 }));
    await r.src.start();
    const { report, result } = await runMigration(r, {
      mig: { verify: "full", maxRounds: 3, onFrozen: (core) => { const v = core.guest.view(123 * PAGE + 40, 4); v[0] ^= 0xff; } },
    });
    expect(report.verifyMode).toBe("full");
    expect(result.resumed).toBe(false);
    expect(r.dest!.resumed).toBe(false);
    expect(report).toMatchObject({ ok: false, verified: false, pagesAsSent: false, running: "source", failedPhase: "verify", untrackedPages: 1, untrackedFirstPage: 123 });
    expect(report.mismatches).toEqual([{ page: 123, round: 0 }]);
    expect(report.error).toMatch(/on the source, 1 pages changed after they were last sent \(first: page 123, written without being marked dirty: the dirty tracking missed it\)/);
    expect(r.src.paused).toBe(false);
  });

  it("sent verify does not read the source's memory again: the same escaped write goes unseen, and the report does not claim equal memory", async () => {
    const r = (current = await rig({ ramMiB: 4, dirtyMiBps: 4, workingSet: 1 / 16 }));
    await r.src.start();
    const { report, result } = await runMigration(r, {
      mig: { verify: "sent", maxRounds: 3, onFrozen: (core) => { const v = core.guest.view(123 * PAGE + 40, 4); v[0] ^= 0xff; } },
    });
    expect(result.resumed).toBe(true);
    expect(report).toMatchObject({ ok: true, verified: false, pagesAsSent: true, verifyMode: "sent", untrackedPages: null });
    expect(fullDigest(r.dest!.core)).not.toBe(fullDigest(r.src.core));
  });

  it("a device whose state the destination rejects: refused, the source resumes", async () => {
    const r = (current = await rig({ ramMiB: 2, dirtyMiBps: 1 }));
    r.destDevices[0].rejectRestore = true;
    await r.src.start();
    const { report, result } = await runMigration(r, { mig: { maxRounds: 2 } });
    expect(result.resumed).toBe(false);
    expect(report.error).toMatch(/device state rejected \(net0: ERR_STATE_INVALID\)/);
    expect(report.running).toBe("source");
  });

  it("a destination without the source's device is refused at the handshake", async () => {
    const r = (current = await rig({ ramMiB: 2 }));
    r.destDevices.length = 0;
    const { report, result } = await runMigration(r);
    expect(report.failedPhase).toBe("handshake");
    expect(report.error).toMatch(/no device net0/);
    expect(result.resumed).toBe(false);
  });

  it("every verify mode agrees with a full re-hash after a clean migration under load", async () => {
    for (const verify of ["sent", "full", "deferred"] as const) {
      const r = await rig({ ramMiB: 4, dirtyMiBps: 16, pattern: "uniform" });
      await r.src.start();
      const { report, result } = await runMigration(r, { mig: { verify, maxRounds: 4 } });
      expect(report.ok, report.error).toBe(true);
      expect(report.verified).toBe(verify !== "sent");
      expect(result.memoryVerified).toBe(verify !== "sent");
      if (verify === "deferred") expect(result.sourceCheck).toEqual({ changedPages: 0, firstPage: null });
      expect(fullDigest(r.dest!.core)).toBe(fullDigest(r.src.core));
      await r.src.stop();
    }
  });
});
