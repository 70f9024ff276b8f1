// vde_plug's stdio frame stream: a 2-byte big-endian length before each frame.
// However the stream is cut into chunks, the reader gives back the frames
// written, in order, and holds at most one partial frame.
import { describe, expect, it } from "vitest";
import { FrameStreamReader, encodeStreamFrame, STREAM_MAX_FRAME } from "../../../src/net/backends/frame-stream.js";
import { rng, testSeed } from "../../support/core.js";

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

describe("VDE frame stream", () => {
  it("encodes the length big-endian before the frame", () => {
    const f = new Uint8Array(300).map((_, i) => i);
    const e = encodeStreamFrame(f);
    expect([e[0], e[1]]).toEqual([0x01, 0x2c]);
    expect(e.subarray(2)).toEqual(f);
    expect(() => encodeStreamFrame(new Uint8Array(STREAM_MAX_FRAME + 1))).toThrow(RangeError);
  });

  it("gives back every frame in order however the stream is cut (seeded; the seed is printed on failure)", () => {
    for (let round = 0; round < 20; round++) {
      const seed = testSeed();
      const r = rng(seed);
      const frames = Array.from({ length: 1 + Math.floor(r() * 60) }, () => {
        const pick = r();
        const len = pick < 0.05 ? 0 : pick < 0.1 ? STREAM_MAX_FRAME : pick < 0.15 ? 1 : Math.floor(r() * 2000);
        const f = new Uint8Array(len);
        for (let i = 0; i < len; i += 97) f[i] = Math.floor(r() * 256);
        return f;
      });
      const stream = concat(frames.map(encodeStreamFrame));
      const reader = new FrameStreamReader();
      const got: Uint8Array[] = [];
      for (let i = 0; i < stream.length;) {
        const n = r() < 0.3 ? 1 + Math.floor(r() * 3) : 1 + Math.floor(r() * 70000);
        reader.push(stream.subarray(i, i + n), (f) => got.push(f));
        i += n;
        if (reader.partialBytes > 2 + STREAM_MAX_FRAME) expect.fail(`seed ${seed}: ${reader.partialBytes} bytes held`);
      }
      expect(got.length, `seed ${seed}`).toBe(frames.length);
      const same = (x: Uint8Array, y: Uint8Array) => Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.length), Buffer.from(y.buffer, y.byteOffset, y.length)) === 0;
      const bad = frames.findIndex((f, i) => !same(f, got[i]));
      expect(bad, `seed ${seed}: first frame that differs`).toBe(-1);
      expect(reader.partialBytes, `seed ${seed}`).toBe(0);
    }
  });

  it("hands out copies: a frame stays as it was when the chunk it came from is reused", () => {
    const chunk = encodeStreamFrame(new Uint8Array([1, 2, 3]));
    const got: Uint8Array[] = [];
    new FrameStreamReader().push(chunk, (f) => got.push(f));
    chunk.fill(9);
    expect(got[0]).toEqual(new Uint8Array([1, 2, 3]));
  });

  it("a zero-length frame split after its prefix completes at once", () => {
    const reader = new FrameStreamReader();
    const got: Uint8Array[] = [];
    reader.push(new Uint8Array([0]), (f) => got.push(f));
    reader.push(new Uint8Array([0]), (f) => got.push(f));
    expect(got.map((f) => f.length)).toEqual([0]);
    expect(reader.partialBytes).toBe(0);
  });
});
