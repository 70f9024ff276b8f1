// `vmdev migrate` end to end in one process: --json carries the promised keys,
// the HTML report has its plots, and bad options are one clear line.
import { describe, it, expect, vi, afterEach, onTestFinished } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { main } from "../../src/cli.js";
import { CliError, EXIT } from "../../src/cli/common.js";
import { ConfigTree } from "../../src/config/tree.js";
import { trafficConfig } from "../../src/cli/traffic-config.js";
import { MachineSource } from "../../src/migration/machine-adapter.js";

afterEach(() => vi.restoreAllMocks());

function capture() {
  const out: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => { out.push(a.join(" ")); });
  vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  return out;
}

/**
 * Make the migrating Machine a source whose write escapes dirty tracking:
 * once its vCPUs are frozen (every page went out in round 0), one page that
 * is not marked dirty changes behind the port, so no later round re-sends it.
 */
function escapeDirtyTracking(): { page: number } {
  const hit = { page: -1 };
  const writeLock = MachineSource.prototype.writeLock;
  vi.spyOn(MachineSource.prototype, "writeLock").mockImplementation(async function (this: MachineSource) {
    const release = await writeLock.call(this);
    let p = 100;
    while (this.core.dirty.test(p)) p++;
    this.core.guest.view(p * 4096 + 16, 1)[0] ^= 0x5a;
    hit.page = p;
    return release;
  });
  return hit;
}

describe("vmdev migrate", () => {
  it("--in-process --json: the summary has the promised keys and says the memory verified", async () => {
    const out = capture();
    const dir = mkdtempSync(join(tmpdir(), "vmdev-mig-"));
    const report = join(dir, "r.html");
    const code = await main(["node", "vmdev", "migrate", "--in-process", "--ram", "16M", "--dirty", "8", "--json", "--report", report, "--downtime", "20"]);
    expect(code).toBe(0);
    const j = JSON.parse(out.join("\n"));
    for (const k of ["totalTimeMs", "downtimeMs", "rounds", "pagesSent", "zeroPages", "deltaPages", "bytesSent", "verified", "framesLost"]) expect(j).toHaveProperty(k);
    expect(j.schemaVersion).toBe(1);
    expect(Object.keys(j.roundStats[0]).sort()).toEqual(["bytesSent", "deltaPages", "dirtyPagesPerSec", "dirtySyncMs", "durationMs", "etaMs", "final", "fullPages", "pages", "round", "throttleFraction", "throughputBytesPerSec", "zeroPages"]);
    expect(j.verified).toBe(true);
    expect(j.ok).toBe(true);
    expect(j.rounds).toBeGreaterThanOrEqual(2);
    expect(j.destination).toMatchObject({ ok: true, resumed: true, digest: j.digest });
    const html = readFileSync(report, "utf8");
    expect(html.match(/<svg/g)!.length).toBeGreaterThanOrEqual(3);
    expect(html).toContain("Throughput over time");
  });

  // --run-after is how long the destination runs before the count of its vCPU writes is taken: a fixed
  // span of the CLI, so it is long enough that a busy machine still schedules every vCPU in it.
  it("--traffic (npm start's scenario): frames flow across the migration, memory verified, framesLost 0 end to end", async () => {
    const out = capture();
    const code = await main(["node", "vmdev", "migrate", "--traffic", "--ram", "16M", "--dirty", "8", "--json", "--no-report", "--downtime", "20", "--run-after", "1000"]);
    expect(code).toBe(0);
    const j = JSON.parse(out.join("\n"));
    expect(j).toMatchObject({ ok: true, verified: true, framesLost: 0 });
    expect(j.destination).toMatchObject({ ok: true, resumed: true, digest: j.digest });
    expect(j.destination.writesAfterResume).toBeGreaterThan(0);
    // Frames flowed before the migration (the CLI waits for 200 answers) and kept flowing on the destination.
    expect(j.traffic).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, movedToDestination: true });
    expect(j.traffic.sent).toBeGreaterThan(200);
    expect(j.traffic.received).toBe(j.traffic.sent);
    expect(j.traffic.inFlightAtFreeze).toBeGreaterThan(0); // frames were in flight when the vCPUs froze
    expect(j.traffic.receivedOnDestination).toBeGreaterThan(0);
  });

  it("regression_cli_default_verify_misses_escaped_source_write (TCP to a child destination): found after resume, the page named on both sides, exit non-zero, no claim of equal memory", async () => {
    const out = capture();
    const hit = escapeDirtyTracking();
    await expect(main(["node", "vmdev", "migrate", "--ram", "16M", "--dirty", "8", "--json", "--no-report", "--downtime", "20"]))
      .rejects.toThrow(/^migration completed but memory is not verified: the destination runs with memory that differs from the source's: 1 pages changed after they were last sent \(first: page \d+, written without being marked dirty: the dirty tracking missed it\); the destination runs, the source stays frozen$/);
    const j = JSON.parse(out.join("\n"));
    expect(j).toMatchObject({ ok: true, verified: false, verifyMode: "deferred", running: "destination", untrackedPages: 1, untrackedFirstPage: hit.page });
    expect(j.integrityError).toMatch(/^the destination runs with memory that differs/);
    expect(j.destination).toMatchObject({ ok: true, resumed: true, memoryVerified: false, sourceCheck: { changedPages: 1, firstPage: hit.page } });
  });

  it("--verify full (TCP to a child destination): the escaped write is refused before the destination runs, the page named", async () => {
    const out = capture();
    const hit = escapeDirtyTracking();
    await expect(main(["node", "vmdev", "migrate", "--ram", "16M", "--dirty", "8", "--json", "--no-report", "--downtime", "20", "--verify", "full"]))
      .rejects.toThrow(/^migration failed in verify: destination refused: memory digest mismatch: 1 pages differ .*on the source, 1 pages changed after they were last sent \(first: page \d+, written without being marked dirty/);
    const j = JSON.parse(out.join("\n"));
    expect(j).toMatchObject({ ok: false, verified: false, verifyMode: "full", running: "source", mismatchTotal: 1, untrackedPages: 1, untrackedFirstPage: hit.page });
    expect(j.mismatches.map((m: { page: number }) => m.page)).toEqual([hit.page]);
    expect(j.destination).toMatchObject({ ok: false, resumed: false });
  });

  it("regression_npm_start_default_verify_misses_escaped_source_write (--traffic): found after resume; the summary says verified NO with the page, never that memory is equal", async () => {
    const out = capture();
    const hit = escapeDirtyTracking();
    await expect(main(["node", "vmdev", "migrate", "--traffic", "--ram", "16M", "--dirty", "8", "--no-report", "--downtime", "20", "--run-after", "50"]))
      .rejects.toThrow(/^migration completed but memory is not verified: .*the source stays frozen$/);
    const text = out.join("\n");
    expect(text).not.toMatch(/memory equals/);
    expect(text).toMatch(new RegExp(`^verified: NO: the destination runs with memory that differs from the source's: 1 pages changed after they were last sent \\(first: page ${hit.page}, written without being marked dirty`, "m"));
    expect(text).toMatch(new RegExp(`^source pages changed after they were last sent: 1 \\(first: page ${hit.page}\\)$`, "m"));
    expect(text).toMatch(/^NOT VERIFIED: /m);
  });

  it("--verify full --traffic: the escaped write is refused; the summary says verified no and never that memory is equal", async () => {
    const out = capture();
    const hit = escapeDirtyTracking();
    await expect(main(["node", "vmdev", "migrate", "--traffic", "--ram", "16M", "--dirty", "8", "--no-report", "--downtime", "20", "--run-after", "50", "--verify", "full"]))
      .rejects.toThrow(/^migration failed in verify: .*the source VM is running again$/);
    const text = out.join("\n");
    expect(text).not.toMatch(/memory equals/);
    expect(text).toMatch(/^verified: no$/m);
    expect(text).toMatch(new RegExp(`^pages that differ: 1 \\(page ${hit.page} last sent in round \\d+\\)$`, "m"));
    expect(text).toMatch(new RegExp(`^source pages changed after they were last sent: 1 \\(first: page ${hit.page}\\)$`, "m"));
  });

  it("--verify sent says what it checked and what it did not: the escaped write goes unseen, and memory is not claimed equal", async () => {
    const out = capture();
    escapeDirtyTracking();
    const code = await main(["node", "vmdev", "migrate", "--in-process", "--verify", "sent", "--ram", "16M", "--dirty", "8", "--no-report", "--downtime", "20"]);
    expect(code).toBe(0);
    const text = out.join("\n");
    expect(text).not.toMatch(/memory equals/);
    expect(text).toMatch(/^verified: no: sent-page check only\. The destination holds every page as the source sent it .* the source's memory was not read again, so a write that escaped dirty tracking would not be seen/m);
    expect(out[out.length - 1]).toMatch(/^destination holds every page as the source sent it: digest [0-9a-f]{16} \(sent-page check; source memory not read again, writes that escaped dirty tracking not checked\)$/);
  });

  it("--traffic config: adds a virtio-net in a free slot (or keeps the one given) and keeps the workload below the driver's window", () => {
    const t = new ConfigTree();
    t.load("memory.size=16M\npci.0.3.0.device=memtest\n");
    trafficConfig(t);
    expect(t.get("pci.0.4.0.device")).toBe("virtio-net");
    expect(t.get("workload.pages")).toBe(String((14 << 20) / 4096));
    const u = new ConfigTree();
    u.load("memory.size=16M\npci.0.7.0.device=virtio-net\nworkload.first_page=16\n");
    trafficConfig(u);
    expect(u.keys().filter((k) => u.get(k) === "virtio-net")).toEqual(["pci.0.7.0.device"]);
    expect(u.get("workload.pages")).toBe(String((14 << 20) / 4096 - 16));
  });

  it("--traffic with --connect/--listen, or too little RAM, is one clear line", async () => {
    capture();
    await expect(main(["node", "vmdev", "migrate", "--traffic", "--connect", "4444"])).rejects.toThrow(/^--traffic cannot be combined with --connect: the traffic's driver model needs the destination in this process$/);
    await expect(main(["node", "vmdev", "migrate", "--traffic", "--listen", "0"])).rejects.toThrow(/^--traffic cannot be combined with --listen/);
    await expect(main(["node", "vmdev", "migrate", "--traffic", "--ram", "2M"])).rejects.toThrow(/^--traffic: guest RAM 2048 KiB is too small for the driver model \(want at least 4 MiB\)$/);
  });

  it("a bad option is one clear line naming it", async () => {
    capture();
    await expect(main(["node", "vmdev", "migrate", "--ram", "lots"])).rejects.toThrow(/^-m\/--ram lots: want a size like 64M, 1G, 1GiB or a number of bytes$/);
    await expect(main(["node", "vmdev", "migrate", "-o", "memory.colour=red"])).rejects.toThrow(/^memory\.colour: unknown key$/);
    await expect(main(["node", "vmdev", "migrate", "-o", "migration.speed=1"])).rejects.toThrow(/^-o migration\.speed: unknown key/);
    await expect(main(["node", "vmdev", "migrate", "-o", "migration.verify=incremental"])).rejects.toThrow(/^--verify incremental: want deferred, full or sent$/);
  });

  it("connecting to a port where nobody listens fails cleanly", async () => {
    capture();
    await expect(main(["node", "vmdev", "migrate", "--ram", "4M", "--vcpus", "1", "--connect", "1", "--no-report"])).rejects.toThrow(/connect 127\.0\.0\.1:1: .*ECONNREFUSED/);
  });

  it("off loopback without a key, and a bad key, are one clear line", async () => {
    capture();
    await expect(main(["node", "vmdev", "migrate", "--listen", "0.0.0.0:0"])).rejects.toThrow(/^refusing to listen on 0\.0\.0\.0 without authentication/);
    await expect(main(["node", "vmdev", "migrate", "--ram", "4M", "--vcpus", "1", "--connect", "10.0.0.1:4444", "--no-report"])).rejects.toThrow(/refusing to migrate to 10\.0\.0\.1 without authentication/);
    await expect(main(["node", "vmdev", "migrate", "--listen", "0", "--psk-identity", "x"])).rejects.toThrow(/^--psk-identity needs --psk-file$/);
    const dir = mkdtempSync(join(tmpdir(), "vmdev-psk-"));
    writeFileSync(join(dir, "short"), "00112233");
    await expect(main(["node", "vmdev", "migrate", "--listen", "0", "--psk-file", join(dir, "short")])).rejects.toThrow(/^--psk-file .*short: migration PSK: 4 bytes; want at least 16/);
    await expect(main(["node", "vmdev", "migrate", "--in-process", "--psk-file", join(dir, "short")])).rejects.toThrow(/^--psk-file secures a TCP link; --in-process has none$/);
    await expect(main(["node", "vmdev", "migrate", "--listen", "host:port"])).rejects.toThrow(/^--listen host:port: want PORT or HOST:PORT$/);
    await expect(main(["node", "vmdev", "migrate", "--listen", "0", "--tls-cert", "c.pem"])).rejects.toThrow(/^certificates: want --tls-cert, --tls-key and --tls-ca together$/);
    await expect(main(["node", "vmdev", "migrate", "--listen", "0", "--tls-cert", "c", "--tls-key", "k", "--tls-ca", "a", "--psk-file", "p"])).rejects.toThrow(/^--psk-file and --tls-\* are two ways/);
  });

  it("default mode with --psk-file (built package): the child destination listens with TLS-PSK, the source authenticates, memory verified", async () => {
    const bin = new URL("../../bin/vmdev.js", import.meta.url).pathname;
    const dir = mkdtempSync(join(tmpdir(), "vmdev-psk-"));
    writeFileSync(join(dir, "key"), "3d6f0a9c4b2e8175a0c9d3e6f1b4a7c2 5e8d1f4a7b0c3e6d9f2a5b8c1e4d7a0b\n");
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, "migrate", "--ram", "16M", "--vcpus", "1", "--psk-file", join(dir, "key"), "--json", "--no-report", "--run-after", "100"], { timeout: 180_000 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }));
    });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ ok: true, verified: true });
    expect(j.destination).toMatchObject({ ok: true, resumed: true, digest: j.digest, refused: { unauthenticated: 0, extra: 0 } });
  });

  it("--listen / --connect with certificates (built package): two processes, mutual TLS, memory verified", async () => {
    const bin = new URL("../../bin/vmdev.js", import.meta.url).pathname;
    const tls = (n: string) => { const f = (x: string) => new URL(`../support/tls/${x}`, import.meta.url).pathname; return ["--tls-cert", f(`${n}.pem`), "--tls-key", f(`${n}.key`), "--tls-ca", f("ca.pem")]; };
    const { spawn } = await import("node:child_process");
    const dest = spawn(process.execPath, [bin, "migrate", "--listen", "127.0.0.1:0", "--ram", "16M", "--vcpus", "1", "--run-after", "100", ...tls("destination")], { stdio: ["ignore", "pipe", "pipe"] });
    onTestFinished(() => { dest.kill("SIGKILL"); });
    let out = "";
    const exited = new Promise<number>((r) => dest.on("exit", (c) => r(c ?? 1)));
    const port = await new Promise<number>((resolve, reject) => {
      dest.stdout!.on("data", (b) => { out += b; const m = /listening 127\.0\.0\.1:(\d+) \(TLS, certificates\)/.exec(out); if (m) resolve(Number(m[1])); });
      dest.on("exit", (c) => reject(new Error(`destination exited ${c}`)));
    });
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, "migrate", "--connect", `127.0.0.1:${port}`, "--ram", "16M", "--vcpus", "1", "--json", "--no-report", ...tls("source")], { timeout: 180_000 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }));
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, verified: true });
    expect(await exited).toBe(0);
    const line = JSON.parse(out.trim().split("\n").pop()!);
    expect(line).toMatchObject({ role: "destination", ok: true, resumed: true, refused: { unauthenticated: 0, extra: 0 } });
  });

  it("default mode (built package): a Machine migrates over TCP to a child destination built from the same options, APICs included", async () => {
    const bin = new URL("../../bin/vmdev.js", import.meta.url).pathname;
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, "migrate", "--ram", "16M", "-c", "3", "-s", "3,memtest,size=8K", "--json", "--no-report", "--run-after", "1000"], { timeout: 180_000 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }));
    });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ ok: true, verified: true, ramBytes: 16 << 20 });
    expect(j.destination).toMatchObject({ ok: true, resumed: true, digest: j.digest, apics: 3 });
    expect(j.destination.writesAfterResume).toBeGreaterThan(0);
  });
});
