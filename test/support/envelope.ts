// Editing saved-state envelopes (assembly/core/state.ts) in tests: find a
// blob's fields, change one, and re-seal the checksums, so that what rejects
// a hostile blob is the device's own validation, not the checksum.
import xxhash from "xxhash-wasm";

const oracle = await xxhash();
const HEADER = 48;

/** Fields of an envelope blob: tag → [offset of the value, length]. */
export function envelopeFields(blob: Uint8Array): Map<number, [number, number]> {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const out = new Map<number, [number, number]>();
  for (let o = HEADER; o + 8 <= blob.length;) { const tag = dv.getUint16(o, true), len = dv.getUint32(o + 4, true); out.set(tag, [o + 8, len]); o += 8 + len; }
  return out;
}

/** Recompute the payload length and both checksums after an edit. */
export function reseal(blob: Uint8Array): Uint8Array {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  dv.setUint32(24, blob.length - HEADER, true);
  dv.setBigUint64(32, oracle.h64Raw(blob.subarray(HEADER), 0n), true);
  dv.setBigUint64(40, oracle.h64Raw(blob.subarray(0, 40), 0n), true);
  return blob;
}

/** Recompute only the two checksums, leaving the payload length the blob states (fuzzing a lying length). */
export function resealChecksums(blob: Uint8Array): Uint8Array {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  dv.setBigUint64(32, oracle.h64Raw(blob.subarray(HEADER), 0n), true);
  dv.setBigUint64(40, oracle.h64Raw(blob.subarray(0, 40), 0n), true);
  return blob;
}

/** A copy of `blob` with field `tag`'s value changed by `write` (at byte `at` of it), re-sealed. */
export function editField(blob: Uint8Array, tag: number, at: number, write: (dv: DataView, off: number) => void): Uint8Array {
  const b = blob.slice();
  const f = envelopeFields(b).get(tag);
  if (!f) throw new Error(`no field ${tag}`);
  write(new DataView(b.buffer, b.byteOffset, b.byteLength), f[0] + at);
  return reseal(b);
}

/** A copy of `blob` with field `tag`'s value replaced by `value` (any length), re-sealed. */
export function replaceField(blob: Uint8Array, tag: number, value: Uint8Array): Uint8Array {
  const f = envelopeFields(blob).get(tag);
  if (!f) throw new Error(`no field ${tag}`);
  const [off, len] = f;
  const out = new Uint8Array(blob.length - len + value.length);
  out.set(blob.subarray(0, off), 0);
  new DataView(out.buffer).setUint32(off - 4, value.length, true);
  out.set(value, off);
  out.set(blob.subarray(off + len), off + value.length);
  return reseal(out);
}

/** A copy of `blob` without field `tag`, re-sealed. */
export function dropField(blob: Uint8Array, tag: number): Uint8Array {
  const f = envelopeFields(blob).get(tag);
  if (!f) throw new Error(`no field ${tag}`);
  const [off, len] = f;
  const out = new Uint8Array(blob.length - len - 8);
  out.set(blob.subarray(0, off - 8), 0);
  out.set(blob.subarray(off + len), off - 8);
  return reseal(out);
}
