// Browser entry: fetch and compile the wasm once. Shared memory (and so vCPU
// workers) needs a cross-origin-isolated page; elsewhere the unshared build runs.
import { WASM_FILES, type WasmVariant } from "./wasm.js";
import { VmCore } from "./vm-core.js";

export * from "./api.js";

const cache = new Map<string, Promise<WebAssembly.Module>>();

/** The variant this page can run: shared memory only when the page is cross-origin isolated. */
export function defaultVariant(): WasmVariant {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  return isolated && typeof SharedArrayBuffer !== "undefined" ? "release" : "unshared";
}

/** Compile the module from `base` (the URL of the folder holding the .wasm files). */
export function loadModule(variant: WasmVariant = defaultVariant(), base: string | URL = new URL("./", import.meta.url)): Promise<WebAssembly.Module> {
  const url = new URL(WASM_FILES[variant], base).href;
  let m = cache.get(url);
  if (!m) {
    m = WebAssembly.compileStreaming(fetch(url));
    cache.set(url, m);
  }
  return m;
}

export async function createVmCore(opts: { ramBytes: number; variant?: WasmVariant; base?: string | URL } & Omit<import("./vm-core.js").VmCoreOptions, "module" | "variant" | "ramBytes">): Promise<VmCore> {
  const variant = opts.variant ?? defaultVariant();
  return VmCore.create({ ...opts, variant, module: await loadModule(variant, opts.base) });
}
