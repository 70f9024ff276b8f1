import { describe, it, expect } from "vitest";
import { Status, PAGE_SIZE } from "../../src/index.js";
import { newCore, FakeEmulatorRam } from "../support/core.js";

const MiB = 1 << 20;

describe("guest-memory port: bounds", () => {
  it("accepts the last byte of RAM and rejects one past it, for every width", async () => {
    const core = await newCore(16 * MiB);
    const e = core.exports;
    const end = BigInt(16 * MiB);
    for (const w of [1, 2, 4, 8]) {
      expect(e.gm_write(end - BigInt(w), w, 0x5an)).toBe(Status.OK);
      expect(e.gm_read(end - BigInt(w), w)).toBe(Status.OK);
      expect(e.gm_value()).toBe(0x5an);
      expect(e.gm_write(end - BigInt(w) + 1n, w, 1n)).toBe(Status.ERR_RANGE);
      expect(e.gm_read(end - BigInt(w) + 1n, w)).toBe(Status.ERR_RANGE);
    }
    expect(core.guest.check(16 * MiB, 0)).toBe(Status.OK);
    expect(core.guest.check(16 * MiB, 1)).toBe(Status.ERR_RANGE);
    expect(core.guest.check(16 * MiB + 1, 0)).toBe(Status.ERR_RANGE);
  });

  it("rejects lengths and addresses that wrap past 2^32 and 2^64 without writing", async () => {
    const core = await newCore(4 * MiB);
    const e = core.exports;
    const cases: Array<[bigint, bigint]> = [
      [0n, 1n << 32n], [4096n, (1n << 32n) - 4095n], [1n, (1n << 64n) - 1n], [(1n << 64n) - 1n, 2n],
      [(1n << 32n) + 16n, 4n], [BigInt(4 * MiB - 1), (1n << 64n) - 1n], [(1n << 63n), 1n << 63n],
    ];
    core.dirty.enable();
    for (const [gpa, len] of cases) {
      expect(e.gm_check(gpa, len), `${gpa}+${len}`).toBe(Status.ERR_RANGE);
      expect(e.gm_fill(gpa, 0xff, len)).toBe(Status.ERR_RANGE);
    }
    expect(e.gm_read((1n << 64n) - 4n, 4)).toBe(Status.ERR_RANGE);
    expect(core.dirty.count()).toBe(0);
    expect(core.counters().gmRangeErrors).toBeGreaterThanOrEqual(BigInt(cases.length * 2));
  });

  it("rejects a bad width and an I/O-buffer range outside the buffer", async () => {
    const core = await newCore(MiB);
    const e = core.exports;
    expect(e.gm_read(0n, 3)).toBe(Status.ERR_INVALID_ARG);
    expect(e.gm_write(0n, 16, 0n)).toBe(Status.ERR_INVALID_ARG);
    expect(e.gm_copy_in(0n, e.io_size(), 1)).toBe(Status.ERR_INVALID_ARG);
    expect(e.gm_copy_out(0n, 0xffffffff, 2)).toBe(Status.ERR_INVALID_ARG);
    expect(e.gm_copy_in(0n, e.io_size() - 8, 8)).toBe(Status.OK);
  });

  it("rejects every access that touches a hole, and only those", async () => {
    const core = await newCore(8 * MiB, { holes: [[2 * MiB, MiB]] });
    const g = core.guest;
    expect(g.check(2 * MiB - 1, 1)).toBe(Status.OK);
    expect(g.check(2 * MiB - 1, 2)).toBe(Status.ERR_HOLE);
    expect(g.check(2 * MiB, 1)).toBe(Status.ERR_HOLE);
    expect(g.check(3 * MiB - 1, 1)).toBe(Status.ERR_HOLE);
    expect(g.check(3 * MiB, 1)).toBe(Status.OK);
    expect(g.check(0, 8 * MiB)).toBe(Status.ERR_HOLE);
    expect(core.exports.gm_write(BigInt(2 * MiB + 8), 4, 1n)).toBe(Status.ERR_HOLE);
    expect(core.counters().gmHoleErrors).toBeGreaterThan(0n);
    expect(() => g.addHole(7 * MiB, 2 * MiB)).toThrow(/ERR_RANGE/);
  });

  it("can place 3 GiB of guest RAM in its own memory", async () => {
    const core = await newCore(3 * 1024 * MiB);
    const last = 3 * 1024 * MiB - 8;
    core.guest.writeU64(last, 0x0123456789abcdefn);
    expect(core.guest.readU64(last)).toBe(0x0123456789abcdefn);
    expect(core.guest.check(last + 8, 1)).toBe(Status.ERR_RANGE);
  });

  it("refuses a second vm_init and unknown dirty-bitmap handles", async () => {
    const core = await newCore(MiB);
    expect(core.exports.vm_init(16, 0)).toBe(Status.ERR_ALREADY);
    for (const h of [0, 2, 17, -1]) {
      expect(core.exports.dirty_mark(h, 0)).toBe(Status.ERR_BAD_HANDLE);
      expect(core.exports.dirty_harvest_ranges(h, 0, 0, 64)).toBe(-Status.ERR_BAD_HANDLE);
    }
    expect(core.counters().badHandle).toBeGreaterThanOrEqual(8n);
  });
});

describe("guest-memory port: every write path marks exactly the pages it touched", () => {
  const dirtyPages = (core: Awaited<ReturnType<typeof newCore>>) =>
    core.dirty.harvest().flatMap(({ page, count }) => Array.from({ length: count }, (_, i) => page + i));

  it("scalar writes, including ones straddling a page boundary", async () => {
    const core = await newCore(MiB);
    core.dirty.enable();
    core.guest.writeU8(5 * PAGE_SIZE + 7, 1);
    expect(dirtyPages(core)).toEqual([5]);
    core.guest.writeU16(PAGE_SIZE - 1, 0xffff);
    expect(dirtyPages(core)).toEqual([0, 1]);
    core.guest.writeU32(9 * PAGE_SIZE - 2, 1);
    expect(dirtyPages(core)).toEqual([8, 9]);
    core.guest.writeU64(64 * PAGE_SIZE - 4, 1n);
    expect(dirtyPages(core)).toEqual([63, 64]);
    expect(dirtyPages(core)).toEqual([]);
  });

  it("bulk copy-in, fill and host-wrote", async () => {
    const core = await newCore(4 * MiB);
    core.dirty.enable();
    core.guest.writeBytes(3 * PAGE_SIZE + 100, new Uint8Array(2 * PAGE_SIZE));
    expect(dirtyPages(core)).toEqual([3, 4, 5]);
    core.guest.fill(100 * PAGE_SIZE, 0xaa, 130 * PAGE_SIZE);
    expect(dirtyPages(core)).toEqual(Array.from({ length: 130 }, (_, i) => 100 + i));
    const view = core.guest.view(700 * PAGE_SIZE, 10);
    view.fill(1);
    core.guest.hostWrote(700 * PAGE_SIZE, 10);
    expect(dirtyPages(core)).toEqual([700]);
    expect(core.guest.readBytes(700 * PAGE_SIZE, 10)).toEqual(new Uint8Array(10).fill(1));
  });

  it("reads never mark, and failed writes mark nothing", async () => {
    const core = await newCore(MiB);
    core.dirty.enable();
    core.guest.readBytes(0, 10 * PAGE_SIZE);
    core.guest.readU64(PAGE_SIZE);
    expect(core.exports.gm_write(BigInt(MiB - 2), 4, 0n)).toBe(Status.ERR_RANGE);
    expect(core.dirty.count()).toBe(0);
  });

  it("a disabled bitmap records nothing and harvest says it is disabled", async () => {
    const core = await newCore(MiB);
    core.guest.writeU32(0, 1);
    expect(core.exports.dirty_harvest_ranges(1, 0, 0, 64)).toBe(-Status.ERR_DISABLED);
    expect(core.exports.dirty_mark(1, 0)).toBe(Status.ERR_DISABLED);
    core.dirty.enable();
    expect(core.dirty.count()).toBe(0);
  });
});

describe("guest-memory port: foreign placement (RAM owned by the embedder)", () => {
  it("reads and writes through the accessors, bounds-checked, dirty-marked and notified", async () => {
    const ram = new FakeEmulatorRam(2 * MiB);
    const core = await newCore(2 * MiB, { foreign: ram });
    core.dirty.enable();
    expect(core.guest.foreign).toBe(true);
    core.guest.writeU32(PAGE_SIZE * 3 - 2, 0x11223344);
    expect(new DataView(ram.bytes.buffer).getUint32(PAGE_SIZE * 3 - 2, true)).toBe(0x11223344);
    expect(ram.notified).toEqual([[PAGE_SIZE * 3 - 2, 4]]);
    expect(core.dirty.harvest()).toEqual([{ page: 2, count: 2 }]);
    ram.bytes[12345] = 77;
    expect(core.guest.readU8(12345)).toBe(77);
    core.guest.writeBytes(MiB, new Uint8Array([1, 2, 3]));
    expect(Array.from(ram.bytes.subarray(MiB, MiB + 3))).toEqual([1, 2, 3]);
    core.guest.fill(MiB, 9, 3 * PAGE_SIZE + 5);
    expect(ram.bytes[MiB + 3 * PAGE_SIZE + 4]).toBe(9);
    expect(ram.bytes[MiB + 3 * PAGE_SIZE + 5]).toBe(0);
    expect(core.guest.check(2 * MiB, 1)).toBe(Status.ERR_RANGE);
    expect(core.exports.gm_write(BigInt(2 * MiB - 1), 2, 0n)).toBe(Status.ERR_RANGE);
  });

  it("reports an accessor failure as ERR_HOST and does not mark the page", async () => {
    const ram = new FakeEmulatorRam(MiB);
    const core = await newCore(MiB, { foreign: ram });
    core.dirty.enable();
    ram.failNext = true;
    expect(core.exports.gm_write(64n, 4, 1n)).toBe(Status.ERR_HOST);
    ram.failNext = true;
    expect(core.exports.gm_read(64n, 4)).toBe(Status.ERR_HOST);
    expect(core.dirty.count()).toBe(0);
    expect(core.counters().gmHostErrors).toBe(2n);
  });

  it("survives an accessor that throws", async () => {
    const core = await newCore(MiB, { foreign: { read() { throw new Error("boom"); }, write() { throw new Error("boom"); } } });
    expect(core.exports.gm_read(0n, 8)).toBe(Status.ERR_HOST);
    expect(core.exports.gm_write(0n, 8, 1n)).toBe(Status.ERR_HOST);
  });
});
