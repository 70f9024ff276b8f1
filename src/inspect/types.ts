// The inspector's dump of one saved-state envelope, and what a device room
// registers to have its own fields decoded (src/devices/<dev>/inspect.ts).

import type { EnvelopeHeader } from "../state.js";
import type { Fields } from "./fields.js";

/**
 * Guest memory as the live form reads it: bounds-checked reads through the
 * guest-memory port (GuestMemory in src/vm-core.ts is one). `check` returns a
 * Status (0 when [gpa, gpa+len) is RAM); reads throw on a bad range.
 */
export interface GuestReader {
  check(gpa: number | bigint, len: number | bigint): number;
  readU16(gpa: number | bigint): number;
  readU32(gpa: number | bigint): number;
  readU64(gpa: number | bigint): bigint;
}

/** What a decoder gets besides the fields. */
export interface DecodeContext {
  header: EnvelopeHeader;
  /** Guest RAM (the live form): decoders that can follow guest pointers (virtqueue chains) do. */
  guest?: GuestReader;
  /** Inspect a nested envelope (a machine blob's devices); bounded in depth by the inspector. */
  inspect(blob: Uint8Array): Promise<InspectedEnvelope>;
}

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
