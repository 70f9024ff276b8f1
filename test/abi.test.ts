// Pins the wasm ABI. build/abi.json is what the build exports now (names and
// AssemblyScript parameter/result types, from the bindings); test/abi/pinned.json
// is the contract. Changing or removing a pinned export fails until the ABI
// major version is bumped (assembly/core/abi.ts) and the pin regenerated with
// `node scripts/pin-abi.mjs`; adding exports needs a minor bump and a re-pin.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { Status } from "../src/index.js";
import { newCore } from "./support/core.js";

interface AbiEntry { name: string; params: Array<{ name: string; type: string }>; result: string }
const read = (p: string) => JSON.parse(readFileSync(new URL(p, import.meta.url), "utf8"));
const current: AbiEntry[] = read("../build/abi.json");
const pinned: { abiVersion: string; exports: AbiEntry[] } = read("./abi/pinned.json");
const sig = (e: AbiEntry) => `${e.name}(${e.params.map((p) => p.type).join(", ")}): ${e.result}`;

describe("wasm ABI", () => {
  it("the module's ABI version matches the pin", async () => {
    const core = await newCore(1 << 16);
    const v = core.abiVersion;
    expect(`${v >>> 16}.${v & 0xffff}`).toBe(pinned.abiVersion);
  });

  it("every pinned export exists with the pinned signature", () => {
    const now = new Map(current.map((e) => [e.name, sig(e)]));
    const broken = pinned.exports.filter((e) => now.get(e.name) !== sig(e)).map((e) => `${sig(e)} is now ${now.get(e.name) ?? "gone"}`);
    expect(broken).toEqual([]);
  });

  it("no export is unpinned", () => {
    const pinnedNames = new Set(pinned.exports.map((e) => e.name));
    expect(current.filter((e) => !pinnedNames.has(e.name)).map(sig)).toEqual([]);
  });

  it("only numbers cross the boundary", () => {
    const numeric = new Set(["i32", "u32", "i64", "u64", "f32", "f64", "usize", "isize", "bool", "u8", "u16", "i8", "i16", "void"]);
    const managed = current.filter((e) => !numeric.has(e.result) || e.params.some((p) => !numeric.has(p.type))).map(sig);
    expect(managed).toEqual([]);
  });

  it("the status table in TypeScript mirrors the one in AssemblyScript", async () => {
    const src = readFileSync(new URL("../assembly/core/status.ts", import.meta.url), "utf8");
    const asTable = Object.fromEntries([...src.matchAll(/export const (\w+) = (\d+);/g)].map((m) => [m[1], Number(m[2])]));
    expect(asTable).toEqual({ ...Status });
    const core = await newCore(1 << 16);
    expect(core.exports.status_max()).toBe(Math.max(...Object.values(Status)));
  });
});
