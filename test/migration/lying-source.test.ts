// A source that lies, scripted on the wire (test/support/wire-peer.ts frames
// with its own code): pages round 0 never sent behind a digest that claims
// them, a layout that turns RAM into holes, a digest whose mode contradicts
// HELLO, frames before HELLO_ACK, and floods that ignore flow control, in
// process and over TCP. The destination must refuse (naming what is wrong),
// never resume, and never hold more than the receive window.
import { describe, it, expect, afterEach } from "vitest";
import { MessageChannel } from "node:worker_threads";
import { connect as netConnect, type Socket } from "node:net";
import { once } from "node:events";
import { VmCore } from "../../src/index.js";
import {
  migrate, receiveMigration, portPair, listen, PortTransport, Msg, RECV_WINDOW, type Transport, type ReceiveResult,
} from "../../src/migration/index.js";
import { StandInDestination, StandInSource, fillRandom } from "../../src/testing/index.js";

import { debugWasm, newCore, rng } from "../support/core.js";
import { FrameBuilder, WirePeer, PAGE, hello, round, roundEnd, pagesPayload, digest, readAck, readVerdict, xxh } from "../support/wire-peer.js";
import { fullDigest } from "./helpers.js";

const RAM_PAGES = 64;
const FULL = 2, DEFERRED = 4;
const MODE_FLAGS = { sent: 0, full: FULL, deferred: DEFERRED } as const;
const MODE_DIGEST = { sent: 0, full: 1, deferred: 2 } as const;
let cleanup: Array<() => unknown> = [];
afterEach(async () => { for (const c of cleanup.splice(0)) await c(); });

async function layout(pages: number, holes: Array<[number, number]> = []): Promise<Uint8Array> {
  return (await newCore(pages * PAGE, { holes: holes.map(([p, n]) => [p * PAGE, n * PAGE]) })).saveLayout();
}
/** A VM of this build, for the ABI version an honest HELLO carries. */
const probeVm = () => VmCore.create({ module: debugWasm(), variant: "debug", ramBytes: 1 << 16 });

/** A destination behind `t` whose factory waits for `gate()` before it builds the VM (a VM that takes long to build). */
async function destinationOver(t: Transport, o: { holes?: Array<[number, number]>; gate?: () => Promise<unknown> } = {}): Promise<{ result: Promise<ReceiveResult>; abiVersion: number }> {
  const c = await probeVm();
  const result = receiveMigration(t, async ({ ramBytes }) => {
    await o.gate?.();
    return StandInDestination.create({ module: debugWasm(), variant: "debug", ramBytes, holes: o.holes?.map(([p, n]) => [p * PAGE, n * PAGE]) });
  }, { idleTimeoutMs: 5000 });
  return { result, abiVersion: c.abiVersion };
}

async function liar(o: { holes?: Array<[number, number]> } = {}) {
  const [peerSide, destSide] = portPair();
  const d = await destinationOver(destSide, o);
  return { peer: await WirePeer.over(peerSide), ...d, destSide };
}

function randomPage(seed: number): Uint8Array {
  const r = rng(seed + 1);
  return Uint8Array.from({ length: PAGE }, () => (r() * 256) | 0);
}

describe("a lying source", () => {
  for (const mode of ["sent", "full", "deferred"] as const) {
    it(`regression_digest_claims_pages_round0_never_sent (${mode} verify): refused, the pages named`, async () => {
      const { peer, result, abiVersion } = await liar();
      await peer.send(Msg.HELLO, hello({ abiVersion, ramPages: RAM_PAGES, flags: MODE_FLAGS[mode], layout: await layout(RAM_PAGES) }));
      expect(readAck((await peer.expect(Msg.HELLO_ACK)).payload)).toEqual([0, ""]);
      // Round 0 names only the first half of RAM.
      const sent: Array<[number, Uint8Array]> = Array.from({ length: 32 }, (_, p) => [p, randomPage(p)]);
      await peer.send(Msg.ROUND, round(0));
      await peer.send(Msg.PAGES, pagesPayload(peer, 0, sent));
      await peer.send(Msg.ROUND_END, roundEnd(0, 32));
      await peer.expect(Msg.ROUND_ACK);
      await peer.send(Msg.ROUND, round(1, true));
      await peer.send(Msg.ROUND_END, roundEnd(1, 0));
      // The digest of the table the destination holds if it takes the stream's word for
      // the rest: hash 0 for pages never written (sent mode), or the hash of the zero
      // page its fresh RAM holds (full mode).
      const table = Array.from({ length: RAM_PAGES }, (_, p) => (p < 32 ? peer.pageHash(sent[p][1]) : mode === "full" ? peer.zeroHash : 0n));
      await peer.send(Msg.DIGEST, digest(peer.digestOf(table), 2, 0, MODE_DIGEST[mode]));
      const f = await peer.recv();
      // A destination that accepted would now run on the liar's say-so.
      if (f?.type === Msg.VERDICT && readVerdict(f.payload).accept) await peer.send(Msg.CONFIRM);
      const res = await result;
      expect(res.resumed).toBe(false);
      expect(f?.type).toBe(Msg.VERDICT);
      const v = readVerdict(f!.payload);
      expect(v).toMatchObject({ accept: false, reason: 4, total: 32, message: "32 pages were never sent" });
      expect(v.pages).toEqual(Array.from({ length: 32 }, (_, i) => ({ page: 32 + i, round: 0xffff })));
      expect(res.error).toBe("32 pages were never sent");
    });
  }

  it("regression_hello_layout_turns_all_ram_into_a_hole: refused at the handshake against this side's configuration", async () => {
    const { peer, result, abiVersion } = await liar();
    await peer.send(Msg.HELLO, hello({ abiVersion, ramPages: RAM_PAGES, flags: 0, layout: await layout(RAM_PAGES, [[0, RAM_PAGES]]) }));
    const [status, reason] = readAck((await peer.expect(Msg.HELLO_ACK)).payload);
    if (status === 0) {
      // Accepted: no page can be sent into a hole, and a table of holes is all zeros.
      await peer.send(Msg.ROUND, round(0));
      await peer.send(Msg.ROUND_END, roundEnd(0, 0));
      await peer.expect(Msg.ROUND_ACK);
      await peer.send(Msg.ROUND, round(1, true));
      await peer.send(Msg.ROUND_END, roundEnd(1, 0));
      await peer.send(Msg.DIGEST, digest(peer.digestOf(new Array(RAM_PAGES).fill(0n)), 2, 0, 0));
      const f = await peer.recv();
      if (f?.type === Msg.VERDICT && readVerdict(f.payload).accept) await peer.send(Msg.CONFIRM);
    }
    const res = await result;
    expect(res.resumed).toBe(false);
    expect(status).toBe(1);
    expect(reason).toBe("the source's guest-memory layout differs from this side's in 64 pages (first: page 0 is a hole there and RAM here)");
    expect(res.phase).toBe("handshake");
  });

  it("a source of another wasm ABI major is refused in the handshake, by the ABI of the VM that would apply its records", async () => {
    const { peer, result, abiVersion } = await liar();
    const other = abiVersion + (1 << 16);
    await peer.send(Msg.HELLO, hello({ abiVersion: other, ramPages: RAM_PAGES, flags: 0, layout: await layout(RAM_PAGES) }));
    expect(readAck((await peer.expect(Msg.HELLO_ACK)).payload)).toEqual([1, `wasm ABI ${other >>> 16}.x, this side has ${abiVersion >>> 16}.x`]);
    const res = await result;
    expect(res.resumed).toBe(false);
    expect(res.phase).toBe("handshake");
  });

  it("a layout whose holes differ from this side's in part is refused, naming the first page", async () => {
    const { peer, result, abiVersion } = await liar({ holes: [[8, 4], [20, 2]] });
    await peer.send(Msg.HELLO, hello({ abiVersion, ramPages: RAM_PAGES, flags: 0, layout: await layout(RAM_PAGES, [[8, 4]]) }));
    expect(readAck((await peer.expect(Msg.HELLO_ACK)).payload)).toEqual([1, "the source's guest-memory layout differs from this side's in 2 pages (first: page 20 is RAM there and a hole here)"]);
    expect((await result).resumed).toBe(false);
  });

  /** An honest stream of RAM_PAGES random pages in deferred mode, up to the destination's RESUMED. */
  /** HELLO with `flags`, round 0 with every page random, an empty final round; returns the digest of what was sent. */
  async function honestRounds(peer: WirePeer, abiVersion: number, flags: number, recordHashes = false): Promise<bigint> {
    await peer.send(Msg.HELLO, hello({ abiVersion, ramPages: RAM_PAGES, flags, layout: await layout(RAM_PAGES) }));
    await peer.expect(Msg.HELLO_ACK);
    const all: Array<[number, Uint8Array]> = Array.from({ length: RAM_PAGES }, (_, p) => [p, randomPage(p)]);
    await peer.send(Msg.ROUND, round(0));
    await peer.send(Msg.PAGES, pagesPayload(peer, 0, all), recordHashes);
    await peer.send(Msg.ROUND_END, roundEnd(0, RAM_PAGES));
    await peer.expect(Msg.ROUND_ACK);
    await peer.send(Msg.ROUND, round(1, true));
    await peer.send(Msg.ROUND_END, roundEnd(1, 0));
    return peer.digestOf(all.map(([, b]) => peer.pageHash(b)));
  }

  async function deferredUpToResumed() {
    const l = await liar();
    const { peer, abiVersion } = l;
    await peer.send(Msg.DIGEST, digest(await honestRounds(peer, abiVersion, DEFERRED), 2, 0, 2));
    expect(readVerdict((await peer.expect(Msg.VERDICT)).payload).accept).toBe(true);
    await peer.send(Msg.CONFIRM);
    await peer.expect(Msg.RESUMED);
    return l;
  }

  it("deferred verify: a CHECKED whose count and first page disagree leaves the memory unverified (the destination already runs) and says why", async () => {
    const { peer, result } = await deferredUpToResumed();
    // "No page changed, the first is page 3": a check that cannot be believed either way.
    const checked = new Uint8Array(8);
    new DataView(checked.buffer).setUint32(4, 3, true);
    await peer.send(Msg.CHECKED, checked);
    const res = await result;
    expect(res).toMatchObject({ ok: true, resumed: true, memoryVerified: false });
    expect(res.sourceCheck).toBeUndefined();
    expect(res.error).toBe("memory not verified: no check from the source after resume (CHECKED: inconsistent page count and first page)");
  });

  it("deferred verify: a source that hangs up after RESUMED leaves the memory unverified, not verified", async () => {
    const { result, destSide } = await deferredUpToResumed();
    destSide.close();
    const res = await result;
    expect(res).toMatchObject({ ok: true, resumed: true, memoryVerified: false });
    expect(res.error).toMatch(/^memory not verified: no check from the source after resume/);
  });

  it("PING inside a round is a protocol error; between rounds it is answered", async () => {
    const { peer, result, abiVersion } = await liar();
    await peer.send(Msg.HELLO, hello({ abiVersion, ramPages: RAM_PAGES, flags: 0, layout: await layout(RAM_PAGES) }));
    await peer.expect(Msg.HELLO_ACK);
    const ping = Uint8Array.of(7, 0, 0, 0);
    await peer.send(Msg.PING, ping);
    expect((await peer.expect(Msg.PONG)).payload).toEqual(ping);
    await peer.send(Msg.ROUND, round(0));
    await peer.send(Msg.PING, ping);
    const res = await result;
    expect(res).toMatchObject({ resumed: false, errorName: "ProtocolError", error: "PING inside a round or after the final round" });
  });

  it("PAGES with record hashes (frame flag 1) written from the protocol document are accepted and verified", async () => {
    const { peer, result, abiVersion } = await liar();
    await peer.send(Msg.DIGEST, digest(await honestRounds(peer, abiVersion, FULL, true), 2, 0, 1));
    expect(readVerdict((await peer.expect(Msg.VERDICT)).payload).accept).toBe(true);
    await peer.send(Msg.CONFIRM);
    await peer.expect(Msg.RESUMED);
    expect(await result).toMatchObject({ ok: true, resumed: true, memoryVerified: true });
  });

  /** HELLO, round 0's PAGES of every page with record hashes, `tamper` applied to the framed bytes; the destination's result. */
  async function tamperedRecordFrame(tamper: (frame: Uint8Array) => void): Promise<ReceiveResult> {
    const { peer, result, abiVersion } = await liar();
    await peer.send(Msg.HELLO, hello({ abiVersion, ramPages: RAM_PAGES, flags: FULL, layout: await layout(RAM_PAGES) }));
    await peer.expect(Msg.HELLO_ACK);
    await peer.send(Msg.ROUND, round(0));
    const all: Array<[number, Uint8Array]> = Array.from({ length: RAM_PAGES }, (_, p) => [p, randomPage(p)]);
    const frame = new FrameBuilder(peer.h);
    // The frame builder numbers from 0: burn HELLO's and ROUND's sequence numbers.
    frame.frame(Msg.HELLO); frame.frame(Msg.ROUND);
    const f = frame.frame(Msg.PAGES, pagesPayload(peer, 0, all), true);
    tamper(f);
    await peer.transport.send(f);
    return result;
  }
  const RECORD = 16 + PAGE;
  const recordAt = (i: number) => 32 + 4 + i * RECORD;

  it("regression_record_hashes_cover_the_record_headers: a page number changed under flag 1 is refused before any page is written", async () => {
    // Record 5 now claims page 6: its data and hash still agree, so only the header checksum can tell.
    const res = await tamperedRecordFrame((f) => { f[recordAt(5)] = 6; });
    expect(res).toMatchObject({ ok: false, resumed: false, errorName: "ProtocolError", error: "frame 2 (PAGES): record checksum mismatch" });
    expect(res.pagesApplied).toBe(0);
  });

  it("regression_record_hashes_leave_page_data_to_the_page_hash: a data byte changed under flag 1 is refused at that page, which is not written", async () => {
    const res = await tamperedRecordFrame((f) => { f[recordAt(9) + 16 + 100] ^= 0x40; });
    expect(res).toMatchObject({ ok: false, resumed: false, errorName: "ProtocolError" });
    expect(res.error).toBe(`round 0: bad page record at offset ${4 + 9 * RECORD - 4} (page 9): ERR_CORRUPT`);
    // Records before it were applied (harmless: a destination that saw a bad record never runs); page 9 was not.
    expect(res.pagesApplied).toBe(9);
  });

  it("flag 1 on anything but PAGES is refused as reserved flags", async () => {
    const { peer, result, abiVersion } = await liar();
    const b = new FrameBuilder(peer.h);
    const f = b.frame(Msg.HELLO, hello({ abiVersion, ramPages: RAM_PAGES, flags: FULL, layout: await layout(RAM_PAGES) }));
    f[6] = 1;
    new DataView(f.buffer).setBigUint64(24, peer.h.h64Raw(f.subarray(0, 24), 0n), true);
    await peer.transport.send(f);
    expect(await result).toMatchObject({ ok: false, resumed: false, errorName: "ProtocolError", error: "frame 0: reserved flags set" });
  });

  it("a DIGEST whose verify mode contradicts HELLO is a protocol error", async () => {
    const { peer, result, abiVersion } = await liar();
    await peer.send(Msg.DIGEST, digest(await honestRounds(peer, abiVersion, FULL), 2, 0, 0));
    const res = await result;
    expect(res.resumed).toBe(false);
    expect(res).toMatchObject({ errorName: "ProtocolError", error: "DIGEST: verify mode 0, HELLO announced full" });
  });

  it("a source that sends before HELLO_ACK breaks the protocol", async () => {
    const [peerSide, destSide] = portPair();
    // The VM is built only once the ROUND frame (40 bytes) waits on this side behind the consumed HELLO.
    const gate = async () => { while (destSide.buffered < 40) await new Promise((r) => setImmediate(r)); };
    const { result, abiVersion } = await destinationOver(destSide, { gate });
    const peer = await WirePeer.over(peerSide);
    await peer.send(Msg.HELLO, hello({ abiVersion, ramPages: RAM_PAGES, flags: 0, layout: await layout(RAM_PAGES) }));
    await peer.send(Msg.ROUND, round(0));
    const res = await result;
    expect(res.resumed).toBe(false);
    expect(res).toMatchObject({ errorName: "ProtocolError", error: "ROUND before HELLO_ACK" });
  });
});

describe("guest-memory layout across a real migration", () => {
  it("a source with holes migrates to a destination configured with the same holes (listed in other pieces)", async () => {
    const src = await StandInSource.create({ module: debugWasm(), variant: "debug", ramBytes: RAM_PAGES * PAGE, vcpus: 0 });
    cleanup.push(() => src.stop());
    src.core.guest.addHole(8 * PAGE, 4 * PAGE);
    fillRandom(src.core, 8 * PAGE, 5);
    const [a, b] = portPair();
    let dest: StandInDestination | undefined;
    const [report, res] = await Promise.all([
      migrate(src, a, { maxRounds: 2, downtimeLimitMs: -1 }),
      receiveMigration(b, async ({ ramBytes }) => (dest = await StandInDestination.create({ module: debugWasm(), variant: "debug", ramBytes, holes: [[8 * PAGE, 2 * PAGE], [10 * PAGE, 2 * PAGE]] }))),
    ]);
    expect(report.ok, report.error).toBe(true);
    expect(report.verified).toBe(true);
    expect(res.resumed).toBe(true);
    expect(fullDigest(dest!.core)).toBe(fullDigest(src.core));
  });
});

/** `n` PAGES frames of valid records filling a 4 MiB payload each (what a flood sends), built as they are taken. */
async function* floodFrames(fb: FrameBuilder, n: number): AsyncGenerator<Uint8Array> {
  const h = await xxh();
  const peer = { pageHash: (b: Uint8Array) => h.h64Raw(b, 0n) } as unknown as WirePeer;
  const per = Math.floor(((4 << 20) - 4) / (16 + PAGE));
  const payload = pagesPayload(peer, 0, Array.from({ length: per }, (_, p) => [p, randomPage(p)]));
  for (let i = 0; i < n; i++) yield fb.frame(Msg.PAGES, payload);
}
const FLOOD = 64; // frames of 4 MiB: 256 MiB if nothing stops it

describe("memory bound: a source flooding before HELLO_ACK", () => {
  it("regression_flood_before_hello_ack_in_process: a peer ignoring credits is disconnected; the destination never holds more than the window", async () => {
    const { port1: flooder, port2 } = new MessageChannel();
    const destSide = new PortTransport(port2, "in-process (destination)");
    let disconnected = false;
    flooder.on("message", (m: { bye?: boolean }) => { if (m.bye) disconnected = true; });
    flooder.on("close", () => { disconnected = true; });
    flooder.start();
    const fb = new FrameBuilder(await xxh());
    const c = await probeVm();
    const helloFrame = fb.frame(Msg.HELLO, hello({ abiVersion: c.abiVersion, ramPages: 1024, flags: 0, layout: await layout(1024) }));
    const frames = floodFrames(fb, FLOOD);
    let posted = 0;
    // The port's message protocol ({d: bytes}) spoken without waiting for a single credit.
    const flood = (async () => {
      flooder.postMessage({ d: helloFrame });
      for await (const f of frames) {
        if (disconnected) break;
        flooder.postMessage({ d: f });
        posted++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    // The destination takes until the flood is over to build its VM.
    const { result } = await destinationOver(destSide, { gate: () => flood });
    const res = await result;
    expect(res.resumed).toBe(false);
    expect(disconnected).toBe(true);
    expect(posted).toBeLessThan(FLOOD);
    expect(destSide.bufferedHighWater).toBeLessThanOrEqual(RECV_WINDOW);
    expect(res.bufferedHighWater).toBeLessThanOrEqual(RECV_WINDOW);
    expect(res.bufferedHighWater).toBeGreaterThan(RECV_WINDOW / 2); // the flood did fill the window
  });

  it("regression_flood_before_hello_ack_tcp: reading stops at the window, TCP holds the flooder back, and it is disconnected", async () => {
    const l = await listen(0);
    const accepted = l.accept();
    const sock: Socket = netConnect({ port: l.port, host: "127.0.0.1" });
    cleanup.push(() => sock.destroy());
    await once(sock, "connect");
    const destSide = await accepted;
    l.server.close();
    let closed = false;
    sock.on("close", () => { closed = true; });
    sock.on("error", () => { closed = true; });
    const fb = new FrameBuilder(await xxh());
    const c = await probeVm();
    sock.write(fb.frame(Msg.HELLO, hello({ abiVersion: c.abiVersion, ramPages: 1024, flags: 0, layout: await layout(1024) })));
    const frames = floodFrames(fb, FLOOD);
    let written = 0, done = false;
    const flood = (async () => {
      for await (const f of frames) {
        if (closed) break;
        written++;
        // Only the flooder's own memory is spared: it queues a frame whenever its socket drains.
        if (!sock.write(f)) await Promise.race([once(sock, "drain"), once(sock, "close")]).catch(() => {});
      }
      done = true;
    })();
    // The VM is built once this side has stopped reading (or the flood is over).
    const gate = async () => { while (!destSide.readPaused && !done) await new Promise((r) => setTimeout(r, 1)); };
    const { result } = await destinationOver(destSide, { gate });
    const res = await result;
    await flood;
    expect(res.resumed).toBe(false);
    expect(res).toMatchObject({ errorName: "ProtocolError", error: "PAGES before HELLO_ACK" });
    expect(closed).toBe(true);
    expect(written).toBeLessThan(FLOOD);
    expect(destSide.bufferedHighWater).toBeLessThanOrEqual(RECV_WINDOW);
    expect(res.bufferedHighWater).toBeLessThanOrEqual(RECV_WINDOW);
  });
});
