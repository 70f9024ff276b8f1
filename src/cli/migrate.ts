// `vmdev migrate`: live-migrate a running VM and prove the result.
//
// Default: start a source Machine (src/machine/) from config-tree options —
// 256 MiB, 2 vCPU workers dirtying memory, one local APIC per vCPU — start a
// destination in a child process listening on 127.0.0.1 (a frozen Machine
// built from the same options), migrate over TCP, print an `info
// migrate`-style summary and write an HTML report.
// `--listen [HOST:]PORT` runs only the destination; `--connect [HOST:]PORT`
// only the source. Off loopback both need `--psk-file` (TLS-PSK); the
// destination accepts one source and refuses every other connection.
// `--in-process` keeps both in this process (MessageChannel).
// `--traffic` (what `npm start` runs) adds guest traffic: the source gets a
// virtio-net (unless the config has one) exchanging sequence-numbered frames
// with a peer VM through the driver model (src/guest/traffic.ts) before, during
// and after the migration; the flow moves to the destination when it resumes
// and the summary reports frames lost end to end. The driver model's state
// lives in this process, so the destination does too (in-process transport).
// Machine options are the machine CLI's (`vmdev run`): -o key=value, -f file,
// -s/-m/-c shorthands; `-o migration.<key>=…` sets the migration's own options.
// While the source migrates: SIGUSR1 prints its status line; SIGINT cancels
// (before the commit point: the source VM runs on, the destination discards
// the VM, exit status 130); `--control PATH` serves the control channel
// (status, counters, inspect, trace of devices or `migration`, cancel).

import { Command, Option, cliProgress } from "./deps.js";
import type { SingleBar } from "cli-progress";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadModule } from "../load-node.js";
import { ConfigError, type ConfigTree } from "../config/tree.js";
import { Machine } from "../machine/machine.js";
import { MAX_VCPUS } from "../config/schema.js";
import { CliError, EXIT, JSON_SCHEMA_VERSION, jsonDocument, numberOption, usage } from "./common.js";
import { createNetPeer, startNetTraffic, type NetTraffic, type NetTrafficStats } from "../guest/traffic.js";
import { lapicSetOf } from "../devices/apic/machine.js";
import { startMigration, MigrationEvent, MIGRATION_TRACE_CHANNELS, type MigrationSession, type MigrationStatus, type MigrationEventType } from "../migration/source.js";
import { startControlServer, type ControlServer } from "../control/server.js";
import { machineControlTarget } from "../control/machine-target.js";
import { receiveMigration } from "../migration/destination.js";
import { runDestinationRole } from "../migration/roles.js";
import { fillRandom } from "../guest/fill.js";
import { openPcapFile, type PcapFile } from "../net/pcap-file.js";
import { MachineSource, machineDestinationFactory, type MachineDestination } from "../migration/machine-adapter.js";
import { connect, isLoopback, portPair, LOOPBACK, type Transport } from "../migration/transport.js";
import { htmlReport, jsonSummary, summaryLines } from "../migration/report.js";
import type { MigratableDevice, MigrationReport, RoundStats } from "../migration/types.js";
import { importDeviceModule, makeUserDevices, withDevices, withDestinationDevices, type UserDeviceContext, type UserDeviceModule } from "../migration/user-device.js";
import { configFromArgs, configWithDefaults } from "./run.js";
import { trafficConfig } from "./traffic-config.js";
import { authOf, hostPort, migrateOptionsOf, type Opts } from "./migrate-options.js";

export { authOf, hostPort, migrateOptionsOf, type Opts };


/** `-o migration.<key>=value` keys: the migration's own options (everything else is machine config). */
const MIGRATION_KEYS: Record<string, keyof Opts> = {
  "migration.downtime_limit": "downtime", "migration.max_rounds": "maxRounds", "migration.bandwidth": "bandwidth",
  "migration.verify": "verify", "migration.xbzrle_cache": "cache", "migration.dirty_rate": "dirty", "migration.fill": "fill",
};

/** The default scenario's machine: overridden by -f, shorthands and -o. */
const SCENARIO: Record<string, string> = { "memory.size": "256M", cpus: "2", "workload.pattern": "hot" };

/** A flag or config the command cannot run with: a usage error (exit 2). */
const fail = usage;
const num = numberOption;

/**
 * The machine config from the command line: the default scenario, then the
 * machine CLI's sources (file, -s/-m/-c, -o). `-m`/`--ram` (as in `vmdev run`),
 * `--vcpus`, `--dirty` and `--pattern` are shorthands for memory.size, cpus and the workload keys
 * (the dirty rate is split across the vCPUs as workload.rate pages/s).
 * Also moves `-o migration.*` into the migration options.
 */
export function migrateConfig(opts: Opts): ConfigTree {
  const machineOpts: string[] = [];
  for (const kv of opts.option) {
    const i = kv.indexOf("=");
    const key = i > 0 ? kv.slice(0, i) : fail(`-o ${kv}: want key=value`);
    if (key.startsWith("migration.")) {
      const opt = MIGRATION_KEYS[key] ?? fail(`-o ${key}: unknown key (migration keys: ${Object.keys(MIGRATION_KEYS).join(", ")})`);
      (opts as unknown as Record<string, string>)[opt] = kv.slice(i + 1);
    } else machineOpts.push(kv);
  }
  const defaults = { ...SCENARIO };
  if (opts.vcpus !== undefined) defaults.cpus = String(num(opts.vcpus, "--vcpus", 1, MAX_VCPUS, true));
  defaults["workload.pattern"] = opts.pattern === "hotset" ? "hot" : opts.pattern;
  try {
    // The dirty rate needs the vCPU count, which -f/-c/-o may still change: build once, then set the rate below -o.
    const probe = configFromArgs({ option: machineOpts, config: opts.config, slot: opts.slot, ram: opts.ram, memory: opts.memory, cpus: opts.cpus, defaults });
    const cpus = Number(probe.get("cpus"));
    const dirty = num(opts.dirty, "--dirty", 0, 1e5);
    // workload.rate 0 means "unlimited" to the machine: a zero dirty rate is one write per second.
    defaults["workload.rate"] = String(Math.max(1, Math.round((dirty * 2 ** 20) / 4096 / cpus)));
    return configFromArgs({ option: machineOpts, config: opts.config, slot: opts.slot, ram: opts.ram, memory: opts.memory, cpus: opts.cpus, defaults });
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
}

/** Machine options as `-o key=value` arguments (raw values), for the child destination. */
function configArgs(tree: ConfigTree): string[] {
  return tree.keys().flatMap((k) => ["-o", `${k}=${tree.raw(k)}`]);
}

const collect = (v: string, prev: string[]) => [...prev, v];




/** The `vmdev migrate` subcommand. */
export function migrateCommand(): Command {
  return new Command("migrate")
    .description("live-migrate a running VM (pre-copy, stop-and-copy, digest-verified) and report")
    .option("-o, --option <key=value>", "machine config key (as `vmdev run`), or migration.<key> (repeatable; last write wins)", collect, [])
    .option("-f, --config <file>", "read machine config key=value lines from a file first")
    .option("-s, --slot <slot,emulation[,conf]>", "legacy device shorthand, e.g. 3,memtest,size=64K (repeatable)", collect, [])
    .option("-m, --ram <size>", "guest RAM (memory.size): 64M, 1G, 1GiB or bytes; default 256M")
    .addOption(new Option("--memory <size>", "the same as --ram").hideHelp())
    .option("-c, --cpus <n>", "number of vCPUs (cpus)")
    .option("--vcpus <n>", "vCPUs dirtying memory (cpus); default 2")
    .option("--dirty <MiB/s>", "workload dirty rate, all vCPUs together (sets workload.rate)", "32")
    .addOption(new Option("--pattern <p>", "workload write pattern (workload.pattern)").choices(["uniform", "hot", "hotset", "sequential"]).default("hot"))
    .option("--fill <fraction>", "fraction of RAM filled with random data before migrating (the rest stays zero)", "0.5")
    .option("--downtime <ms>", "downtime limit: stop-and-copy when the estimate fits", "50")
    .option("--max-rounds <n>", "round cap", "30")
    .option("--bandwidth <MB/s>", "bandwidth cap (0 = none)", "0")
    .option("--no-auto-converge", "never throttle the vCPUs")
    .option("--no-delta", "no XBZRLE delta encoding of re-sent pages")
    .option("--cache <MiB>", "XBZRLE cache size", "32")
    .addOption(new Option("--verify <mode>", "deferred: pages as sent = pages as applied under the freeze, then, once the destination runs, the frozen source hashes all its RAM against what it sent (finds source writes that escaped dirty tracking, after resume; no pass over RAM in the downtime); full: hash all guest RAM on both sides under the freeze (the destination never runs with differing memory; a pass over RAM in the downtime); sent: compare only the hashes of pages as sent and applied (does not see escaped source writes)").choices(["deferred", "full", "sent"]).default("deferred"))
    .option("--in-process", "run the destination in this process (MessageChannel) instead of a child over TCP")
    .option("--traffic", "frames flowing over virtio-net between the VM and a peer VM across the migration (destination in this process; `npm start`)")
    .option("--pcap <file>", "with --traffic: capture the VM NIC's frames to FILE (libpcap, LINKTYPE_ETHERNET; tcpdump -r and Wireshark read it), across the migration")
    .option("--v86 <config.json>", "migrate a v86 guest with its vmdev NICs (a JSON config: images, memory_size, nics, net_device, wait_serial; docs/v86.md): with --connect the source boots it and migrates, with --listen the destination resumes it in a fresh v86")
    .option("--listen <[host:]port>", "destination role only: listen on HOST:PORT (default host 127.0.0.1; any other needs --psk-file); accepts one source")
    .option("--connect <[host:]port>", "source role only: migrate to a destination listening on HOST:PORT (default host 127.0.0.1; any other needs --psk-file)")
    .option("--psk-file <file>", "authenticate and encrypt the link with TLS-PSK, the key read from FILE (hex, e.g. `openssl rand -hex 32`, or ≥ 16 raw bytes); both sides give the same key")
    .option("--psk-identity <name>", "the key's name, sent in the clear (default vmdev-migration)")
    .option("--tls-cert <file>", "instead of a PSK, mutual TLS 1.3: this side's certificate (PEM); with --tls-key and --tls-ca")
    .option("--tls-key <file>", "this side's private key (PEM)")
    .option("--tls-ca <file>", "the CA the peer's certificate must chain to (PEM); the source also checks the destination's name")
    .option("--run-after <ms>", "destination: run the resumed VM this long before exiting", "200")
    .option("--device <module>", "migrate a device of your own too: a module exporting createDevice({ role, core }) that returns a MigratableDevice (docs/migrate-your-device.md); loaded on both sides (repeatable)", collect, [])
    .option("--control <path>", "source: serve the control channel on this local socket while migrating (status, counters, inspect DEVICE, trace DEVICE or trace migration, cancel)")
    .option("--json", "print the summary as JSON on stdout (with schemaVersion)")
    .option("--dump-config", "print the machine's effective config (defaults included) and the migration options, and exit")
    .option("--report <file>", "HTML report with plots", "migration-report.html")
    .option("--no-report", "no HTML report")
    .addHelpText("after", `
Examples:
  vmdev migrate --traffic                              what npm start runs: frames flow across the migration
  vmdev migrate --ram 1G --dirty 64 --downtime 20      a bigger, busier VM to a child process over TCP
  vmdev migrate --listen 0.0.0.0:4444 --psk-file key   on the destination host
  vmdev migrate --connect dst:4444 --psk-file key      on the source host
  vmdev migrate --in-process --json --no-report | jq .downtimeMs
  vmdev migrate --v86 guest.json --listen 4444           a fresh v86 waiting for the guest
  vmdev migrate --v86 guest.json --connect 4444          boot the guest in v86 and move it there

Exit status 3 when the migration ran but the destination's memory (or the frames) did not verify.`)
    .action(async (opts: Opts) => {
      if (opts.v86 !== undefined) {
        if (opts.traffic || opts.inProcess) fail("--v86 runs the source and the destination as two processes: give --connect or --listen, not --traffic or --in-process");
        const { v86SourceRole, v86DestinationRole } = await import("./migrate-v86.js");
        return opts.listen !== undefined ? v86DestinationRole({ ...opts, v86: opts.v86, listen: opts.listen }) : v86SourceRole({ ...opts, v86: opts.v86 });
      }
      if (opts.traffic && (opts.listen !== undefined || opts.connect !== undefined)) {
        fail(`--traffic cannot be combined with --${opts.listen !== undefined ? "listen" : "connect"}: the traffic's driver model needs the destination in this process`);
      }
      if (opts.pcap !== undefined && !opts.traffic) fail("--pcap needs --traffic: without it no frames flow to capture");
      if ((opts.pskFile ?? opts.tlsCert ?? opts.tlsKey ?? opts.tlsCa) !== undefined && (opts.inProcess || opts.traffic)) {
        fail(`${opts.pskFile !== undefined ? "--psk-file" : "--tls-*"} secures a TCP link; --${opts.inProcess ? "in-process" : "traffic"} has none`);
      }
      // Off loopback without a key is refused before any machine starts.
      if (opts.connect !== undefined && (opts.pskFile ?? opts.tlsCert) === undefined) {
        const { host } = hostPort(opts.connect, "--connect", 1);
        if (!isLoopback(host)) fail(`refusing to migrate to ${host} without authentication (--connect ${opts.connect}): give --psk-file (or --tls-cert, --tls-key, --tls-ca), or use 127.0.0.1`);
      }
      const config = migrateConfig(opts);
      if (opts.traffic) trafficConfig(config);
      if (opts.dumpConfig) {
        const migration = Object.entries(MIGRATION_KEYS).map(([k, o]) => `${k}=${String(opts[o])}\n`).join("");
        process.stdout.write(configWithDefaults(config).dump() + migration);
        return;
      }
      if (opts.listen !== undefined) {
        if (opts.control !== undefined) fail("--control serves the source's control channel; a --listen destination has none");
        return destinationRole(opts, config);
      }
      return sourceRole(opts, config);
    });
}

/** One user device's states as the CLI prints them (base64 envelopes): saved on the source, restored and later saved again on the destination. */
interface UserDeviceRecord { name: string; kind: number; saved?: string; restored?: string; afterRun?: string }

/** The `--device` modules, loaded once, making the devices of either side and recording their states for --json. */
interface UserDevices {
  source(core: UserDeviceContext["core"], taken: string[]): Promise<MigratableDevice[]>;
  destination(core: UserDeviceContext["core"], taken: string[]): Promise<MigratableDevice[]>;
  /** Destination: record each device's state once the VM has run. */
  inspect(): void;
  /** The VMs are going away: reset every device made (it stops whatever it drives). */
  resetAll(): void;
  json(): { source: UserDeviceRecord[]; destination: UserDeviceRecord[] };
}

async function userDevices(opts: Opts): Promise<UserDevices> {
  const modules: Array<{ specifier: string; module: UserDeviceModule }> = [];
  for (const specifier of opts.device) modules.push({ specifier, module: await importDeviceModule(specifier).catch((e: Error) => fail(e.message)) });
  const records = { source: [] as UserDeviceRecord[], destination: [] as UserDeviceRecord[] };
  const made: MigratableDevice[] = [];
  const all: MigratableDevice[] = [];
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
  const side = async (role: "source" | "destination", core: UserDeviceContext["core"], taken: string[]) => {
    const devs = await makeUserDevices(modules, { role, core }, taken).catch((e: Error) => fail(e.message));
    return devs.map((d) => {
      const rec: UserDeviceRecord = { name: d.name, kind: d.kind };
      records[role].push(rec);
      if (role === "destination") made.push(d);
      all.push(d);
      return {
        ...d,
        saveState: () => { const blob = d.saveState(); if (role === "source") rec.saved = b64(blob); return blob; },
        restoreState: (blob: Uint8Array) => { const st = d.restoreState(blob); if (st === 0) rec.restored = b64(blob); return st; },
      } satisfies MigratableDevice;
    });
  };
  return {
    source: (core, taken) => side("source", core, taken),
    destination: (core, taken) => side("destination", core, taken),
    inspect: () => { made.forEach((d, i) => { try { records.destination[i].afterRun = b64(d.saveState()); } catch { /* reported as missing */ } }); },
    json: () => records,
    resetAll: () => { for (const d of all) { try { d.reset(); } catch { /* a device that cannot reset is torn down with its VM */ } } },
  };
}

async function destinationRole(opts: Opts, config: ConfigTree): Promise<void> {
  const { host, port } = hostPort(opts.listen!, "--listen", 0);
  const auth = authOf(opts);
  if (!auth && !isLoopback(host)) fail(`refusing to listen on ${host} without authentication (--listen ${opts.listen}): migration carries guest memory; give --psk-file (or --tls-cert, --tls-key, --tls-ca), or listen on 127.0.0.1`);
  const module = await loadModule("release");
  const user = await userDevices(opts);
  let apics = 0, timersFired = 0;
  const res = await runDestinationRole({
    module, variant: "release", port, host, auth, config, runAfterMs: num(opts.runAfter, "--run-after", 0, 60_000),
    extraDevices: opts.device.length ? (d) => user.destination(d.core, d.devices.map((x) => x.name)) : undefined,
    onListening: (p, h) => console.log(`listening ${h}:${p}${auth ? ("psk" in auth ? " (TLS-PSK)" : " (TLS, certificates)") : ""}`),
    inspect: (d) => { const set = lapicSetOf(d.core); apics = set?.bus.cpus ?? 0; timersFired = set?.pump.fired ?? 0; user.inspect(); user.resetAll(); },
  });
  const line = { schemaVersion: JSON_SCHEMA_VERSION, role: "destination", ok: res.ok, resumed: res.resumed, error: res.error ?? null, rounds: res.rounds, pagesApplied: res.pagesApplied,
    digest: res.digest ?? null, verdict: res.verdict?.message ?? null, memoryVerified: res.memoryVerified, sourceCheck: res.sourceCheck ?? null,
    writesAfterResume: res.writesAfterResume, apics, apicTimersFired: timersFired, refused: res.refused, userDevices: user.json().destination };
  console.log(JSON.stringify(line));
  if (!res.ok) throw new CliError(`destination: ${res.error}`, res.verdict && !res.verdict.accept ? EXIT.verifyFailed : EXIT.failure);
  if (res.sourceCheck && res.sourceCheck.changedPages > 0) throw new CliError(`destination: ${res.error}`, EXIT.verifyFailed);
}

/** Start `vmdev migrate --listen 0` with the same machine config as a child; resolves with its port and a promise of its final JSON line. */
function startChildDestination(opts: Opts, config: ConfigTree): Promise<{ port: number; done: Promise<Record<string, unknown> | null>; kill(): void }> {
  const bin = fileURLToPath(new URL("../../bin/vmdev.js", import.meta.url));
  if (opts.tlsCert !== undefined) fail("default mode runs both sides here: give --tls-* to a --listen destination and a --connect source, each with its own certificate");
  const psk = opts.pskFile !== undefined ? ["--psk-file", opts.pskFile, ...(opts.pskIdentity !== undefined ? ["--psk-identity", opts.pskIdentity] : [])] : [];
  const devices = opts.device.flatMap((d) => ["--device", d]);
  const child = spawn(process.execPath, [bin, "migrate", "--listen", "0", "--run-after", opts.runAfter, ...psk, ...devices, ...configArgs(config)],
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


async function sourceRole(opts: Opts, config: ConfigTree): Promise<void> {
  const fill = num(opts.fill, "--fill", 0, 1);
  const mopts = migrateOptionsOf(opts);
  const log = (s: string) => { if (!opts.json) process.stderr.write(s + "\n"); };
  const module = await loadModule("release");
  const machine = await Machine.create(config, { module, variant: "release" });
  let user: UserDevices;
  let srcDevices: MigratableDevice[];
  try {
    user = await userDevices(opts);
    srcDevices = await user.source(machine.core, machine.stateDevices.map((d) => d.name));
  } catch (err) {
    await machine.destroy();
    throw err;
  }
  const src = srcDevices.length ? withDevices(new MachineSource(machine), srcDevices) : new MachineSource(machine);
  const ramBytes = machine.core.guest.size;
  fillRandom(machine.core, Math.floor((ramBytes * fill) / 4096) * 4096, 7);
  const apics = lapicSetOf(machine.core);
  const w = machine.workloads[0];
  let traffic: NetTraffic | undefined;
  let trafficError: string | undefined;
  let pcap: PcapFile | undefined;
  let final: NetTrafficStats | undefined;
  /** Requests unanswered when the vCPUs froze, and replies counted when the flow moved to the destination. */
  let inFlightAtFreeze: number | null = null, receivedAtResume: number | null = null;
  if (opts.traffic) {
    try {
      const peer = await createNetPeer({ module, variant: "release" });
      if (opts.pcap !== undefined) {
        try { pcap = openPcapFile(opts.pcap); } catch (e) { fail(`--pcap ${opts.pcap}: ${(e as Error).message}`); }
      }
      traffic = await startNetTraffic(machine, peer, { tap: pcap?.tap });
      // Frames are in flight before the first page moves.
      const until = performance.now() + 5000;
      while (traffic.stats().received < 200 && performance.now() < until) await new Promise((r) => setTimeout(r, 2));
    } catch (err) {
      await traffic?.stop({ drain: false });
      await pcap?.close().catch(() => {});
      await machine.destroy();
      throw err;
    }
  }
  log(`source VM ${machine.name}: ${ramBytes >> 20} MiB, ${machine.vcpus.count} vCPUs on ${machine.vcpus.threads} thread(s) dirtying ${w.rate ? `${w.rate} pages/s each` : "as fast as they can"} (${w.pattern}), devices: ${machine.devices.map((d) => d.name).join(", ")}`);

  let transport!: Transport;
  let destDone!: Promise<Record<string, unknown> | null>;
  let child: { kill(): void } | undefined;
  let inProcessDest: MachineDestination | undefined;
  try {
    if (opts.inProcess || opts.traffic) {
      const [a, b] = portPair();
      transport = a;
      const machineFactory = machineDestinationFactory(config, {
        module, variant: "release", onCreated: (d) => { inProcessDest = d; },
        // The destination runs the VM now: the traffic's machine end moves to it (its NIC state restored, guest RAM copied).
        onResume: (d) => {
          if (!traffic) return;
          receivedAtResume = traffic.stats().received;
          try { traffic.repoint(d.machine); } catch (e) { trafficError = `repoint: ${(e as Error).message}`; }
        },
      });
      const factory = opts.device.length ? withDestinationDevices(machineFactory, (d) => user.destination(d.core, d.devices.map((x) => x.name))) : machineFactory;
      destDone = receiveMigration(b, factory)
        .then((r) => ({ userDevices: user.json().destination, role: "destination", ok: r.ok, resumed: r.resumed, error: r.error ?? null, digest: r.digest ?? null, memoryVerified: r.memoryVerified, sourceCheck: r.sourceCheck ?? null }));
      log(opts.traffic
        ? `destination: a frozen Machine in this process (in-process transport, MessageChannel: the traffic's driver model lives here); frames flowing to a peer VM, ${traffic!.stats().received} answered so far`
        : "destination: a frozen Machine in this process (MessageChannel)");
    } else if (opts.connect !== undefined) {
      const { host, port } = hostPort(opts.connect, "--connect", 1);
      const auth = authOf(opts);
      transport = await connect(port, host, { auth });
      destDone = Promise.resolve(null);
      log(`destination: ${host}:${port}${auth ? ("psk" in auth ? " (TLS-PSK)" : " (TLS, certificates)") : ""}`);
    } else {
      const c = await startChildDestination(opts, config);
      child = c;
      transport = await connect(c.port, LOOPBACK, { auth: authOf(opts) });
      destDone = c.done;
      log(`destination: child process on 127.0.0.1:${c.port} (TCP), a frozen Machine from the same options`);
    }
  } catch (err) {
    child?.kill();
    await traffic?.stop({ drain: false });
    await pcap?.close().catch(() => {});
    await machine.destroy();
    throw err;
  }

  const bars = opts.json ? null : new cliProgress.MultiBar({
    format: "round {round} |{bar}| {value}/{total} pages | {mbps} MB/s | dirty {dirty} pages/s | ETA {eta}",
    hideCursor: true, clearOnComplete: false, stopOnComplete: false, stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  let bar: SingleBar | null = null;
  let barRound = -1;
  const eta = (msv: number) => (Number.isFinite(msv) ? `${(msv / 1000).toFixed(1)}s` : "-");
  // SIGINT cancels (before the commit point the source VM runs on); SIGUSR1 prints the status line.
  const interrupt = new AbortController();
  let session: MigrationSession | undefined;
  const onSigint = () => {
    interrupt.abort("interrupted (SIGINT)");
    const took = session?.status().cancelled ?? true;
    process.stderr.write(took ? "vmdev migrate: interrupted: cancelling, the source VM keeps running\n" : "vmdev migrate: interrupted: too late to cancel, the VM is committed to the destination\n");
  };
  const onSigusr1 = () => { if (session) process.stderr.write(statusLine(session.status()) + "\n"); };
  process.on("SIGINT", onSigint);
  process.on("SIGUSR1", onSigusr1);
  // The migration's events, for `trace migration` (the session exists once the migration starts).
  const migrationEvents = new EventTarget();
  let control: ControlServer | undefined;
  let report: MigrationReport;
  try {
    if (opts.control !== undefined) {
      control = await startControlServer(opts.control, machineControlTarget(() => machine, {
        status: () => ({ command: "migrate", role: "source", migration: session?.status() ?? null, traffic: traffic?.stats() ?? null }),
        events: { migration: { target: migrationEvents, types: Object.keys(MIGRATION_TRACE_CHANNELS) } },
        cancel: () => {
          const cancelled = session?.cancel("cancelled over the control channel") ?? false;
          return { cancelled, detail: cancelled ? "cancelling: the source VM keeps running" : "too late to cancel: the VM is committed to the destination (or the migration ended)" };
        },
      }));
      process.stderr.write(`control: ${control.path}\n`);
    }
    session = startMigration(src, transport, {
      ...mopts,
      signal: interrupt.signal,
      onFrozen: () => { if (traffic) inFlightAtFreeze = traffic.stats().inFlight; },
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
    for (const t of Object.keys(MIGRATION_TRACE_CHANNELS) as MigrationEventType[]) {
      session.events.addEventListener(t, (e) => { migrationEvents.dispatchEvent(new MigrationEvent(t, e.status, e.round)); });
    }
    report = await session.done;
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGUSR1", onSigusr1);
    await control?.close();
  }
  bars?.stop();
  const notes0: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const dest = await Promise.race([destDone, new Promise<null>((r) => { timer = setTimeout(() => r(null), 10_000); })]);
  clearTimeout(timer);
  if (inProcessDest?.resumed) await new Promise((r) => setTimeout(r, num(opts.runAfter, "--run-after", 0, 60_000)));
  child?.kill();
  if (traffic) {
    // Migrated: the flow runs on the destination (re-pointed at resume); failed: it ran on in the resumed source. Drain, then count.
    final = await traffic.stop();
    if (pcap) {
      await pcap.close();
      const c = pcap.writer.counters();
      notes0.push(`capture: ${c.frames} frames (${c.bytes} bytes) in ${pcap.path}${c.dropped ? `, ${c.dropped} dropped at the buffer bound` : ""}`);
      log(`pcap: ${c.frames} frames in ${pcap.path}${c.dropped ? ` (${c.dropped} dropped)` : ""}`);
    }
    // End to end: every request sent and never answered (dropped anywhere, in the NIC, on the link or in a migration).
    const nicFigure = report.framesLost;
    report.framesLost = final.lost;
    if (nicFigure) notes0.push(`NIC drops counted during the migration: ${nicFigure}`);
  }
  const apicNote = apics ? `${apics.bus.cpus} local APICs moved with the machine (guest clock carried)` : "no local APICs";
  if (inProcessDest?.resumed) user.inspect();
  user.resetAll();
  await machine.destroy();
  if (inProcessDest) {
    if (dest) dest.writesAfterResume = inProcessDest.machine.vcpuStats().reduce((a, s) => a + s.writes, 0);
    await inProcessDest.machine.destroy();
  }
  // Without traffic, report.framesLost is what the NICs counted (framesLost(), null with none); with it, the end-to-end figure above.
  const notes = [...notes0, `vm: Machine with ${machine.vcpus.count} vCPUs on ${machine.vcpus.threads} thread(s); ${apicNote}`];
  if (dest && typeof dest.writesAfterResume === "number") notes.push(`destination: resumed and made ${dest.writesAfterResume} vCPU writes in ${opts.runAfter} ms`);
  if (final) {
    notes.push(`frames over virtio-net to the peer VM: ${final.sent} sent, ${final.received} answered, lost ${final.lost}, duplicated ${final.duplicated}, out of order ${final.outOfOrder}; ` +
      `${inFlightAtFreeze ?? 0} in flight at the freeze; ` +
      `${final.repoints ? `moved to the destination at resume, ${final.received - receivedAtResume!} answered there` : "stayed on the source"}`);
  }
  const trafficJson = final ? { sent: final.sent, received: final.received, lost: final.lost, duplicated: final.duplicated, outOfOrder: final.outOfOrder,
    inFlightAtFreeze, movedToDestination: final.repoints > 0, receivedOnDestination: final.repoints > 0 ? final.received - receivedAtResume! : 0 } : null;
  // The report first: the digest line stays the last one printed.
  if (opts.report !== false) {
    writeFileSync(opts.report, htmlReport(report, notes));
    log(`report: ${opts.report}`);
  }
  if (opts.json) {
    const pcapJson = pcap ? { file: pcap.path, ...pcap.writer.counters() } : null;
    console.log(jsonDocument({ ...jsonSummary(report), destination: dest, traffic: trafficJson, pcap: pcapJson, userDevices: user.json().source }, 1));
  } else {
    for (const l of summaryLines(report, notes)) console.log(l);
    const frames = final ? `; frames lost: ${final.lost} (${final.sent} sent, ${final.received} received, ${final.duplicated} duplicated)` : "";
    // The claim only where it was proven (full or deferred verify); sent mode says what it checked and what not.
    if (report.verified && report.verifyMode === "deferred") console.log(`destination memory equals source memory: digest ${report.digest} on both sides, and the frozen source's RAM hashed after resume equals the pages sent (deferred verify)${frames}`);
    else if (report.verified) console.log(`destination memory equals source memory: digest ${report.digest} on both sides (full: all guest RAM hashed on both sides)${frames}`);
    else if (report.ok && report.verifyMode !== "sent") console.log(`NOT VERIFIED: ${report.integrityError ?? "the source's check of its memory after resume did not complete"}${frames}`);
    else if (report.ok) console.log(`destination holds every page as the source sent it: digest ${report.digest} (sent-page check; source memory not read again, writes that escaped dirty tracking not checked)${frames}`);
  }
  if (trafficError) throw new CliError(`traffic: ${trafficError}`, EXIT.failure);
  if (report.cancelled) {
    process.stderr.write(`vmdev migrate: ${report.error} in ${report.failedPhase}; the source VM ran on, the destination discarded the VM\n`);
    process.exitCode = EXIT.interrupted;
    return;
  }
  if (!report.ok) {
    throw new CliError(`migration failed in ${report.failedPhase}: ${report.error}; ${report.running === "source" ? "the source VM is running again" : "the source VM stays frozen"}`,
      report.failedPhase === "verify" ? EXIT.verifyFailed : EXIT.failure);
  }
  if (final && (final.lost > 0 || final.duplicated > 0)) throw new CliError(`traffic: ${final.lost} frames lost, ${final.duplicated} duplicated across the migration`, EXIT.verifyFailed);
  if (report.verifyMode === "deferred" && !report.verified) {
    throw new CliError(`migration completed but memory is not verified: ${report.integrityError ?? "the source's check after resume did not complete"}; the destination runs, the source stays frozen`, EXIT.verifyFailed);
  }
}

/** One line of a migration's status (SIGUSR1). */
export function statusLine(s: MigrationStatus): string {
  return `status: ${s.phase}${s.ok === null ? "" : s.ok ? " (ended: ok)" : " (ended: failed)"}, round ${s.round}, ${s.pagesDone}/${s.pagesInRound} pages, ${(s.bytesSent / 1e6).toFixed(1)} MB sent, ` +
    `${s.dirtyPages} pages dirty, throttle ${Math.round(s.throttle * 100)} %, ${(s.elapsedMs / 1000).toFixed(1)} s${s.cancelled ? ", cancelling" : ""}`;
}
