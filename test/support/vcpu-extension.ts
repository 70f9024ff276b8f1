// A vCPU guest extension for tests: each slice, writes a per-vCPU counter
// into page 200 + index through the guest-memory port.
import type { VcpuExtensionContext } from "../../src/vcpu/vcpu-worker.js";

let n = 0;
export function init(ctx: VcpuExtensionContext): void {
  ctx.core.guest.writeU32((200 + ctx.index) * 4096, 0xe0e0);
}
export function slice(ctx: VcpuExtensionContext): void {
  ctx.core.guest.writeU32((200 + ctx.index) * 4096 + 4, ++n);
}
