import { describe, it, expect } from "vitest";
import xxhash from "xxhash-wasm";
import { newCore, rng, testSeed } from "../support/core.js";

describe("XXH64 in the wasm", () => {
  it("matches xxhash-wasm (the oracle) on every length 0..300 and random inputs up to 64 KiB", async () => {
    const oracle = await xxhash();
    const core = await newCore(1 << 20);
    const seed = testSeed();
    const rand = rng(seed);
    const check = (len: number, hseed: bigint) => {
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i++) bytes[i] = (rand() * 256) | 0;
      core.io().set(bytes, 0);
      expect(BigInt.asUintN(64, core.exports.hash_xxh64(0, len, hseed)), `seed ${seed} len ${len}`).toBe(oracle.h64Raw(bytes, hseed));
    };
    for (let len = 0; len <= 300; len++) check(len, 0n);
    for (let i = 0; i < 200; i++) check(Math.floor(rand() * 65536), BigInt.asUintN(64, BigInt(Math.floor(rand() * 2 ** 52)) * 4099n));
  });

  it("hashes guest pages the same as the oracle hashes their bytes", async () => {
    const oracle = await xxhash();
    const core = await newCore(1 << 20);
    const page = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff);
    core.guest.writeBytes(7 * 4096, page);
    expect(core.guest.hashPage(7, 5n)).toBe(oracle.h64Raw(page, 5n));
    expect(core.guest.hashPage(256)).toBe(0n);
  });
});
