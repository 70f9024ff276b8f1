// The control channel's view of a running Machine: its devices by instance
// name (virtio-net0, lapic1) or config node (pci.0.3.0), their counters and
// live dumps (src/inspect/ inspectDevice), a NIC's events for `trace`, and
// whatever the command adds (its status, a migration's events and cancel).

import type { Machine } from "../machine/machine.js";
import type { MachineDevice } from "../machine/registry.js";
import { inspectDevice } from "../inspect/index.js";
import type { ControlTarget } from "./server.js";

/** NIC event types a trace offers. */
const NIC_TYPES = ["transmit", "receive", "interrupt", "filterchange", "reset", "link"] as const;

/** What a command adds to its machine's control target. */
export interface MachineTargetExtras {
  /** The command's own status (the machine's is added under `machine`). */
  status(): Record<string, unknown>;
  /** More event sources by name (migrate: "migration"). */
  events?: Record<string, { target: EventTarget; types: readonly string[] }>;
  cancel?(): { cancelled: boolean; detail: string };
}

/** JSON-safe copy: bigints become decimal strings (hex for the inspector's, which are already strings). */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x)));

/** A control target over `machine` (which may be swapped: `current()` is asked at every request). */
export function machineControlTarget(current: () => Machine | null, extras: MachineTargetExtras): ControlTarget {
  const find = (name: string): MachineDevice | undefined => {
    const m = current();
    return m ? m.devices.find((d) => d.name === name) ?? m.devicesByNode.get(name) : undefined;
  };
  return {
    status: () => {
      const m = current();
      return {
        ...extras.status(),
        machine: m ? { name: m.name, ramBytes: m.core.guest.size, vcpus: m.vcpus.count, devices: m.devices.map((d) => d.name) } : null,
      };
    },
    deviceNames: () => [...(current()?.devices.map((d) => d.name) ?? []), ...Object.keys(extras.events ?? {})],
    counters: () => {
      const m = current();
      if (!m) return {};
      const devices: Record<string, unknown> = {};
      for (const d of m.devices) devices[d.name] = d.countersJSON?.() ?? null;
      return { core: m.core.countersJSON(), devices };
    },
    inspect: async (name) => {
      const d = find(name);
      const m = current();
      if (!d || !m) return null;
      const [dump] = await inspectDevice(d, { guest: m.core.guest });
      return plain(dump);
    },
    events: (name) => {
      const extra = extras.events?.[name];
      if (extra) return extra;
      const d = find(name);
      return d?.events ? { target: d.events, types: NIC_TYPES } : null;
    },
    cancel: extras.cancel,
  };
}
