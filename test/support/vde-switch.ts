// A vde_switch (Debian vde2) for tests: a child process with its control
// socket and management socket in a fresh temp dir, asked over the
// management socket which ports are connected, stopped and cleaned up.
//
// vde2 missing: a reason string (the caller skips) unless VMDEV_REQUIRE_VDE
// or CI is set (.ci/run installs vde2 and sets it), where that is a failure.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { until } from "./wait.js";

/** null when vde_switch and vde_plug are installed, else why not (throws where they are required). */
export function vdeMissing(): string | null {
  const have = (c: string) => spawnSync("sh", ["-c", `command -v ${c}`], { encoding: "utf8" }).status === 0;
  const missing = ["vde_switch", "vde_plug"].filter((c) => !have(c));
  if (missing.length === 0) return null;
  const why = `${missing.join(" and ")} not installed (Debian package vde2)`;
  if (process.env.VMDEV_REQUIRE_VDE || process.env.CI) throw new Error(why);
  return why;
}

export interface VdeSwitch {
  /** The control socket to give vde_plug (`backend=vde:<this>`). */
  readonly socket: string;
  readonly pid: number;
  /** The pids of the vde_plug processes connected now (from the switch's port list). */
  plugs(): Promise<number[]>;
  /** Resolves once exactly `n` plugs are connected. */
  waitPlugs(n: number): Promise<number[]>;
  /** Stop the switch and remove its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** Start a vde_switch in a temp dir. */
export async function startVdeSwitch(): Promise<VdeSwitch> {
  const dir = mkdtempSync(join(tmpdir(), "vmdev-vde-"));
  const socket = join(dir, "switch.ctl"), mgmt = join(dir, "mgmt");
  // stdin stays an open pipe: the switch's console reads it and would exit on EOF.
  const child: ChildProcess = spawn("vde_switch", ["-s", socket, "-M", mgmt], { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  let gone = false;
  void exited.then(() => { gone = true; });
  await until(() => gone || (existsSync(mgmt) && existsSync(join(socket, "ctl"))), "vde_switch's sockets");
  if (gone) { rmSync(dir, { recursive: true, force: true }); throw new Error(`vde_switch exited: ${stderr}`); }

  /** One management command's output (the lines between "0000 DATA END WITH '.'" and "."). */
  const command = (cmd: string) => new Promise<string>((resolve, reject) => {
    const c = createConnection(mgmt);
    let out = "";
    let sent = false;
    c.on("data", (d) => {
      out += d.toString();
      if (!sent && out.includes("vde$ ")) { sent = true; out = ""; c.write(`${cmd}\n`); return; }
      const m = /0000 DATA END WITH '\.'\n([\s\S]*?)\n\.\n/.exec(out);
      if (sent && /\n1000 Success/.test(out) && m) { c.end(); resolve(m[1]); }
    });
    c.on("error", reject);
  });
  const plugs = async () => [...(await command("port/allprint")).matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
  return {
    socket,
    pid: child.pid!,
    plugs,
    async waitPlugs(n) {
      let seen: number[] = [];
      let busy = false;
      await until(() => {
        if (!busy) { busy = true; void plugs().then((p) => { seen = p; busy = false; }, () => { busy = false; }); }
        return seen.length === n;
      }, `${n} vde_plug(s) on the switch`);
      return seen;
    },
    async stop() {
      if (!gone) { child.kill("SIGTERM"); await exited; }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
