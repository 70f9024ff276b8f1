// The migration stream on the wire: frames and message payloads.
// docs/migration-protocol.md describes the exchange; this file is its
// executable form. Every reader here treats its input as hostile: lengths are
// checked before bytes are read and anything malformed is a ProtocolError.

import { MigrationDefs } from "../generated/constants.js";

/** Protocol version carried in every frame header and in HELLO. */
export const PROTOCOL_VERSION = 3;
/**
 * Frame header flag (bytes 6..8): the payload checksum (bytes 16..24) covers a
 * PAGES payload's round prefix and record headers only, chained
 * (mig_records_hash); each record's page data is covered by the page hash in
 * its header, which the destination checks before it writes the page. Only
 * PAGES frames may carry it; every other frame has flags 0.
 */
export const FRAME_RECORD_HASHES = 1;
/** "VMMG" little-endian. */
export const FRAME_MAGIC = 0x474d4d56;
/** Bytes of a frame header (frames.ts). */
export const FRAME_HEADER = 32;
/** Largest payload a frame may carry; a header announcing more is refused before reading it. */
export const MAX_PAYLOAD = 4 << 20;

/** Message types (frame header byte 5). */
export const Msg = {
  HELLO: 1,
  HELLO_ACK: 2,
  ROUND: 3,
  PAGES: 4,
  ROUND_END: 5,
  DEVICE: 6,
  DIGEST: 7,
  HASHES_REQ: 8,
  HASHES: 9,
  VERDICT: 10,
  CONFIRM: 11,
  RESUMED: 12,
  ABORT: 13,
  ROUND_ACK: 14,
  CHECKED: 15,
  PING: 16,
  PONG: 17,
} as const;
/** A message type number. */
export type MsgType = (typeof Msg)[keyof typeof Msg];
/** The largest message type. */
export const MSG_MAX = 17;
const msgNames = new Map<number, string>(Object.entries(Msg).map(([k, v]) => [v, k]));
/** Name of a message type for errors and logs. */
export function msgName(t: number): string { return msgNames.get(t) ?? `MSG_${t}`; }

/** ROUND flags. */
export const ROUND_FINAL = 1;
/** HELLO flags. */
export const HELLO_DELTA = 1;
/**
 * HELLO flag: full verify. Both sides hash all of guest RAM once the last
 * page is in, so the digests compare memory itself; without it ("sent"
 * mode) they compare the hashes of the pages as sent and applied.
 */
export const HELLO_FULL_VERIFY = 2;
/**
 * HELLO flag: deferred verify. The digests compare the pages as sent and
 * applied (as in sent mode); once the destination runs, the source, frozen
 * for good, hashes all of its RAM against what it sent and reports the
 * result to the destination (CHECKED), so a write that escaped dirty
 * tracking is still found, after the downtime instead of inside it.
 */
export const HELLO_DEFERRED_VERIFY = 4;

/** Page record kinds (assembly/migration/defs.ts; the wasm writes and checks the records). */
export const Rec = MigrationDefs.Rec;
/** Bytes of a page record header. */
export const RECORD_HEADER = MigrationDefs.RECORD_HEADER;
/** Round reported for a page never sent. */
export const ROUND_NEVER = MigrationDefs.ROUND_NEVER;

/** Verdict reasons. */
export const Refuse = {
  NONE: 0,
  DIGEST_MISMATCH: 1,
  DEVICE_STATE: 2,
  DEVICE_MISSING: 3,
  /** Pages outside holes that no record wrote (listed with round ROUND_NEVER). */
  PAGES_MISSING: 4,
} as const;

/** The stream broke a rule of the protocol (or was damaged); the receiver stops and never runs the VM. */
export class ProtocolError extends Error {
  constructor(message: string) { super(message); this.name = "ProtocolError"; }
}

/** Little-endian payload builder for the small control messages. */
export class PayloadWriter {
  private buf = new Uint8Array(256);
  private dv = new DataView(this.buf.buffer);
  private n = 0;
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b; this.dv = new DataView(b.buffer);
  }
  u16(v: number): this { this.room(2); this.dv.setUint16(this.n, v, true); this.n += 2; return this; }
  u32(v: number): this { this.room(4); this.dv.setUint32(this.n, v >>> 0, true); this.n += 4; return this; }
  u64(v: bigint): this { this.room(8); this.dv.setBigUint64(this.n, BigInt.asUintN(64, v), true); this.n += 8; return this; }
  bytes(b: Uint8Array): this { this.room(b.length); this.buf.set(b, this.n); this.n += b.length; return this; }
  /** u16 length then UTF-8 bytes (at most 1024). */
  str(s: string): this { const b = new TextEncoder().encode(s).subarray(0, 1024); return this.u16(b.length).bytes(b); }
  /** u32 length then bytes. */
  blob(b: Uint8Array): this { return this.u32(b.length).bytes(b); }
  done(): Uint8Array { return this.buf.slice(0, this.n); }
}

/** Bounds-checked reader over an untrusted payload: every read past the end is a ProtocolError. */
export class PayloadReader {
  private readonly dv: DataView;
  private pos = 0;
  constructor(private readonly b: Uint8Array, private readonly what: string) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  private need(k: number): void {
    if (k < 0 || this.pos + k > this.b.length) throw new ProtocolError(`${this.what}: truncated payload`);
  }
  u16(): number { this.need(2); const v = this.dv.getUint16(this.pos, true); this.pos += 2; return v; }
  u32(): number { this.need(4); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  u64(): bigint { this.need(8); const v = this.dv.getBigUint64(this.pos, true); this.pos += 8; return v; }
  bytes(k: number): Uint8Array { this.need(k); const v = this.b.subarray(this.pos, this.pos + k); this.pos += k; return v; }
  str(): string {
    const n = this.u16();
    if (n > 1024) throw new ProtocolError(`${this.what}: string too long`);
    return new TextDecoder("utf-8", { fatal: false }).decode(this.bytes(n));
  }
  blob(max: number): Uint8Array {
    const n = this.u32();
    if (n > max) throw new ProtocolError(`${this.what}: blob of ${n} bytes exceeds ${max}`);
    return this.bytes(n);
  }
  get remaining(): number { return this.b.length - this.pos; }
  rest(): Uint8Array { return this.bytes(this.remaining); }
  /** The payload must be fully consumed: trailing bytes mean a damaged or foreign stream. */
  end(): void { if (this.pos !== this.b.length) throw new ProtocolError(`${this.what}: ${this.b.length - this.pos} trailing bytes`); }
}

/** A device as announced in HELLO. */
export interface DeviceInfo { kind: number; name: string }

/** The HELLO message. */
export interface Hello {
  version: number;
  abiVersion: number;
  pageSize: number;
  ramPages: number;
  flags: number;
  devices: DeviceInfo[];
  layout: Uint8Array;
}

/** Encode a HELLO payload. */
export function encodeHello(h: Hello): Uint8Array {
  const w = new PayloadWriter().u32(h.version).u32(h.abiVersion).u32(h.pageSize).u32(h.ramPages).u32(h.flags).u32(h.devices.length);
  for (const d of h.devices) w.u32(d.kind).str(d.name);
  return w.blob(h.layout).done();
}

/**
 * Most devices a HELLO may announce: room for a Machine of the most vCPUs
 * (1024, one local APIC each) with its guest clock, IOAPIC and PCI functions.
 */
export const MAX_DEVICES = 4096;
/** Decode an untrusted HELLO payload (ProtocolError if malformed). */
export function decodeHello(p: Uint8Array): Hello {
  const r = new PayloadReader(p, "HELLO");
  const version = r.u32(), abiVersion = r.u32(), pageSize = r.u32(), ramPages = r.u32(), flags = r.u32(), n = r.u32();
  if (n > MAX_DEVICES) throw new ProtocolError(`HELLO: ${n} devices exceeds ${MAX_DEVICES}`);
  const devices: DeviceInfo[] = [];
  for (let i = 0; i < n; i++) devices.push({ kind: r.u32(), name: r.str() });
  const layout = r.blob(64 << 10).slice();
  r.end();
  return { version, abiVersion, pageSize, ramPages, flags, devices, layout };
}

/** The destination's VERDICT. */
export interface Verdict {
  accept: boolean;
  reason: number;
  message: string;
  /** Total pages whose contents differ (may exceed `pages.length`). */
  mismatchTotal: number;
  /** Pages that differ and the round each was last sent in (ROUND_NEVER: never sent). */
  pages: Array<{ page: number; round: number }>;
}

/** A verdict lists at most this many pages (the total is always given). */
export const VERDICT_MAX_PAGES = 4096;

/** Encode a VERDICT payload (at most VERDICT_MAX_PAGES pages listed). */
export function encodeVerdict(v: Verdict): Uint8Array {
  const list = v.pages.slice(0, VERDICT_MAX_PAGES);
  const w = new PayloadWriter().u32(v.accept ? 1 : 0).u32(v.reason).str(v.message).u32(v.mismatchTotal).u32(list.length);
  for (const { page, round } of list) w.u32(page).u32(round);
  return w.done();
}

/** Decode an untrusted VERDICT payload (ProtocolError if malformed). */
export function decodeVerdict(p: Uint8Array): Verdict {
  const r = new PayloadReader(p, "VERDICT");
  const a = r.u32();
  if (a > 1) throw new ProtocolError("VERDICT: bad accept flag");
  const reason = r.u32(), message = r.str(), mismatchTotal = r.u32(), n = r.u32();
  if (n > VERDICT_MAX_PAGES) throw new ProtocolError("VERDICT: too many pages");
  const pages = [];
  for (let i = 0; i < n; i++) pages.push({ page: r.u32(), round: r.u32() });
  r.end();
  return { accept: a === 1, reason, message, mismatchTotal, pages };
}
