// Node: read build/*.wasm next to this package and compile each variant once,
// or compile what the caller points at (`wasm`: a module, bytes, a Response,
// an http(s) URL, or a file: URL or path).
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { WASM_FILES, type WasmVariant } from "./wasm.js";
import { WasmLoadError, compileWasmBytes, compileWasmSource, type WasmSource } from "./wasm-source.js";

const cache = new Map<string, Promise<WebAssembly.Module>>();

/** Where to find the wasm in Node. */
export interface NodeWasmLocation {
  /** The module, its bytes, a Response (or its promise), an http(s) or file: URL, or a file path. Default: this package's build/. */
  wasm?: WasmSource;
}

async function compileFile(path: string, file: string): Promise<WebAssembly.Module> {
  let bytes: Uint8Array;
  try { bytes = await readFile(path); } catch (err) {
    throw new WasmLoadError(file, path, (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file (run `npm run build`?)" : (err as Error).message, { cause: err });
  }
  return compileWasmBytes(bytes, file, path);
}

function cached(key: string, make: () => Promise<WebAssembly.Module>): Promise<WebAssembly.Module> {
  let m = cache.get(key);
  if (!m) {
    m = make();
    cache.set(key, m);
    m.catch(() => { if (cache.get(key) === m) cache.delete(key); });
  }
  return m;
}

/**
 * The compiled vmdev module for `variant`, compiled on first use and shared
 * after. A failure is a WasmLoadError naming the file and where it was looked for.
 */
export function loadModule(variant: WasmVariant = "release", where: NodeWasmLocation = {}): Promise<WebAssembly.Module> {
  const file = WASM_FILES[variant];
  const src = where.wasm;
  if (src === undefined) {
    const path = fileURLToPath(new URL(`../build/${file}`, import.meta.url));
    return cached(path, () => compileFile(path, file));
  }
  if (typeof src === "string" || src instanceof URL) {
    const url = src instanceof URL ? src : /^[a-z][a-z0-9+.-]*:\/\//i.test(src) ? new URL(src) : null;
    if (!url || url.protocol === "file:") {
      const path = url ? fileURLToPath(url) : (src as string);
      return cached(path, () => compileFile(path, file));
    }
    return cached(url.href, () => compileWasmSource(url, file));
  }
  return compileWasmSource(src, file);
}
