// The inspector's dump of one saved-state envelope, and what a device room
// registers to have its own fields decoded (src/devices/<dev>/inspect.ts).

import type { DecodeContext, Fields } from "./fields.js";

/** A device's saved-state decoder, keyed by its DeviceKind. */
export interface DeviceDecoder {
  /** DeviceKind (src/state.ts) or HostKind of the blobs it reads. */
  kind: number;
  /** Name of the kind in dumps ("virtio-net", "local-apic"). */
  name: string;
  /** Field tag → name, for the raw field list. */
  fieldName(tag: number): string | undefined;
  /**
   * Decode the fields into a readable, JSON-friendly structure (numbers,
   * strings, arrays, plain objects; u64 values as hex strings). Parts that do
   * not decode carry `{ error }`; a throw is caught and reported as the
   * decode error of the whole device.
   */
  decode(fields: Fields, ctx: DecodeContext): unknown | Promise<unknown>;
}

/** One field as it sits in the payload. */
export interface RawField {
  tag: number;
  name?: string;
  length: number;
  /** The first bytes of the value in hex (at most PREVIEW_BYTES of them). */
  preview: string;
}

export interface InspectedHeader {
  magic: string;
  format: number;
  headerSize: number;
  kind: number;
  payloadVersion: number;
  /** "major.minor"; "0.0" for host containers that carry their contents' ABIs. */
  abi: string;
  buildId: string;
  payloadLength: number;
  flags: number;
  payloadChecksum: string;
  headerChecksum: string;
}

/** The dump of one envelope. */
export interface InspectedEnvelope {
  /** Name of the kind ("unknown" when no decoder is registered for it). */
  kindName: string;
  header?: InspectedHeader;
  /** Envelope-level problems (size, magic, checksums, field structure); empty for a sound blob. */
  errors: string[];
  fields: RawField[];
  /** The device's decoded state, when a decoder for its kind is registered and the fields could be read. */
  device?: unknown;
  /** Why the device's decoder could not run or failed as a whole. */
  decodeError?: string;
}
