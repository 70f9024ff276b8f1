// Envelopes the PCI platform writes itself (HostKind blobs), sealed and
// opened synchronously so the platform's pieces are DeviceModels.
import { xxh64 } from "../../migration/xxh64.js";
import { openEnvelopeWith, sealEnvelopeWith, type EnvelopeField, type OpenedEnvelope } from "../../state.js";

const hash = (d: Uint8Array): bigint => xxh64(d);

export function hostSeal(kind: number, payloadVersion: number, fields: readonly EnvelopeField[]): Uint8Array {
  return sealEnvelopeWith(hash, { kind, payloadVersion }, fields);
}

/** Open an untrusted blob of `kind`: a Status when any envelope check fails; never throws. */
export function hostOpen(blob: Uint8Array, kind: number): OpenedEnvelope | number {
  return openEnvelopeWith(hash, blob, kind);
}
