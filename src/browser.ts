// Browser entry: fetch and compile the wasm once. Shared memory (and so vCPU
// workers) needs a cross-origin-isolated page; elsewhere the unshared build runs.
//
// Where the wasm comes from: `wasm` (a module, bytes, a Response or a URL), or
// `base` (the folder holding the .wasm files), or by default the files next to
// this bundle. The default is written as `new URL("./vmdev.wasm",
// import.meta.url)`, the form bundlers (Vite, webpack 5, Parcel, esbuild with a
// file loader) recognise and copy the file for.
import { type WasmVariant } from "./wasm.js";
import { VmCore, type VmCoreOptions } from "./vm-core.js";
import { compileWasmSource, type WasmSource } from "./wasm-source.js";
import { attachV86Nic, type AttachToV86Options, type V86Nic } from "./adapters/v86/attach.js";
import type { V86Emulator } from "./adapters/v86/types.js";

export * from "./api.js";

/** Variants the browser bundle ships (dist/browser/). */
export type BrowserWasmVariant = Extract<WasmVariant, "release" | "unshared">;

/** Where to find the wasm; see the module comment. */
export interface WasmLocation {
  /** The module itself, its bytes, a Response (or its promise), or its URL. */
  wasm?: WasmSource;
  /** The URL of the folder holding vmdev.wasm and vmdev.unshared.wasm (ignored when `wasm` is given). */
  base?: string | URL;
}

const cache = new Map<string, Promise<WebAssembly.Module>>();

/** The variant this page can run: shared memory only when the page is cross-origin isolated. */
export function defaultVariant(): BrowserWasmVariant {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  return isolated && typeof SharedArrayBuffer !== "undefined" ? "release" : "unshared";
}

function bundledUrl(variant: WasmVariant): URL {
  // One literal per file, so a bundler sees each asset.
  if (variant === "release") return new URL("./vmdev.wasm", import.meta.url);
  if (variant === "unshared") return new URL("./vmdev.unshared.wasm", import.meta.url);
  throw new RangeError(`the browser bundle ships the release and unshared builds, not "${variant}"; pass it as \`wasm\``);
}

const fileName = (variant: WasmVariant) => (variant === "unshared" ? "vmdev.unshared.wasm" : variant === "debug" ? "vmdev.debug.wasm" : "vmdev.wasm");

/**
 * Compile the module. `where` is a WasmLocation, or (as before) the URL of the
 * folder holding the .wasm files. URLs are fetched and compiled once per URL;
 * a failure is a WasmLoadError naming the file and the URL, and is not cached.
 */
export function loadModule(variant: WasmVariant = defaultVariant(), where: WasmLocation | string | URL = {}): Promise<WebAssembly.Module> {
  const loc: WasmLocation = typeof where === "string" || where instanceof URL ? { base: where } : where;
  const file = fileName(variant);
  if (loc.wasm !== undefined && typeof loc.wasm !== "string" && !(loc.wasm instanceof URL)) return compileWasmSource(loc.wasm, file);
  const url = loc.wasm !== undefined
    ? new URL(loc.wasm, globalThis.location?.href).href
    : loc.base !== undefined ? new URL(file, new URL(loc.base, globalThis.location?.href)).href : bundledUrl(variant).href;
  let m = cache.get(url);
  if (!m) {
    m = compileWasmSource(url, file);
    cache.set(url, m);
    m.catch(() => { if (cache.get(url) === m) cache.delete(url); });
  }
  return m;
}

/** Create a VM core in the browser, compiling the wasm on first use (see loadModule for `wasm` and `base`). */
export async function createVmCore(opts: { ramBytes: number; variant?: WasmVariant } & WasmLocation & Omit<VmCoreOptions, "module" | "variant" | "ramBytes">): Promise<VmCore> {
  const { wasm, base, ...rest } = opts;
  const variant = opts.variant ?? defaultVariant();
  return VmCore.create({ ...rest, variant, module: await loadModule(variant, { wasm, base }) });
}

/**
 * Plug a vmdev NIC into a v86 emulator in one call (src/adapters/v86/attach.ts
 * has the details): `wasm`/`base` locate the module as for loadModule, and the
 * variant defaults to what the page can run.
 */
export function attachToV86(emulator: V86Emulator, opts: AttachToV86Options & WasmLocation): Promise<V86Nic> {
  const { wasm, base, ...rest } = opts;
  const variant = opts.variant ?? defaultVariant();
  return attachV86Nic(emulator, { ...rest, variant }, () => loadModule(variant, { wasm, base }));
}

export { WasmLoadError, compileWasmSource, type WasmSource } from "./wasm-source.js";
export { V86_SUPPORTED, type AttachToV86Options, type V86Nic, type V86NicModel, type V86NicDevice } from "./adapters/v86/attach.js";
