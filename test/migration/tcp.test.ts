// TCP transport: in one process over loopback, and between two processes
// (the destination a child process), including a destination that dies.
import { describe, it, expect, afterEach } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { listen, connect, migrate, receiveMigration } from "../../src/migration/index.js";
import { StandInDestination, StandInSource, fillRandom } from "../../src/testing/index.js";
import { loadModule } from "../../src/load-node.js";
import { debugWasm } from "../support/core.js";
import { until } from "../support/wait.js";
import { fullDigest } from "./helpers.js";

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const c of cleanup.splice(0)) await c(); });

async function source(ramMiB: number, dirtyMiBps: number, variant: "release" | "debug" = "debug") {
  const module = variant === "debug" ? debugWasm() : await loadModule("release");
  const src = await StandInSource.create({ module, variant, ramBytes: ramMiB << 20, vcpus: 2, dirtyBytesPerSec: dirtyMiBps << 20 });
  fillRandom(src.core, (ramMiB << 20) / 2, 11);
  await src.start();
  cleanup.push(() => src.stop());
  return src;
}

function childDestination(): Promise<{ port: number; child: ChildProcess; result: Promise<Record<string, unknown> | null> }> {
  const script = fileURLToPath(new URL("../support/migration-dest.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
  cleanup.push(() => { child.kill("SIGKILL"); });
  let out = "";
  const result = new Promise<Record<string, unknown> | null>((r) => child.on("exit", () => { try { r(JSON.parse(out.trim().split("\n").pop()!)); } catch { r(null); } }));
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (b) => { out += b; const m = /listening 127\.0\.0\.1:(\d+)/.exec(out); if (m) resolve({ port: Number(m[1]), child, result }); });
    child.on("exit", (code) => reject(new Error(`child exited ${code}`)));
  });
}

describe("TCP transport", () => {
  it("migrates over loopback TCP in one process", async () => {
    const src = await source(8, 8);
    const l = await listen(0);
    let dest: StandInDestination | undefined;
    const destSide = l.accept().then((t) => { l.server.close(); return receiveMigration(t, async ({ ramBytes }) => (dest = await StandInDestination.create({ module: debugWasm(), variant: "debug", ramBytes }))); });
    const report = await migrate(src, await connect(l.port), { maxRounds: 5, downtimeLimitMs: 20 });
    const res = await destSide;
    expect(report.ok, report.error).toBe(true);
    expect(res.resumed).toBe(true);
    expect(fullDigest(dest!.core)).toBe(fullDigest(src.core));
  });

  it("refuses to connect anywhere but loopback", async () => {
    await expect(connect(1, "10.0.0.1")).rejects.toThrow(/only 127\.0\.0\.1/);
  });

  it("migrates to a destination in another process; it resumes and runs", async () => {
    const src = await source(16, 8, "release");
    const { port, result } = await childDestination();
    const report = await migrate(src, await connect(port), { maxRounds: 5, downtimeLimitMs: 20 });
    expect(report.ok, report.error).toBe(true);
    const r = await result;
    expect(r).toMatchObject({ ok: true, resumed: true, digest: report.digest });
    expect(r!.writesAfterResume as number).toBeGreaterThan(0);
  });

  it("the destination process dies mid-stream: detected, the source resumes with its memory", async () => {
    const src = await source(16, 8, "release");
    const { port, child } = await childDestination();
    const report = await migrate(src, await connect(port), {
      maxRounds: 50, downtimeLimitMs: -1,
      onRound: (r) => { if (r.round === 1) child.kill("SIGKILL"); },
    });
    expect(report.ok).toBe(false);
    expect(report.running).toBe("source");
    expect(report.error).toMatch(/closed|reset|EPIPE|ECONNRESET|aborted/i);
    expect(src.paused).toBe(false);
    const w = src.writes();
    await until(() => src.writes() > w, "the source's vCPUs to write again");
  });

  it("the destination process dies during stop-and-copy: the frozen source is resumed", async () => {
    const src = await source(16, 8, "release");
    const { port, child } = await childDestination();
    const report = await migrate(src, await connect(port), {
      maxRounds: 3, downtimeLimitMs: -1,
      onFrozen: () => { child.kill("SIGKILL"); },
    });
    expect(report.ok).toBe(false);
    expect(report.failedPhase).toMatch(/stop-copy|verify/);
    expect(report.running).toBe("source");
    expect(src.paused).toBe(false);
    const w = src.writes();
    await until(() => src.writes() > w, "the source's vCPUs to write again");
  });
});
