// The package as a user gets it: `npm pack` of this checkout (after
// `npm run build`), and a consumer project with the tarball installed. The
// install is offline: the package's declared dependencies (and theirs) are
// packed from this checkout's node_modules and installed beside it, so npm
// needs no registry and only what package.json declares can be there.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const npm = (args: string[], cwd: string) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 300_000 });

export interface Packed { tarball: string; files: string[]; dir: string }
let packed: Packed | undefined;

/** `npm pack` of the checkout into a temp dir (once per test file); the tarball's path and the file list npm reported. */
export function packTarball(): Packed {
  if (packed) return packed;
  const dir = mkdtempSync(join(tmpdir(), "vmdev-pack-"));
  const [info] = JSON.parse(npm(["pack", "--json", "--pack-destination", dir], repoRoot)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packed = { tarball: join(dir, info.filename), files: info.files.map((f) => f.path), dir };
  return packed;
}

/** The installed directories of the package's production dependency closure (`npm ls --omit=dev`), from this checkout. */
export function productionDependencies(): string[] {
  return npm(["ls", "--omit=dev", "--all", "--parseable"], repoRoot).trim().split("\n").slice(1).filter(Boolean);
}

/** A consumer project (`type: module`) with the packed tarball installed offline; returns its directory. */
export function installPacked(): string {
  const { tarball } = packTarball();
  const dir = mkdtempSync(join(tmpdir(), "vmdev-consumer-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "vmdev-consumer", private: true, type: "module" }));
  const deps = productionDependencies().map((d) => join(dir, JSON.parse(npm(["pack", "--json", "--pack-destination", dir, d], dir))[0].filename));
  npm(["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", tarball, ...deps], dir);
  return dir;
}

/**
 * A consumer project without an install: the tarball unpacked as
 * node_modules/vmdev and `links` (package names) symlinked from this
 * checkout's node_modules, for type-checking against what users get.
 */
export function consumerProject(tarball: string, links: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), "vmdev-consumer-"));
  const pkg = join(dir, "node_modules", "vmdev");
  mkdirSync(pkg, { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", pkg, "--strip-components=1"]);
  for (const name of links) {
    const at = join(dir, "node_modules", name);
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(join(repoRoot, "node_modules", name), at, "dir");
  }
  return dir;
}
