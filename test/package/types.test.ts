// The packed tarball's types as two kinds of users compile against them: a
// browser project (DOM and ES2022 only, no @types/node, a bundler's module
// resolution with the "browser" condition) and a Node project (NodeNext).
// Each consumer uses the API of its entry; the browser one also checks that
// Node-only names are absent from the browser types, as they are from the
// browser bundle, and that v86's own `V86` type is accepted by attachToV86.
import { describe, expect, it, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { join } from "node:path";
import { consumerProject, packTarball, repoRoot } from "../support/pack.js";

const TSC = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
/** The package's runtime dependencies with types of their own (found through node_modules). */
const DEPENDENCIES = ["@assemblyscript/loader", "ws", "xxhash-wasm"];

function typecheck(dir: string, tsconfig: object, files: Record<string, string>): { status: number | null; output: string } {
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const r = spawnSync(process.execPath, [TSC, "-p", join(dir, "tsconfig.json")], { cwd: dir, encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const BROWSER_APP = `
import { createVmCore, loadModule, attachToV86, VirtioNet, WasmLoadError, type V86Nic } from "vmdev";
import * as vmdev from "vmdev";
import { V86 } from "v86";

// Node-only parts of the package are not in the browser bundle, nor in its types.
// @ts-expect-error Machine runs vCPUs on worker_threads
void vmdev.Machine;
// @ts-expect-error migration runs over node:net
void vmdev.migrate;

const module: WebAssembly.Module = await loadModule("unshared", { wasm: new URL("/static/vmdev.unshared.wasm", location.href) });
const fromResponse = await createVmCore({ ramBytes: 16 << 20, variant: "unshared", wasm: fetch("/static/vmdev.unshared.wasm") });
const vm = await createVmCore({ ramBytes: 16 << 20, wasm: module });
const net = VirtioNet.create(vm, { mac: "52:54:00:12:34:56", transport: "pci", interrupts: { msi() {}, intx() {} } });
document.title = String(net.counters().rxFrames + BigInt(fromResponse.guest.readU32(0)));

const emulator = new V86({ wasm_path: "v86.wasm", memory_size: 64 << 20, net_device: { relay_url: "fetch" } });
const nic: V86Nic = await attachToV86(emulator, { nic: "e1000", mac: "52:54:00:12:34:57", wasm: new URL("/static/vmdev.wasm", location.href) });
nic.detach();
try { await loadModule("release", { base: "/missing/" }); } catch (err) { if (err instanceof WasmLoadError) console.log(err.url, err.file); }
`;

const NODE_APP = `
import { createVmCore, loadModule, Machine, attachToV86, type V86Emulator, type V86Nic } from "vmdev";
import { readFile } from "node:fs/promises";

const vm = await createVmCore({ ramBytes: 16 << 20 });
const fromBytes = await loadModule("release", { wasm: await readFile("node_modules/vmdev/build/vmdev.wasm") });
const fromUrl = await createVmCore({ ramBytes: 16 << 20, wasm: new URL("./node_modules/vmdev/build/vmdev.wasm", import.meta.url) });
console.log(vm.guest.readU32(0), fromBytes instanceof WebAssembly.Module, fromUrl.guest.readU32(0), typeof Machine);
declare const emulator: V86Emulator;
const nic: V86Nic = await attachToV86(emulator, { nic: "ne2k", mac: "52:54:00:12:34:58" });
nic.destroy();
`;

describe("the packed package's types", () => {
  let tarball = "";
  beforeAll(() => { tarball = packTarball().tarball; }, 120_000);

  it("type-check a DOM-only browser project (bundler resolution, browser condition, no @types/node)", () => {
    const dir = consumerProject(tarball, [...DEPENDENCIES, "v86"]);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "browser-app", type: "module", private: true }));
    const r = typecheck(dir, {
      compilerOptions: {
        target: "ES2022", module: "ESNext", moduleResolution: "bundler", customConditions: ["browser"],
        lib: ["ES2022", "DOM"], types: [], strict: true, noEmit: true, skipLibCheck: false,
      },
      files: ["app.ts"],
    }, { "app.ts": BROWSER_APP });
    expect(r.output).toBe("");
    expect(r.status).toBe(0);
  }, 120_000);

  it("type-check a Node project (NodeNext)", () => {
    const dir = consumerProject(tarball, [...DEPENDENCIES, "@types/node", "undici-types"]);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "node-app", type: "module", private: true }));
    const r = typecheck(dir, {
      compilerOptions: {
        target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2022", "DOM"], types: ["node"],
        strict: true, noEmit: true, skipLibCheck: false,
      },
      files: ["app.ts"],
    }, { "app.ts": NODE_APP });
    expect(r.output).toBe("");
    expect(r.status).toBe(0);
  }, 120_000);

  it("the browser types declare exactly the values the browser bundle exports", async () => {
    const entry = join(repoRoot, "dist", "browser.d.ts");
    const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, lib: ["lib.es2022.d.ts", "lib.dom.d.ts"], types: [], noEmit: true });
    const checker = program.getTypeChecker();
    const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!);
    const declared = exports.filter((s) => ((s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s).flags & ts.SymbolFlags.Value) !== 0).map((s) => s.name).sort();
    const bundle = Object.keys(await import(pathToFileURL(join(repoRoot, "dist", "browser", "vmdev.js")).href)).sort();
    expect(declared).toEqual(bundle);
  });
});
