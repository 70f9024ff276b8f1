// The two roles of `vmdev migrate` over TCP, reusable by tests and the bench:
// a destination that listens (127.0.0.1, or any address with TLS-PSK) and
// receives one VM from one source into a frozen Machine (src/machine/),
// resumes it and lets it run a while.

import type { WasmVariant } from "../wasm.js";
import { ConfigTree } from "../config/tree.js";
import { receiveMigration, type ReceiveResult } from "./destination.js";
import { listen, type RefusedCounts, type TransportAuth } from "./transport.js";
import { machineDestinationFactory, type MachineDestination } from "./machine-adapter.js";
import { withDestinationDevices } from "./user-device.js";
import type { MigratableDevice } from "./types.js";

/** Options of the TCP destination role. */
export interface DestinationRoleOptions {
  module: WebAssembly.Module;
  variant: WasmVariant;
  /** Port to listen on (0 = pick a free one). */
  port: number;
  /** Address to listen on (default 127.0.0.1); any other needs `auth`. */
  host?: string;
  /** Require the source to authenticate with TLS-PSK. */
  auth?: TransportAuth;
  /** The destination machine's config (the source's device options); memory.size and cpus come from HELLO. */
  config?: ConfigTree;
  /** Called once the port is bound. */
  onListening?(port: number, host: string): void;
  /** After resume, let the machine's vCPUs run this long (ms) to show the VM runs. */
  runAfterMs?: number;
  idleTimeoutMs?: number;
  onEvent?(what: string, detail?: Record<string, unknown>): void;
  /** Devices of the user's to add to the destination machine (`--device`), made once the machine exists. */
  extraDevices?(d: MachineDestination): Promise<readonly MigratableDevice[]>;
  /** Pre-touch RAM ahead of round 0 while waiting for frames (ReceiveOptions.pretouch; default true). */
  pretouch?: boolean;
  /** Called with the resumed machine before it is torn down (tests read its state). */
  inspect?(d: MachineDestination): void | Promise<void>;
}

/** The destination role's result. */
export interface DestinationRoleResult extends ReceiveResult {
  /** vCPU writes the resumed VM made in runAfterMs (proves it runs). */
  writesAfterResume: number;
  /** Connections refused while this destination listened (failed authentication, a second source). */
  refused: RefusedCounts;
}

/** Listen, receive one migration, resume the machine, run it a while, tear it down. */
export async function runDestinationRole(o: DestinationRoleOptions): Promise<DestinationRoleResult> {
  const l = await listen(o.port, { host: o.host, auth: o.auth });
  o.onListening?.(l.port, l.host);
  const t = await l.accept();
  // Keep listening until the VM is in: any other source that turns up meanwhile is refused and counted.
  let dest: MachineDestination | undefined;
  const machines = machineDestinationFactory(o.config ?? new ConfigTree(), { module: o.module, variant: o.variant, onCreated: (d) => { dest = d; } });
  const extra = o.extraDevices;
  const factory = extra ? withDestinationDevices(machines, () => extra(dest!)) : machines;
  let writesAfterResume = 0;
  let res: ReceiveResult;
  try {
    res = await receiveMigration(t, factory, { idleTimeoutMs: o.idleTimeoutMs, onEvent: o.onEvent, pretouch: o.pretouch });
    if (dest && res.resumed) {
      await new Promise((r) => setTimeout(r, o.runAfterMs ?? 0));
      // The vCPUs were frozen from creation to resume: every write counted happened after it.
      writesAfterResume = dest.machine.vcpuStats().reduce((a, s) => a + s.writes, 0);
      await o.inspect?.(dest);
    }
  } finally {
    l.close();
    await dest?.machine.destroy();
  }
  return { ...res, writesAfterResume, refused: { ...l.refused } };
}
