// The RX filter engine (assembly/net/filter.ts) through its exports: CRC-32
// against zlib, the DP8390/RTL8139 MAR index and the 8254x MTA index against
// the definitions in the datasheets and in Linux's drivers (re-derived here,
// independently of the wasm), the exact table with valid bits and the
// overflow rule, the bit tables, VLAN tags, and a hostile state.
import { describe, it, expect, beforeAll } from "vitest";
import { crc32 as zlibCrc32 } from "node:zlib";
import { Status, type VmCore } from "../../src/index.js";
import { newCore, rng, testSeed } from "../support/core.js";

type Mac = number[];
const parse = (s: string): Mac => s.split(":").map((x) => parseInt(x, 16));
const hi = (m: Mac) => (m[0] << 8) | m[1];
const lo = (m: Mac) => ((m[2] << 24) | (m[3] << 16) | (m[4] << 8) | m[5]) >>> 0;
const randMac = (r: () => number): Mac => Array.from({ length: 6 }, () => (r() * 256) | 0);

/**
 * Linux's ether_crc(6, addr) (include/linux/etherdevice.h): the CRC-32 shift
 * register, MSB-first form (polynomial 0x04C11DB7), all ones at the start,
 * data bits fed LSB first, no final complement.
 */
function etherCrc(addr: Mac): number {
  let crc = 0xffffffff;
  for (const byte of addr) {
    let b = byte;
    for (let i = 0; i < 8; i++) {
      const carry = (crc >>> 31) ^ (b & 1);
      crc = (crc << 1) >>> 0;
      b >>= 1;
      if (carry) crc = (crc ^ 0x04c11db7) >>> 0;
    }
  }
  return crc;
}
/** DP8390 MAR index as lib8390.c make_mc_bits computes it: the six most significant CRC bits. */
const marIndex = (addr: Mac) => etherCrc(addr) >>> 26;

/** e1000_hash_mc_addr for a 4096-bit MTA (drivers/net/ethernet/intel/e1000/e1000_hw.c). */
function linuxMtaIndex(addr: Mac, mo: number): number {
  const shift = [4, 5, 6, 8][mo];
  return ((addr[4] >> (8 - shift)) | (addr[5] << shift)) & 0xfff;
}

function frame(dst: Mac, opts: { tpid?: number; tci?: number; len?: number } = {}): Uint8Array {
  const f = new Uint8Array(opts.len ?? 64);
  f.set(dst, 0);
  f.set([0x02, 0, 0, 0, 0, 1], 6);
  if (opts.tpid !== undefined) { f[12] = opts.tpid >> 8; f[13] = opts.tpid & 255; f[14] = (opts.tci ?? 0) >> 8; f[15] = (opts.tci ?? 0) & 255; f[16] = 0x08; }
  else f[12] = 0x08;
  return f;
}

let core: VmCore;
let x: VmCore["exports"];
const REG = 0;          // filter state at the start of the I/O buffer
const FRAME = 16384;    // frames after it
beforeAll(async () => {
  core = await newCore(1 << 20);
  x = core.exports;
  expect(x.rxf_state_bytes()).toBeLessThanOrEqual(FRAME);
});

/** Put `f` at FRAME in the I/O buffer; returns [offset, length]. */
function place(f: Uint8Array): [number, number] {
  core.io().set(f, FRAME);
  return [FRAME, f.length];
}
const exact = (m: Mac) => x.rxf_exact_match(REG, ...place(frame(m)));
const hash64 = (m: Mac) => x.rxf_hash64_match(REG, ...place(frame(m)));
const mta = (m: Mac, mo: number) => x.rxf_mta_match(REG, ...place(frame(m)), mo);

describe("CRC-32", () => {
  it("is the IEEE 802.3 CRC: the catalogue check value and zlib.crc32 on random inputs, whole and continued", () => {
    const io = core.io();
    io.set(new TextEncoder().encode("123456789"), 0);
    expect(Number(x.rxf_crc32(0, 9, 0))).toBe(0xcbf43926);
    const seed = testSeed();
    const r = rng(seed);
    for (let n = 0; n < 400; n++) {
      const len = n < 300 ? n : (r() * 65536) | 0;
      const bytes = Uint8Array.from({ length: len }, () => (r() * 256) | 0);
      io.set(bytes, 0);
      const want = zlibCrc32(bytes);
      expect(Number(x.rxf_crc32(0, len, 0)), `seed ${seed} len ${len}`).toBe(want);
      const cut = (r() * (len + 1)) | 0;
      const first = Number(x.rxf_crc32(0, cut, 0));
      expect(Number(x.rxf_crc32(cut, len - cut, first)), `seed ${seed} len ${len} cut ${cut}`).toBe(want);
    }
  });

  it("refuses a range outside the I/O buffer", () => {
    expect(Number(x.rxf_crc32(core.io().length - 4, 8, 0))).toBe(-Status.ERR_RANGE);
  });
});

describe("64-bit CRC hash (DP8390 / RTL8139 MAR)", () => {
  it("matches the datasheet examples of the six-MSB CRC hash", () => {
    // The SMC/SMSC LAN91C96 datasheet's table for the same hash (bits 5:3 the register, 2:0 the bit).
    const vectors: Array<[string, number]> = [
      ["ed:00:00:00:00:00", 0o00], // MT-0 bit 0
      ["0d:00:00:00:00:00", 0o20], // MT-2 bit 0
      ["01:00:00:00:00:00", 0o47], // MT-4 bit 7
      ["2f:00:00:00:00:00", 0o77], // MT-7 bit 7
    ];
    for (const [s, want] of vectors) {
      const m = parse(s);
      expect(x.rxf_hash64_index(hi(m), lo(m)), s).toBe(want);
      expect(marIndex(m), `reference ${s}`).toBe(want);
    }
  });

  it("is Linux's make_mc_bits index for known groups and random addresses, and zlib's CRC read MSB first", () => {
    for (const s of ["01:00:5e:00:00:01", "01:00:5e:00:00:fb", "01:00:5e:7f:ff:fa", "33:33:00:00:00:01", "33:33:ff:00:00:01", "01:80:c2:00:00:00", "ff:ff:ff:ff:ff:ff"]) {
      const m = parse(s);
      expect(x.rxf_hash64_index(hi(m), lo(m)), s).toBe(marIndex(m));
    }
    const seed = testSeed();
    const r = rng(seed);
    const rev6 = (v: number) => { let o = 0; for (let i = 0; i < 6; i++) o |= ((v >> i) & 1) << (5 - i); return o; };
    for (let i = 0; i < 2000; i++) {
      const m = randMac(r);
      const got = x.rxf_hash64_index(hi(m), lo(m));
      expect(got, `seed ${seed} ${m}`).toBe(marIndex(m));
      // The same bits from zlib: the register before the final complement is ~crc32; Linux reads it bit-reversed.
      expect(got, `seed ${seed} ${m} (zlib)`).toBe(rev6(~zlibCrc32(Uint8Array.from(m)) & 0x3f));
    }
  });

  it("accepts the joined groups once MAR holds their bits, and not a group whose bit is clear", () => {
    expect(x.rxf_init(REG, 1)).toBe(Status.OK);
    const joined = ["01:00:5e:00:00:01", "01:00:5e:00:00:fb", "33:33:00:00:00:01"].map(parse);
    const mar = new Uint8Array(8);
    for (const m of joined) { const c = etherCrc(m); mar[c >>> 29] |= 1 << ((c >>> 26) & 7); }
    const dv = new DataView(mar.buffer);
    expect(x.rxf_hash64_set(REG, dv.getUint32(0, true), dv.getUint32(4, true))).toBe(Status.OK);
    for (const m of joined) expect(hash64(m)).toBe(1);
    const others = ["01:00:5e:00:00:02", "01:00:5e:00:00:16", "33:33:ff:12:34:56", "01:00:5e:01:02:03"].map(parse)
      .filter((m) => !(mar[marIndex(m) >> 3] & (1 << (marIndex(m) & 7))));
    expect(others.length).toBeGreaterThan(0);
    for (const m of others) expect(hash64(m)).toBe(0);
    expect(x.rxf_hash64_set(REG, 0xffffffff, 0xffffffff)).toBe(Status.OK);
    for (const m of others) expect(hash64(m)).toBe(1);
  });
});

describe("8254x Multicast Table Array", () => {
  it("selects the 12 bits each RCTL.MO names (the manual's and Linux's examples)", () => {
    // 8254x manual §13.5.1: MO = 00b, address xx:xx:xx:xx:9x:BC → MTA row 94, bit 9.
    for (let nib = 0; nib < 16; nib++) {
      const m = [0x01, 0x00, 0x5e, 0x12, 0x90 | nib, 0xbc];
      const idx = x.rxf_mta_index(hi(m), lo(m), 0);
      expect([idx >> 5, idx & 31]).toEqual([94, 9]);
    }
    // The example in e1000_hash_mc_addr's comment, 01:AA:00:12:34:56, for MO 0..3. The comment
    // gives 0x163 for MO 2, but its own expression ((0x34 >> 2) | (0x56 << 6)) & 0xFFF, the code
    // below it and bits 45:34 all give 0x58D: the comment's arithmetic slipped, not the hardware.
    const m = parse("01:aa:00:12:34:56");
    expect([0, 1, 2, 3].map((mo) => x.rxf_mta_index(hi(m), lo(m), mo))).toEqual([0x563, 0xac6, 0x58d, 0x634]);
    expect(linuxMtaIndex(m, 2)).toBe(0x58d);
    // MO 0 → bits 47:36, 1 → 46:35, 2 → 45:34, 3 → 43:32 of the address (byte 0 in bits 7:0).
    const seed = testSeed();
    const r = rng(seed);
    for (let i = 0; i < 500; i++) {
      const a = randMac(r);
      const n = a.reduce((acc, b, k) => acc + (BigInt(b) << BigInt(8 * k)), 0n);
      [36, 35, 34, 32].forEach((shift, mo) => {
        const want = Number((n >> BigInt(shift)) & 0xfffn);
        expect(x.rxf_mta_index(hi(a), lo(a), mo), `seed ${seed} ${a} mo ${mo}`).toBe(want);
        expect(linuxMtaIndex(a, mo)).toBe(want);
      });
    }
    expect(x.rxf_mta_index(0, 0, 4)).toBe(-Status.ERR_INVALID_ARG);
  });

  it("accepts what the driver programmed under the MO in use, and only that", () => {
    expect(x.rxf_init(REG, 16)).toBe(Status.OK);
    const g = parse("01:00:5e:00:00:fb");
    for (let mo = 0; mo < 4; mo++) {
      const idx = linuxMtaIndex(g, mo);
      for (let w = 0; w < 128; w++) x.rxf_mta_set(REG, w, 0);
      expect(x.rxf_mta_set(REG, idx >> 5, 1 << (idx & 31))).toBe(Status.OK);
      expect(mta(g, mo), `mo ${mo}`).toBe(1);
      const other = [...g.slice(0, 4), g[4] ^ 0xff, g[5] ^ 0x0f];
      expect(mta(other, mo), `mo ${mo}`).toBe(0);
    }
    expect(x.rxf_mta_set(REG, 128, 1)).toBe(Status.ERR_INVALID_ARG);
  });
});

describe("exact table", () => {
  it("matches valid entries only; a cleared duplicate leaves the other; slots beyond the capacity are refused", () => {
    expect(x.rxf_init(REG, 16)).toBe(Status.OK);
    const own = parse("52:54:00:12:34:56");
    const peer = parse("52:54:00:12:34:57");
    expect(exact(own)).toBe(0);
    expect(x.rxf_exact_set(REG, 0, hi(own), lo(own), 1)).toBe(Status.OK);
    expect(x.rxf_exact_set(REG, 3, hi(peer), lo(peer), 0)).toBe(Status.OK);   // AV clear
    expect([exact(own), exact(peer)]).toEqual([1, 0]);
    expect(x.rxf_exact_set(REG, 3, hi(peer), lo(peer), 1)).toBe(Status.OK);
    expect(exact(peer)).toBe(1);
    expect(x.rxf_exact_set(REG, 5, hi(own), lo(own), 1)).toBe(Status.OK);   // the same address twice
    expect(x.rxf_exact_set(REG, 0, 0, 0, 0)).toBe(Status.OK);
    expect(exact(own)).toBe(1);
    expect(x.rxf_exact_set(REG, 5, 0, 0, 0)).toBe(Status.OK);
    expect(exact(own)).toBe(0);
    expect(x.rxf_exact_set(REG, 16, hi(own), lo(own), 1)).toBe(Status.ERR_INVALID_ARG);
    expect(x.rxf_init(REG, 65)).toBe(Status.ERR_INVALID_ARG);
    expect(x.rxf_init(REG, 0)).toBe(Status.ERR_INVALID_ARG);
  });

  it("overflow accepts the whole class of the address that did not fit, until that class is cleared", () => {
    expect(x.rxf_init(REG, 4)).toBe(Status.OK);
    const uc = [1, 2, 3, 4, 5].map((i) => [0x02, 0, 0, 0, 0, i]);
    const mc = parse("01:00:5e:00:00:01");
    const stranger = parse("02:99:99:99:99:99");
    for (const m of uc.slice(0, 3)) expect(x.rxf_exact_add(REG, hi(m), lo(m))).toBe(Status.OK);
    expect(x.rxf_exact_add(REG, hi(mc), lo(mc))).toBe(Status.OK);
    expect(x.rxf_exact_add(REG, hi(uc[0]), lo(uc[0]))).toBe(Status.OK);       // already there: no slot taken
    expect(exact(stranger)).toBe(0);
    expect(x.rxf_exact_add(REG, hi(uc[3]), lo(uc[3]))).toBe(Status.ERR_FULL);
    expect([exact(uc[3]), exact(stranger)]).toEqual([1, 1]);                 // every unicast now
    expect(exact(parse("01:00:5e:00:00:02"))).toBe(0);                        // multicast still exact
    expect(x.rxf_exact_clear(REG, 1)).toBe(Status.OK);                        // unicast entries and overflow
    expect([exact(uc[0]), exact(stranger), exact(mc)]).toEqual([0, 0, 1]);
    expect(x.rxf_exact_add(REG, hi(uc[4]), lo(uc[4]))).toBe(Status.OK);
    expect(exact(uc[4])).toBe(1);
    expect(x.rxf_exact_clear(REG, 0)).toBe(Status.ERR_INVALID_ARG);
  });

  it("agrees with a model of slots under random programming (64 entries)", () => {
    const seed = testSeed();
    const r = rng(seed);
    expect(x.rxf_init(REG, 64)).toBe(Status.OK);
    // Addresses from a small pool so sets, duplicates and clears collide.
    const pool = Array.from({ length: 96 }, () => { const m = randMac(r); m[0] &= 0xfe; if (r() < 0.3) m[0] |= 1; return m; });
    const slots: Array<{ m: Mac; valid: boolean } | null> = new Array(64).fill(null);
    let ovf = 0;
    const key = (m: Mac) => m.join(":");
    for (let step = 0; step < 3000; step++) {
      const op = r();
      const m = pool[(r() * pool.length) | 0];
      if (op < 0.45) {
        const i = (r() * 64) | 0; const valid = r() < 0.8;
        expect(x.rxf_exact_set(REG, i, hi(m), lo(m), valid ? 1 : 0)).toBe(Status.OK);
        slots[i] = { m, valid };
      } else if (op < 0.9) {
        const present = slots.some((s) => s?.valid && key(s.m) === key(m));
        const free = slots.findIndex((s) => !s?.valid);
        const want = present || free >= 0 ? Status.OK : Status.ERR_FULL;
        expect(x.rxf_exact_add(REG, hi(m), lo(m)), `seed ${seed} step ${step}`).toBe(want);
        if (!present && free >= 0) slots[free] = { m, valid: true };
        if (want === Status.ERR_FULL) ovf |= m[0] & 1 ? 2 : 1;
      } else {
        const classes = 1 + ((r() * 3) | 0);
        expect(x.rxf_exact_clear(REG, classes)).toBe(Status.OK);
        for (let i = 0; i < 64; i++) { const s = slots[i]; if (s?.valid && classes & (s.m[0] & 1 ? 2 : 1)) slots[i] = null; }
        ovf &= ~classes;
      }
      const probe = r() < 0.5 ? m : randMac(r);
      const want = (ovf & (probe[0] & 1 ? 2 : 1)) !== 0 || slots.some((s) => s?.valid && key(s.m) === key(probe));
      expect(exact(probe), `seed ${seed} step ${step} ${key(probe)}`).toBe(want ? 1 : 0);
    }
  });
});

describe("VLAN filter table", () => {
  it("drops a tagged frame whose VLAN id is clear; untagged frames and other TPIDs pass", () => {
    expect(x.rxf_init(REG, 1)).toBe(Status.OK);
    const d = parse("52:54:00:00:00:01");
    const pass = (f: Uint8Array, tpid = 0x8100) => x.rxf_vlan_match(REG, ...place(f), tpid);
    expect(x.rxf_vfta_set(REG, 100 >> 5, 1 << (100 & 31))).toBe(Status.OK);  // VLAN 100 (VFTA[3] bit 4)
    expect(x.rxf_vfta_set(REG, 4095 >> 5, 1 << 31)).toBe(Status.OK);          // VLAN 4095
    expect(pass(frame(d, { tpid: 0x8100, tci: 100 }))).toBe(1);
    expect(pass(frame(d, { tpid: 0x8100, tci: 0xe000 | 100 }))).toBe(1);     // priority and CFI bits are not the id
    expect(pass(frame(d, { tpid: 0x8100, tci: 4095 }))).toBe(1);
    expect(pass(frame(d, { tpid: 0x8100, tci: 101 }))).toBe(0);
    expect(pass(frame(d, { tpid: 0x8100, tci: 0 }))).toBe(0);
    expect(pass(frame(d))).toBe(1);                                           // untagged
    expect(pass(frame(d, { tpid: 0x88a8, tci: 101 }))).toBe(1);               // not the TPID in use
    expect(pass(frame(d, { tpid: 0x88a8, tci: 101 }), 0x88a8)).toBe(0);       // the 8254x VET set to 0x88a8
    expect(pass(frame(d, { tpid: 0x8100, tci: 101, len: 17 }))).toBe(1);      // too short to carry a tag
    expect(x.rxf_vfta_set(REG, 128, 0)).toBe(Status.ERR_INVALID_ARG);
  });
});

describe("hostile state and arguments", () => {
  it("a state of random bytes answers every predicate without trapping; rxf_init makes it empty again", () => {
    const seed = testSeed();
    const r = rng(seed);
    const io = core.io();
    const n = x.rxf_state_bytes();
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < n; i++) io[REG + i] = (r() * 256) | 0;
      if (round % 2) io.fill(0xff, REG, REG + 8);    // a capacity far above the maximum
      for (let k = 0; k < 50; k++) {
        const m = randMac(r);
        for (const v of [exact(m), hash64(m), mta(m, k & 3), x.rxf_vlan_match(REG, ...place(frame(m, { tpid: 0x8100, tci: (r() * 65536) | 0 })), 0x8100)]) {
          expect([0, 1], `seed ${seed}`).toContain(v);
        }
      }
      // Programming through the API repairs the derived index: what was set is found.
      const m = randMac(r);
      expect(x.rxf_exact_set(REG, 0, hi(m), lo(m), 1)).toBe(Status.OK);
      expect(exact(m), `seed ${seed}`).toBe(1);
    }
    expect(x.rxf_init(REG, 64)).toBe(Status.OK);
    const m = parse("02:00:00:00:00:01");
    expect([exact(m), hash64(m), mta(m, 0)]).toEqual([0, 0, 0]);
  });

  it("refuses states and frames outside the I/O buffer", () => {
    const end = core.io().length;
    expect(x.rxf_init(end - 8, 16)).toBe(Status.ERR_RANGE);
    expect(x.rxf_exact_match(REG, end - 4, 6)).toBe(-Status.ERR_RANGE);
    expect(x.rxf_exact_match(REG, FRAME, 5)).toBe(-Status.ERR_RANGE);
    expect(x.rxf_hash64_index(0x10000, 0)).toBe(-Status.ERR_INVALID_ARG);
  });
});
