// Cancelling a migration (MigrateOptions.signal, MigrationSession.cancel) in
// each phase before the commit point: the source takes the VM back and runs
// on (vCPUs writing again, devices resumed, tracking off, no throttle), the
// destination never resumes, and the source is consistent enough to migrate
// again, verified. Each cancel is triggered by the event that marks the phase,
// never by a timer. Also: the live status and the events of a migration.
import { afterEach, describe, expect, it } from "vitest";
import {
  receiveMigration, startMigration, portPair, MigrationCancelled, type MigrationEvent, type MigrateOptions, type MigrationReport, type ReceiveResult,
} from "../../src/migration/index.js";
import { StandInDestination } from "../../src/testing/index.js";
import { debugWasm } from "../support/core.js";
import { until } from "../support/wait.js";
import { FakeDevice, rig, type Rig } from "./helpers.js";

/** A device that counts resume(), so a test sees the source's devices go back to work. */
class ResumingDevice extends FakeDevice {
  resumed = 0;
  resume(): void { this.resumed++; }
}

const rigs: Rig[] = [];
afterEach(async () => { for (const r of rigs.splice(0)) await r.src.stop(); });

async function started(): Promise<Rig & { nic: ResumingDevice }> {
  const r = await rig({ ramMiB: 8, vcpus: 2, dirtyMiBps: 4 });
  const nic = new ResumingDevice("nic1", [4, 4]);
  r.srcDevices.push(nic);
  r.destDevices.push(new ResumingDevice("nic1", []));
  await r.src.start();
  rigs.push(r);
  return { ...r, nic };
}

/** One migration of `r` with `mig`; `onFactory` runs when the destination is asked for its VM (the handshake is under way). */
async function migrateOnce(r: Rig, mig: MigrateOptions, hooks: { onFactory?: () => void; onSession?: (s: ReturnType<typeof startMigration>) => void } = {}): Promise<{ report: MigrationReport; result: ReceiveResult; dest: StandInDestination | undefined; events: MigrationEvent[] }> {
  const [a, b] = portPair();
  let dest: StandInDestination | undefined;
  const factory = async ({ ramBytes }: { ramBytes: number }) => {
    hooks.onFactory?.();
    dest = await StandInDestination.create({ module: debugWasm(), variant: "debug", ramBytes, devices: r.destDevices });
    return dest;
  };
  const session = startMigration(r.src, a, { downtimeLimitMs: 50, maxRounds: 8, ...mig });
  const events: MigrationEvent[] = [];
  for (const t of ["phase", "round", "progress"] as const) session.events.addEventListener(t, (e) => { events.push(e); });
  hooks.onSession?.(session);
  const [report, result] = await Promise.all([session.done, receiveMigration(b, factory)]);
  expect(session.status().ok).toBe(report.ok);
  return { report, result, dest, events };
}

/** The source after a cancel: running, devices resumed, nothing of the migration left on it; then it migrates again, verified. */
async function expectSourceRunsAndMigratesAgain(r: Rig & { nic: ResumingDevice }, report: MigrationReport, result: ReceiveResult, dest: StandInDestination | undefined): Promise<void> {
  expect(report.ok).toBe(false);
  expect(report.cancelled).toBe(true);
  expect(report.running).toBe("source");
  expect(report.error).toMatch(/^cancelled: operator/);
  expect(result.resumed).toBe(false);
  expect(dest?.resumed ?? false).toBe(false);
  expect(r.src.paused).toBe(false);
  expect(r.src.isRetired).toBe(false);
  expect(r.src.throttle).toBe(0);
  expect(r.src.core.dirty.enabled).toBe(false);
  const w = r.src.writes();
  await until(() => r.src.writes() > w, "the source's vCPUs to write again");
  r.destDevices.forEach((d) => { d.state = new Uint8Array(0); });
  const again = await migrateOnce(r, {});
  expect(again.report.ok).toBe(true);
  expect(again.report.verified).toBe(true);
  expect(again.result.resumed).toBe(true);
  expect(Buffer.from(r.destDevices[1].state).equals(Buffer.from(r.nic.state))).toBe(true);
}

describe("migration cancel", () => {
  it("in the handshake (the destination is still building its VM): the source runs, the destination never resumes", async () => {
    const r = await started();
    const ac = new AbortController();
    const { report, result, dest, events } = await migrateOnce(r, { signal: ac.signal }, { onFactory: () => ac.abort("operator") });
    expect(report.failedPhase).toBe("handshake");
    expect(report.rounds).toBe(0);
    expect(events.filter((e) => e.type === "phase").map((e) => e.status.phase)).toEqual(["handshake", "handshake"]);
    expect(events.at(-1)!.status).toMatchObject({ ok: false, cancelled: true });
    expect(r.nic.quiesced).toBe(0);
    await expectSourceRunsAndMigratesAgain(r, report, result, dest);
  });

  it("in a pre-copy round (cancel() on round 0's event): the source runs, the destination never resumes", async () => {
    const r = await started();
    let asked: boolean | undefined;
    const { report, result, dest } = await migrateOnce(r, { maxRounds: 30, downtimeLimitMs: 0 }, {
      onSession: (s) => s.events.addEventListener("round", (e) => {
        if (e.round!.round !== 0) return;
        expect(s.status()).toMatchObject({ phase: "precopy", round: 0, cancelled: false, ok: null });
        expect(s.status().bytesSent).toBeGreaterThan(0);
        asked = s.cancel("operator");
        expect(s.status().cancelled).toBe(true);
      }),
    });
    expect(asked).toBe(true);
    expect(report.failedPhase).toBe("precopy");
    expect(report.rounds).toBe(1);
    expect(r.nic.quiesced).toBe(0);
    await expectSourceRunsAndMigratesAgain(r, report, result, dest);
  });

  it("in stop-and-copy, as the vCPUs freeze: the source thaws them, the destination never resumes", async () => {
    const r = await started();
    const ac = new AbortController();
    const { report, result, dest } = await migrateOnce(r, { signal: ac.signal, onFrozen: () => ac.abort("operator") });
    expect(report.failedPhase).toBe("stop-copy");
    expect(r.nic.quiesced).toBe(0);
    await expectSourceRunsAndMigratesAgain(r, report, result, dest);
  });

  it("in stop-and-copy, after the final round (devices quiesced and saved): the source resumes its vCPUs and devices, the destination never resumes", async () => {
    const r = await started();
    const ac = new AbortController();
    const { report, result, dest } = await migrateOnce(r, { signal: ac.signal }, {
      onSession: (s) => s.events.addEventListener("round", (e) => { if (e.round!.final) ac.abort("operator"); }),
    });
    expect(report.failedPhase).toBe("stop-copy");
    expect(r.nic.quiesced).toBe(1);
    expect(r.nic.resumed).toBe(1);
    await expectSourceRunsAndMigratesAgain(r, report, result, dest);
  });

  it("a signal aborted before the start cancels at once; cancel after the end is refused", async () => {
    const r = await started();
    const ac = new AbortController();
    ac.abort(new Error("operator"));
    const { report, result, dest } = await migrateOnce(r, { signal: ac.signal });
    expect(report.failedPhase).toBe("handshake");
    await expectSourceRunsAndMigratesAgain(r, report, result, dest);
    let late: boolean | undefined;
    await migrateOnce(r, {}, { onSession: (s) => { void s.done.then(() => { late = s.cancel("operator"); }); } });
    expect(late).toBe(false);
  });

  it("regression_cancel_ends_a_bandwidth_wait: a cancel while the source waits on its bandwidth cap ends the migration now, not when the wait would", async () => {
    const r = await started();
    // 4 KiB/s: the first 1 MiB batch sent puts the source about four minutes ahead of its cap (the test watchdog is shorter).
    const { report, result, dest } = await migrateOnce(r, { bandwidthLimit: 4096 }, {
      onSession: (s) => { void until(() => s.status().bytesSent > 1 << 19, "the first batch of pages sent").then(() => s.cancel("operator")); },
    });
    expect(report.failedPhase).toBe("precopy");
    await expectSourceRunsAndMigratesAgain(r, report, result, dest);
  });

  it("a migration's events: every phase in order, one round event per round, the final one in stop-and-copy", async () => {
    const r = await started();
    const { report, events } = await migrateOnce(r, {});
    expect(report.ok).toBe(true);
    const phases = events.filter((e) => e.type === "phase").map((e) => e.status.phase);
    expect(phases).toEqual(["handshake", "precopy", "stop-copy", "verify", "commit", "done", "done"]);
    const rounds = events.filter((e) => e.type === "round");
    expect(rounds.map((e) => e.round!.round)).toEqual(report.roundStats.map((s) => s.round));
    expect(rounds.at(-1)!.round!.final).toBe(true);
    expect(rounds.at(-1)!.status.phase).toBe("stop-copy");
    expect(events.at(-1)!.status).toMatchObject({ ok: true, cancelled: false });
    expect(new MigrationCancelled("x").message).toBe("cancelled: x");
  });
});
