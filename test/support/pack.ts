// The package as users get it: `npm pack` of the working tree (built first by
// the test run) into a temporary folder, unpacked as node_modules/vmdev of a
// consumer project. No network: pack reads the tree, tar unpacks the tarball.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** `npm pack` into a fresh temporary folder; returns the tarball's path. */
export function packTarball(): string {
  const dir = mkdtempSync(join(tmpdir(), "vmdev-pack-"));
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", dir], {
    cwd: repoRoot, encoding: "utf8", env: { ...process.env, npm_config_ignore_scripts: "true", npm_config_audit: "false", npm_config_fund: "false" },
  });
  const [info] = JSON.parse(out) as Array<{ filename: string }>;
  return join(dir, info.filename);
}

/**
 * A consumer project in a fresh temporary folder: the tarball unpacked as
 * node_modules/vmdev, and `links` (package names) symlinked from this
 * repository's node_modules, so nothing is downloaded.
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
