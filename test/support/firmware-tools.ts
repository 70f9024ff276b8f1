// Debian's firmware tools the platform tests check tables with: acpica-tools
// (iasl) and dmidecode. CI installs them (.ci/run) and sets
// VMDEV_REQUIRE_FIRMWARE_TOOLS, so a missing tool fails the run there; elsewhere
// the suites that need one say so and skip.
import { spawnSync } from "node:child_process";

/** Does `cmd args` run (exit 0)? */
function runs(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return !r.error && r.status === 0;
}

/** True if `tool` is installed; throws if it is not and VMDEV_REQUIRE_FIRMWARE_TOOLS is set. */
export function haveTool(tool: "iasl" | "dmidecode", pkg: string): boolean {
  const ok = tool === "iasl" ? runs("iasl", ["-v"]) : runs("dmidecode", ["--version"]);
  if (ok) return true;
  if (process.env.VMDEV_REQUIRE_FIRMWARE_TOOLS) throw new Error(`${tool} is not installed (apt-get install ${pkg}), and VMDEV_REQUIRE_FIRMWARE_TOOLS is set`);
  console.warn(`${tool} checks skipped: ${tool} is not installed (apt-get install ${pkg})`);
  return false;
}
