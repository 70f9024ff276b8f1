// TCP transport: in one process over loopback, and between two processes
// (the destination a child process), including a destination that dies.
import { describe, it, expect, afterEach } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect as rawConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { readFileSync } from "node:fs";
import { listen, connect, migrate, receiveMigration, parsePsk, type Listener } from "../../src/migration/index.js";
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

  it("refuses to connect anywhere but loopback without authentication", async () => {
    await expect(connect(1, "10.0.0.1")).rejects.toThrow(/10\.0\.0\.1 without authentication/);
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

describe("TCP transport with TLS-PSK (loopback)", () => {
  const key = parsePsk(new TextEncoder().encode("8f2c0b5e9d7a41c6b3e8f0a2d4c6e8b1 0f1e2d3c4b5a69788796a5b4c3d2e1f0\n"));
  const wrong = new Uint8Array(32).fill(7);

  /** A PSK listener whose one accepted source is received into a stand-in destination. */
  async function destination(): Promise<{ l: Listener; done: Promise<{ resumed: boolean; dest: StandInDestination | undefined }> }> {
    const l = await listen(0, { auth: { psk: key } });
    cleanup.push(() => l.close());
    let dest: StandInDestination | undefined;
    const done = l.accept().then(async (t) => {
      const r = await receiveMigration(t, async ({ ramBytes }) => (dest = await StandInDestination.create({ module: debugWasm(), variant: "debug", ramBytes })));
      return { resumed: r.resumed, dest };
    });
    return { l, done };
  }

  it("refuses to listen off loopback without authentication, and a key shorter than 16 bytes", async () => {
    await expect(listen(0, { host: "0.0.0.0" })).rejects.toThrow(/without authentication/);
    await expect(listen(0, { auth: { psk: new Uint8Array(8) } })).rejects.toThrow(/at least 16 bytes/);
    expect(() => parsePsk(new TextEncoder().encode("abcd"))).toThrow(/want at least 16/);
  });

  it("an unauthenticated client and a wrong key are refused and counted; the right key migrates and verifies", async () => {
    const src = await source(8, 8);
    const { l, done } = await destination();
    // A plain TCP client sending a migration's first bytes.
    const plain = rawConnect({ port: l.port, host: "127.0.0.1" });
    plain.on("error", () => {});
    plain.on("connect", () => plain.write(new Uint8Array(64).fill(0x56)));
    await until(() => l.refused.unauthenticated === 1, "the plain client to be refused");
    // The right protocol, the wrong key: the handshake fails on both sides.
    await expect(connect(l.port, "127.0.0.1", { auth: { psk: wrong } })).rejects.toThrow(/TLS-PSK/);
    await until(() => l.refused.unauthenticated === 2, "the wrong key to be refused");
    // An unknown identity with the right key: refused too.
    await expect(connect(l.port, "127.0.0.1", { auth: { psk: key, identity: "someone-else" } })).rejects.toThrow(/TLS-PSK/);
    await until(() => l.refused.unauthenticated === 3, "the unknown identity to be refused");
    const report = await migrate(src, await connect(l.port, "127.0.0.1", { auth: { psk: key } }), { maxRounds: 5, downtimeLimitMs: 20 });
    const res = await done;
    expect(report.ok, report.error).toBe(true);
    expect(report.verified).toBe(true);
    expect(res.resumed).toBe(true);
    expect(fullDigest(res.dest!.core)).toBe(fullDigest(src.core));
    expect(l.refused).toEqual({ unauthenticated: 3, extra: 0 });
  });

  it("accepts one source: a second one, even with the right key, is refused while the first migrates", async () => {
    const src = await source(8, 8);
    const { l, done } = await destination();
    const first = await connect(l.port, "127.0.0.1", { auth: { psk: key } });
    let second: Error | undefined;
    const report = await migrate(src, first, {
      maxRounds: 5, downtimeLimitMs: 20,
      onRound: (r) => {
        if (r.round !== 0) return;
        // A second source with the right key: its link closes, nothing of it reaches the destination.
        void connect(l.port, "127.0.0.1", { auth: { psk: key } }).then(
          (t) => new Promise<void>((resolve) => { t.onClose((e) => { second = e ?? new Error("closed"); resolve(); }); }),
          (e: Error) => { second = e; },
        );
      },
    });
    const res = await done;
    await until(() => second !== undefined, "the second source's link to close");
    expect(report.ok, report.error).toBe(true);
    expect(res.resumed).toBe(true);
    expect(fullDigest(res.dest!.core)).toBe(fullDigest(src.core));
    expect(l.refused).toEqual({ unauthenticated: 0, extra: 1 });
  });
});

describe("TCP transport with certificates (mutual TLS, loopback)", () => {
  // Fixtures: a test CA, a destination and a source certificate it signed (SAN 127.0.0.1 and localhost), and a stranger signed by another CA.
  const pem = (n: string) => readFileSync(new URL(`../support/tls/${n}`, import.meta.url), "utf8");
  const ca = pem("ca.pem");
  const side = (n: string) => ({ cert: pem(`${n}.pem`), key: pem(`${n}.key`), ca });

  it("a client without a certificate and one from another CA are refused and counted; the right one migrates and verifies", async () => {
    const src = await source(8, 8);
    const l = await listen(0, { auth: side("destination") });
    cleanup.push(() => l.close());
    let dest: StandInDestination | undefined;
    const done = l.accept().then((t) => receiveMigration(t, async ({ ramBytes }) => (dest = await StandInDestination.create({ module: debugWasm(), variant: "debug", ramBytes }))));
    // TLS, no certificate of its own.
    const bare = tlsConnect({ port: l.port, host: "127.0.0.1", ca });
    bare.on("error", () => {});
    await until(() => l.refused.unauthenticated === 1, "the client without a certificate to be refused");
    bare.destroy();
    // A certificate the destination's CA did not sign (TLS 1.3: the client may think it is in until the server says no).
    const stranger = connect(l.port, "127.0.0.1", { auth: { ...side("stranger") } }).then((t) => new Promise<void>((r) => t.onClose(() => r())), () => {});
    await until(() => l.refused.unauthenticated === 2, "the stranger's certificate to be refused");
    await stranger;
    const report = await migrate(src, await connect(l.port, "127.0.0.1", { auth: side("source") }), { maxRounds: 5, downtimeLimitMs: 20 });
    const res = await done;
    expect(report.ok, report.error).toBe(true);
    expect(report.verified).toBe(true);
    expect(res.resumed).toBe(true);
    expect(fullDigest(dest!.core)).toBe(fullDigest(src.core));
    expect(l.refused).toEqual({ unauthenticated: 2, extra: 0 });
  });

  it("the source refuses a destination whose certificate its CA did not sign", async () => {
    const l = await listen(0, { auth: side("destination") });
    cleanup.push(() => l.close());
    await expect(connect(l.port, "127.0.0.1", { auth: { ...side("source"), ca: pem("stranger.pem") } })).rejects.toThrow(/\(TLS\)/);
  });
});
