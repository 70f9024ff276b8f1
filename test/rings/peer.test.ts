// Rings used by another wasm instance given the memory: a separate module
// (assembly/backend.ts, compiled here) that knows only the layout in
// assembly/rings/defs.ts, and a second vmdev instance attached on the same
// thread that works on the same objects by handle.
import { describe, it, expect, beforeAll } from "vitest";
import asc from "assemblyscript/asc";
import { RingPool, NetmapRing, ElementQueue, VmCore, FrameArrayWriter, FrameBatch, Status } from "../../src/index.js";
import { newCore, debugWasm, testSeed } from "../support/core.js";
import { MemoryGuard, tagged } from "./support.js";

let peerModule: WebAssembly.Module;
beforeAll(async () => {
  const out: Record<string, Uint8Array> = {};
  const cfg = new URL("./assembly/asconfig.json", import.meta.url).pathname;
  const { error } = await asc.main(["--config", cfg, "--outFile", "backend.wasm"], {
    writeFile: (name: string, contents: Uint8Array | string) => { if (typeof contents !== "string") out[name] = contents; },
    stdout: process.stdout, stderr: process.stderr,
  });
  if (error) throw error;
  peerModule = new WebAssembly.Module(Object.values(out)[0] as Uint8Array<ArrayBuffer>);
});

interface Peer { echo(rx: number, tx: number, max: number): number; scribble(r: number, seed: number, k: number): void }
const peer = (memory: WebAssembly.Memory): Peer => new WebAssembly.Instance(peerModule, { env: { memory } }).exports as unknown as Peer;

describe("a separate wasm module as the backend", () => {
  it("instantiating it over vmdev's memory writes nothing", async () => {
    const core = await newCore(1 << 20);
    const guard = new MemoryGuard(core, []);
    peer(core.memory);
    expect(guard.changed()).toEqual([]);
  });

  it("echoes 5000 frames from an RX ring back through a TX ring, intact and in order", async () => {
    const core = await newCore(1 << 20);
    const pool = RingPool.create(core, { buffers: 128, bufferSize: 2048 });
    const rx = NetmapRing.create(core, { pool, slots: 32, direction: "rx" });
    const tx = NetmapRing.create(core, { pool, slots: 32, direction: "tx" });
    const p = peer(core.memory);
    const sent = Array.from({ length: 5000 }, (_, i) => tagged(60 + (i * 37) % 1400, 3, i));
    const back: Uint8Array[] = [];
    let next = 0;
    // Bounded: each round moves frames or fails the test.
    for (let round = 0; back.length < sent.length; round++) {
      expect(round).toBeLessThan(10_000);
      const n = rx.rxsync(sent.slice(next, next + 20));
      expect(n).toBeGreaterThanOrEqual(0);
      next += n;
      expect(p.echo(rx.ptr, tx.ptr, 1000)).toBeGreaterThanOrEqual(0);
      const t = tx.txsync();
      expect(t.status).toBe(Status.OK);
      for (const f of t.frames!) back.push(f.slice());
    }
    expect(back.length).toBe(sent.length);
    expect(back.every((f, i) => Buffer.from(f).equals(Buffer.from(sent[i])))).toBe(true);
    for (const r of [rx, tx]) {
      const c = r.counters();
      expect(c.badHead + c.badCur + c.tailRepaired + c.badBufIndex + c.slotMismatch + c.badSwap + c.badLen).toBe(0n);
    }
  });

  it("as a hostile backend it scribbles over both rings; the device never traps and writes only its rings, their buffers and the I/O buffer", async () => {
    const seed = testSeed();
    const core = await newCore(1 << 20);
    const pool = RingPool.create(core, { buffers: 96, bufferSize: 512 });
    const rx = NetmapRing.create(core, { pool, slots: 16, direction: "rx" });
    const tx = NetmapRing.create(core, { pool, slots: 16, direction: "tx" });
    const spare = RingPool.create(core, { buffers: 8, bufferSize: 512 });
    for (let b = 0; b < 8; b++) spare.buffer(b).fill(0xa5);
    const p = peer(core.memory);
    const ringBytes = Number(core.exports.nmr_memory_bytes(16));
    const bufs = (ring: NetmapRing) => Array.from({ length: 16 }, (_, i) => core.dv().getUint32(ring.ptr + 192 + i * 8, true));
    const allowed: Array<[number, number]> = [[rx.ptr, rx.ptr + ringBytes], [tx.ptr, tx.ptr + ringBytes], [core.ioPtr(), core.ioPtr() + core.exports.io_size()], [0, 4096]];
    for (const b of bufs(rx)) allowed.push([pool.buffer(b).byteOffset, pool.buffer(b).byteOffset + 512]);
    const guard = new MemoryGuard(core, allowed);
    let corrupt = 0;
    for (let i = 0; i < 3000; i++) {
      p.scribble(i % 2 ? rx.ptr : tx.ptr, (seed + i) >>> 0, 1 + (i % 7));
      const t = tx.txsync();
      expect([Status.OK, Status.ERR_CORRUPT], `seed ${seed} round ${i}`).toContain(t.status);
      if (t.status !== Status.OK) corrupt++;
      for (const f of t.frames ?? []) expect(f.length, `seed ${seed}`).toBeLessThanOrEqual(512);
      const n = rx.rxsync([tagged(100, 1, i), tagged(600, 1, i)]);
      if (n === -Status.ERR_CORRUPT) corrupt++;
      else expect(n, `seed ${seed} round ${i}`).toBeGreaterThanOrEqual(0);
    }
    expect(corrupt).toBeGreaterThan(0);
    expect(guard.changed(), `seed ${seed}`).toEqual([]);
    expect(spare.count("free")).toBe(8);
    expect([pool.count("ring"), pool.count("user"), pool.count("free")]).toEqual([32, 0, 64]);
    // Both rings still work for an honest backend after a reset to the device's view.
    expect(rx.counters().tailRepaired + tx.counters().tailRepaired).toBeGreaterThan(0n);
  });
});

describe("a second vmdev instance on the same memory", () => {
  it("sees the same objects by handle: it sends on a netmap ring and fills an element queue the first instance drains", async () => {
    const core = await newCore(1 << 20);
    const other = await VmCore.attach({ module: debugWasm(), memory: core.memory, variant: "debug" }, 64 * 1024);
    const pool = RingPool.create(core, { buffers: 64, bufferSize: 2048 });
    const tx = NetmapRing.create(core, { pool, slots: 16, direction: "tx" });
    const q = ElementQueue.create(core, { size: 16, multiProducer: true });
    expect(other.exports.ring_kind(tx.handle)).toBe(core.exports.ring_kind(tx.handle));
    expect(other.exports.ring_ptr(q.handle)).toBe(core.exports.ring_ptr(q.handle));
    const frames = Array.from({ length: 10 }, (_, i) => tagged(200 + i, 9, i));
    const w = new FrameArrayWriter(other.io());
    for (const f of frames) w.push(f);
    expect(other.exports.nmr_user_send(tx.handle, 0, w.bytes)).toBe(10);
    expect(tx.txsync().frames!.copies()).toEqual(frames);
    expect(ElementQueue.attach(other, q.handle).enqueue([7, 8, 9])).toBe(3);
    expect([...q.dequeue(16)]).toEqual([7, 8, 9]);
    // And the other way: the first instance delivers, the second receives.
    const rx = NetmapRing.create(core, { pool, slots: 8, direction: "rx" });
    expect(rx.rxsync(frames.slice(0, 5))).toBe(5);
    const n = other.exports.nmr_user_recv(rx.handle, 0, other.exports.io_size());
    expect(n).toBe(5);
    expect(FrameBatch.read(other.io(), n).copies()).toEqual(frames.slice(0, 5));
    expect(rx.rxsync(frames.slice(5))).toBe(5); // the second instance released its slots
  });
});
