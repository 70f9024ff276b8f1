// The live form of the inspector: a running device's (or a whole Machine's)
// state, saved into a buffer and decoded, with the queues' chains read from
// guest RAM through the guest-memory port. Nothing here changes the device:
// saving is the same operation migration uses. Pause the machine first for a
// dump of one instant; an event trace is not part of the inspector.

import type { DeviceModel } from "../device.js";
import { inspectBlob, type DecoderTable } from "./inspect.js";
import { defaultDecoders } from "./table.js";
import type { GuestReader, InspectedEnvelope } from "./types.js";

/** What `inspectDevice` accepts: one device, or a machine (anything with stateDevices and a core's guest memory). */
export type Inspectable = DeviceModel | { stateDevices: readonly DeviceModel[]; core: { guest: GuestReader } };

export interface LiveInspectOptions {
  /** Guest RAM to read the rings in; a machine brings its own. */
  guest?: GuestReader;
  decoders?: DecoderTable;
}

/** One device's live dump. */
export interface LiveDeviceDump { name: string; kind: number; state: InspectedEnvelope }

const isMachine = (x: Inspectable): x is Exclude<Inspectable, DeviceModel> => "stateDevices" in x;

/**
 * Dump a device, or every device of a machine (guest clock first), from its
 * saved state; queues show their live chains when guest RAM is known. A device
 * whose save fails gets its error as the dump's decode error.
 */
export async function inspectDevice(target: Inspectable, opts: LiveInspectOptions = {}): Promise<LiveDeviceDump[]> {
  const decoders = opts.decoders ?? defaultDecoders();
  const devices = isMachine(target) ? target.stateDevices : [target];
  const guest = opts.guest ?? (isMachine(target) ? target.core.guest : undefined);
  const out: LiveDeviceDump[] = [];
  for (const d of devices) {
    let blob: Uint8Array;
    try { blob = d.saveState(); } catch (e) {
      out.push({ name: d.name, kind: d.kind, state: { kindName: "unknown", errors: [], fields: [], decodeError: `save failed: ${e instanceof Error ? e.message : String(e)}` } });
      continue;
    }
    out.push({ name: d.name, kind: d.kind, state: await inspectBlob(blob, { decoders, guest }) });
  }
  return out;
}
