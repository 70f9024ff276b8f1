// Hostile-blob helpers for saved-state tests: split an envelope blob into its
// tag → bytes fields, and rebuild one from edited fields with valid checksums
// (a well-formed blob that lies), as assembly/core/state.ts lays it out.
import xxhash from "xxhash-wasm";

/** Fields of a blob as tag → bytes (a field running past the end is cut short). */
export function fields(blob: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const d = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  for (let off = 48; off + 8 <= blob.length;) {
    const tag = d.getUint16(off, true), len = d.getUint32(off + 4, true);
    out.set(tag, blob.slice(off + 8, off + 8 + len));
    off += 8 + len;
  }
  return out;
}

/** A well-formed blob (valid checksums) with edited fields: a lying peer. */
export async function reseal(blob: Uint8Array, edit: (f: Map<number, Uint8Array>) => void): Promise<Uint8Array> {
  const h64 = (await xxhash()).h64Raw;
  const f = fields(blob);
  edit(f);
  const parts: Uint8Array[] = [];
  for (const [tag, v] of f) {
    const hdr = new Uint8Array(8);
    new DataView(hdr.buffer).setUint16(0, tag, true);
    new DataView(hdr.buffer).setUint32(4, v.length, true);
    parts.push(hdr, v);
  }
  const payload = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { payload.set(p, o); o += p.length; }
  const out = new Uint8Array(48 + payload.length);
  out.set(blob.subarray(0, 48));
  out.set(payload, 48);
  const d = new DataView(out.buffer);
  d.setUint32(24, payload.length, true);
  d.setBigUint64(32, h64(payload, 0n), true);
  d.setBigUint64(40, h64(out.subarray(0, 40), 0n), true);
  return out;
}
