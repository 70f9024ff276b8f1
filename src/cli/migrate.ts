// `vmdev migrate`: live-migrate a running VM and prove the result.
//
// Default: start a source VM with a workload (vCPU workers dirtying memory),
// start a destination in a child process listening on 127.0.0.1, migrate
// over TCP, print an `info migrate`-style summary and write an HTML report.
// `--listen PORT` runs only the destination; `--connect PORT` only the source.
// `--in-process` keeps both in this process (MessageChannel).
//
// The VM is the stand-in from src/migration/standin.ts (RAM + vCPU workers)
// until the Machine runtime provides MigrationSource/MigrationDestination.

import { Command, Option } from "commander";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import cliProgress from "cli-progress";
import { loadModule } from "../load-node.js";
import { VmCore } from "../vm-core.js";
import { migrate, type MigrateOptions } from "../migration/source.js";
import { receiveMigration } from "../migration/destination.js";
import { runDestinationRole } from "../migration/roles.js";
import { StandInSource, StandInDestination, fillRandom, type DirtyPattern } from "../migration/standin.js";
import { connect, portPair, type Transport } from "../migration/transport.js";
import { htmlReport, jsonSummary, summaryLines } from "../migration/report.js";
import type { MigrationReport, RoundStats } from "../migration/types.js";

interface Opts {
  ram: string; vcpus: string; dirty: string; pattern: string; workingSet: string; fill: string;
  downtime: string; maxRounds: string; bandwidth: string; autoConverge: boolean; delta: boolean; cache: string;
  verify: string; inProcess?: boolean; listen?: string; connect?: string; json?: boolean; report: string | false;
  runAfter: string; o: string[];
}

/** Config-tree keys `-o key=value` understands (bhyve style); each maps onto an option. */
const CONFIG_KEYS: Record<string, keyof Opts> = {
  "memory.size": "ram", cpus: "vcpus", "workload.dirty_rate": "dirty", "workload.pattern": "pattern",
  "workload.working_set": "workingSet", "migration.downtime_limit": "downtime", "migration.max_rounds": "maxRounds",
  "migration.bandwidth": "bandwidth", "migration.verify": "verify", "migration.xbzrle_cache": "cache",
};

const fail = (msg: string): never => { throw new Error(msg); };
function num(v: string, what: string, min: number, max: number, int = false): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) fail(`${what} ${v}: want ${int ? "a whole number" : "a number"} from ${min} to ${max}`);
  return n;
}
/** "256", "256M", "1G" → MiB. */
function mib(v: string, what: string): number {
  const m = /^(\d+)([mMgG]?)$/.exec(v.trim()) ?? fail(`${what} ${v}: want MiB, or a size like 512M or 1G`);
  return Number(m[1]) * (m[2].toLowerCase() === "g" ? 1024 : 1);
}

/** The `vmdev migrate` subcommand. */
export function migrateCommand(): Command {
  return new Command("migrate")
    .description("live-migrate a running VM (pre-copy, stop-and-copy, digest-verified) and report")
    .option("--ram <size>", "guest RAM (MiB, or 512M / 1G)", "256")
    .option("--vcpus <n>", "vCPU worker threads dirtying memory", "2")
    .option("--dirty <MiB/s>", "workload dirty rate, all vCPUs together", "32")
    .addOption(new Option("--pattern <p>", "workload write pattern").choices(["uniform", "hotset", "sequential"]).default("hotset"))
    .option("--working-set <fraction>", "fraction of RAM the workload writes", "1")
    .option("--fill <fraction>", "fraction of RAM filled with random data before migrating (the rest stays zero)", "0.5")
    .option("--downtime <ms>", "downtime limit: stop-and-copy when the estimate fits", "50")
    .option("--max-rounds <n>", "round cap", "30")
    .option("--bandwidth <MB/s>", "bandwidth cap (0 = none)", "0")
    .option("--no-auto-converge", "never throttle the vCPUs")
    .option("--no-delta", "no XBZRLE delta encoding of re-sent pages")
    .option("--cache <MiB>", "XBZRLE cache size", "32")
    .addOption(new Option("--verify <mode>", "memory digest: page hashes kept as pages move (incremental) or a full re-hash of RAM on both sides").choices(["incremental", "full"]).default("incremental"))
    .option("--in-process", "run the destination in this process (MessageChannel) instead of a child over TCP")
    .option("--listen <port>", "destination role only: listen on 127.0.0.1:PORT")
    .option("--connect <port>", "source role only: migrate to a destination listening on 127.0.0.1:PORT")
    .option("--run-after <ms>", "destination: run the resumed VM this long before exiting", "200")
    .option("--json", "print the summary as JSON on stdout")
    .option("--report <file>", "HTML report with plots", "migration-report.html")
    .option("--no-report", "no HTML report")
    .option("-o <key=value>", `config keys (${Object.keys(CONFIG_KEYS).join(", ")})`, (v: string, acc: string[]) => [...acc, v], [] as string[])
    .action(async (opts: Opts) => {
      for (const kv of opts.o) {
        const i = kv.indexOf("=");
        const key = i > 0 ? kv.slice(0, i) : fail(`-o ${kv}: want key=value`);
        const opt = CONFIG_KEYS[key] ?? fail(`-o ${key}: unknown key (known: ${Object.keys(CONFIG_KEYS).join(", ")})`);
        (opts as unknown as Record<string, string>)[opt] = kv.slice(i + 1);
      }
      if (opts.listen !== undefined) return destinationRole(opts);
      return sourceRole(opts);
    });
}

async function destinationRole(opts: Opts): Promise<void> {
  const port = num(opts.listen!, "--listen", 0, 65535, true);
  const module = await loadModule("release");
  const res = await runDestinationRole({
    module, variant: "release", port, runAfterMs: num(opts.runAfter, "--run-after", 0, 60_000),
    vcpus: num(opts.vcpus, "--vcpus", 0, 64, true), dirtyBytesPerSec: num(opts.dirty, "--dirty", 0, 1e5) * 2 ** 20,
    pattern: opts.pattern as DirtyPattern,
    onListening: (p) => console.log(`listening 127.0.0.1:${p}`),
  });
  const line = { role: "destination", ok: res.ok, resumed: res.resumed, error: res.error ?? null, rounds: res.rounds, pagesApplied: res.pagesApplied,
    digest: res.digest ?? null, verdict: res.verdict?.message ?? null, writesAfterResume: res.writesAfterResume };
  console.log(JSON.stringify(line));
  if (!res.ok) fail(`destination: ${res.error}`);
}

/** Start `vmdev migrate --listen 0` as a child; resolves with its port and a promise of its final JSON line. */
function startChildDestination(opts: Opts): Promise<{ port: number; done: Promise<Record<string, unknown> | null>; kill(): void }> {
  const bin = fileURLToPath(new URL("../../bin/vmdev.js", import.meta.url));
  const child = spawn(process.execPath, [bin, "migrate", "--listen", "0", "--vcpus", opts.vcpus, "--dirty", opts.dirty, "--pattern", opts.pattern, "--run-after", opts.runAfter],
    { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stderr.on("data", (b) => { err += b; });
  return new Promise((resolve, reject) => {
    let resolved = false;
    const done = new Promise<Record<string, unknown> | null>((r) => child.on("exit", () => {
      const last = out.trim().split("\n").pop() ?? "";
      try { r(JSON.parse(last)); } catch { r(null); }
    }));
    child.stdout.on("data", (b) => {
      out += b;
      const m = /listening 127\.0\.0\.1:(\d+)/.exec(out);
      if (m && !resolved) { resolved = true; resolve({ port: Number(m[1]), done, kill: () => child.kill("SIGKILL") }); }
    });
    child.on("exit", (code) => { if (!resolved) reject(new Error(`destination process exited (${code}) before listening: ${err.trim().split("\n").pop() ?? ""}`)); });
  });
}

async function sourceRole(opts: Opts): Promise<void> {
  const ramMiB = mib(opts.ram, "--ram");
  if (ramMiB < 1 || ramMiB > 3072) fail(`--ram ${opts.ram}: want 1 MiB to 3 GiB`);
  const vcpus = num(opts.vcpus, "--vcpus", 0, 64, true);
  const dirty = num(opts.dirty, "--dirty", 0, 1e5);
  const fill = num(opts.fill, "--fill", 0, 1);
  const mopts: MigrateOptions = {
    downtimeLimitMs: num(opts.downtime, "--downtime", 0, 1e6),
    maxRounds: num(opts.maxRounds, "--max-rounds", 1, 1000, true),
    bandwidthLimit: num(opts.bandwidth, "--bandwidth", 0, 1e6) * 1e6,
    autoConverge: opts.autoConverge,
    delta: opts.delta,
    cacheMiB: num(opts.cache, "--cache", 1, 256, true),
    verify: opts.verify as "incremental" | "full",
  };
  const log = (s: string) => { if (!opts.json) process.stderr.write(s + "\n"); };
  const module = await loadModule("release");
  const src = await StandInSource.create({ module, variant: "release", ramBytes: ramMiB << 20, vcpus, dirtyBytesPerSec: dirty * 2 ** 20,
    pattern: opts.pattern as DirtyPattern, workingSet: num(opts.workingSet, "--working-set", 0.0001, 1) });
  fillRandom(src.core, Math.floor((ramMiB << 20) * fill / 4096) * 4096, 7);
  await src.start();
  log(`source VM: ${ramMiB} MiB, ${vcpus} vCPU workers dirtying ${dirty} MiB/s (${opts.pattern}); stand-in VM (the Machine runtime is not merged yet)`);

  let transport!: Transport;
  let destDone!: Promise<Record<string, unknown> | null>;
  let child: { kill(): void } | undefined;
  try {
    if (opts.inProcess) {
      const [a, b] = portPair();
      transport = a;
      const codec = await VmCore.create({ module, variant: "release", ramBytes: 1 << 16 });
      destDone = receiveMigration(b, async ({ ramBytes }) => StandInDestination.create({ module, variant: "release", ramBytes }), codec)
        .then((r) => ({ role: "destination", ok: r.ok, resumed: r.resumed, error: r.error ?? null, digest: r.digest ?? null }));
      log("destination: in this process (MessageChannel)");
    } else if (opts.connect !== undefined) {
      transport = await connect(num(opts.connect, "--connect", 1, 65535, true));
      destDone = Promise.resolve(null);
      log(`destination: 127.0.0.1:${opts.connect}`);
    } else {
      const c = await startChildDestination(opts);
      child = c;
      transport = await connect(c.port);
      destDone = c.done;
      log(`destination: child process on 127.0.0.1:${c.port} (TCP)`);
    }
  } catch (err) {
    child?.kill();
    await src.stop();
    throw err;
  }

  const bars = opts.json ? null : new cliProgress.MultiBar({
    format: "round {round} |{bar}| {value}/{total} pages | {mbps} MB/s | dirty {dirty} pages/s | ETA {eta}",
    hideCursor: true, clearOnComplete: false, stopOnComplete: false, stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  let bar: cliProgress.SingleBar | null = null;
  let barRound = -1;
  const eta = (msv: number) => (Number.isFinite(msv) ? `${(msv / 1000).toFixed(1)}s` : "-");
  const report: MigrationReport = await migrate(src, transport, {
    ...mopts,
    onProgress: (p) => {
      if (!bars) return;
      if (p.round !== barRound) { bar?.stop(); bar = bars.create(p.pagesInRound, 0, {}); barRound = p.round; }
      bar!.setTotal(Math.max(1, p.pagesInRound));
      bar!.update(p.pagesDone, { round: p.round, mbps: (p.throughput / 1e6).toFixed(0), dirty: Math.round(p.dirtyRate), eta: eta(p.etaMs) });
    },
    onRound: (r: RoundStats) => {
      if (!bars) return;
      if (r.round !== barRound) { bar?.stop(); bar = bars.create(Math.max(1, r.pages), 0, {}); barRound = r.round; }
      bar!.setTotal(Math.max(1, r.pages));
      bar!.update(r.pages, { round: r.final ? `${r.round} (stop-and-copy)` : r.round, mbps: (r.throughput / 1e6).toFixed(0), dirty: Math.round(r.dirtyRate), eta: eta(r.etaMs) });
    },
  });
  bars?.stop();
  let timer: NodeJS.Timeout | undefined;
  const dest = await Promise.race([destDone, new Promise<null>((r) => { timer = setTimeout(() => r(null), 10_000); })]);
  clearTimeout(timer);
  child?.kill();
  await src.stop();
  const notes = ["vm: stand-in (RAM + vCPU workers); no NIC yet, so frames lost is not measured"];
  if (dest && typeof dest.writesAfterResume === "number") notes.push(`destination: resumed and made ${dest.writesAfterResume} vCPU writes in ${opts.runAfter} ms`);
  if (opts.json) {
    console.log(JSON.stringify({ ...jsonSummary(report), destination: dest }, null, 1));
  } else {
    for (const l of summaryLines(report, notes)) console.log(l);
    if (report.ok) console.log(`destination memory equals source memory: digest ${report.digest} on both sides (${report.verifyMode})`);
  }
  if (opts.report !== false) {
    writeFileSync(opts.report, htmlReport(report, notes));
    log(`report: ${opts.report}`);
  }
  if (!report.ok) fail(`migration failed in ${report.failedPhase}: ${report.error}; ${report.running === "source" ? "the source VM is running again" : "the source VM stays frozen"}`);
}
