// The plain-wasm ABI reference: docs/abi.md is what scripts/abi-doc.mjs
// makes from the pinned ABI (regenerate with `npm run abi:doc` after a
// re-pin), build/vmdev.abi.json is what this build made and the package
// ships, and the wasm-level types it states are the ones the AssemblyScript
// types compile to.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
// @ts-expect-error: a plain ESM script without declarations
import { abiModel, abiJson, renderAbiDoc, wasmInterface } from "../scripts/abi-doc.mjs";

const root = new URL("..", import.meta.url).pathname;
const read = (p: string) => readFileSync(new URL(p, new URL("..", import.meta.url)), "utf8");

interface Param { name: string; type: string; wasm: string }
interface Export { name: string; area: string; params: Param[]; result: string; wasmResult: string | null; doc: string }

describe("docs/abi.md", () => {
  it("is up to date with the pinned ABI and the doc comments (else run `npm run abi:doc`)", () => {
    const fresh: string = renderAbiDoc(abiModel({ root, source: "pinned" }), root);
    const committed = read("docs/abi.md");
    if (committed !== fresh) {
      const a = committed.split("\n"), b = fresh.split("\n");
      const i = a.findIndex((l, k) => l !== b[k]);
      expect.fail(`docs/abi.md is stale from line ${i + 1}: has ${JSON.stringify(a[i])}, the generator makes ${JSON.stringify(b[i])}; run \`npm run abi:doc\``);
    }
  });

  it("lists every pinned export, each with a line of meaning", () => {
    const pinned: { exports: Array<{ name: string }> } = JSON.parse(read("test/abi/pinned.json"));
    const doc = read("docs/abi.md");
    const missing = pinned.exports.filter((e) => !doc.includes(`| \`${e.name}(`)).map((e) => e.name);
    expect(missing).toEqual([]);
    const model = abiModel({ root, source: "pinned" });
    expect(model.exports.filter((e: Export) => !e.doc || e.doc.length < 8).map((e: Export) => e.name)).toEqual([]);
  });

  it("every status code and every counters export is documented", () => {
    const doc = read("docs/abi.md");
    const constants: Array<{ name: string; value: string }> = JSON.parse(read("test/abi/pinned.json")).constants;
    const statuses = constants.filter((c) => c.name.startsWith("CoreDefs.Status."));
    expect(statuses.length).toBeGreaterThan(20);
    for (const s of statuses) expect(doc).toContain(`| ${s.value} | \`${s.name.split(".").pop()}\` |`);
    const model = abiModel({ root, source: "pinned" });
    const counterExports = model.exports.filter((e: Export) => e.name.endsWith("_counters_ptr")).map((e: Export) => e.name);
    expect(counterExports).toContain("vnet_counters_ptr");
    for (const e of counterExports) expect(doc).toContain(`### \`${e}\``);
  });
});

describe("the machine-readable ABI (vmdev/abi.json)", () => {
  const json = JSON.parse(read("build/vmdev.abi.json"));

  it("is what this build generated", () => {
    expect(read("build/vmdev.abi.json")).toBe(abiJson(abiModel({ root, source: "build" })));
  });

  it("is shipped and exported by the package", () => {
    const pkg = JSON.parse(read("package.json"));
    expect(pkg.files).toContain("build/vmdev.abi.json");
    expect(pkg.exports["./abi.json"]).toBe("./build/vmdev.abi.json");
  });

  it("states each export's wasm types as its AssemblyScript types compile", () => {
    const wasmOf: Record<string, string> = { u8: "i32", i8: "i32", u16: "i32", i16: "i32", u32: "i32", i32: "i32", bool: "i32", usize: "i32", isize: "i32", u64: "i64", i64: "i64", f32: "f32", f64: "f64" };
    const wrong = (json.exports as Export[]).filter((e) =>
      e.params.some((p) => wasmOf[p.type] !== p.wasm) || (e.result === "void" ? e.wasmResult !== null : wasmOf[e.result] !== e.wasmResult)).map((e) => e.name);
    expect(wrong).toEqual([]);
    expect(json.exports.length).toBe(JSON.parse(read("build/abi.json")).length);
  });

  it("lists the module's imports as the binary declares them", () => {
    const m = new WebAssembly.Module(readFileSync(new URL("../build/vmdev.wasm", import.meta.url)));
    const names = WebAssembly.Module.imports(m).map((i) => `${i.module}.${i.name}:${i.kind}`).sort();
    expect(json.imports.map((i: { module: string; name: string; kind: string }) => `${i.module}.${i.name}:${i.kind}`).sort()).toEqual(names);
    const mem = json.imports.find((i: { kind: string }) => i.kind === "memory");
    expect(mem).toMatchObject({ shared: true, maximum: 65536 });
    const unshared = wasmInterface(readFileSync(new URL("../build/vmdev.unshared.wasm", import.meta.url)));
    expect(unshared.imports.find((i: { kind: string }) => i.kind === "memory")).toMatchObject({ shared: false });
  });

  it("names the counters by index, as the generated constants do", () => {
    const vnet = json.counters.find((c: { export: string }) => c.export === "vnet_counters_ptr");
    const byName = new Map(vnet.entries.map((x: { name: string; index: number }) => [x.name, x.index]));
    const constants: Array<{ name: string; value: string }> = JSON.parse(read("build/constants.json"));
    expect(byName.get("RX_FRAMES")).toBe(Number(constants.find((c) => c.name === "VirtioNetDefs.NetCounter.RX_FRAMES")!.value));
    expect(byName.get("KICKS")).toBe(Number(constants.find((c) => c.name === "VirtioDefs.VCounter.KICKS")!.value));
    const indices = vnet.entries.map((x: { index: number }) => x.index);
    expect(new Set(indices).size).toBe(indices.length);
  });
});
