// `vmdev run` from the compiled package (dist/, built by `npm test`): its vCPU
// workers start from the .js entry without tsx.
import { describe, it, expect } from "vitest";
import { execFile } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const bin = new URL("../../bin/vmdev.js", import.meta.url).pathname;
function vmdev(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 180_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe("vmdev run", () => {
  it("starts a machine from a config file and -o, dirties memory, freezes and resumes it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vmdev-"));
    const file = join(dir, "vm.conf");
    writeFileSync(file, "# test machine\nmemory.size=8M\ncpus=1\npci.0.3.0.device=memtest\npci.0.3.0.interval_ms=2\n");
    // Each half of the run is long enough that a busy machine still schedules every vCPU in it (the writes counted are per half).
    const r = await vmdev("run", "-f", file, "-o", "cpus=2", "-o", "workload.pattern=hot", "--duration", "2000", "--freeze-ms", "50", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.vcpus.length).toBe(2);
    expect(out.ramUnchangedWhileLocked).toBe(true);
    expect(out.lock.writeLocks).toBe(1);
    expect(out.vcpus.every((v: { pageWrites: number }) => v.pageWrites > 0)).toBe(true);
    expect(out.secondHalf.pageWritesPerSec).toBeGreaterThan(0);
  });

  it("-c 1024 runs a 1024-vCPU machine on the default thread pool: every vCPU writes, the write lock freezes them all", async () => {
    const r = await vmdev("run", "-c", "1024", "-m", "16M", "-o", "workload.rate=100", "--duration", "2000", "--freeze-ms", "20", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.vcpus.length).toBe(1024);
    expect(out.ramUnchangedWhileLocked).toBe(true);
    expect(out.lock.writeLocks).toBe(1);
    expect(out.vcpus.every((v: { pageWrites: number; exits: number }) => v.pageWrites > 0 && v.exits >= 1)).toBe(true);
  });

  it("--dump-config prints the effective config; legacy -s/-m/-c map onto keys", async () => {
    const r = await vmdev("run", "vm7", "-m", "16M", "-c", "3", "-s", "4:1,memtest,size=8K", "-o", "var.x=1", "--dump-config");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toContain("name=vm7");
    expect(lines).toContain("memory.size=16M");
    expect(lines).toContain("cpus=3");
    expect(lines).toContain("pci.0.4.1.device=memtest");
    expect(lines).toContain("pci.0.4.1.size=8K");
    expect(lines).toContain("workload.pattern=uniform");
  });

  it("a bad key is one clear line naming it, exit status 2", async () => {
    const r = await vmdev("run", "-o", "memory.sise=1M");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("vmdev run: memory.sise: unknown key\n");
  });

  it("a config the machine's memory cannot hold is refused the same way, naming the key before any device is made", async () => {
    const r = await vmdev("run", "-o", "pci.0.3.0.device=virtio-net", "-o", "pci.0.3.0.backlog=65536", "-o", "pci.0.3.0.mtu=65500");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vmdev run: pci\.0\.3\.0\.backlog: backlog=65536 .*: at most backlog=\d+ fits\n$/);
  });
});
