// Host-side view of the state envelope (the format is defined in
// assembly/core/state.ts). Device blobs are written and validated by the wasm;
// the host reads their header for routing and diagnostics, and seals and
// opens the blobs only it writes (a v86 machine: v86's state and the devices'
// own envelopes) in the same format with the same checks, in the same order.

import xxhash from "xxhash-wasm";
import { CoreDefs } from "./generated/constants.js";
import { Status } from "./status.js";
import { camelTable } from "./tables.js";

/** The envelope's magic as text ("VMDS": the u32 ENV_MAGIC in little-endian byte order). */
export const STATE_MAGIC = String.fromCharCode(...[0, 8, 16, 24].map((s) => (CoreDefs.ENV_MAGIC >>> s) & 0xff));
export const STATE_HEADER_SIZE = CoreDefs.ENV_HEADER_SIZE;

/** Device kinds of saved state (assembly/core/defs.ts DeviceKind): `guestMemory`, `virtioNet`, `localApic`, ... */
export const DeviceKind = camelTable(CoreDefs.DeviceKind);

/**
 * Kinds of blobs only the host writes and reads (the wasm never opens them).
 * They sit above 0xFFFF, outside the wasm's DeviceKind numbers (test/core
 * checks they do not meet).
 */
export const HostKind = {
  /** A v86 machine (src/adapters/v86/machine-state.ts). */
  v86Machine: 0x1_0001,
  /**
   * The first kind for devices an embedder brings (a MigratableDevice of its
   * own, docs/migrate-your-device.md): pick kinds from here up.
   */
  userFirst: 0x2_0000,
  /** A PCI-to-PCI bridge's registers (src/platform/pci/bridge.ts). */
  pciBridge: 0x1_0002,
  /** A physical function's SR-IOV capability and its VFs (src/platform/pci/sriov.ts). */
  pciSriov: 0x1_0003,
  /** A v86 machine's state without its RAM, as a live migration carries it (src/adapters/v86/migration.ts). */
  v86State: 0x1_0004,
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

// ---- host-written envelopes ----

const FIELD_HEADER = 8;
let hasher: Promise<(data: Uint8Array) => bigint> | null = null;
/** XXH64 with seed 0, as assembly/core/hash.ts computes it (xxhash-wasm; test/core/hash.test.ts pins the two together). */
function xxh64(): Promise<(data: Uint8Array) => bigint> {
  hasher ??= xxhash().then((h) => (data: Uint8Array) => h.h64Raw(data, 0n));
  return hasher;
}

/** One named field of an envelope's payload (tag-length-value; assembly/core/state.ts). */
export interface EnvelopeField { tag: number; value: Uint8Array }

/** What a host-written envelope says about itself. */
export interface EnvelopeSeal {
  kind: number;
  payloadVersion: number;
  /** ABI version the contents depend on; 0 when they carry their own (nested device envelopes). */
  abiVersion?: number;
  buildId?: number;
}

/** Encode fields as an envelope payload (also used for a field holding fields). */
export function encodeFields(fields: readonly EnvelopeField[]): Uint8Array {
  let size = 0;
  for (const f of fields) {
    if (!Number.isInteger(f.tag) || f.tag < 0 || f.tag > 0xffff) throw new RangeError(`field tag ${f.tag} is not a u16`);
    size += FIELD_HEADER + f.value.length;
  }
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let p = 0;
  for (const f of fields) {
    dv.setUint16(p, f.tag, true);
    dv.setUint32(p + 4, f.value.length, true);
    out.set(f.value, p + FIELD_HEADER);
    p += FIELD_HEADER + f.value.length;
  }
  return out;
}

/**
 * Split a payload into its fields, proving each lies inside it (the walk of
 * envOpen); a Status when one does not. Values are views into `payload`.
 */
export function decodeFields(payload: Uint8Array): EnvelopeField[] | number {
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const out: EnvelopeField[] = [];
  // Each field is ≥ FIELD_HEADER bytes: at most length/8 steps.
  for (let off = 0; off < payload.length;) {
    if (payload.length - off < FIELD_HEADER) return Status.ERR_STATE_INVALID;
    const len = dv.getUint32(off + 4, true);
    if (dv.getUint16(off + 2, true) !== 0) return Status.ERR_STATE_INVALID;
    if (len > payload.length - off - FIELD_HEADER) return Status.ERR_STATE_INVALID;
    out.push({ tag: dv.getUint16(off, true), value: payload.subarray(off + FIELD_HEADER, off + FIELD_HEADER + len) });
    off += FIELD_HEADER + len;
  }
  return out;
}

/** Seal `fields` in an envelope (the layout of assembly/core/state.ts envBegin … envFinish). */
export async function sealEnvelope(seal: EnvelopeSeal, fields: readonly EnvelopeField[]): Promise<Uint8Array> {
  return sealEnvelopeWith(await xxh64(), seal, fields);
}

/** {@link sealEnvelope} with an XXH64 (seed 0) at hand, for callers that cannot wait (a DeviceModel's saveState). */
export function sealEnvelopeWith(hash: (data: Uint8Array) => bigint, seal: EnvelopeSeal, fields: readonly EnvelopeField[]): Uint8Array {
  const payload = encodeFields(fields);
  const out = new Uint8Array(STATE_HEADER_SIZE + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, CoreDefs.ENV_MAGIC, true);
  dv.setUint16(4, CoreDefs.ENV_FORMAT, true);
  dv.setUint16(6, STATE_HEADER_SIZE, true);
  dv.setUint32(8, seal.kind, true);
  dv.setUint32(12, seal.payloadVersion, true);
  dv.setUint32(16, seal.abiVersion ?? 0, true);
  dv.setUint32(20, seal.buildId ?? 0, true);
  dv.setUint32(24, payload.length, true);
  out.set(payload, STATE_HEADER_SIZE);
  dv.setBigUint64(32, hash(payload), true);
  dv.setBigUint64(40, hash(out.subarray(0, 40)), true);
  return out;
}

/** An envelope the host opened: its header and its fields (views into the blob). */
export interface OpenedEnvelope { header: EnvelopeHeader; fields: EnvelopeField[] }

/**
 * Validate an untrusted blob of `kind` and split its payload into fields, with
 * the checks of envOpen in its order: size, magic, format, header checksum,
 * kind, flags, payload length, payload checksum, field structure. The ABI is
 * the caller's to judge (a host container carries 0). A Status when any fails;
 * never throws for a bad blob.
 */
export async function openEnvelope(blob: Uint8Array, kind: number): Promise<OpenedEnvelope | number> {
  if (!(blob instanceof Uint8Array) || blob.length < STATE_HEADER_SIZE) return Status.ERR_STATE_LENGTH;
  return openEnvelopeWith(await xxh64(), blob, kind);
}

/**
 * sealEnvelope and openEnvelope without the await, for code that must be
 * synchronous (a MigratableDevice's saveState and restoreState): await the
 * codec once, then seal and open with it. Same format, same checks.
 */
export interface EnvelopeCodec {
  seal(seal: EnvelopeSeal, fields: readonly EnvelopeField[]): Uint8Array;
  /** Validate an untrusted blob of `kind` (as openEnvelope); a Status when a check fails, never throws. */
  open(blob: Uint8Array, kind: number): OpenedEnvelope | number;
}

/** The synchronous envelope codec (loads the hash once). */
export async function envelopeCodec(): Promise<EnvelopeCodec> {
  const hash = await xxh64();
  return {
    seal: (seal, fields) => sealEnvelopeWith(hash, seal, fields),
    open: (blob, kind) => openEnvelopeWith(hash, blob, kind),
  };
}

/** {@link openEnvelope} with an XXH64 (seed 0) at hand, for callers that cannot wait (a DeviceModel's restoreState). */
export function openEnvelopeWith(hash: (data: Uint8Array) => bigint, blob: Uint8Array, kind: number): OpenedEnvelope | number {
  if (!(blob instanceof Uint8Array) || blob.length < STATE_HEADER_SIZE) return Status.ERR_STATE_LENGTH;
  const h = readEnvelopeHeader(blob);
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (dv.getUint32(0, true) !== CoreDefs.ENV_MAGIC) return Status.ERR_STATE_MAGIC;
  if (h.format !== CoreDefs.ENV_FORMAT || h.headerSize !== STATE_HEADER_SIZE) return Status.ERR_STATE_VERSION;
  if (hash(blob.subarray(0, 40)) !== h.headerChecksum) return Status.ERR_STATE_CHECKSUM;
  if (h.kind !== kind) return Status.ERR_STATE_KIND;
  if (h.flags !== 0) return Status.ERR_STATE_VERSION;
  if (h.payloadLength !== blob.length - STATE_HEADER_SIZE) return Status.ERR_STATE_LENGTH;
  const payload = blob.subarray(STATE_HEADER_SIZE);
  if (hash(payload) !== h.payloadChecksum) return Status.ERR_STATE_CHECKSUM;
  const fields = decodeFields(payload);
  if (typeof fields === "number") return fields;
  return { header: h, fields };
}
