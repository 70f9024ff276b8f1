// The destination's decoder against hostile streams: byte flips, truncation,
// well-formed frames with mutated payloads (checksums recomputed, so the
// message and record decoders behind them are reached), dropped, repeated
// and reordered frames. The only acceptable outcomes are clean protocol or
// link errors and a destination that never runs; a wasm trap or any other
// exception is a failure.
import { describe, it, expect } from "vitest";
import xxhash from "xxhash-wasm";
import { migrate, receiveMigration, portPair, type Transport } from "../../src/migration/index.js";
import { StandInSource, StandInDestination } from "../../src/testing/index.js";
import { debugWasm, rng, testSeed } from "../support/core.js";
import { FakeDevice } from "./helpers.js";

const HDR = 32;

/**
 * A transport that replays recorded bytes as a source would send them: the
 * first `first` bytes (the HELLO frame), the rest once the destination has
 * answered (HELLO_ACK or ABORT), then it closes. What the destination sends
 * is discarded.
 */
class Replay implements Transport {
  readonly label = "replay";
  private dataCb?: (c: Uint8Array) => void;
  private closeCb?: (e?: Error) => void;
  private rest: Uint8Array[] = [];
  private answered = false;
  constructor(private readonly chunks: Uint8Array[], private readonly first = Infinity) {}
  async send(): Promise<void> {
    if (this.answered) return;
    this.answered = true;
    setImmediate(() => { for (const c of this.rest) this.dataCb!(c); setImmediate(() => this.closeCb?.()); });
  }
  onData(cb: (c: Uint8Array) => void): void {
    this.dataCb = cb;
    const now: Uint8Array[] = [];
    let off = 0;
    for (const c of this.chunks) {
      const k = Math.max(0, Math.min(c.length, this.first - off));
      if (k > 0) now.push(c.subarray(0, k));
      if (k < c.length) this.rest.push(c.subarray(k));
      off += c.length;
    }
    setImmediate(() => { for (const c of now) this.dataCb!(c); if (this.rest.length === 0) setImmediate(() => this.closeCb?.()); });
  }
  onClose(cb: (e?: Error) => void): void { this.closeCb = cb; }
  consumed(): void {}
  readonly buffered = 0;
  readonly bufferedHighWater = 0;
  close(): void {}
}

/** Record the source → destination stream of one clean migration with pre-copy rounds and deltas. */
async function recordStream(): Promise<Uint8Array> {
  const src = await StandInSource.create({ module: debugWasm(), variant: "debug", ramBytes: 256 << 12, vcpus: 0, devices: [new FakeDevice("net0", [5, 6, 7])] });
  for (let p = 0; p < 128; p++) src.core.guest.writeU32(p * 4096 + (p % 100) * 8, 0x1000 + p);
  const [a, b] = portPair();
  const out: Uint8Array[] = [];
  const rec: Transport = {
    label: "rec", send: (x) => { out.push(new Uint8Array(x)); return a.send(x); }, onData: (cb) => a.onData(cb), onClose: (cb) => a.onClose(cb), close: () => a.close(),
    consumed: (n) => a.consumed(n), get buffered() { return a.buffered; }, get bufferedHighWater() { return a.bufferedHighWater; },
  };
  let n = 0;
  const [report, result] = await Promise.all([
    migrate(src, rec, {
      downtimeLimitMs: -1, maxRounds: 3,
      // Dirty a few pages after each pre-copy round so later rounds carry full, zero and delta records
      // (not after the final one: those writes would never be sent, and full verify refuses them).
      onRound: (r) => { if (r.final) return; n++; for (let p = 0; p < 16; p++) src.core.guest.writeU32(p * 4096 + n * 4, n); src.core.guest.fill(200 * 4096, 0, 4096); },
    }),
    receiveMigration(b, async ({ ramBytes }) => StandInDestination.create({ module: debugWasm(), variant: "debug", ramBytes, devices: [new FakeDevice("net0")] })),
  ]);
  expect(report.ok, report.error).toBe(true);
  expect(result.ok).toBe(true);
  expect(report.deltaPages, JSON.stringify(report.roundStats)).toBeGreaterThan(0);
  await src.stop();
  return Buffer.concat(out);
}

function splitFrames(s: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let off = 0; off < s.length;) {
    const len = new DataView(s.buffer, s.byteOffset + off).getUint32(12, true);
    frames.push(s.slice(off, off + HDR + len));
    off += HDR + len;
  }
  return frames;
}

describe("protocol decoder fuzz", () => {
  it("hostile streams end in clean errors and the destination never runs", async () => {
    const oracle = await xxhash();
    const stream = await recordStream();
    const frames = splitFrames(stream);
    const reframe = (fs: Uint8Array[]): Uint8Array => {
      // Renumber and re-checksum: the stream is well-formed at the framing level.
      return Buffer.concat(fs.map((f, seq) => {
        const c = f.slice();
        const dv = new DataView(c.buffer);
        dv.setUint32(8, seq, true);
        dv.setUint32(12, c.length - HDR, true);
        dv.setBigUint64(16, oracle.h64Raw(c.subarray(HDR), BigInt(seq)), true);
        dv.setBigUint64(24, oracle.h64Raw(c.subarray(0, 24), 0n), true);
        return c;
      }));
    };
    const seed = testSeed();
    const rand = rng(seed);
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
    const outcomes = new Map<string, number>();
    let resumedClean = 0;
    const destOf = async ({ ramBytes }: { ramBytes: number }) =>
      StandInDestination.create({ module: debugWasm(), variant: "debug", ramBytes: Math.min(ramBytes, 16 << 20), devices: [new FakeDevice("net0")] });

    // The unmodified stream is accepted (the fuzzer's baseline).
    const base = await receiveMigration(new Replay([stream], frames[0].length), destOf, { idleTimeoutMs: 500 });
    expect(base.resumed, base.error).toBe(true);

    // FUZZ_ITERS=4000 for a longer hunt (CI runs 300).
    for (let iter = 0; iter < Number(process.env.FUZZ_ITERS ?? 300); iter++) {
      const kind = iter % 5;
      let bytes: Uint8Array;
      if (kind === 0) {
        bytes = stream.slice();
        for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) bytes[Math.floor(rand() * bytes.length)] ^= 1 << Math.floor(rand() * 8);
      } else if (kind === 1) {
        bytes = stream.slice(0, Math.floor(rand() * stream.length));
      } else if (kind === 2) {
        // One frame's payload mutated behind valid checksums.
        const fs = frames.map((f) => f.slice());
        const i = Math.floor(rand() * fs.length);
        const f = fs[i];
        if (f.length > HDR) {
          const mode = Math.floor(rand() * 3);
          if (mode === 0) for (let k = 0; k < 1 + rand() * 4; k++) f[HDR + Math.floor(rand() * (f.length - HDR))] ^= 1 + Math.floor(rand() * 255);
          else if (mode === 1) fs[i] = f.slice(0, HDR + Math.floor(rand() * (f.length - HDR)));
          else { const off = HDR + Math.floor(rand() * Math.max(1, f.length - HDR - 4)); new DataView(f.buffer).setUint32(Math.min(off, f.length - 4), Math.floor(rand() * 2 ** 32), true); }
        } else {
          fs[i] = Buffer.concat([f, Buffer.from([1, 2, 3, 4])]);
        }
        bytes = reframe(fs);
      } else if (kind === 3) {
        // Frames dropped, repeated or swapped, then renumbered.
        const fs = frames.slice();
        const i = Math.floor(rand() * fs.length), j = Math.floor(rand() * fs.length);
        const op = pick(["drop", "dup", "swap"]);
        if (op === "drop") fs.splice(i, 1);
        else if (op === "dup") fs.splice(i, 0, fs[i]);
        else [fs[i], fs[j]] = [fs[j], fs[i]];
        if (op === "swap" && (i === j || Buffer.compare(fs[i], fs[j]) === 0)) fs.splice(i, 1);
        bytes = reframe(fs);
      } else {
        bytes = new Uint8Array(Math.floor(rand() * 4096)).map(() => (rand() * 256) | 0);
        if (rand() < 0.5) bytes = Buffer.concat([frames[0], bytes]);
      }
      // Cut the stream into random chunks, as TCP would.
      const chunks: Uint8Array[] = [];
      for (let off = 0; off < bytes.length;) { const n = 1 + Math.floor(rand() * 70000); chunks.push(bytes.subarray(off, off + n)); off += n; }
      const res = await receiveMigration(new Replay(chunks, frames[0].length), destOf, { idleTimeoutMs: 500 });
      const tag = `${res.errorName ?? "ok"}`;
      outcomes.set(tag, (outcomes.get(tag) ?? 0) + 1);
      if (res.resumed) {
        // Only a stream whose memory, devices and digest all check out may resume.
        resumedClean++;
        continue;
      }
      expect(["ProtocolError", "LinkError", "LinkTimeout", undefined], `seed ${seed} iter ${iter} kind ${kind}: ${res.errorName}: ${res.error}`).toContain(res.errorName);
    }
    expect(outcomes.get("ProtocolError") ?? 0, `seed ${seed}: ${JSON.stringify([...outcomes])}`).toBeGreaterThan(200);
    // A few mutations are harmless (a swap of identical frames, a flip in a device blob the fake accepts), never many.
    expect(resumedClean, `seed ${seed}: ${JSON.stringify([...outcomes])}`).toBeLessThan(30);
  });
});
