// `vmdev run`: start a machine from a config file and/or -o options, run its
// vCPU workers dirtying guest memory, freeze it (the write lock) and resume
// it, and print what happened. `--dump-config` prints the effective config
// (defaults included); `--inspect` dumps every device while the machine is frozen.
// `--traffic` adds a virtio-net exchanging frames with a peer VM (the driver
// model); `--control PATH` serves the control channel (src/control/) while it
// runs. SIGINT ends the run early and cleanly (exit status 130).
import { Command, Option } from "./deps.js";
import { ConfigTree } from "../config/tree.js";
import { applyCpusArg, applyDeviceArg, applyMemoryArg } from "../config/legacy.js";
import { Machine, createDefaultRegistry, effectiveConfig, validateConfig } from "../machine/machine.js";
import type { WasmVariant } from "../wasm.js";
import { formatInspection, inspectDevice, type LiveDeviceDump } from "../inspect/index.js";
import type { DeviceRegistry } from "../machine/registry.js";
import { findSpec } from "../config/schema.js";
import { CliError, EXIT, formatBytes, jsonDocument, numberOption, readFileOption, sizeOption } from "./common.js";
import { startControlServer, type ControlServer } from "../control/server.js";
import { machineControlTarget } from "../control/machine-target.js";
import { createNetPeer, startNetTraffic, type NetTraffic } from "../guest/traffic.js";
import { trafficConfig } from "./traffic-config.js";

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

interface RunOpts { option: string[]; config?: string; slot: string[]; ram?: string; memory?: string; cpus?: string; duration: string; freezeMs: string; dumpConfig?: boolean; json?: boolean; inspect?: boolean; variant: WasmVariant; control?: string; traffic?: boolean }

/**
 * Build the config tree the way bhyve does: `defaults` (a command's own
 * scenario), then the file, then shorthands, then -o (last write wins).
 * `ram` (`-m`/`--ram`) is checked by the CLI's size parser, naming the flag.
 */
export function configFromArgs(opts: { option?: string[]; config?: string; slot?: string[]; ram?: string; memory?: string; cpus?: string; name?: string; defaults?: Record<string, string> }): ConfigTree {
  const registry = createDefaultRegistry();
  const tree = new ConfigTree();
  for (const [k, v] of Object.entries(opts.defaults ?? {})) tree.set(k, v);
  if (opts.config) tree.load(readFileOption(opts.config, "-f/--config").toString("utf8"), opts.config);
  if (opts.name) tree.set("name", opts.name);
  const ram = opts.ram ?? opts.memory;
  if (ram !== undefined) {
    sizeOption(ram, opts.ram !== undefined ? "-m/--ram" : "--memory");
    applyMemoryArg(tree, ram);
  }
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

/**
 * The effective config with every default filled in: the machine's keys
 * (effectiveConfig) and each PCI device's own keys. The result is a config
 * file `-f` reads back to the same machine.
 */
export function configWithDefaults(tree: ConfigTree, registry: DeviceRegistry = createDefaultRegistry()): ConfigTree {
  const out = effectiveConfig(tree);
  for (const key of tree.keys()) {
    const m = /^(pci\.\d+\.\d+\.\d+)\.device$/.exec(key);
    const factory = m ? registry.get(tree.get(key)!) : undefined;
    if (!m || !factory) continue;
    for (const spec of factory.keys) {
      const k = `${m[1]}.${spec.pattern}`;
      if (!spec.pattern.includes("*") && spec.default !== undefined && !tree.has(k)) out.set(k, spec.default);
    }
  }
  for (const f of [...registry.vcpuDevices(), ...registry.platformDevices()]) {
    for (const spec of f.keys) {
      const k = `${f.name}.${spec.pattern}`;
      if (!spec.pattern.includes("*") && spec.default !== undefined && !tree.has(k) && findSpec(f.keys, spec.pattern)) out.set(k, spec.default);
    }
  }
  return out;
}

/** The `vmdev run` subcommand. */
export function runCommand(): Command {
  return new Command("run")
    .description("start a machine, run its vCPUs dirtying guest memory, freeze and resume it, print stats")
    .argument("[name]", "the VM's name (sets the 'name' key)")
    .option("-o, --option <key=value>", "set a config key (repeatable; last write wins)", collect, [])
    .option("-f, --config <file>", "read key=value lines from a config file first")
    .option("-s, --slot <slot,emulation[,conf]>", "legacy device shorthand, e.g. 3,memtest,size=64K (repeatable)", collect, [])
    .option("-m, --ram <size>", "guest RAM (memory.size): 64M, 1G, 1GiB or bytes")
    .addOption(new Option("--memory <size>", "the same as --ram").hideHelp())
    .option("-c, --cpus <n>", "number of vCPUs (cpus)")
    .option("--duration <ms>", "how long the vCPUs run in total", "1000")
    .option("--freeze-ms <ms>", "how long the machine stays write-locked in the middle of the run", "100")
    .option("--dump-config", "print the effective configuration and exit")
    .option("--json", "print the stats as JSON")
    .option("--inspect", "while frozen, dump every device's state (vmdev inspect's form, rings read from guest RAM)")
    .addOption(new Option("--variant <build>", "wasm build").choices(["release", "debug"]).default("release"))
    .option("--traffic", "add guest traffic: a virtio-net (unless the config has one) exchanging frames with a peer VM through the driver model")
    .option("--control <path>", "serve the control channel on this local socket while running (status, counters, inspect DEVICE, trace DEVICE; newline-delimited JSON)")
    .addHelpText("after", `
Examples:
  vmdev run -m 256M -c 2                       2 vCPUs dirtying 256 MiB of guest RAM
  vmdev run -s 3,virtio-net,mac=52:54:00:12:34:56 --inspect
  vmdev run -f vm.conf -o cpus=4 --json        a config file, one key overridden, JSON stats
  vmdev run -s 3,e1000 --dump-config           every key the machine would use, defaults included
  vmdev run --traffic --control /tmp/vm.sock --duration 60000   then: vmdev inspect --control /tmp/vm.sock virtio-net0`)
    .action(async (name: string | undefined, opts: RunOpts) => {
      // A ConfigError (from the tree, or what only the machine can check, its memory budget) is a usage error: main maps it.
      const tree = configFromArgs({ ...opts, name });
      if (opts.traffic) trafficConfig(tree);
      if (opts.dumpConfig) { process.stdout.write(configWithDefaults(tree).dump()); return; }
      const duration = numberOption(opts.duration, "--duration", 1, 3_600_000), freezeMs = numberOption(opts.freezeMs, "--freeze-ms", 0, 3_600_000);
      const t0 = performance.now();
      const m = await Machine.create(tree, { variant: opts.variant });
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
        process.exitCode = EXIT.interrupted;
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
        if (opts.json) {
          const rate = (r: typeof first) => ({ intervalMs: r.intervalMs, pageWritesPerSec: r.total.writesPerSec, bytesPerSec: r.total.bytesPerSec });
          console.log(jsonDocument({
            name: m.name, ramBytes: m.core.guest.size, durationMs: duration, freezeMs, startMs, freezeLatencyMs: freezeLatency, ramUnchangedWhileLocked: unchanged,
            firstHalf: rate(first), secondHalf: rate(second),
            vcpus: stats.map((s) => ({ index: s.index, thread: s.thread, state: s.state, pageWrites: s.writes, bytesWritten: s.bytes, runMs: s.runMs, sleepMs: s.sleepMs, exits: s.exits })),
            lock: ls, ...(dumps ? { devices: dumps } : {}),
          }));
        }
        if (!unchanged) throw new CliError(`guest RAM changed while the machine was write-locked (${formatBytes(m.core.guest.size)} hashed before and after)`, EXIT.verifyFailed);
      } finally {
        phase = "stopping";
        process.off("SIGINT", onSigint);
        await control?.close();
        await traffic?.stop({ drain: false });
        await m.destroy();
      }
    });
}
