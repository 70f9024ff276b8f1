// The RAM mirror as a dirty log: exact (every changed page, nothing else),
// marked in the mirror core's bitmap, the mirror equal to the emulator's RAM
// after each sync; a property run over random writes (seed printed).
import { beforeEach, describe, expect, it } from "vitest";
import { PAGE_SIZE } from "../../src/vm-core.js";
import { RamMirror, copyGuestRamOut } from "../../src/migration/ram-mirror.js";
import { debugWasm } from "../support/core.js";

const RAM = 4 << 20;

let inPlace = false;
async function mirrorOf(ram: Uint8Array, chunkBytes = 256 << 10): Promise<RamMirror> {
  return RamMirror.create({ module: debugWasm(), variant: "debug", ramBytes: ram.length, chunkBytes, read: (gpa, dst) => dst.set(ram.subarray(gpa, gpa + dst.length)), view: inPlace ? () => ram : undefined });
}

const pagesOf = (m: RamMirror) => m.core.dirty.harvest().flatMap((r) => Array.from({ length: r.count }, (_, i) => r.page + i));

describe.each([["staged in the I/O buffer, compared in wasm", false], ["compared in place", true]])("RamMirror, %s", (_how, place) => {
  beforeEach(() => { inPlace = place; });

  it("the first sync copies the emulator's RAM; later syncs mark exactly the pages written since", async () => {
    const ram = new Uint8Array(RAM);
    ram[5 * PAGE_SIZE + 17] = 1;
    const m = await mirrorOf(ram);
    expect(m.sync()).toMatchObject({ pages: RAM / PAGE_SIZE, changed: 1 });
    m.core.dirty.enable();
    expect(m.sync().changed).toBe(0);
    ram[0] = 9; // first byte of the first page
    ram[7 * PAGE_SIZE + PAGE_SIZE - 1] = 3; // last byte of a page
    ram[RAM - 1] = 4; // last byte of RAM, in the last chunk
    ram[5 * PAGE_SIZE + 17] = 1; // rewritten with the same value: not a change
    expect(m.sync().changed).toBe(3);
    expect(pagesOf(m)).toEqual([0, 7, RAM / PAGE_SIZE - 1]);
    expect(Buffer.from(m.core.guest.readBytes(0, RAM)).equals(ram)).toBe(true);
  });

  it("property: after each sync the mirror equals the RAM and the bitmap holds exactly the pages that changed", async () => {
    const seed = (Date.now() ^ 0x5bd1e995) >>> 0;
    console.log(`ram-mirror property seed ${seed}`);
    let x = seed || 1;
    const rnd = (n: number) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
    const ram = new Uint8Array(RAM);
    const m = await mirrorOf(ram, 3 * PAGE_SIZE); // a chunk that does not divide RAM: the last one is short
    m.sync();
    m.core.dirty.enable();
    for (let round = 0; round < 20; round++) {
      const before = ram.slice();
      for (let i = rnd(200); i > 0; i--) ram[rnd(RAM)] = rnd(256);
      const want = new Set<number>();
      for (let p = 0; p < RAM / PAGE_SIZE; p++) {
        const a = before.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE), b = ram.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
        if (Buffer.compare(a, b) !== 0) want.add(p);
      }
      const s = m.sync();
      expect(s.changed, `seed ${seed} round ${round}`).toBe(want.size);
      expect(pagesOf(m), `seed ${seed} round ${round}`).toEqual([...want].sort((p, q) => p - q));
    }
    const out = new Uint8Array(RAM);
    copyGuestRamOut(m.core, (gpa, src) => out.set(src, gpa), 1 << 20);
    expect(Buffer.from(out).equals(ram)).toBe(true);
  });

  it("the wasm refuses a range outside guest RAM or the I/O buffer", async () => {
    const m = await mirrorOf(new Uint8Array(RAM));
    const e = m.core.exports;
    expect(e.mig_mirror_sync(0, RAM / PAGE_SIZE, 1)).toBeLessThan(0);
    expect(e.mig_mirror_sync(0, 0, RAM / PAGE_SIZE + 1)).toBeLessThan(0);
    expect(e.mig_mirror_sync(e.io_size(), 0, 1)).toBeLessThan(0);
    expect(e.mig_mirror_sync(0, 0xffff_ffff, 2)).toBeLessThan(0);
  });
});
