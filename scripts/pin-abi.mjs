// Re-pin the wasm ABI after a deliberate change: copies build/abi.json into
// test/abi/pinned.json with the module's current ABI version.
import { readFileSync, writeFileSync } from "node:fs";

const src = readFileSync(new URL("../assembly/core/abi.ts", import.meta.url), "utf8");
const major = /ABI_MAJOR: u32 = (\d+)/.exec(src)[1];
const minor = /ABI_MINOR: u32 = (\d+)/.exec(src)[1];
const exports = JSON.parse(readFileSync(new URL("../build/abi.json", import.meta.url), "utf8"));
writeFileSync(new URL("../test/abi/pinned.json", import.meta.url), JSON.stringify({ abiVersion: `${major}.${minor}`, exports }, null, 1) + "\n");
console.log(`pinned ${exports.length} exports at ABI ${major}.${minor}`);
