// `vmdev run`: start a machine from a config file and/or -o options, run its
// vCPU workers dirtying guest memory, freeze it (the write lock) and resume
// it, and print what happened. `--dump-config` prints the effective config;
// `--inspect` dumps every device while the machine is frozen. `--traffic`
// adds a virtio-net exchanging frames with a peer VM (the driver model);
// `--control PATH` serves the control channel (src/control/) while it runs.
// SIGINT ends the run early and cleanly (exit status 130).
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { ConfigTree, ConfigError } from "../config/tree.js";
import { applyCpusArg, applyDeviceArg, applyMemoryArg } from "../config/legacy.js";
import { Machine, createDefaultRegistry, effectiveConfig, validateConfig } from "../machine/machine.js";
import type { WasmVariant } from "../wasm.js";
import { formatInspection, inspectDevice, type LiveDeviceDump } from "../inspect/index.js";
import { startControlServer, type ControlServer } from "../control/server.js";
import { machineControlTarget } from "../control/machine-target.js";
import { createNetPeer, startNetTraffic, type NetTraffic } from "../guest/traffic.js";

/** Exit status of a command ended by SIGINT (128 + 2, as shells report it). */
export const EXIT_INTERRUPTED = 130;

const collect = (v: string, prev: string[]) => [...prev, v];
/** Sleep `ms`, or less if `signal` aborts first. */
const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((r) => {
  if (signal?.aborted) { r(); return; }
  const t = setTimeout(done, ms);
  function done() { clearTimeout(t); signal?.removeEventListener("abort", done); r(); }
  signal?.addEventListener("abort", done, { once: true });
});
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
/** Most vCPUs `vmdev run` prints a line each for. */
const PER_VCPU_LINES = 16;

interface RunOpts { option: string[]; config?: string; slot: string[]; memory?: string; cpus?: string; duration: string; freezeMs: string; dumpConfig?: boolean; json?: boolean; inspect?: boolean; variant: WasmVariant; control?: string; traffic?: boolean }

/**
 * Build the config tree the way bhyve does: `defaults` (a command's own
 * scenario), then the file, then shorthands, then -o (last write wins).
 */
export function configFromArgs(opts: { option?: string[]; config?: string; slot?: string[]; memory?: string; cpus?: string; name?: string; defaults?: Record<string, string> }): ConfigTree {
  const registry = createDefaultRegistry();
  const tree = new ConfigTree();
  for (const [k, v] of Object.entries(opts.defaults ?? {})) tree.set(k, v);
  if (opts.config) tree.load(readFileSync(opts.config, "utf8"), opts.config);
  if (opts.name) tree.set("name", opts.name);
  if (opts.memory) applyMemoryArg(tree, opts.memory);
  if (opts.cpus) applyCpusArg(tree, opts.cpus);
  for (const s of opts.slot ?? []) applyDeviceArg(tree, s, registry.positional);
  for (const o of opts.option ?? []) tree.assign(o);
  validateConfig(tree, registry);
  return tree;
}

/** Device names for one line: a run of three or more numbered alike (lapic0, lapic1, …) as its first and last. */
export function deviceList(names: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < names.length;) {
    const m = /^(.*?)(\d+)$/.exec(names[i]);
    let j = i + 1;
    if (m) while (j < names.length && names[j] === `${m[1]}${Number(m[2]) + (j - i)}`) j++;
    if (j - i >= 3) out.push(`${names[i]}…${names[j - 1]}`);
    else out.push(...names.slice(i, j));
    i = j;
  }
  return out.join(", ");
}

/** The `vmdev run` subcommand. */
export function runCommand(): Command {
  return new Command("run")
    .description("start a machine, run its vCPUs dirtying guest memory, freeze and resume it, print stats")
    .argument("[name]", "the VM's name (sets the 'name' key)")
    .option("-o, --option <key=value>", "set a config key (repeatable; last write wins)", collect, [])
    .option("-f, --config <file>", "read key=value lines from a config file first")
    .option("-s, --slot <slot,emulation[,conf]>", "legacy device shorthand, e.g. 3,memtest,size=64K (repeatable)", collect, [])
    .option("-m, --memory <size>", "guest RAM (memory.size), e.g. 256M")
    .option("-c, --cpus <n>", "number of vCPUs (cpus)")
    .option("--duration <ms>", "how long the vCPUs run in total", "1000")
    .option("--freeze-ms <ms>", "how long the machine stays write-locked in the middle of the run", "100")
    .option("--dump-config", "print the effective configuration and exit")
    .option("--json", "print the stats as JSON")
    .option("--inspect", "while frozen, dump every device's state (vmdev inspect's form, rings read from guest RAM)")
    .addOption(new Option("--variant <build>", "wasm build").choices(["release", "debug"]).default("release"))
    .option("--traffic", "add guest traffic: a virtio-net (unless the config has one) exchanging frames with a peer VM through the driver model")
    .option("--control <path>", "serve the control channel on this local socket while running (status, counters, inspect DEVICE, trace DEVICE; newline-delimited JSON)")
    .action(async (name: string | undefined, opts: RunOpts) => {
      let tree: ConfigTree;
      try {
        tree = configFromArgs({ ...opts, name });
      } catch (e) {
        if (e instanceof ConfigError) { process.stderr.write(`vmdev run: ${e.message}\n`); process.exitCode = 2; return; }
        throw e;
      }
      if (opts.traffic) (await import("./migrate.js")).trafficConfig(tree);
      if (opts.dumpConfig) { process.stdout.write(effectiveConfig(tree).dump()); return; }
      const duration = Number(opts.duration), freezeMs = Number(opts.freezeMs);
      if (!(duration > 0) || !(freezeMs >= 0)) throw new Error("--duration must be > 0 and --freeze-ms ≥ 0");
      const t0 = performance.now();
      let m: Machine;
      try {
        m = await Machine.create(tree, { variant: opts.variant });
      } catch (e) {
        // What only the machine can check (its memory budget) is a config error too.
        if (e instanceof ConfigError) { process.stderr.write(`vmdev run: ${e.message}\n`); process.exitCode = 2; return; }
        throw e;
      }
      const interrupted = new AbortController();
      const onSigint = () => interrupted.abort();
      process.once("SIGINT", onSigint);
      let phase = "starting";
      let traffic: NetTraffic | undefined;
      let control: ControlServer | undefined;
      const say = (s: string) => { if (!opts.json) console.log(s); };
      /** SIGINT came: the run ends here, cleanly (the finally below tears down). */
      const stopped = () => {
        if (!interrupted.signal.aborted) return false;
        process.stderr.write(`vmdev run: interrupted (${phase}); machine stopped\n`);
        process.exitCode = EXIT_INTERRUPTED;
        return true;
      };
      try {
        const startMs = performance.now() - t0;
        m.core.dirty.enable();
        if (opts.traffic) traffic = await startNetTraffic(m, await createNetPeer({ variant: opts.variant }));
        if (opts.control !== undefined) {
          control = await startControlServer(opts.control, machineControlTarget(() => m, {
            status: () => ({ command: "run", phase, uptimeMs: Math.round(performance.now() - t0), traffic: traffic?.stats() ?? null }),
          }));
        }
        phase = "running";
        say(`machine ${m.name}: ${mb(m.core.guest.size)} MiB RAM, ${m.vcpus.count} vCPU(s) on ${m.vcpus.threads} thread(s), devices: ${deviceList(m.devices.map((d) => d.name)) || "none"} (started in ${startMs.toFixed(0)} ms)`);
        if (control) say(`control: ${control.path}`);
        await sleep(duration / 2, interrupted.signal);
        if (stopped()) return;
        const first = m.sampleDirtyRate();
        const tl = performance.now();
        const release = await m.writeLock();
        phase = "frozen";
        const freezeLatency = performance.now() - tl;
        // Harvest under the lock: afterwards nothing may mark a page until release.
        const dirtyBefore = m.core.dirty.harvestEach(() => {});
        const hash = m.ramHash();
        await sleep(freezeMs, interrupted.signal);
        const unchanged = m.ramHash() === hash && m.core.dirty.count() === 0;
        // Frozen: every device's state is of one instant (saving is what migration does under this lock).
        const dumps: LiveDeviceDump[] | undefined = opts.inspect && !interrupted.signal.aborted ? await inspectDevice(m) : undefined;
        release();
        phase = "running";
        if (stopped()) return;
        if (dumps && !opts.json) for (const d of dumps) say(`device ${d.name}:\n${formatInspection(d.state, "  ")}`);
        say(`first half: ${(first.total.writesPerSec / 1e6).toFixed(2)} M page writes/s, ${dirtyBefore} distinct pages dirtied`);
        say(`write lock: all vCPUs frozen and leases broken in ${freezeLatency.toFixed(2)} ms; held ${freezeMs} ms; guest RAM ${unchanged ? "unchanged (XXH64 and dirty bitmap)" : "CHANGED — invariant violated"}`);
        m.sampleDirtyRate();
        await sleep(duration / 2, interrupted.signal);
        if (stopped()) return;
        const second = m.sampleDirtyRate();
        say(`resumed: ${(second.total.writesPerSec / 1e6).toFixed(2)} M page writes/s, ${m.core.dirty.count()} distinct pages dirty since`);
        const stats = m.vcpuStats();
        // One line per vCPU up to a screenful; past that the spread over all of them.
        if (stats.length <= PER_VCPU_LINES) {
          for (const s of stats) say(`  vCPU ${s.index}: ${s.writes} writes (${mb(s.bytes)} MiB), ran ${s.runMs.toFixed(0)} ms, slept ${s.sleepMs.toFixed(0)} ms, ${s.exits} exits, ${s.state}`);
        } else {
          const w = stats.map((s) => s.writes);
          const states = [...new Set(stats.map((s) => s.state))].join("/");
          say(`  ${stats.length} vCPUs: ${w.reduce((a, b) => a + b, 0)} writes (fewest ${Math.min(...w)}, most ${Math.max(...w)}; ${w.filter((x) => x === 0).length} wrote nothing), ${stats.reduce((a, s) => a + s.exits, 0)} exits, ${states}`);
        }
        const ls = m.lock.stats();
        say(`lock: ${ls.writeLocks} write, ${ls.readLocks} read, leases ${ls.leasesSigned} signed / ${ls.leasesBroken} broken, ${ls.timeouts} timeouts`);
        if (opts.json) console.log(JSON.stringify({ name: m.name, freezeLatencyMs: freezeLatency, ramUnchangedWhileLocked: unchanged, firstHalf: first.total, secondHalf: second.total, vcpus: stats, lock: ls, ...(dumps ? { devices: dumps } : {}) }, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2));
        if (!unchanged) process.exitCode = 1;
      } finally {
        phase = "stopping";
        process.off("SIGINT", onSigint);
        await control?.close();
        await traffic?.stop({ drain: false });
        await m.destroy();
      }
    });
}
