// `vmdev migrate` observed and stopped from outside, as an operator does it:
// a migration held in pre-copy by a bandwidth cap, its status over the
// control socket and on SIGUSR1, a trace of its events, and a cancel (SIGINT,
// or `cancel` on the socket) that ends it with the source VM running on and
// exit status 130. Every wait is for an event: a line printed, an answer, a
// state reached, the exit.
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { controlRequest } from "../../src/control/index.js";
import type { MigrationStatus } from "../../src/migration/index.js";
import { until } from "../support/wait.js";

const bin = fileURLToPath(new URL("../../bin/vmdev.js", import.meta.url));

/**
 * A migration that cannot finish while the test looks: 32 MiB of random pages
 * at 0.25 MB/s take over two minutes; the test ends it long before.
 */
async function slowMigration(extra: string[] = []) {
  const sock = join(mkdtempSync(join(tmpdir(), "vmdev-mig-")), "mig.sock");
  const child = spawn(process.execPath, [bin, "migrate", "--in-process", "--control", sock, "--ram", "64M", "--vcpus", "1", "--bandwidth", "0.25", "--no-report", ...extra],
    { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "", stdout = "";
  child.stdout!.on("data", (b) => { stdout += b; });
  child.stderr!.on("data", (b) => { stderr += b; });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  await until(() => stderr.includes(`control: ${sock}`) || child.exitCode !== null, "the control socket");
  expect(child.exitCode).toBe(null);
  const status = async () => ((await controlRequest(sock, { cmd: "status" })).result as { migration: MigrationStatus | null });
  // Polled over the socket until pages flow: a state reached, not a time.
  let st: MigrationStatus | null = null;
  for (;;) {
    st = (await status()).migration;
    if (st && st.phase === "precopy" && st.bytesSent > 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return { sock, child, exited, status, err: () => stderr, out: () => stdout };
}

describe("vmdev migrate: status, trace and cancel from outside", () => {
  it("status on the socket and on SIGUSR1, a trace of the migration's events, then SIGINT cancels: source runs on, exit 130", async () => {
    const m = await slowMigration();
    const st = (await m.status()).migration!;
    expect(st).toMatchObject({ phase: "precopy", round: 0, cancelled: false, ok: null });
    const events: Array<{ type: string; status: MigrationStatus }> = [];
    const t = await controlRequest(m.sock, { cmd: "trace", device: "migration", count: 1, ms: 600_000, events: ["progress"] }, (e) => events.push(e as never));
    expect(t.result).toMatchObject({ events: 1, ended: "count" });
    expect(events[0].type).toBe("progress");
    expect(events[0].status.phase).toBe("precopy");
    expect(events[0].status.bytesSent).toBeGreaterThanOrEqual(st.bytesSent);
    const c = await controlRequest(m.sock, { cmd: "counters" });
    expect(c.ok).toBe(true);
    m.child.kill("SIGUSR1");
    await until(() => /status: precopy, round 0, \d+\/\d+ pages, [\d.]+ MB sent, \d+ pages dirty/.test(m.err()), "the SIGUSR1 status line");
    m.child.kill("SIGINT");
    expect(await m.exited).toBe(130);
    expect(m.err()).toMatch(/interrupted: cancelling, the source VM keeps running/);
    expect(m.err()).toMatch(/cancelled: interrupted \(SIGINT\) in precopy; the source VM ran on, the destination discarded the VM/);
  });

  it("`cancel` on the control socket: the answer says it took, the migration ends cancelled with exit 130", async () => {
    const m = await slowMigration();
    const a = await controlRequest(m.sock, { cmd: "cancel" });
    expect(a).toMatchObject({ ok: true, result: { cancelled: true } });
    expect(await m.exited).toBe(130);
    expect(m.err()).toMatch(/cancelled: cancelled over the control channel in precopy; the source VM ran on/);
  });
});
