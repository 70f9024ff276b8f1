// `vmdev migrate --v86`: its usage errors, found before any emulator starts (exit 2).
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../bin/vmdev.js", import.meta.url));
const vmdev = (...args: string[]) => spawnSync(process.execPath, [bin, "migrate", ...args], { encoding: "utf8", timeout: 60_000 });

describe("vmdev migrate --v86", () => {
  it("refuses a config it cannot run and flags it cannot combine with, exit 2, naming what is wrong", () => {
    const dir = mkdtempSync(join(tmpdir(), "vmdev-v86cli-"));
    try {
      const cfg = (o: unknown) => { const p = join(dir, `c${Math.random().toString(36).slice(2)}.json`); writeFileSync(p, JSON.stringify(o)); return p; };
      const base = { memory_size: 128 << 20, bios: "bios.bin", nics: [{ model: "virtio", mac: "52:54:00:12:34:56" }] };
      const cases: Array<[string[], RegExp]> = [
        [["--v86", cfg({ ...base, nics: [] }), "--connect", "1"], /nics/],
        [["--v86", cfg({ ...base, nics: [{ model: "rtl8139", mac: "52:54:00:12:34:56" }] }), "--connect", "1"], /nics/],
        [["--v86", cfg({ ...base, memory_size: 12345 }), "--listen", "0"], /memory_size/],
        [["--v86", cfg({ ...base, wait_serial: "(" }), "--connect", "1"], /wait_serial/],
        [["--v86", join(dir, "missing.json"), "--connect", "1"], /missing\.json/],
        [["--v86", cfg(base)], /--connect/],
        [["--v86", cfg(base), "--traffic"], /--traffic/],
      ];
      for (const [args, re] of cases) {
        const r = vmdev(...args);
        expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
        expect(r.stderr, args.join(" ")).toMatch(re);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
