// The wasm hot loops of migration: zero-page test, per-page XXH64 (against
// the xxhash-wasm oracle), XBZRLE delta round trips and hostile deltas,
// page records from one VM to another (own and foreign RAM).
import { describe, it, expect } from "vitest";
import xxhash from "xxhash-wasm";
import { Status } from "../../src/index.js";
import { MigrationDefs } from "../../src/generated/constants.js";
import { newCore, rng, testSeed, FakeEmulatorRam } from "../support/core.js";

const PAGE = 4096;
const { ENC_SKIP_ZERO, ENC_DELTA, Stat: STAT } = MigrationDefs;

describe("zero-page test", () => {
  it("finds zero pages, counts a single non-zero byte anywhere, skips holes, works on foreign RAM", async () => {
    const core = await newCore(1 << 20, { holes: [[16 * PAGE, 2 * PAGE]] });
    const e = core.exports;
    expect(e.mig_count_zero(0, 256)).toBe(254);
    for (const off of [0, 1, 15, 16, 63, 64, 2047, 4095]) {
      core.guest.writeU8(3 * PAGE + off, 1);
      expect(e.mig_page_is_zero(3), `offset ${off}`).toBe(0);
      core.guest.writeU8(3 * PAGE + off, 0);
      expect(e.mig_page_is_zero(3)).toBe(1);
    }
    expect(e.mig_page_is_zero(16)).toBe(-Status.ERR_HOLE);
    expect(e.mig_page_is_zero(256)).toBe(-Status.ERR_RANGE);
    expect(e.mig_count_zero(250, 7)).toBe(-Status.ERR_RANGE);

    const ram = new FakeEmulatorRam(1 << 20);
    const f = await newCore(1 << 20, { foreign: ram });
    ram.bytes[5 * PAGE + 777] = 9;
    expect(f.exports.mig_page_is_zero(5)).toBe(0);
    expect(f.exports.mig_count_zero(0, 256)).toBe(255);
  });
});

describe("page hashes", () => {
  it("record hashes and the table equal xxhash-wasm's XXH64 of each page", async () => {
    const oracle = await xxhash();
    const seed = testSeed();
    const rand = rng(seed);
    const core = await newCore(1 << 20);
    const e = core.exports;
    expect(e.mig_init(0)).toBe(0);
    const pages: Uint8Array[] = [];
    for (let p = 0; p < 32; p++) {
      const b = new Uint8Array(PAGE);
      if (p % 4 !== 0) for (let i = 0; i < PAGE; i++) b[i] = (rand() * 256) | 0;
      core.guest.writeBytes(p * PAGE, b);
      pages.push(b);
    }
    const n = e.mig_encode(0, 32, 0, 0, 1 << 20);
    expect(n).toBeGreaterThan(0);
    const dv = core.dv(), io = core.ioPtr();
    let off = 0;
    for (let p = 0; p < 32; p++) {
      expect(dv.getUint32(io + off, true)).toBe(p);
      const want = oracle.h64Raw(pages[p], 0n);
      expect(dv.getBigUint64(io + off + 8, true), `seed ${seed} page ${p}`).toBe(want);
      off += 16 + dv.getUint16(io + off + 6, true);
    }
    expect(BigInt.asUintN(64, e.mig_zero_hash())).toBe(oracle.h64Raw(new Uint8Array(PAGE), 0n));
    // The digest is XXH64 over the table of page hashes.
    expect(e.mig_table_read(0, 256, 0)).toBe(0);
    const table = core.io().slice(0, 256 * 8);
    expect(BigInt.asUintN(64, e.mig_digest(7n))).toBe(oracle.h64Raw(table, 7n));
  });
});

describe("XBZRLE delta", () => {
  const OLD = 0, NEW = PAGE, OUT = 2 * PAGE, WORK = 4 * PAGE;

  it("round-trips random edits (property, seeded) and stays within its bound", async () => {
    const seed = testSeed();
    const rand = rng(seed);
    const core = await newCore(1 << 16);
    const e = core.exports;
    for (let iter = 0; iter < 400; iter++) {
      const io = core.io();
      const old = io.subarray(OLD, OLD + PAGE);
      for (let i = 0; i < PAGE; i++) old[i] = (rand() * 256) | 0;
      const cur = io.subarray(NEW, NEW + PAGE);
      cur.set(old);
      const edits = Math.floor(rand() ** 3 * 600);
      for (let k = 0; k < edits; k++) {
        const at = Math.floor(rand() * PAGE), len = 1 + Math.floor(rand() * 24);
        for (let i = at; i < Math.min(PAGE, at + len); i++) cur[i] = (rand() * 256) | 0;
      }
      const cap = rand() < 0.5 ? 3072 : 64 + Math.floor(rand() * 2048);
      const n = e.mig_delta_encode(OLD, NEW, OUT, cap);
      if (n < 0) { expect(n, `seed ${seed} iter ${iter}`).toBe(-1); continue; }
      expect(n, `seed ${seed} iter ${iter}`).toBeLessThanOrEqual(cap);
      io.copyWithin(WORK, OLD, OLD + PAGE);
      expect(e.mig_delta_decode(WORK, OUT, n), `seed ${seed} iter ${iter}`).toBe(0);
      expect(Buffer.compare(io.subarray(WORK, WORK + PAGE), io.subarray(NEW, NEW + PAGE)), `seed ${seed} iter ${iter}`).toBe(0);
    }
  });

  it("an unchanged page encodes to zero bytes; one changed byte to three", async () => {
    const core = await newCore(1 << 16);
    const e = core.exports;
    const io = core.io();
    io.fill(7, OLD, OLD + 2 * PAGE);
    expect(e.mig_delta_encode(OLD, NEW, OUT, 3072)).toBe(0);
    io[NEW + 100] = 8;
    expect(e.mig_delta_encode(OLD, NEW, OUT, 3072)).toBe(3);
    expect([...io.subarray(OUT, OUT + 3)]).toEqual([100, 1, 8]);
  });

  it("hostile streams never trap, never write outside the page, and leave it untouched on error", async () => {
    const seed = testSeed();
    const rand = rng(seed);
    const core = await newCore(1 << 16);
    const e = core.exports;
    let rejected = 0;
    for (let iter = 0; iter < 3000; iter++) {
      const io = core.io();
      // Guard bytes around the page catch any write outside it.
      io.fill(0xee, WORK - 64, WORK);
      io.fill(0xee, WORK + PAGE, WORK + PAGE + 64);
      for (let i = 0; i < PAGE; i++) io[WORK + i] = i & 0xff;
      const len = Math.floor(rand() * 64);
      for (let i = 0; i < len; i++) io[OUT + i] = rand() < 0.3 ? 0x80 | ((rand() * 128) | 0) : (rand() * 256) | 0;
      const before = io.slice(WORK, WORK + PAGE);
      const s = e.mig_delta_decode(WORK, OUT, len);
      expect([Status.OK, Status.ERR_CORRUPT], `seed ${seed} iter ${iter}`).toContain(s);
      if (s !== Status.OK) { rejected++; expect(Buffer.compare(io.subarray(WORK, WORK + PAGE), before)).toBe(0); }
      expect(io.subarray(WORK - 64, WORK).every((b) => b === 0xee)).toBe(true);
      expect(io.subarray(WORK + PAGE, WORK + PAGE + 64).every((b) => b === 0xee)).toBe(true);
    }
    expect(rejected).toBeGreaterThan(1000);
  });

  it("regression_delta_run_past_page_end: a zrun to the last byte then a 2-byte nzrun is refused", async () => {
    const core = await newCore(1 << 16);
    const io = core.io();
    // zrun = 4095 (0xff 0x1f), nzrun = 2, two bytes.
    io.set([0xff, 0x1f, 2, 1, 2], OUT);
    expect(core.exports.mig_delta_decode(WORK, OUT, 5)).toBe(Status.ERR_CORRUPT);
    // zrun = 4095, nzrun = 1: the last byte, accepted.
    io.set([0xff, 0x1f, 1, 0x42], OUT);
    expect(core.exports.mig_delta_decode(WORK, OUT, 4)).toBe(Status.OK);
    expect(io[WORK + 4095]).toBe(0x42);
    // Non-canonical ULEB (0x80 0x00) and a zero-length nzrun are refused.
    io.set([0x80, 0x00, 1, 0], OUT);
    expect(core.exports.mig_delta_decode(WORK, OUT, 4)).toBe(Status.ERR_CORRUPT);
    io.set([0, 0], OUT);
    expect(core.exports.mig_delta_decode(WORK, OUT, 2)).toBe(Status.ERR_CORRUPT);
  });
});

describe("page records between two VMs", () => {
  async function roundTrip(srcForeign: boolean, dstForeign: boolean) {
    const seed = testSeed();
    const rand = rng(seed);
    const size = 1 << 20;
    const sram = new FakeEmulatorRam(size), dram = new FakeEmulatorRam(size);
    const src = await newCore(size, srcForeign ? { foreign: sram } : {});
    const dst = await newCore(size, dstForeign ? { foreign: dram } : {});
    for (let p = 0; p < 256; p += 1 + Math.floor(rand() * 3)) {
      const b = new Uint8Array(PAGE).map(() => (rand() * 256) | 0);
      src.guest.writeBytes(p * PAGE, b);
    }
    dst.guest.fill(9 * PAGE, 0x33, PAGE); // junk: round 0 names page 9 (full or zero), so it is overwritten or cleared
    expect(src.exports.mig_init(256)).toBe(0);
    expect(dst.exports.mig_init(0)).toBe(0);
    expect(dst.exports.mig_dest_prepare()).toBe(0);
    dst.dirty.enable();
    let deltas = 0;
    const send = (first: number, count: number, flags: number, round: number) => {
      for (let p = first; p < first + count;) {
        const n = src.exports.mig_encode(p, first + count - p, flags, 0, 512 << 10);
        expect(n).toBeGreaterThanOrEqual(0);
        const used = src.exports.mig_stat(STAT.PAGES);
        deltas += src.exports.mig_stat(STAT.DELTA);
        dst.io().set(src.io().subarray(0, n), 0);
        expect(dst.exports.mig_apply(0, n, round), `seed ${seed}`).toBe(0);
        p += used;
      }
    };
    send(0, 256, ENC_SKIP_ZERO, 0);
    // Destination writes went through the port: dirty-marked.
    expect(dst.dirty.count()).toBeGreaterThan(0);
    // Round 1 caches, round 2 sends deltas.
    for (let round = 1; round <= 2; round++) {
      for (let k = 0; k < 20; k++) src.guest.writeU32(((k * 37) % 256) * PAGE + k * 8, 0xabc000 + round * 100 + k);
      send(0, 256, ENC_DELTA, round);
    }
    expect(deltas).toBeGreaterThanOrEqual(20);
    expect(BigInt.asUintN(64, dst.exports.mig_digest(0n))).toBe(BigInt.asUintN(64, src.exports.mig_digest(0n)));
    expect(dst.exports.mig_hash_range(0, 256)).toBe(0);
    expect(src.exports.mig_hash_range(0, 256)).toBe(0);
    expect(BigInt.asUintN(64, dst.exports.mig_digest(0n))).toBe(BigInt.asUintN(64, src.exports.mig_digest(0n)));
    expect(dst.exports.mig_round_of(37)).toBe(2);
    expect(Buffer.compare(dst.guest.readBytes(0, size), src.guest.readBytes(0, size))).toBe(0);
  }
  it("own → own", () => roundTrip(false, false));
  it("foreign → own", () => roundTrip(true, false));
  it("own → foreign", () => roundTrip(false, true));

  it("mutated record streams are refused with ERR_CORRUPT (never a trap), naming the record", async () => {
    const seed = testSeed();
    const rand = rng(seed);
    const src = await newCore(1 << 20, { holes: [[200 * PAGE, PAGE]] });
    const dst = await newCore(1 << 20, { holes: [[200 * PAGE, PAGE]] });
    for (let p = 0; p < 64; p++) src.guest.writeU32(p * PAGE + 4 * p, p + 1);
    src.exports.mig_init(0); dst.exports.mig_init(0); dst.exports.mig_dest_prepare();
    const n = src.exports.mig_encode(0, 64, 0, 0, 1 << 20);
    expect(src.exports.mig_stat(STAT.FULL)).toBe(64);
    const good = src.io().slice(0, n);
    let refused = 0;
    for (let iter = 0; iter < 300; iter++) {
      const bad = good.slice();
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) bad[Math.floor(rand() * Math.min(bad.length, 4 * 4112))] ^= 1 + Math.floor(rand() * 255);
      const len = rand() < 0.2 ? Math.floor(rand() * bad.length) : bad.length;
      dst.io().set(bad.subarray(0, len), 0);
      const s = dst.exports.mig_apply(0, len, 1);
      expect([Status.OK, Status.ERR_CORRUPT], `seed ${seed} iter ${iter}`).toContain(s);
      if (s === Status.ERR_CORRUPT) refused++;
    }
    expect(refused).toBeGreaterThan(250);
    // A record for a page in a hole or past RAM is refused.
    const rec = new Uint8Array(16);
    new DataView(rec.buffer).setUint32(0, 200, true);
    new DataView(rec.buffer).setBigUint64(8, BigInt.asUintN(64, dst.exports.mig_zero_hash()), true);
    dst.io().set(rec, 0);
    expect(dst.exports.mig_apply(0, 16, 1)).toBe(Status.ERR_CORRUPT);
    expect(dst.exports.mig_stat(STAT.BAD_PAGE)).toBe(200);
    new DataView(rec.buffer).setUint32(0, 256, true);
    dst.io().set(rec, 0);
    expect(dst.exports.mig_apply(0, 16, 1)).toBe(Status.ERR_CORRUPT);
  });

  it("zero runs: cover round 0's zero pages, clear junk on the destination, and hostile runs are refused", async () => {
    const src = await newCore(1 << 20);
    const dst = await newCore(1 << 20, { holes: [[100 * PAGE, PAGE]] });
    src.guest.writeU32(50 * PAGE, 1);
    src.exports.mig_init(0); dst.exports.mig_init(0); dst.exports.mig_dest_prepare();
    dst.guest.fill(7 * PAGE, 0x99, 2 * PAGE); // junk where the source has zeros
    // Pages 0..99 only (the destination has a hole at 100).
    const n = src.exports.mig_encode(0, 100, ENC_SKIP_ZERO, 0, 1 << 20);
    expect(src.exports.mig_stat(STAT.SKIPPED)).toBe(99);
    // Two runs (0..49, 51..99) and one full page.
    expect(n).toBe(16 + (16 + PAGE) + 16);
    dst.io().set(src.io().subarray(0, n), 0);
    expect(dst.exports.mig_apply(0, n, 0)).toBe(0);
    expect(dst.exports.mig_stat(STAT.PAGES)).toBe(100);
    expect(dst.exports.mig_page_is_zero(7)).toBe(1);
    expect(dst.exports.mig_page_is_zero(8)).toBe(1);
    expect(dst.guest.readU32(50 * PAGE)).toBe(1);
    const run = (page: number, count: bigint) => {
      const r = new Uint8Array(16);
      const dv = new DataView(r.buffer);
      dv.setUint32(0, page, true); dv.setUint8(4, 3); dv.setBigUint64(8, count, true);
      dst.io().set(r, 0);
      return dst.exports.mig_apply(0, 16, 0);
    };
    expect(run(0, 0n)).toBe(Status.ERR_CORRUPT);          // empty run
    expect(run(200, 57n)).toBe(Status.ERR_CORRUPT);       // past the end of RAM
    expect(run(255, 2n ** 63n)).toBe(Status.ERR_CORRUPT); // absurd count
    expect(run(90, 20n)).toBe(Status.ERR_CORRUPT);        // across the hole at 100
    expect(run(101, 155n)).toBe(Status.OK);               // up to the last page
  });
});
