// The `vmdev` command as a script sees it: spawned from bin/vmdev.js (the built
// package), its exit codes, its error lines, its sizes, its config dump and
// its JSON. The exit-code table is pinned against docs/cli.md.
import { describe, it, expect } from "vitest";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT, EXIT_CODE_HELP, sizeOption } from "../../src/cli/common.js";

const root = new URL("../../", import.meta.url).pathname;
const bin = join(root, "bin/vmdev.js");
const tmp = () => mkdtempSync(join(tmpdir(), "vmdev-cli-"));

function vmdev(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** One error line, no stack trace. */
function oneLine(stderr: string): string {
  expect(stderr.trim().split("\n")).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return stderr.trim();
}

describe("exit codes", () => {
  it("the table in docs/cli.md is the one the CLI uses and --help prints", async () => {
    const doc = readFileSync(join(root, "docs/cli.md"), "utf8");
    const section = doc.slice(doc.indexOf("## Exit codes"), doc.indexOf("\n## ", doc.indexOf("## Exit codes") + 1));
    const rows = [...section.matchAll(/^\| (\d+) \| ([^|]+) \|$/gm)].map((m) => ({ code: Number(m[1]), meaning: m[2].trim() }));
    expect(rows.map((r) => r.code)).toEqual(Object.values(EXIT));
    const first = (s: string) => s.split(/[:(]/)[0].trim().toLowerCase();
    const names: Record<number, string> = { 0: "ok", 1: "runtime failure", 2: "usage or config error", 3: "verification failed", 130: "interrupted by sigint" };
    for (const r of rows) expect(first(r.meaning)).toBe(names[r.code]);
    const help = await vmdev("--help");
    expect(help.code).toBe(EXIT.ok);
    expect(help.stdout).toContain(EXIT_CODE_HELP);
    for (const r of rows) expect(help.stdout).toMatch(new RegExp(`^  ${r.code} +\\S`, "m"));
    expect(help.stdout).toMatch(/^Examples:\n {2}vmdev demo/m);
  });

  it("--version prints package.json's version", async () => {
    const r = await vmdev("--version");
    expect(r).toEqual({ code: 0, stdout: `${JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version}\n`, stderr: "" });
  });

  it("the same config error exits 2 with the same line in run and migrate", async () => {
    for (const cmd of ["run", "migrate"]) {
      const r = await vmdev(cmd, "-o", "memory.sise=1M");
      expect(r.code).toBe(EXIT.usage);
      expect(oneLine(r.stderr)).toBe(`vmdev ${cmd}: memory.sise: unknown key`);
      const v = await vmdev(cmd, "-o", "cpus=0");
      expect(v.code).toBe(EXIT.usage);
      expect(oneLine(v.stderr)).toMatch(new RegExp(`^vmdev ${cmd}: cpus: `));
    }
  });

  it("a missing -f file names the flag and the path, exit 2, no stack", async () => {
    const path = join(tmp(), "missing.conf");
    for (const cmd of ["run", "migrate"]) {
      const r = await vmdev(cmd, "-f", path);
      expect(r.code).toBe(EXIT.usage);
      expect(oneLine(r.stderr)).toBe(`vmdev ${cmd}: -f/--config ${path}: no such file`);
    }
    const psk = await vmdev("migrate", "--listen", "0", "--psk-file", path);
    expect(psk.code).toBe(EXIT.usage);
    expect(oneLine(psk.stderr)).toBe(`vmdev migrate: --psk-file ${path}: no such file`);
  });

  it("commander's own parse errors are usage errors too: an unknown flag, a value not among the choices, a missing argument", async () => {
    const unknown = await vmdev("run", "--colour");
    expect(unknown.code).toBe(EXIT.usage);
    expect(oneLine(unknown.stderr)).toBe("vmdev run: unknown option '--colour'");
    const choice = await vmdev("migrate", "--verify", "maybe");
    expect(choice.code).toBe(EXIT.usage);
    expect(oneLine(choice.stderr)).toMatch(/^vmdev migrate: option '--verify <mode>' argument 'maybe' is invalid/);
    const missing = await vmdev("inspect");
    expect(missing.code).toBe(EXIT.usage);
    expect(oneLine(missing.stderr)).toBe("vmdev inspect: inspect: give a blob file (or --control PATH DEVICE)");
    const cmd = await vmdev("frobnicate");
    expect(cmd.code).toBe(EXIT.usage);
  });

  it("off loopback without a key is a usage error naming the flag, before any machine starts; a peer that is not there is a runtime failure", async () => {
    const connect = await vmdev("migrate", "--connect", "10.0.0.1:4444");
    expect(connect.code).toBe(EXIT.usage);
    expect(oneLine(connect.stderr)).toMatch(/^vmdev migrate: refusing to migrate to 10\.0\.0\.1 without authentication \(--connect 10\.0\.0\.1:4444\): give --psk-file/);
    const listen = await vmdev("migrate", "--listen", "0.0.0.0:0");
    expect(listen.code).toBe(EXIT.usage);
    expect(oneLine(listen.stderr)).toMatch(/^vmdev migrate: refusing to listen on 0\.0\.0\.0 without authentication \(--listen 0\.0\.0\.0:0\)/);
    const refused = await vmdev("migrate", "--ram", "4M", "--vcpus", "1", "--connect", "1", "--no-report");
    expect(refused.code).toBe(EXIT.failure);
    expect(refused.stderr.trim().split("\n").pop()).toMatch(/^vmdev migrate: .*ECONNREFUSED/);
  });

  it("SIGINT while a machine runs exits 130", async () => {
    const child = spawn(process.execPath, [bin, "run", "-m", "8M", "--duration", "600000"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    // The first line is printed once the machine runs.
    await new Promise<void>((resolve) => child.stdout.on("data", (b) => { out += b; if (out.includes("\n")) resolve(); }));
    expect(out).toMatch(/^machine vm: 8\.0 MiB RAM/);
    const code = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    child.kill("SIGINT");
    expect(await code).toBe(EXIT.interrupted);
  });

  it("regression_cli_epipe_stack: `vmdev run | head` ends quietly with 0 when the reader has gone", async () => {
    // The pipe's only reader closes before vmdev starts (it waits on the fifo), so its first write fails with EPIPE.
    const dir = tmp();
    const script = `mkfifo "$D/go"; { read x < "$D/go"; "$NODE" "$BIN" run -m 8M --duration 200 2> "$D/err"; echo $? > "$D/status"; } | { exec 0<&-; echo go > "$D/go"; }; wait`;
    await new Promise<void>((resolve, reject) => execFile("bash", ["-c", script], { env: { ...process.env, D: dir, NODE: process.execPath, BIN: bin }, timeout: 120_000 }, (e) => (e ? reject(e) : resolve())));
    expect(readFileSync(join(dir, "err"), "utf8")).toBe("");
    expect(readFileSync(join(dir, "status"), "utf8").trim()).toBe("0");
  });
});

describe("one size parser", () => {
  it("takes bytes, K/M/G/T with B or iB, and names the flag when it refuses", () => {
    expect(sizeOption("64M", "--ram")).toBe(64 << 20);
    expect(sizeOption("1G", "--ram")).toBe(2 ** 30);
    expect(sizeOption("1GiB", "--ram")).toBe(2 ** 30);
    expect(sizeOption("512MB", "--ram")).toBe(512 << 20);
    expect(sizeOption("67108864", "--ram")).toBe(64 << 20);
    expect(() => sizeOption("12Q", "--ram")).toThrow(/^--ram 12Q: want a size like 64M, 1G, 1GiB or a number of bytes$/);
    expect(() => sizeOption("64", "-m/--ram")).toThrow(/^-m\/--ram 64: 64 bytes is outside 64K to 3840M \(a bare number is bytes: 64M is 64 MiB\)$/);
    expect(() => sizeOption("4T", "--ram")).toThrow(/^--ram 4T: \d+ bytes is outside/);
    expect(() => sizeOption("100000", "--ram")).toThrow(/^--ram 100000: not a multiple of 64K$/);
  });

  it("--ram means guest RAM (memory.size) in run, migrate and demo, with one message for a bad value", async () => {
    const run = await vmdev("run", "--ram", "1GiB", "--dump-config");
    expect(run.code).toBe(0);
    expect(run.stdout.split("\n")).toContain("memory.size=1GiB");
    const mig = await vmdev("migrate", "-m", "96M", "--dump-config");
    expect(mig.code).toBe(0);
    expect(mig.stdout.split("\n")).toContain("memory.size=96M");
    // The command line beats the file, as -o does.
    const file = join(tmp(), "vm.conf");
    writeFileSync(file, "memory.size=32M\n");
    expect((await vmdev("migrate", "-f", file, "--ram", "48M", "--dump-config")).stdout.split("\n")).toContain("memory.size=48M");
    for (const cmd of ["run", "migrate", "demo"]) {
      const r = await vmdev(cmd, "--ram", "lots");
      expect(r.code).toBe(EXIT.usage);
      expect(oneLine(r.stderr)).toBe(`vmdev ${cmd}: ${cmd === "demo" ? "--ram" : "-m/--ram"} lots: want a size like 64M, 1G, 1GiB or a number of bytes`);
    }
    const demo = await vmdev("demo", "--ram", "32MiB");
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(/^guest RAM: 32M \(8192 pages\)/);
  });
});

describe("--dump-config", () => {
  it("shows the defaults of the machine and of each device, and reads back as a config file to the same dump", async () => {
    const r = await vmdev("run", "-s", "3,virtio-net", "-s", "4,e1000", "--dump-config");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    for (const l of ["memory.size=64M", "cpus=1", "lock.leases=64", "workload.pattern=uniform", "pci.0.3.0.device=virtio-net", "pci.0.3.0.mtu=1500", "pci.0.3.0.queue_size=256", "pci.0.4.0.device=e1000", "lapic.x2apic=false"]) {
      expect(lines).toContain(l);
    }
    expect(lines.some((l) => l.startsWith("pci.0.4.0.") && l !== "pci.0.4.0.device=e1000")).toBe(true);
    const file = join(tmp(), "dumped.conf");
    writeFileSync(file, r.stdout);
    const again = await vmdev("run", "-f", file, "--dump-config");
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(r.stdout);
  });

  it("migrate's dump has the migration options with their defaults", async () => {
    const r = await vmdev("migrate", "-o", "migration.downtime_limit=20", "--dump-config");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toContain("memory.size=256M");
    expect(lines).toContain("migration.downtime_limit=20");
    expect(lines).toContain("migration.max_rounds=30");
    expect(lines).toContain("migration.verify=deferred");
  });
});

describe("--json", () => {
  it("run: schemaVersion first, units in the field names", async () => {
    const r = await vmdev("run", "-m", "8M", "--duration", "200", "--freeze-ms", "10", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j)[0]).toBe("schemaVersion");
    expect(j.schemaVersion).toBe(1);
    expect(j).toMatchObject({ name: "vm", ramBytes: 8 << 20, durationMs: 200, freezeMs: 10, ramUnchangedWhileLocked: true });
    expect(Object.keys(j.firstHalf).sort()).toEqual(["bytesPerSec", "intervalMs", "pageWritesPerSec"]);
    expect(Object.keys(j.vcpus[0]).sort()).toEqual(["bytesWritten", "exits", "index", "pageWrites", "runMs", "sleepMs", "state", "thread"]);
  });
});
