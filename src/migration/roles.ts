// The two roles of `vmdev migrate` over TCP, reusable by tests: a
// destination that listens on 127.0.0.1 and receives one VM, and the
// stand-in source side. Both use the stand-in VM until the Machine runtime
// provides MigrationSource/MigrationDestination (see types.ts).

import { VmCore } from "../vm-core.js";
import type { WasmVariant } from "../wasm.js";
import { receiveMigration, type ReceiveResult } from "./destination.js";
import { StandInDestination, StandInSource, type DirtyPattern } from "./standin.js";
import { listen } from "./transport.js";

/** Options of the TCP destination role. */
export interface DestinationRoleOptions {
  module: WebAssembly.Module;
  variant: WasmVariant;
  /** Port on 127.0.0.1 (0 = pick a free one). */
  port: number;
  /** Called once the port is bound. */
  onListening?(port: number): void;
  /** After resume, run the stand-in workload this long (ms) to show the VM runs. */
  runAfterMs?: number;
  vcpus?: number;
  dirtyBytesPerSec?: number;
  pattern?: DirtyPattern;
  idleTimeoutMs?: number;
  onEvent?(what: string, detail?: Record<string, unknown>): void;
}

/** The destination role's result. */
export interface DestinationRoleResult extends ReceiveResult {
  /** vCPU writes the resumed VM made in runAfterMs (proves it runs). */
  writesAfterResume: number;
}

/** Listen, receive one migration, resume the VM and optionally run it a while. */
export async function runDestinationRole(o: DestinationRoleOptions): Promise<DestinationRoleResult> {
  const l = await listen(o.port);
  o.onListening?.(l.port);
  const t = await l.accept();
  l.server.close();
  const codec = await VmCore.create({ module: o.module, variant: o.variant, ramBytes: 1 << 16 });
  let runner: StandInSource | undefined;
  const res = await receiveMigration(t, async ({ ramBytes }) => {
    const d = await StandInDestination.create({ module: o.module, variant: o.variant, ramBytes, onResume: () => runner?.thaw() });
    // The destination's vCPUs exist (frozen) before any page arrives; resume only lets them run.
    runner = StandInSource.wrap(d.core, { vcpus: o.vcpus ?? 2, dirtyBytesPerSec: o.dirtyBytesPerSec ?? 0, pattern: o.pattern ?? "hotset" });
    await runner.startFrozen();
    return d;
  }, codec, { idleTimeoutMs: o.idleTimeoutMs, onEvent: o.onEvent });
  let writesAfterResume = 0;
  if (runner && !res.resumed) await runner.stop();
  else if (runner) {
    await new Promise((r) => setTimeout(r, o.runAfterMs ?? 0));
    writesAfterResume = runner.writes();
    await runner.stop();
  }
  return { ...res, writesAfterResume };
}
