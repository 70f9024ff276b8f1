// Fault injection at every phase: the link drops, bytes flip, the stream is
// truncated, the destination dies. Each is detected; the source keeps (or
// resumes) running with its memory intact; the destination never runs with
// wrong memory; at no point do both sides run.
import { describe, it, expect, afterEach, beforeAll, afterAll } from "vitest";
import { Msg, msgName } from "../../src/migration/index.js";
import type { Fault, FaultAction } from "../../src/testing/index.js";
import { until } from "../support/wait.js";
import { rig, runMigration, sleep, type Rig } from "./helpers.js";

let current: Rig | undefined;
afterEach(async () => { await current?.src.stop(); current = undefined; });

const RAM_MIB = 4;
const STATIC_FROM = 1 << 20; // the workload writes only the first MiB (workingSet 0.25)

interface Case { name: string; side: "source" | "destination"; fault: Omit<Fault, "action"> }
// Where in the exchange each fault lands.
const phases: Case[] = [
  { name: "handshake (HELLO)", side: "source", fault: { type: Msg.HELLO } },
  { name: "handshake (HELLO_ACK)", side: "destination", fault: { type: Msg.HELLO_ACK } },
  { name: "round 0 pages", side: "source", fault: { type: Msg.PAGES, round: 0, nth: 1 } },
  { name: "round 1 start", side: "source", fault: { type: Msg.ROUND, round: 1 } },
  { name: "round 1 pages", side: "source", fault: { type: Msg.PAGES, round: 1 } },
  { name: "stop-and-copy pages", side: "source", fault: { type: Msg.PAGES, finalRound: true } },
  { name: "stop-and-copy round end", side: "source", fault: { type: Msg.ROUND_END, finalRound: true } },
  { name: "device state", side: "source", fault: { type: Msg.DEVICE } },
  { name: "digest", side: "source", fault: { type: Msg.DIGEST } },
  { name: "round 0 acknowledgement", side: "destination", fault: { type: Msg.ROUND_ACK } },
  { name: "verdict", side: "destination", fault: { type: Msg.VERDICT } },
];
const actions: FaultAction[] = ["drop", "flip", "truncate", "die"];

async function snapshot(r: Rig): Promise<Uint8Array> { return r.src.core.guest.readBytes(STATIC_FROM, (RAM_MIB << 20) - STATIC_FROM); }

async function faultRig(): Promise<Rig> {
  // Only the first quarter of RAM is written by the vCPUs: the rest must come back unchanged.
  const r = await rig({ ramMiB: RAM_MIB, dirtyMiBps: 16, pattern: "uniform", fill: RAM_MIB << 20, workingSet: 0.25 });
  await r.src.start();
  return r;
}

describe("fault injection before the commit point: the source resumes, the destination never runs", () => {
  // One source VM lives through every failed migration of the matrix: each
  // failure must hand it back running and unchanged for the next one.
  let shared: Rig;
  let before: Uint8Array;
  beforeAll(async () => { shared = await faultRig(); before = await snapshot(shared); });
  afterAll(async () => { await shared.src.stop(); });
  for (const ph of phases) {
    for (const action of actions) {
      if (action === "die" && ph.side === "source") continue; // "die" is the destination's fault
      it(`${action} at ${ph.name} (${ph.side} → ${ph.side === "source" ? "destination" : "source"})`, async () => {
        const r = shared;
        r.dest = undefined;
        const fault: Fault = { ...ph.fault, action };
        const { report, result, srcLink, destLink } = await runMigration(r, {
          // Dirty a few pages at the freeze so the stop-and-copy round always carries pages.
          mig: { downtimeLimitMs: 0.001, maxRounds: 3, onFrozen: (core) => { for (let p = 0; p < 8; p++) core.guest.writeU32(p * 4096, 0xf00d + p); } },
          [ph.side === "source" ? "srcFault" : "destFault"]: fault,
        });
        const faulty = (ph.side === "source" ? srcLink : destLink) as unknown as { fired: boolean };
        expect(faulty.fired, `fault on ${msgName(fault.type)} fired`).toBe(true);
        expect(report.ok).toBe(false);
        expect(report.error, "the failure is named").toBeTruthy();
        expect(report.running).toBe("source");
        expect(result.ok).toBe(false);
        expect(result.resumed).toBe(false);
        // r.dest was set by the destination factory during runMigration (TS still narrows it to undefined).
        expect((r.dest as { resumed: boolean } | undefined)?.resumed ?? false).toBe(false);
        expect(r.src.isRetired).toBe(false);
        expect(r.src.paused).toBe(false);
        expect(r.src.throttle).toBe(0);
        // The source runs again: its vCPUs keep writing.
        const w0 = r.src.writes();
        await until(() => r.src.writes() > w0, "the source's vCPUs to write again");
        // And its memory outside the workload is exactly what it was.
        expect(Buffer.compare(await snapshot(r), before)).toBe(0);
      });
    }
  }
});

describe("faults after CONFIRM (the commit point)", () => {
  it("CONFIRM lost after it left the source: neither side runs, the source stays frozen and reports 'unknown'", async () => {
    const r = (current = await faultRig());
    const { report, result } = await runMigration(r, { srcFault: { type: Msg.CONFIRM, action: "lose" }, mig: { maxRounds: 3 } });
    expect(report.running).toBe("unknown");
    expect(report.ok).toBe(false);
    expect(result.resumed).toBe(false);
    expect(r.src.paused).toBe(true);
    const w0 = r.src.writes();
    await sleep(30);
    expect(r.src.writes()).toBe(w0);
  });

  it("link drops just before CONFIRM: the source never sent it and takes the VM back", async () => {
    const r = (current = await faultRig());
    const { report, result } = await runMigration(r, { srcFault: { type: Msg.CONFIRM, action: "drop" }, mig: { maxRounds: 3 } });
    expect(result.resumed).toBe(false);
    expect(report.running).toBe("source");
    expect(r.src.paused).toBe(false);
  });

  it("CONFIRM damaged: the destination refuses it and says so; the source takes the VM back", async () => {
    const r = (current = await faultRig());
    const { report, result } = await runMigration(r, { srcFault: { type: Msg.CONFIRM, action: "flip", offset: 3 }, mig: { maxRounds: 3 } });
    expect(result.resumed).toBe(false);
    expect(report.running).toBe("source");
    expect(r.src.paused).toBe(false);
  });

  for (const action of ["drop", "flip", "die"] as FaultAction[]) {
    it(`RESUMED ${action}: the destination runs, the source never does`, async () => {
      const r = (current = await faultRig());
      const { report, result } = await runMigration(r, { destFault: { type: Msg.RESUMED, action }, mig: { maxRounds: 3 } });
      expect(result.resumed).toBe(true);
      expect(report.running).toBe("unknown");
      expect(r.src.paused).toBe(true);
      const w0 = r.src.writes();
      await sleep(30);
      expect(r.src.writes()).toBe(w0);
    });
  }
});

describe("a hung peer (the link stays open, nothing arrives)", () => {
  // The timeout under test is the only one that can fire: the peer that hangs never answers, whatever
  // its length; every other wait (and the hung side's own) is many times longer than any busy machine needs.
  it("destination hangs before its VERDICT: the source times out and resumes; the destination never runs", async () => {
    const r = (current = await faultRig());
    const { report, result } = await runMigration(r, {
      destFault: { type: Msg.VERDICT, action: "stall" },
      mig: { maxRounds: 2, replyTimeoutMs: 2000 }, recv: { idleTimeoutMs: 30_000 },
    });
    expect(report.error).toMatch(/timed out after 2000 ms waiting for VERDICT/);
    expect(report.running).toBe("source");
    expect(r.src.paused).toBe(false);
    expect(result.resumed).toBe(false);
  });

  it("source hangs mid-stream: the destination gives up after its idle timeout and never runs", async () => {
    const r = (current = await faultRig());
    const { report, result } = await runMigration(r, {
      srcFault: { type: Msg.ROUND, round: 1, action: "stall" },
      mig: { maxRounds: 3, replyTimeoutMs: 30_000 }, recv: { idleTimeoutMs: 2000 },
    });
    expect(result.resumed).toBe(false);
    expect(result.error).toMatch(/timed out after 2000 ms waiting for the migration stream/);
    expect(report.running).toBe("source");
    expect(r.src.paused).toBe(false);
  });

  it("a destination refuses a guest larger than it accepts", async () => {
    const r = (current = await faultRig());
    const { report, result } = await runMigration(r, { recv: { maxRamBytes: 1 << 20 } });
    expect(report.failedPhase).toBe("handshake");
    expect(report.error).toMatch(/guest of 1024 pages \(this side accepts up to 256\)/);
    expect(result.resumed).toBe(false);
    expect(r.src.paused).toBe(false);
  });
});
