// The tarball a user installs: what it ships, and that `vmdev` and
// `import("vmdev")` work from it with only the declared dependencies (the
// CLI's commander and cli-progress are bundled, not installed).
import { describe, it, expect, beforeAll } from "vitest";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { installPacked, packTarball, repoRoot } from "../support/pack.js";

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr }));
  });
}

describe("the packed tarball", () => {
  it("ships the library, the CLI, the wasm builds, the ABI and the LICENSE; not the bench build or the tests", () => {
    const { files } = packTarball();
    for (const f of ["package.json", "README.md", "LICENSE", "CHANGELOG.md", "bin/vmdev.js", "dist/index.js", "dist/index.d.ts", "dist/cli.js", "dist/cli/deps.js", "dist/browser/vmdev.js", "build/vmdev.wasm", "build/vmdev.unshared.wasm", "build/vmdev.abi.json"]) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => /bench/.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith("test/") || f.startsWith(".cache/") || f.startsWith("node_modules/"))).toEqual([]);
  });

  it("declares its metadata and a BSD-2-Clause LICENSE; the CLI's modules are not dependencies", () => {
    expect(pkg.license).toBe("BSD-2-Clause");
    const license = readFileSync(join(repoRoot, "LICENSE"), "utf8");
    expect(license).toMatch(/^BSD 2-Clause License/);
    expect(license).toContain("The vmdev authors");
    for (const k of ["repository", "homepage", "bugs", "keywords", "author"]) expect(pkg, k).toHaveProperty(k);
    expect(Object.keys(pkg.dependencies).sort()).toEqual(["@assemblyscript/loader", "ws", "xxhash-wasm"]);
    expect(pkg.devDependencies).toHaveProperty("commander");
    expect(pkg.devDependencies).toHaveProperty("cli-progress");
    expect(pkg.peerDependenciesMeta.v86.optional).toBe(true);
  });
});

describe("installed from the tarball (offline, declared dependencies only)", () => {
  let dir: string;
  beforeAll(() => { dir = installPacked(); });

  it("npm ls shows no commander or cli-progress", async () => {
    const ls = await run("npm", ["ls", "--all", "--parseable"], dir);
    expect(ls.stdout).toMatch(/node_modules\/vmdev$/m);
    expect(ls.stdout).not.toMatch(/commander|cli-progress/);
    expect(existsSync(join(dir, "node_modules/commander"))).toBe(false);
  });

  it("`vmdev --version` runs, a config error exits 2 naming the key, and `vmdev demo` finds its wasm", async () => {
    const bin = join(dir, "node_modules/.bin/vmdev");
    expect(await run(bin, ["--version"], dir)).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
    const bad = await run(bin, ["run", "-o", "memory.sise=1M"], dir);
    expect(bad).toMatchObject({ code: 2, stderr: "vmdev run: memory.sise: unknown key\n" });
    const demo = await run(bin, ["demo", "--ram", "16M"], dir);
    expect(demo.stderr).toBe("");
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(/^guest RAM: 16M \(4096 pages\)/);
  });

  it("import(\"vmdev\") works: a VM core is created and its dirty bitmap sees a write", async () => {
    const script = `import { createVmCore } from "vmdev";
const vm = await createVmCore({ ramBytes: 1 << 20 });
vm.dirty.enable();
vm.guest.writeU32(0x1000, 1);
console.log(JSON.stringify(vm.dirty.harvest()));`;
    const r = await run(process.execPath, ["--input-type=module", "-e", script], dir);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual([{ page: 1, count: 1 }]);
  });
});
