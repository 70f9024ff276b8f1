// Dirty detection for an emulator whose CPU writes vmdev cannot see (v86):
// the RAM mirror's two syncs (src/migration/ram-mirror.ts), which do the same
// work (compare every page with the mirror's, copy those that differ, mark
// them dirty through the port): staged (the emulator's RAM copied 1 MiB at a
// time into vmdev's I/O buffer, v128 page compares in wasm; the baseline)
// against in place (Node's Buffer.compare of each page of the emulator's RAM
// with the mirror's, no staging copy; what the v86 adapter uses in Node). For
// 128 MiB and 1 GiB, idle (no page changed) and with a writer (1 % of the pages
// changed between syncs, random pages, one byte each). ns per page and ms per
// round (one sync = one round).
//
// With the Debian guest files present (.cache/guest), one row more: the guest
// booted in v86 and live-migrated to a fresh v86 in this process (in-process
// transport): RAM, rounds, total, both downtimes, the mirror's cost per round.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PAGE_SIZE, loadModule } from "../src/index.js";
import { RamMirror } from "../src/migration/ram-mirror.js";
import type { BenchRow } from "./support.js";

const root = fileURLToPath(new URL("../", import.meta.url));

function writer(ram: Uint8Array, fraction: number, seed: number): () => void {
  let x = seed;
  const pages = ram.length / PAGE_SIZE, n = Math.round(pages * fraction);
  return () => {
    for (let i = 0; i < n; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      const p = x % pages;
      ram[p * PAGE_SIZE + (x & 0xfff)]++;
    }
  };
}

async function mirrorRows(module: WebAssembly.Module, ramBytes: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const ram = new Uint8Array(ramBytes);
  // Half the pages hold data (a booted guest's RAM is not zero): compares then read whole pages.
  for (let p = 0; p < ramBytes / PAGE_SIZE; p += 2) ram.fill((p & 0xff) | 1, p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
  const read = (gpa: number, dst: Uint8Array) => dst.set(ram.subarray(gpa, gpa + dst.length));
  const staged = await RamMirror.create({ module, ramBytes, read });
  const inPlace = await RamMirror.create({ module, ramBytes, read, view: () => ram });
  for (const m of [staged, inPlace]) { m.sync(); m.core.dirty.enable(); }
  const pages = ramBytes / PAGE_SIZE;
  const label = ramBytes >= 1 << 30 ? `${ramBytes / 2 ** 30} GiB` : `${ramBytes / 2 ** 20} MiB`;
  for (const [what, fraction] of [["idle", 0], ["1 % of pages written per round", 0.01]] as const) {
    const write = writer(ram, fraction, 12345);
    const runs = ramBytes >= 1 << 30 ? 5 : 9;
    const time = (m: RamMirror): { ms: number; changed: number } => {
      const ms: number[] = [];
      let changed = 0;
      for (let i = 0; i < runs + 1; i++) {
        write();
        const t = performance.now();
        changed = m.sync().changed;
        if (i > 0) ms.push(performance.now() - t); // the first is a warm-up
        m.core.dirty.harvest();
      }
      ms.sort((a, b) => a - b);
      return { ms: ms[ms.length >> 1], changed };
    };
    // The same writes for both: each mirror sees the RAM as the writer left it, in turn.
    const base = time(staged);
    const mirror = time(inPlace);
    if (fraction > 0 && (mirror.changed === 0 || base.changed === 0)) throw new Error("the writer changed nothing");
    rows.push({
      name: `v86-migrate: RAM mirror sync in place (Buffer.compare) vs staged (wasm v128), ${label}, ${what} (ms per round)`, value: mirror.ms, unit: "ms", baseline: base.ms, ratio: base.ms / mirror.ms,
      note: `in place ${((mirror.ms * 1e6) / pages).toFixed(2)} ns/page, staged in the I/O buffer and compared in wasm ${((base.ms * 1e6) / pages).toFixed(2)} ns/page; ${mirror.changed} pages changed per round`,
    });
  }
  for (const m of [staged, inPlace]) m.core.dirty.disable();
  return rows;
}

/** The Debian guest live-migrated between two v86 in this process. */
async function guestRow(module: WebAssembly.Module): Promise<BenchRow[]> {
  if (!existsSync(`${root}.cache/guest/guest.json`)) return [];
  const { bootGuest, guestFiles } = await import("../test/support/v86-guest.js");
  const { attachToV86, v86MigrationSource, v86DestinationFactory } = await import("../src/index.js");
  const { portPair } = await import("../src/migration/transport.js");
  const { startMigration } = await import("../src/migration/source.js");
  const { receiveMigration } = await import("../src/migration/destination.js");
  const files = guestFiles();
  if (typeof files === "string") return [];
  const RAM = 128 << 20;
  const boot = (start: boolean) => bootGuest(files, { memoryBytes: RAM, disk: true, start, cmdlineExtra: "vmdev.mode=shell", v86Options: { net_device: {} } });
  const a = boot(true);
  const nicA = await attachToV86(a.emulator, { nic: "virtio", mac: "52:54:00:12:34:56", name: "net0" });
  await a.ready;
  await a.waitFor(/VMDEV-READY/, 600_000);
  const b = boot(false);
  const nicB = await attachToV86(b.emulator, { nic: "virtio", mac: "52:54:00:12:34:56", name: "net0" });
  await b.ready;
  try {
    const src = await v86MigrationSource(a.emulator as never, [nicA], { module });
    const d = v86DestinationFactory(b.emulator as never, [nicB], { module });
    const [ta, tb] = portPair();
    const [r, res] = await Promise.all([startMigration(src, ta, { autoConverge: false, maxRounds: 4, downtimeLimitMs: 1 }).done, receiveMigration(tb, d.factory)]);
    if (!r.ok || !res.resumed) throw new Error(`v86 migration failed: ${r.error ?? res.error}`);
    const pre = r.roundStats.filter((s) => s.round > 0 && !s.final);
    const syncMean = pre.reduce((x, s) => x + s.syncMs, 0) / Math.max(1, pre.length);
    const parts = Object.entries(r.downtime.parts).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ");
    return [{
      name: "v86-migrate: Debian guest, 128 MiB, v86 → fresh v86 (in-process), downtime to running (ms)", value: r.downtime.toRunningMs, unit: "ms", baseline: r.downtime.toLastByteMs, ratio: r.downtime.toLastByteMs / r.downtime.toRunningMs,
      note: `baseline: downtime to the last byte (QEMU's definition); rounds ${r.rounds} (pages ${r.roundStats.map((s) => s.pages).join(", ")}), total ${r.totalTimeMs.toFixed(0)} ms, parts: ${parts}; `
        + `mirror sync ${syncMean.toFixed(1)} ms per pre-copy round, ${r.roundStats.find((s) => s.final)?.syncMs.toFixed(1)} ms under the freeze; RAM copy into v86 at resume ${d.destination()?.ramCopyMs.toFixed(1)} ms; verified ${r.verified}`,
    }];
  } finally {
    await a.stop().catch(() => {});
    await b.stop().catch(() => {});
    nicA.destroy(); nicB.destroy();
  }
}

export async function run(): Promise<BenchRow[]> {
  const module = await loadModule("release");
  return [...await mirrorRows(module, 128 << 20), ...await mirrorRows(module, 1 << 30), ...await guestRow(module)];
}
