// Pre-touching the destination's RAM ahead of round 0 (ReceiveOptions.pretouch,
// mig_pretouch): the first write to fresh memory is a page fault, so the
// destination makes the next pages resident while it waits for frames. The
// touch must change no byte, skip holes, touch nothing of an emulator's RAM,
// and stay within PRETOUCH_AHEAD pages of what round 0 has applied.
import { describe, it, expect } from "vitest";
import { portPair, receiveMigration, Msg, PRETOUCH_AHEAD, type ReceiveResult } from "../../src/migration/index.js";
import { StandInDestination } from "../../src/testing/index.js";
import { debugWasm, newCore, rng, testSeed, FakeEmulatorRam } from "../support/core.js";
import { WirePeer, PAGE, hello, round, roundEnd, pagesPayload, digest, readVerdict } from "../support/wire-peer.js";

describe("mig_pretouch", () => {
  it("changes no byte of RAM, skips holes, and counts the pages it touched", async () => {
    const seed = testSeed();
    const core = await newCore(64 * PAGE, { holes: [[8 * PAGE, 4 * PAGE]] });
    const r = rng(seed);
    const before = new Uint8Array(64 * PAGE);
    for (let p = 0; p < 64; p++) {
      if (p >= 8 && p < 12) continue;
      const page = Uint8Array.from({ length: PAGE }, () => (r() * 256) | 0);
      core.guest.view(p * PAGE, PAGE).set(page);
      before.set(page, p * PAGE);
    }
    expect(core.exports.mig_pretouch(0, 64), `seed ${seed}`).toBe(60);
    for (let p = 0; p < 64; p++) {
      if (p >= 8 && p < 12) continue;
      expect(Buffer.from(core.guest.view(p * PAGE, PAGE)).equals(Buffer.from(before.subarray(p * PAGE, (p + 1) * PAGE))), `seed ${seed}, page ${p}`).toBe(true);
    }
    // A range past the end is cut at it; one starting past it touches nothing.
    expect(core.exports.mig_pretouch(60, 1000)).toBe(4);
    expect(core.exports.mig_pretouch(64, 1)).toBe(0);
  });

  it("touches nothing of an emulator's RAM (the foreign placement)", async () => {
    const ram = new FakeEmulatorRam(16 * PAGE);
    const core = await newCore(16 * PAGE, { foreign: ram });
    expect(core.exports.mig_pretouch(0, 16)).toBe(0);
    expect(ram.bytes.every((b) => b === 0)).toBe(true);
  });
});

describe("pre-touch in a migration", () => {
  const RAM_PAGES = PRETOUCH_AHEAD + 512;

  async function migrateInTwoHalves(pretouch: boolean): Promise<ReceiveResult> {
    const [peerSide, destSide] = portPair();
    let touched: () => void = () => {};
    const pretouched = new Promise<void>((r) => { touched = r; });
    const result = receiveMigration(destSide, ({ ramBytes }) => StandInDestination.create({ module: debugWasm(), variant: "debug", ramBytes }), {
      idleTimeoutMs: 10_000, pretouch, onEvent: (what) => { if (what === "pretouched") touched(); },
    });
    const peer = await WirePeer.over(peerSide);
    const probe = await newCore(PAGE);
    await peer.send(Msg.HELLO, hello({ abiVersion: probe.abiVersion, ramPages: RAM_PAGES, flags: 2, layout: (await newCore(RAM_PAGES * PAGE)).saveLayout() }));
    await peer.expect(Msg.HELLO_ACK);
    const r = rng(7);
    const all: Array<[number, Uint8Array]> = Array.from({ length: RAM_PAGES }, (_, p) => [p, Uint8Array.from({ length: PAGE }, () => (r() * 256) | 0)]);
    await peer.send(Msg.ROUND, round(0));
    await peer.send(Msg.PAGES, pagesPayload(peer, 0, all.slice(0, 256)), true);
    // The destination waits for the next frame: it pre-touches up to PRETOUCH_AHEAD pages past the 256 applied, and says so.
    if (pretouch) await pretouched;
    for (let i = 256; i < RAM_PAGES; i += 256) await peer.send(Msg.PAGES, pagesPayload(peer, 0, all.slice(i, i + 256)), true);
    await peer.send(Msg.ROUND_END, roundEnd(0, RAM_PAGES));
    await peer.expect(Msg.ROUND_ACK);
    await peer.send(Msg.ROUND, round(1, true));
    await peer.send(Msg.ROUND_END, roundEnd(1, 0));
    await peer.send(Msg.DIGEST, digest(peer.digestOf(all.map(([, b]) => peer.pageHash(b))), 2, 0, 1));
    expect(readVerdict((await peer.expect(Msg.VERDICT)).payload).accept).toBe(true);
    await peer.send(Msg.CONFIRM);
    await peer.expect(Msg.RESUMED);
    return result;
  }

  it("the destination touches the pages ahead of round 0 while it waits, at most PRETOUCH_AHEAD ahead, and memory verifies", async () => {
    const res = await migrateInTwoHalves(true);
    expect(res).toMatchObject({ ok: true, resumed: true, memoryVerified: true });
    // While it waited after the first 256 pages it touched exactly [256, 256 + PRETOUCH_AHEAD); later waits may add more.
    expect(res.pagesPretouched).toBeGreaterThanOrEqual(PRETOUCH_AHEAD);
    expect(res.pagesPretouched).toBeLessThanOrEqual(RAM_PAGES - 256);
  });

  it("pretouch: false touches nothing", async () => {
    const res = await migrateInTwoHalves(false);
    expect(res).toMatchObject({ ok: true, resumed: true, memoryVerified: true, pagesPretouched: 0 });
  });
});
