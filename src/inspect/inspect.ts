// Decode any saved-state envelope (assembly/core/state.ts) into a readable
// dump: the header with each check the restore path makes, the raw tagged
// fields, and — when a decoder for the blob's kind is registered — the
// device's state by name. The blob is hostile: every length is checked before
// it is used, the field walk is bounded by the payload (each field is at least
// FIELD_HEADER bytes), nesting is bounded, and nothing in here throws for a
// bad blob; each problem is reported where it was found.

import xxhash from "xxhash-wasm";
import { CoreDefs } from "../generated/constants.js";
import { STATE_HEADER_SIZE, readEnvelopeHeader, type EnvelopeField, type EnvelopeHeader } from "../state.js";
import { DecodeError, Fields, hex } from "./fields.js";
import type { DeviceDecoder, GuestReader, InspectedEnvelope, InspectedHeader, RawField } from "./types.js";

const FIELD_HEADER = 8;
/** Bytes of each raw field shown in a dump. */
export const PREVIEW_BYTES = 32;
/** Envelopes inside envelopes (a machine blob's devices) are followed this deep. */
export const MAX_DEPTH = 4;

/** Decoders by kind: each device room registers its own; an unknown kind still gets the generic dump. */
export class DecoderTable {
  private readonly byKind = new Map<number, DeviceDecoder>();
  register(d: DeviceDecoder): this {
    if (this.byKind.has(d.kind)) throw new Error(`a decoder for kind ${d.kind} is already registered (${this.byKind.get(d.kind)!.name})`);
    this.byKind.set(d.kind, d);
    return this;
  }
  get(kind: number): DeviceDecoder | undefined { return this.byKind.get(kind); }
  get kinds(): number[] { return [...this.byKind.keys()].sort((a, b) => a - b); }
}

export interface InspectOptions {
  decoders: DecoderTable;
  /** Guest RAM to follow the device's pointers in (the live form). */
  guest?: GuestReader;
}

let hasher: Promise<(data: Uint8Array) => bigint> | null = null;
function xxh64(): Promise<(data: Uint8Array) => bigint> {
  hasher ??= xxhash().then((h) => (data: Uint8Array) => h.h64Raw(data, 0n));
  return hasher;
}

function shownHeader(h: EnvelopeHeader): InspectedHeader {
  return {
    magic: h.magic, format: h.format, headerSize: h.headerSize, kind: h.kind, payloadVersion: h.payloadVersion,
    abi: `${h.abiVersion >>> 16}.${h.abiVersion & 0xffff}`, buildId: hex(h.buildId, 8), payloadLength: h.payloadLength,
    flags: h.flags, payloadChecksum: hex(h.payloadChecksum, 16), headerChecksum: hex(h.headerChecksum, 16),
  };
}

/** Walk a payload's fields as envOpen does; stops at the first malformed one and says where. */
export function walkFields(payload: Uint8Array): { fields: EnvelopeField[]; error?: string } {
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const fields: EnvelopeField[] = [];
  // Bounded: each step consumes ≥ FIELD_HEADER bytes of the payload.
  for (let off = 0; off < payload.length;) {
    if (payload.length - off < FIELD_HEADER) return { fields, error: `payload offset ${off}: ${payload.length - off} trailing bytes, shorter than a field header` };
    const tag = dv.getUint16(off, true), len = dv.getUint32(off + 4, true);
    if (dv.getUint16(off + 2, true) !== 0) return { fields, error: `payload offset ${off}: field ${tag} has a non-zero reserved half-word` };
    if (len > payload.length - off - FIELD_HEADER) return { fields, error: `payload offset ${off}: field ${tag} claims ${len} bytes, ${payload.length - off - FIELD_HEADER} remain` };
    fields.push({ tag, value: payload.subarray(off + FIELD_HEADER, off + FIELD_HEADER + len) });
    off += FIELD_HEADER + len;
  }
  return { fields };
}

function preview(v: Uint8Array): string {
  const shown = [...v.subarray(0, PREVIEW_BYTES)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return v.length > PREVIEW_BYTES ? `${shown}…` : shown;
}

/**
 * Inspect one blob. Never throws for a bad blob: envelope problems are in
 * `errors`, a device decoder's failure in `decodeError`, a field's in the part
 * of `device` it concerns. A blob whose checksums fail is still decoded as far
 * as its structure allows (that is what one inspects a damaged blob for), with
 * the failures listed.
 */
export async function inspectBlob(blob: Uint8Array, opts: InspectOptions): Promise<InspectedEnvelope> {
  return inspectAt(blob, opts, 0);
}

async function inspectAt(blob: Uint8Array, opts: InspectOptions, depth: number): Promise<InspectedEnvelope> {
  const out: InspectedEnvelope = { kindName: "unknown", errors: [], fields: [] };
  if (!(blob instanceof Uint8Array)) { out.errors.push("not a byte array"); return out; }
  if (blob.length < STATE_HEADER_SIZE) { out.errors.push(`${blob.length} bytes, shorter than the ${STATE_HEADER_SIZE}-byte envelope header`); return out; }
  const h = readEnvelopeHeader(blob);   // the length is checked above, so this cannot throw
  // Without the magic nothing else in the header means anything: it is not shown.
  if (new DataView(blob.buffer, blob.byteOffset).getUint32(0, true) !== CoreDefs.ENV_MAGIC) {
    out.errors.push(`bad magic ${JSON.stringify(h.magic)}: not a state envelope`);
    return out;
  }
  out.header = shownHeader(h);
  const dec = opts.decoders.get(h.kind);
  if (dec) out.kindName = dec.name;
  if (h.format !== CoreDefs.ENV_FORMAT || h.headerSize !== STATE_HEADER_SIZE) out.errors.push(`envelope format ${h.format} / header size ${h.headerSize}: this reader knows format ${CoreDefs.ENV_FORMAT} / ${STATE_HEADER_SIZE}`);
  const hash = await xxh64();
  if (hash(blob.subarray(0, 40)) !== h.headerChecksum) out.errors.push("header checksum mismatch");
  if (h.flags !== 0) out.errors.push(`flags ${hex(h.flags)} (must be 0)`);
  const avail = blob.length - STATE_HEADER_SIZE;
  if (h.payloadLength !== avail) out.errors.push(`payload length ${h.payloadLength} but ${avail} bytes follow the header`);
  const payload = blob.subarray(STATE_HEADER_SIZE, STATE_HEADER_SIZE + Math.min(h.payloadLength, avail));
  if (h.payloadLength === avail && hash(payload) !== h.payloadChecksum) out.errors.push("payload checksum mismatch");
  const walk = walkFields(payload);
  if (walk.error) out.errors.push(walk.error);
  const names = (tag: number) => { try { return dec?.fieldName(tag); } catch { return undefined; } };
  out.fields = walk.fields.map((f): RawField => {
    const name = names(f.tag);
    return { tag: f.tag, ...(name ? { name } : {}), length: f.value.length, preview: preview(f.value) };
  });
  if (!dec) return out;
  try {
    out.device = await dec.decode(new Fields(walk.fields, names), {
      header: h,
      guest: opts.guest,
      inspect: async (inner) => {
        if (depth + 1 >= MAX_DEPTH) return { kindName: "unknown", errors: [`nested deeper than ${MAX_DEPTH} envelopes`], fields: [] };
        return inspectAt(inner, opts, depth + 1);
      },
    });
  } catch (e) {
    out.decodeError = e instanceof DecodeError || e instanceof Error ? e.message : String(e);
  }
  return out;
}
