// Guest RAM contents the synthetic guest starts from: pseudo-random bytes, so
// pages are neither zero nor alike (a migration then sends every page whole).
import type { VmCore } from "../vm-core.js";

/** Fill guest RAM [0, bytes) with pseudo-random bytes (xorshift), so pages are neither zero nor alike. */
export function fillRandom(core: VmCore, bytes: number, seed = 1): void {
  const chunk = 4 << 20;
  let x = (seed * 2654435761) >>> 0 || 1;
  const buf = new Uint32Array(chunk / 4);
  for (let off = 0; off < bytes; off += chunk) {
    const n = Math.min(chunk, bytes - off);
    for (let i = 0; i < n / 4; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; buf[i] = x; }
    core.guest.writeBytes(off, new Uint8Array(buf.buffer, 0, n));
  }
}
