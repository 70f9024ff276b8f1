// An external backend for a Machine's NIC, for every model's factory: frames
// go into the NIC under a lease on the machine's VM lock (BackendPort), and
// what the backend's link drops for a full queue is told to the device's
// loss count.

import type { DeviceContext } from "../../machine/registry.js";
import type { FrameEndpoint } from "../host-link.js";
import { openBackend } from "./node.js";
import type { NetworkBackend } from "./port.js";
import { parseExternalBackend, type ExternalBackendSpec } from "./spec.js";

/** How a NIC factory opens its backend. */
export interface MachineBackendOptions {
  /** Largest frame the NIC model sends or takes (default 1518). */
  maxFrameBytes?: number;
  /** Told how many frames the backend's link dropped for a full queue (the device's `noteLinkLoss`). */
  onLoss?: (frames: number) => void;
}

/** Start the backend `value` names for `nic` in a Machine (null when `value` names no external backend). */
export function openMachineBackend(ctx: DeviceContext, nic: FrameEndpoint, value: string, opts: MachineBackendOptions = {}): NetworkBackend | null {
  const spec: ExternalBackendSpec | null = parseExternalBackend(value);
  if (!spec) return null;
  return openBackend(nic, spec, { lock: ctx.lock, onOverflow: opts.onLoss, maxFrameBytes: opts.maxFrameBytes });
}
