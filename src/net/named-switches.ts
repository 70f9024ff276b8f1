// A machine's switches by name: NICs of any model whose config names the same
// `switch:NAME` backend are ports of one in-wasm VirtualSwitch, made by the
// first of them and destroyed with the last.

import type { VmCore } from "../vm-core.js";
import { VirtualSwitch, type SwitchPortDevice } from "./switch.js";

const switches = new WeakMap<VmCore, Map<string, VirtualSwitch>>();

/** The NAME of a `switch:NAME` backend value, else null. */
export function switchBackendName(v: string): string | null {
  return /^switch:([A-Za-z0-9_.-]{1,32})$/.exec(v)?.[1] ?? null;
}

/** Make `dev` a port of `core`'s switch `name` (created on first use). Throws as VirtualSwitch.attach does. */
export function attachToNamedSwitch(core: VmCore, name: string, dev: SwitchPortDevice): VirtualSwitch {
  let byName = switches.get(core);
  if (!byName) { byName = new Map(); switches.set(core, byName); }
  let sw = byName.get(name);
  if (!sw) { sw = VirtualSwitch.create(core); byName.set(name, sw); }
  try { sw.attach(dev); } catch (err) { releaseNamedSwitch(core, name); throw err; }
  return sw;
}

/** Destroy `core`'s switch `name` once it has no port left. */
export function releaseNamedSwitch(core: VmCore, name: string): void {
  const byName = switches.get(core);
  const sw = byName?.get(name);
  if (!sw || sw.portCount !== 0) return;
  sw.destroy();
  byName!.delete(name);
}

/** `core`'s switch `name`, if a NIC made it. */
export function namedSwitch(core: VmCore, name: string): VirtualSwitch | null { return switches.get(core)?.get(name) ?? null; }
