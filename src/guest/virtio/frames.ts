// Ethernet frames for tests: addresses, optional 802.1Q tag, a payload that
// carries a sequence number so loss, duplication and reordering are visible.

import { formatMac, parseMac } from "../../net/mac.js";

export const BROADCAST = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

/** Parse "52:54:00:12:34:56" (src/net/mac.ts). */
export const mac = (s: string): Uint8Array => parseMac(s);
/** "52:54:00:12:34:56" for 6 bytes. */
export const macStr = (m: Uint8Array): string => formatMac(m);

export interface FrameSpec { dst: Uint8Array; src?: Uint8Array; vlan?: number; ethertype?: number; seq?: number; length?: number }

/** Build a frame of `length` bytes (default 64) with the sequence number at the start of the payload. */
export function frame(spec: FrameSpec): Uint8Array {
  const len = spec.length ?? 64;
  const f = new Uint8Array(len);
  f.set(spec.dst, 0);
  f.set(spec.src ?? mac("02:00:00:00:00:99"), 6);
  let o = 12;
  if (spec.vlan !== undefined) { f[o] = 0x81; f[o + 1] = 0x00; f[o + 2] = (spec.vlan >> 8) & 0x0f; f[o + 3] = spec.vlan & 0xff; o += 4; }
  const et = spec.ethertype ?? 0x88b5; // IEEE local experimental
  f[o] = et >> 8; f[o + 1] = et & 0xff; o += 2;
  const seq = spec.seq ?? 0;
  if (o + 4 <= len) new DataView(f.buffer).setUint32(o, seq >>> 0, true);
  for (let i = o + 4; i < len; i++) f[i] = (i * 31 + seq) & 0xff;
  return f;
}

/** The sequence number frame() put in a frame. */
export function seqOf(f: Uint8Array): number {
  const o = f[12] === 0x81 && f[13] === 0x00 ? 18 : 14;
  return new DataView(f.buffer, f.byteOffset).getUint32(o, true);
}
