// A vCPU guest extension for tests whose slice throws on vCPU 1 only (the
// others' slices do nothing): a failing vCPU must stop alone.
import type { VcpuExtensionContext } from "../../src/vcpu/vcpu-worker.js";

export function slice(ctx: VcpuExtensionContext): void {
  if (ctx.index === 1) throw new Error("slice of vCPU 1 failed on purpose");
}
