// XXH64, the hash of the migration frames (docs/migration-protocol.md,
// "Frames"), on the host side: framing hashes bytes wherever they are and
// needs no VM. xxhash-wasm implements the reference algorithm in a small
// wasm module of its own; it is instantiated once, when this module loads.
import xxhash from "xxhash-wasm";

const api = await xxhash();

/** XXH64 of `bytes` with `seed` (a u64). */
export function xxh64(bytes: Uint8Array, seed: bigint = 0n): bigint {
  return api.h64Raw(bytes, seed);
}
