// Host-side view of the state envelope (the format is defined in
// assembly/core/state.ts). The wasm parses and validates blobs; this only
// reads the header for routing and diagnostics.

export const STATE_MAGIC = "VMDS";
export const STATE_HEADER_SIZE = 48;

/** Device kinds, as in assembly/core/state.ts DeviceKind. */
export const DeviceKind = {
  guestMemory: 1,
  virtioNet: 2,
  localApic: 3,
  virtioTransport: 4,
  memtest: 5,
  guestClock: 6,
  ne2000: 8,
} as const;

export interface EnvelopeHeader {
  magic: string;
  format: number;
  headerSize: number;
  kind: number;
  payloadVersion: number;
  abiVersion: number;
  buildId: number;
  payloadLength: number;
  flags: number;
  payloadChecksum: bigint;
  headerChecksum: bigint;
}

/** Decode a blob's header without validating it (the wasm does that on restore). */
export function readEnvelopeHeader(blob: Uint8Array): EnvelopeHeader {
  if (blob.length < STATE_HEADER_SIZE) throw new RangeError(`state blob of ${blob.length} bytes is shorter than its header`);
  const d = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  return {
    magic: String.fromCharCode(blob[0], blob[1], blob[2], blob[3]),
    format: d.getUint16(4, true),
    headerSize: d.getUint16(6, true),
    kind: d.getUint32(8, true),
    payloadVersion: d.getUint32(12, true),
    abiVersion: d.getUint32(16, true),
    buildId: d.getUint32(20, true),
    payloadLength: d.getUint32(24, true),
    flags: d.getUint32(28, true),
    payloadChecksum: d.getBigUint64(32, true),
    headerChecksum: d.getBigUint64(40, true),
  };
}
