// The state envelope: the one format every device saves and restores through.
//
// Layout (little-endian), ENV_HEADER_SIZE bytes of header then the payload:
//   0  u32 magic "VMDS"          20 u32 wasm build id
//   4  u16 format version        24 u32 payload length
//   6  u16 header size           28 u32 flags (must be 0)
//   8  u32 device kind           32 u64 XXH64 of the payload
//  12  u32 payload version       40 u64 XXH64 of header bytes 0..40
//  16  u32 ABI version (major << 16 | minor)
//
// The payload is a sequence of named fields (tag-length-value): u16 tag,
// u16 reserved (0), u32 length, then the bytes. Fields are found by tag, so
// adding a field never shifts the meaning of another; unknown tags are
// skipped, which lets an older reader accept a newer minor version.
//
// Restore treats the blob as hostile: envOpen checks sizes before reading,
// both checksums, and walks every field once to prove each lies inside the
// payload, so envFind* never reads past the blob. Devices then validate each
// field through their own setters before changing anything.

import { Status } from "./status";
import { xxh64 } from "./hash";
import { ABI_VERSION, abiCompatible } from "./abi";
import { BUILD_ID } from "./buildinfo";
import { counterAdd, Counter } from "./layout";

import { ENV_MAGIC, ENV_FORMAT, ENV_HEADER_SIZE } from "./defs";
export const FIELD_HEADER: u32 = 8;

// Device kinds (defs.ts DeviceKind): one number per saved-state format.
export { DeviceKind } from "./defs";

let strictBuild = false;
/** When on, restore refuses blobs saved by another wasm build. */
export function envSetStrictBuild(on: bool): void { strictBuild = on; }

// ---- Writer -----------------------------------------------------------------

let wBase: usize = 0;
let wCap: u32 = 0;
let wPos: u32 = 0;
let wOverflow = false;

/** Start a blob in [buf, buf+cap). */
export function envBegin(buf: usize, cap: u32, kind: u32, payloadVersion: u32): void {
  wBase = buf; wCap = cap; wPos = ENV_HEADER_SIZE; wOverflow = cap < ENV_HEADER_SIZE;
  if (wOverflow) return;
  memory.fill(buf, 0, ENV_HEADER_SIZE);
  store<u32>(buf, ENV_MAGIC);
  store<u16>(buf, ENV_FORMAT, 4);
  store<u16>(buf, <u16>ENV_HEADER_SIZE, 6);
  store<u32>(buf, kind, 8);
  store<u32>(buf, payloadVersion, 12);
  store<u32>(buf, ABI_VERSION, 16);
  store<u32>(buf, BUILD_ID, 20);
}

/** Reserve a field of `len` bytes and return where to write its value (0 on overflow). */
export function envField(tag: u32, len: u32): usize {
  if (wOverflow || len > wCap || wPos > wCap - len || wCap - wPos - len < FIELD_HEADER) { wOverflow = true; return 0; }
  const p = wBase + wPos;
  store<u16>(p, <u16>tag);
  store<u16>(p, 0, 2);
  store<u32>(p, len, 4);
  wPos += FIELD_HEADER + len;
  return p + FIELD_HEADER;
}

export function envPutU32(tag: u32, v: u32): void { const p = envField(tag, 4); if (p) store<u32>(p, v); }
export function envPutU64(tag: u32, v: u64): void { const p = envField(tag, 8); if (p) store<u64>(p, v); }
export function envPutBytes(tag: u32, src: usize, len: u32): void {
  const p = envField(tag, len); if (p) memory.copy(p, src, len);
}

/** Seal the blob. Returns its total length, or -ERR_NO_MEMORY if it did not fit. */
export function envFinish(): i32 {
  if (wOverflow) return -Status.ERR_NO_MEMORY;
  const payload = wPos - ENV_HEADER_SIZE;
  store<u32>(wBase, payload, 24);
  store<u64>(wBase, xxh64(wBase + ENV_HEADER_SIZE, payload, 0), 32);
  store<u64>(wBase, xxh64(wBase, 40, 0), 40);
  return <i32>wPos;
}

// ---- Reader -----------------------------------------------------------------

let rBase: usize = 0;
let rLen: u32 = 0;     // payload length
let rVersion: u32 = 0;

/**
 * Validate a blob of `len` bytes at `buf` saved for device `kind`. On success
 * the reader is positioned on its payload. Checks, in order: size, magic,
 * format, header checksum, kind, ABI, build (if strict), payload length,
 * payload checksum, field structure.
 */
export function envOpen(buf: usize, len: u32, kind: u32): i32 {
  const s = envOpenInner(buf, len, kind);
  if (s != Status.OK) { counterAdd(Counter.STATE_REJECTED, 1); rLen = 0; rBase = 0; }
  return s;
}

function envOpenInner(buf: usize, len: u32, kind: u32): i32 {
  if (len < ENV_HEADER_SIZE) return Status.ERR_STATE_LENGTH;
  if (load<u32>(buf) != ENV_MAGIC) return Status.ERR_STATE_MAGIC;
  if (load<u16>(buf, 4) != ENV_FORMAT || load<u16>(buf, 6) != <u16>ENV_HEADER_SIZE) return Status.ERR_STATE_VERSION;
  if (load<u64>(buf, 40) != xxh64(buf, 40, 0)) return Status.ERR_STATE_CHECKSUM;
  if (load<u32>(buf, 8) != kind) return Status.ERR_STATE_KIND;
  if (!abiCompatible(load<u32>(buf, 16))) return Status.ERR_STATE_ABI;
  if (strictBuild && load<u32>(buf, 20) != BUILD_ID) return Status.ERR_STATE_BUILD;
  if (load<u32>(buf, 28) != 0) return Status.ERR_STATE_VERSION;
  const payload = load<u32>(buf, 24);
  if (payload != len - ENV_HEADER_SIZE) return Status.ERR_STATE_LENGTH;
  const p = buf + ENV_HEADER_SIZE;
  if (load<u64>(buf, 32) != xxh64(p, payload, 0)) return Status.ERR_STATE_CHECKSUM;
  // Walk the fields once: each is ≥ FIELD_HEADER bytes, so at most payload/8 steps.
  let off: u32 = 0;
  while (off < payload) {
    if (payload - off < FIELD_HEADER) return Status.ERR_STATE_INVALID;
    const flen = load<u32>(p + off, 4);
    if (load<u16>(p + off, 2) != 0) return Status.ERR_STATE_INVALID;
    if (flen > payload - off - FIELD_HEADER) return Status.ERR_STATE_INVALID;
    off += FIELD_HEADER + flen;
  }
  rBase = p; rLen = payload; rVersion = load<u32>(buf, 12);
  return Status.OK;
}

/** Payload version of the blob envOpen accepted. */
export function envVersion(): u32 { return rVersion; }

/** Device kind of a blob, after checking its header alone; -status if the header is bad. */
export function envPeekKind(buf: usize, len: u32): i32 {
  if (len < ENV_HEADER_SIZE) return -Status.ERR_STATE_LENGTH;
  if (load<u32>(buf) != ENV_MAGIC) return -Status.ERR_STATE_MAGIC;
  if (load<u64>(buf, 40) != xxh64(buf, 40, 0)) return -Status.ERR_STATE_CHECKSUM;
  return <i32>(load<u32>(buf, 8) & 0x7fff_ffff);
}

let foundLen: u32 = 0;
/** Length of the field the last envFind found. */
export function envFoundLen(): u32 { return foundLen; }

/** Find the first field with `tag`; returns a pointer to its value or 0. */
export function envFind(tag: u32): usize {
  let off: u32 = 0;
  // Bounded and in range: envOpen proved the field chain stays inside the payload.
  while (off < rLen) {
    const p = rBase + off;
    const flen = load<u32>(p, 4);
    if (<u32>load<u16>(p) == tag) { foundLen = flen; return p + FIELD_HEADER; }
    off += FIELD_HEADER + flen;
  }
  foundLen = 0;
  return 0;
}

/** Pointer to field `tag` if it exists with exactly `len` bytes, else 0. */
export function envFindExact(tag: u32, len: u32): usize {
  const p = envFind(tag);
  return p != 0 && foundLen == len ? p : 0;
}

/** Reads a u32 field into the `*Value` slot; false if missing or the wrong size. */
let u32Value: u32 = 0;
let u64Value: u64 = 0;
export function envGetU32(tag: u32): bool { const p = envFindExact(tag, 4); if (!p) return false; u32Value = load<u32>(p); return true; }
export function envGetU64(tag: u32): bool { const p = envFindExact(tag, 8); if (!p) return false; u64Value = load<u64>(p); return true; }
export function envU32(): u32 { return u32Value; }
export function envU64(): u64 { return u64Value; }
