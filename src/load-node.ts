// Node: read build/*.wasm next to this package and compile each variant once.
import { readFile } from "node:fs/promises";
import { WASM_FILES, type WasmVariant } from "./wasm.js";

const cache = new Map<WasmVariant, Promise<WebAssembly.Module>>();

/** The compiled vmdev module for `variant`, compiled on first use and shared after. */
export function loadModule(variant: WasmVariant = "release"): Promise<WebAssembly.Module> {
  let m = cache.get(variant);
  if (!m) {
    m = readFile(new URL(`../build/${WASM_FILES[variant]}`, import.meta.url)).then((bytes) => WebAssembly.compile(bytes));
    cache.set(variant, m);
  }
  return m;
}
