// Bundles the browser build: dist/browser/vmdev.js plus the wasm files beside it.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

const out = new URL("../dist/browser/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [new URL("../src/browser.ts", import.meta.url).pathname],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022", "chrome100", "firefox100", "safari15"],
  outfile: out + "vmdev.js",
  sourcemap: true,
  logLevel: "warning",
});
for (const f of ["vmdev.wasm", "vmdev.unshared.wasm"]) copyFileSync(new URL(`../build/${f}`, import.meta.url), out + f);
console.log("browser: dist/browser/vmdev.js");
