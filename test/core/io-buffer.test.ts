// The I/O buffer's windows: one owner at a time, and the debug build's check
// that two held windows never overlap.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { VmCore } from "../../src/index.js";
import { IoOverlap } from "../../src/io-buffer.js";
import { newCore } from "../support/core.js";

const PAGE = 4096;

describe("I/O buffer windows", () => {
  it("refuses a window that overlaps one still held, names both, and frees a window on release", async () => {
    const io = (await newCore(1 << 16)).ioBuffer;
    expect(io.checked).toBe(true);
    const payload = io.claim("migration payload", 0, 64);
    const after = io.claim("migration mismatches", 64, 32); // touching is not overlapping
    let err: unknown;
    try { io.claim("dirty ranges", 60, 8); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(IoOverlap);
    expect((err as IoOverlap).held.name).toBe("migration payload");
    expect((err as Error).message).toContain('"dirty ranges" [60, 68) overlaps "migration payload" [0, 64)');
    expect(() => io.claim("state blob", 90, 10)).toThrow(/overlaps "migration mismatches" \[64, 96\)/);
    expect(io.held().map((w) => w.name)).toEqual(["migration payload", "migration mismatches"]);
    payload.release();
    payload.release();
    expect(io.claim("dirty ranges", 0, 64).isHeld).toBe(true);
    after.release();
  });

  it("a window taken with use() is given back however the use ends", async () => {
    const io = (await newCore(1 << 16)).ioBuffer;
    expect(() => io.use("state blob", 0, 16, () => { throw new Error("boom"); })).toThrow("boom");
    expect(io.held()).toEqual([]);
    expect(io.use("state blob", 0, 16, (w) => { w.bytes().fill(7); return w.bytes()[15]; })).toBe(7);
  });

  it("a window outside the buffer is a RangeError, checked or not", async () => {
    const io = (await newCore(1 << 16)).ioBuffer;
    expect(() => io.claim("net frame", io.size - 8, 16)).toThrow(RangeError);
    expect(() => io.claim("net frame", -1, 4)).toThrow(RangeError);
    const release = await VmCore.create({ module: new WebAssembly.Module(readFileSync(new URL("../../build/vmdev.wasm", import.meta.url))), variant: "release", ramBytes: 1 << 16 });
    expect(release.ioBuffer.checked).toBe(false);
    expect(() => release.ioBuffer.claim("net frame", release.ioBuffer.size, 1)).toThrow(RangeError);
    // Unchecked: nothing is kept, so nothing can be refused.
    release.ioBuffer.claim("state blob", 0, 64);
    expect(release.ioBuffer.held()).toEqual([]);
  });

  it("catches a real overlap: copying guest memory while a harvest's ranges are still in the buffer", async () => {
    const core = await newCore(64 * PAGE);
    core.dirty.enable();
    core.guest.writeU8(3 * PAGE, 1);
    core.guest.writeU8(9 * PAGE, 1);
    // readBytes stages through the buffer where the unread ranges are.
    expect(() => core.dirty.harvestEach((page) => { core.guest.readBytes(page * PAGE, 16); })).toThrow(IoOverlap);
    expect(core.ioBuffer.held()).toEqual([]);
    // Collected first, then copied: the harvest's window is free again.
    core.guest.writeU8(3 * PAGE, 2);
    const pages: number[] = [];
    core.dirty.harvestEach((page) => { pages.push(page); });
    expect(pages).toEqual([3]);
    expect(core.guest.readBytes(3 * PAGE, 1)[0]).toBe(2);
  });
});
