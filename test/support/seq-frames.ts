// Numbered test frames: 64 bytes, dst and src MACs, ethertype 0x88b5 (IEEE
// local experimental), a big-endian sequence number at bytes 14..17, so a
// receiver can check loss, duplication and order exactly.
import { parseMac } from "../../src/net/mac.js";

export function seqFrame(dst: string, src: string, seq: number): Uint8Array {
  const f = new Uint8Array(64);
  f.set(parseMac(dst), 0); f.set(parseMac(src), 6);
  f[12] = 0x88; f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}

/** The sequence number of a seqFrame. */
export const seqOf = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset).getUint32(14);
