// `vmdev migrate --v86 V86CONFIG.json`: live-migrate a v86 guest with its
// vmdev NICs between two processes (src/adapters/v86/migration.ts).
//
// Source (`--connect [HOST:]PORT`): boot v86 from the config, wait for a
// serial console line (`wait_serial`), migrate. Destination (`--listen`): a
// fresh v86 from the same config, not started, its NICs attached; it
// resumes the guest and lets it run `--run-after` ms (until SIGTERM with
// `--run-after 0`). Frames reach peers across processes through v86's own
// network backend, the config's `net_device` (e.g. `relay_url: "ws://…"`).
//
// The config (paths relative to the file):
//   { "memory_size": 134217728, "bios": "bios.bin", "bzimage": "vmlinuz", "initrd": "initramfs.cpio",
//     "cmdline": "console=ttyS0", "hda_blank_bytes": 1048576,
//     "nics": [{ "model": "virtio", "mac": "52:54:00:12:34:56", "name": "net0" }],
//     "net_device": { "relay_url": "ws://127.0.0.1:8080/" }, "wait_serial": "login:", "v86": { … } }

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { loadModule } from "../load-node.js";
import { attachV86Nic, type V86Nic, type V86NicModel } from "../adapters/v86/attach.js";
import { v86DestinationFactory, v86MigrationSource, type V86Destination, type V86Source } from "../adapters/v86/migration.js";
import type { V86Emulator } from "../adapters/v86/types.js";
import { receiveMigration } from "../migration/destination.js";
import { startMigration } from "../migration/source.js";
import { connect, listen } from "../migration/transport.js";
import { htmlReport, jsonSummary, summaryLines } from "../migration/report.js";
import type { MigrationReport } from "../migration/types.js";
import { CliError, EXIT, jsonDocument, usage } from "./common.js";
import { authOf, hostPort, migrateOptionsOf, type Opts } from "./migrate-options.js";

/** A v86 machine as `--v86` reads it (see the top of this file). */
export interface V86JobConfig {
  memory_size: number;
  vga_memory_size?: number;
  bios: string;
  vga_bios?: string;
  bzimage?: string;
  initrd?: string;
  cmdline?: string;
  /** A blank hard disk of this many bytes (v86 restores a machine only with a drive on its IDE controller). */
  hda_blank_bytes?: number;
  nics: Array<{ model: V86NicModel; mac: string; name?: string }>;
  /** v86's network backend on the far side of its network bus (v86 `net_device` options, without `type`). */
  net_device?: Record<string, unknown>;
  /** Source: migrate once a serial console line matches this regular expression. */
  wait_serial?: string;
  /** Source: give up waiting for `wait_serial` after this many ms (default 600000). */
  wait_serial_ms?: number;
  /** More v86 constructor options, applied last. */
  v86?: Record<string, unknown>;
}

const MODELS: readonly V86NicModel[] = ["virtio", "e1000", "ne2k"];

/** Read and check a `--v86` config (a usage error names what is wrong). */
export function readV86Config(path: string): { cfg: V86JobConfig; dir: string } {
  let cfg: V86JobConfig;
  try { cfg = JSON.parse(readFileSync(path, "utf8")) as V86JobConfig; } catch (e) { return usage(`--v86 ${path}: ${(e as Error).message}`); }
  const bad = (what: string): never => usage(`--v86 ${path}: ${what}`);
  if (!cfg || typeof cfg !== "object") bad("not a JSON object");
  if (!Number.isInteger(cfg.memory_size) || cfg.memory_size < 1 << 20 || cfg.memory_size % 4096 !== 0) bad("memory_size: want bytes, a multiple of 4096, at least 1 MiB");
  if (typeof cfg.bios !== "string") bad("bios: want a file path");
  for (const k of ["vga_bios", "bzimage", "initrd", "cmdline", "wait_serial"] as const) if (cfg[k] !== undefined && typeof cfg[k] !== "string") bad(`${k}: want a string`);
  if (cfg.hda_blank_bytes !== undefined && (!Number.isInteger(cfg.hda_blank_bytes) || cfg.hda_blank_bytes <= 0 || cfg.hda_blank_bytes % 512 !== 0)) bad("hda_blank_bytes: want a positive multiple of 512");
  if (!Array.isArray(cfg.nics) || cfg.nics.length === 0) bad("nics: want at least one { model, mac }");
  for (const n of cfg.nics) if (!n || !MODELS.includes(n.model) || typeof n.mac !== "string") bad(`nics: each wants model (${MODELS.join(", ")}) and mac`);
  if (cfg.wait_serial !== undefined) { try { new RegExp(cfg.wait_serial); } catch (e) { bad(`wait_serial: ${(e as Error).message}`); } }
  return { cfg, dir: dirname(resolve(path)) };
}

interface Booted { emulator: V86Emulator & { destroy(): Promise<void> }; nics: V86Nic[]; serial: string[]; waitSerial(re: RegExp, ms: number): Promise<void> }

/** v86 from the config, its NICs attached before its first instruction; started only when `start`. */
async function createV86(cfg: V86JobConfig, dir: string, start: boolean): Promise<Booted> {
  const file = (p: string) => { const b = readFileSync(resolve(dir, p)); return { buffer: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) }; };
  let V86: new (o: Record<string, unknown>) => unknown;
  try { ({ V86 } = (await import("v86")) as unknown as { V86: typeof V86 }); } catch { throw new CliError("--v86 needs the v86 package (npm install v86)", EXIT.failure); }
  // v86's relay backend uses the global WebSocket, which Node 20 lacks.
  const g = globalThis as { WebSocket?: unknown };
  if (!g.WebSocket) g.WebSocket = (await import("ws")).WebSocket;
  const wasm = createRequire(import.meta.url).resolve("v86/build/v86.wasm");
  const emulator = new V86({
    wasm_path: wasm,
    bios: file(cfg.bios),
    ...(cfg.vga_bios ? { vga_bios: file(cfg.vga_bios) } : {}),
    ...(cfg.bzimage ? { bzimage: file(cfg.bzimage) } : {}),
    ...(cfg.initrd ? { initrd: file(cfg.initrd) } : {}),
    ...(cfg.cmdline ? { cmdline: cfg.cmdline } : {}),
    memory_size: cfg.memory_size,
    vga_memory_size: cfg.vga_memory_size ?? 2 << 20,
    ...(cfg.hda_blank_bytes ? { hda: { buffer: new ArrayBuffer(cfg.hda_blank_bytes) } } : {}),
    // A net_device without `type`: v86 builds no NIC of its own; its backend carries the vmdev NICs' frames.
    net_device: { ...(cfg.net_device ?? {}) },
    autostart: false, disable_keyboard: true, disable_mouse: true, disable_speaker: true,
    ...(cfg.v86 ?? {}),
  }) as V86Emulator & { destroy(): Promise<void>; add_listener(e: string, f: (x: never) => void): void };
  const serial: string[] = [];
  const waiters: Array<{ re: RegExp; done: () => void }> = [];
  let partial = "";
  emulator.add_listener("serial0-output-byte", ((byte: number) => {
    if (byte === 10) {
      serial.push(partial);
      if (serial.length > 1000) serial.shift();
      for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i].re.test(partial)) { waiters[i].done(); waiters.splice(i, 1); }
      partial = "";
    } else if (byte !== 13) partial += String.fromCharCode(byte);
  }) as (x: never) => void);
  const ready = new Promise<void>((r) => emulator.add_listener("emulator-ready", (() => r()) as (x: never) => void));
  const module = await loadModule("release");
  const nics: V86Nic[] = [];
  for (const [i, n] of cfg.nics.entries()) nics.push(await attachV86Nic(emulator, { nic: n.model, mac: n.mac, name: n.name ?? `net${i}`, netId: i }, () => Promise.resolve(module)));
  await ready;
  // v86's relay backend connects on the guest's first frame; a destination's guest sends none until
  // it runs, and frames for it until then would be lost: connect now.
  (emulator as { network_adapter?: { connect?(): void } }).network_adapter?.connect?.();
  if (start) await emulator.run!();
  return {
    emulator, nics, serial,
    waitSerial: (re, ms) => (serial.some((l) => re.test(l)) ? Promise.resolve() : new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new CliError(`no serial console line matching ${re} within ${ms} ms; last lines:\n${serial.slice(-10).join("\n")}`, EXIT.failure)), ms);
      waiters.push({ re, done: () => { clearTimeout(t); res(); } });
    })),
  };
}

async function destroy(b: Booted | null): Promise<void> {
  if (!b) return;
  await b.emulator.stop?.();
  for (const n of b.nics) n.destroy();
  await b.emulator.destroy().catch(() => {});
}

/** The v86 figures the report adds to the engine's. */
function v86Notes(src: V86Source, r: MigrationReport): string[] {
  const syncs = src.syncs.slice(1);
  const pre = r.roundStats.filter((s) => s.round > 0 && !s.final);
  return [
    `v86 guest: ${r.ramBytes >> 20} MiB RAM; dirty pages found by the RAM mirror: ${pre.map((s) => s.pages).join(", ") || "-"} (pre-copy rounds), ${r.roundStats.find((s) => s.final)?.pages ?? "-"} (under the freeze)`,
    `RAM mirror: ${syncs.length} syncs, ${(syncs.reduce((a, s) => a + s.ms, 0) / Math.max(1, syncs.length)).toFixed(1)} ms each on average (${((syncs.reduce((a, s) => a + s.ms, 0) / Math.max(1, syncs.reduce((a, s) => a + s.pages, 0))) * 1e6).toFixed(0)} ns per page); first fill ${src.syncs[0]?.ms.toFixed(1) ?? "-"} ms`,
    "v86 throttle: none (v86 cannot slow its CPU short of stopping it; auto-converge off)",
  ];
}

/** `vmdev migrate --v86 CONFIG --connect [HOST:]PORT`. */
export async function v86SourceRole(opts: Opts & { v86: string; connect?: string }): Promise<void> {
  const connectTo = opts.connect ?? usage("--v86: give --connect [HOST:]PORT (the source) or --listen [HOST:]PORT (the destination, with the same config)");
  const { cfg, dir } = readV86Config(opts.v86);
  const { host, port } = hostPort(connectTo, "--connect", 1);
  const mopts = { ...migrateOptionsOf(opts), autoConverge: false };
  const log = (s: string) => { if (!opts.json) process.stderr.write(s + "\n"); };
  let booted: Booted | null = null;
  let report: MigrationReport;
  let src: V86Source;
  try {
    booted = await createV86(cfg, dir, true);
    if (cfg.wait_serial) await booted.waitSerial(new RegExp(cfg.wait_serial), cfg.wait_serial_ms ?? 600_000);
    src = await v86MigrationSource(booted.emulator, booted.nics, { module: await loadModule("release") });
    log(`source: v86 with ${cfg.memory_size >> 20} MiB, NICs ${booted.nics.map((n) => `${n.device.name} (${n.model})`).join(", ")}; RAM mirror filled in ${src.syncs[0].ms.toFixed(1)} ms`);
    const transport = await connect(port, host, { auth: authOf(opts) });
    report = await startMigration(src, transport, mopts).done;
  } catch (err) {
    await destroy(booted);
    throw err;
  }
  const notes = v86Notes(src, report);
  if (opts.json) process.stdout.write(jsonDocument({ ...jsonSummary(report), v86: { ramBytes: cfg.memory_size, mirrorSyncs: src.syncs, notes } }) + "\n");
  else for (const l of summaryLines(report, notes)) console.log(l);
  if (opts.report !== false) writeFileSync(opts.report, htmlReport(report, notes));
  await destroy(booted);
  if (!report.ok) throw new CliError(`migration failed: ${report.error}`, report.failedPhase === "verify" ? EXIT.verifyFailed : EXIT.failure);
  if (!report.verified) throw new CliError(`migration not verified: ${report.integrityError ?? "memory not proven equal"}`, EXIT.verifyFailed);
}

/** `vmdev migrate --v86 CONFIG --listen [HOST:]PORT`. */
export async function v86DestinationRole(opts: Opts & { v86: string; listen: string }): Promise<void> {
  const { cfg, dir } = readV86Config(opts.v86);
  const { host, port } = hostPort(opts.listen, "--listen", 0);
  const auth = authOf(opts);
  const runAfter = Number(opts.runAfter);
  if (!Number.isFinite(runAfter) || runAfter < 0) usage(`--run-after ${opts.runAfter}: want milliseconds ≥ 0`);
  const booted = await createV86(cfg, dir, false);
  let dest: V86Destination | null = null;
  try {
    const d = v86DestinationFactory(booted.emulator, booted.nics, { module: await loadModule("release") });
    const l = await listen(port, { host, auth });
    console.log(`listening ${l.host}:${l.port}`);
    const t = await l.accept();
    const res = await receiveMigration(t, d.factory, {
      onEvent: (what, detail) => { if (what === "resumed") console.log(JSON.stringify({ event: "resumed", ramCopyMs: d.destination()?.ramCopyMs ?? null, ...detail })); },
    });
    l.close();
    dest = d.destination();
    const nic = booted.nics.map((n) => ({ name: n.device.name, link: n.link.counters() }));
    console.log(JSON.stringify({ role: "destination", v86: true, ok: res.ok, resumed: res.resumed, error: res.error ?? null, rounds: res.rounds, pagesApplied: res.pagesApplied,
      memoryVerified: res.memoryVerified, sourceCheck: res.sourceCheck ?? null, ramCopyMs: dest?.ramCopyMs ?? null, ramTouchMs: dest?.ramTouchMs ?? null, framesDiscardedAtRestore: dest?.state.discardedAtRestore ?? null, nics: nic }));
    if (res.resumed) {
      // The guest runs here now: for --run-after ms, or (0) until SIGTERM.
      await new Promise<void>((r) => {
        const done = () => { process.off("SIGTERM", done); r(); };
        process.on("SIGTERM", done);
        if (runAfter > 0) setTimeout(done, runAfter);
      });
      console.log(JSON.stringify({ role: "destination", event: "exit", serialTail: booted.serial.slice(-5), nics: booted.nics.map((n) => ({ name: n.device.name, link: n.link.counters() })) }));
    }
    if (!res.ok) throw new CliError(`destination: ${res.error}`, res.verdict && !res.verdict.accept ? EXIT.verifyFailed : EXIT.failure);
    if (res.sourceCheck && res.sourceCheck.changedPages > 0) throw new CliError(`destination: ${res.error}`, EXIT.verifyFailed);
  } finally {
    await destroy(booted);
  }
}
