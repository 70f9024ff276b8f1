// Re-pin the wasm ABI after a deliberate change: copies build/abi.json (the
// exports) and build/constants.json (the constants of assembly/**/defs.ts)
// into test/abi/pinned.json with the module's current ABI version.
import { readFileSync, writeFileSync } from "node:fs";

const src = readFileSync(new URL("../assembly/core/abi.ts", import.meta.url), "utf8");
const major = /ABI_MAJOR: u32 = (\d+)/.exec(src)[1];
const minor = /ABI_MINOR: u32 = (\d+)/.exec(src)[1];
const read = (p) => JSON.parse(readFileSync(new URL(p, import.meta.url), "utf8"));
const exports = read("../build/abi.json");
const constants = read("../build/constants.json");
writeFileSync(new URL("../test/abi/pinned.json", import.meta.url), JSON.stringify({ abiVersion: `${major}.${minor}`, exports, constants }, null, 1) + "\n");
console.log(`pinned ${exports.length} exports and ${constants.length} constants at ABI ${major}.${minor}`);
