// Node entry point.
import { loadModule } from "./load-node.js";
import { VmCore, type VmCoreOptions } from "./vm-core.js";
import type { WasmVariant } from "./wasm.js";

export * from "./api.js";
export { loadModule };

/** Create a VM core in Node, compiling the wasm variant on first use. */
export async function createVmCore(opts: { ramBytes: number; variant?: WasmVariant } & Omit<VmCoreOptions, "module" | "variant" | "ramBytes">): Promise<VmCore> {
  const variant = opts.variant ?? "release";
  return VmCore.create({ ...opts, variant, module: await loadModule(variant) });
}
export * from "./migration/index.js";
