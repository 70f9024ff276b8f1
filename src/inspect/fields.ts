// What a device's decoder works with: the fields of one saved-state envelope,
// read with every length checked, and decode errors that stay with the part
// of the dump they concern. A saved blob is untrusted: a field that is
// missing, of the wrong size or out of its domain becomes an error in that
// part, never an exception out of the inspector.

import type { EnvelopeField } from "../state.js";

/** A field is missing, of the wrong size or malformed. */
export class DecodeError extends Error {}

/** The part of a dump a decoder could not read. */
export interface PartError { error: string }

/** The fields of one envelope by tag; the first of a tag wins, as envFind does. */
export class Fields {
  private readonly byTag = new Map<number, Uint8Array>();
  constructor(readonly list: readonly EnvelopeField[], private readonly names: (tag: number) => string | undefined = () => undefined) {
    for (const f of list) if (!this.byTag.has(f.tag)) this.byTag.set(f.tag, f.value);
  }
  private label(tag: number): string { const n = this.names(tag); return n ? `field ${tag} (${n})` : `field ${tag}`; }
  has(tag: number): boolean { return this.byTag.has(tag); }
  /** The field's bytes; `len` when given is the exact size it must have. */
  bytes(tag: number, len?: number): Uint8Array {
    const v = this.byTag.get(tag);
    if (!v) throw new DecodeError(`${this.label(tag)} is missing`);
    if (len !== undefined && v.length !== len) throw new DecodeError(`${this.label(tag)} has ${v.length} bytes, want ${len}`);
    return v;
  }
  view(tag: number, len?: number): DataView { const b = this.bytes(tag, len); return new DataView(b.buffer, b.byteOffset, b.byteLength); }
  u32(tag: number): number { return this.view(tag, 4).getUint32(0, true); }
  u64(tag: number): bigint { return this.view(tag, 8).getBigUint64(0, true); }
}

/** Run one part of a decode; a failure becomes that part's error. */
export function part<T>(fn: () => T): T | PartError {
  try { return fn(); } catch (e) { return { error: e instanceof Error ? e.message : String(e) }; }
}

export const hex = (v: number | bigint, width = 0): string => `0x${v.toString(16).padStart(width, "0")}`;

/** Bits set in a little-endian bitmap, as numbers (IRR/ISR/TMR vectors, VLAN IDs). Bounded by the bitmap's size. */
export function bitList(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b) for (let k = 0; k < 8; k++) if (b & (1 << k)) out.push(i * 8 + k);
  }
  return out;
}

/** Names of the set bits of `v` from `table` (bit number → name); unnamed bits as `bit N`. */
export function flagNames(v: bigint | number, table: Readonly<Record<number, string>>): string[] {
  const x = BigInt(v);
  const out: string[] = [];
  for (let k = 0n; k < 64n; k++) if ((x >> k) & 1n) out.push(table[Number(k)] ?? `bit ${k}`);
  return out;
}

export const macText = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
