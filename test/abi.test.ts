// Pins the wasm ABI: the exports and the constants shared with the host.
// build/abi.json is what the build exports now (names and AssemblyScript
// parameter/result types, from the bindings) and build/constants.json every
// constant of assembly/**/defs.ts as the compiler evaluated it;
// test/abi/pinned.json is the contract. Changing or removing a pinned export
// or constant fails until the ABI major version is bumped
// (assembly/core/abi.ts) and the pin regenerated with `node scripts/pin-abi.mjs`;
// adding either needs a minor bump and a re-pin.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { Status } from "../src/index.js";
import * as generated from "../src/generated/constants.js";
import { newCore } from "./support/core.js";
import * as wire from "../src/migration/wire.js";
import { MAX_RAM_PAGES } from "../src/migration/destination.js";

interface AbiEntry { name: string; params: Array<{ name: string; type: string }>; result: string }
interface ConstEntry { name: string; type: string; value: string }
const read = (p: string) => JSON.parse(readFileSync(new URL(p, import.meta.url), "utf8"));
const current: AbiEntry[] = read("../build/abi.json");
const constants: ConstEntry[] = read("../build/constants.json");
const pinned: { abiVersion: string; exports: AbiEntry[]; constants: ConstEntry[] } = read("./abi/pinned.json");
const sig = (e: AbiEntry) => `${e.name}(${e.params.map((p) => p.type).join(", ")}): ${e.result}`;
const show = (c: ConstEntry) => `${c.name}: ${c.type} = ${c.value}`;

/** Every leaf of the generated module as `Area.Table.NAME` → value. */
function flatten(obj: Record<string, unknown>, prefix = ""): Array<[string, string]> {
  return Object.entries(obj).flatMap(([k, v]) =>
    typeof v === "object" && v !== null ? flatten(v as Record<string, unknown>, `${prefix}${k}.`) : [[`${prefix}${k}`, String(v)] as [string, string]]);
}

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

  it("every pinned constant exists with the pinned type and value", () => {
    const now = new Map(constants.map((c) => [c.name, show(c)]));
    const broken = pinned.constants.filter((c) => now.get(c.name) !== show(c)).map((c) => `${show(c)} is now ${now.get(c.name) ?? "gone"}`);
    expect(broken).toEqual([]);
  });

  it("no constant is unpinned", () => {
    const pinnedNames = new Set(pinned.constants.map((c) => c.name));
    expect(constants.filter((c) => !pinnedNames.has(c.name)).map(show)).toEqual([]);
  });

  it("the TypeScript constants are the ones this build generated", () => {
    const built = constants.map((c): [string, string] => [c.name, c.value]);
    expect(flatten(generated).sort()).toEqual(built.sort());
  });

  it("the status table in TypeScript is the wasm's", async () => {
    expect({ ...Status }).toEqual({ ...generated.CoreDefs.Status });
    const core = await newCore(1 << 16);
    expect(core.exports.status_max()).toBe(Math.max(...Object.values(Status)));
  });
});

describe("the host reads the wasm's constants from the generated mirror", () => {
  // A literal copy in the host would be a different object with the same
  // numbers today and different numbers after the next wasm change.
  it("the migration wire's record kinds, record header and never-sent round are the wasm's", () => {
    expect(wire.Rec).toBe(generated.MigrationDefs.Rec);
    expect(wire.RECORD_HEADER).toBe(generated.MigrationDefs.RECORD_HEADER);
    expect(wire.ROUND_NEVER).toBe(generated.MigrationDefs.ROUND_NEVER);
  });

  it("the destination's RAM limit is the wasm's own-placement limit", () => {
    expect(MAX_RAM_PAGES).toBe(generated.CoreDefs.MAX_OWN_RAM_PAGES);
  });
});
