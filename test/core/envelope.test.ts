import { describe, it, expect } from "vitest";
import { Status } from "../../src/index.js";
import { newCore, rng, testSeed } from "../support/core.js";
import { expectSameBytes } from "../support/bytes.js";
import { DeviceKind, HostKind, STATE_HEADER_SIZE, openEnvelope, readEnvelopeHeader, sealEnvelope } from "../../src/state.js";

const MiB = 1 << 20;

async function coreWithLayout() {
  const core = await newCore(8 * MiB, { holes: [[MiB, 64 * 1024], [4 * MiB, MiB]] });
  core.dirty.enable();
  return core;
}

describe("state envelope", () => {
  it("round-trips the guest-memory layout: save → restore → save is identity", async () => {
    const src = await coreWithLayout();
    const blob = src.saveLayout();
    const h = readEnvelopeHeader(blob);
    expect(h).toMatchObject({ magic: "VMDS", format: 1, kind: 1, abiVersion: src.abiVersion, buildId: src.buildId });
    expect(h.payloadLength).toBe(blob.length - STATE_HEADER_SIZE);
    const dst = await newCore(8 * MiB);
    expect(dst.guest.check(MiB, 1)).toBe(Status.OK);
    expect(dst.restoreLayout(blob)).toBe(Status.OK);
    expect(dst.guest.check(MiB, 1)).toBe(Status.ERR_HOLE);
    expect(dst.dirty.enabled).toBe(true);
    expect(dst.saveLayout()).toEqual(blob);
  });

  it("refuses a blob for another RAM size and changes nothing", async () => {
    const blob = (await coreWithLayout()).saveLayout();
    const dst = await newCore(16 * MiB);
    const before = dst.saveLayout();
    expect(dst.restoreLayout(blob)).toBe(Status.ERR_STATE_INVALID);
    expect(dst.saveLayout()).toEqual(before);
  });

  it("names what is wrong: magic, kind, ABI, checksum, length, build", async () => {
    const core = await coreWithLayout();
    const blob = core.saveLayout();
    const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
    const reseal = (b: Uint8Array) => { // fix the header checksum so deeper checks are reached
      const e = core.exports;
      core.io().set(b.subarray(0, 40), 0);
      dv(b).setBigUint64(40, e.hash_xxh64(0, 40, 0n), true);
      return b;
    };
    const mutate = (f: (b: Uint8Array) => void, seal = true) => { const b = blob.slice(); f(b); return seal ? reseal(b) : b; };
    expect(core.restoreLayout(mutate((b) => { b[0] ^= 1; }))).toBe(Status.ERR_STATE_MAGIC);
    expect(core.restoreLayout(mutate((b) => dv(b).setUint32(8, 2, true)))).toBe(Status.ERR_STATE_KIND);
    expect(core.restoreLayout(mutate((b) => dv(b).setUint32(16, ((core.abiVersion >>> 16) + 1) << 16, true)))).toBe(Status.ERR_STATE_ABI);
    expect(core.restoreLayout(mutate((b) => dv(b).setUint16(4, 2, true)))).toBe(Status.ERR_STATE_VERSION);
    expect(core.restoreLayout(mutate((b) => { b[b.length - 1] ^= 0x80; }, false))).toBe(Status.ERR_STATE_CHECKSUM);
    expect(core.restoreLayout(mutate((b) => { b[12] ^= 1; }, false))).toBe(Status.ERR_STATE_CHECKSUM);
    expect(core.restoreLayout(blob.subarray(0, blob.length - 1))).toBe(Status.ERR_STATE_LENGTH);
    expect(core.restoreLayout(blob.subarray(0, 10))).toBe(Status.ERR_STATE_LENGTH);
    core.exports.state_strict_build(1);
    expect(core.restoreLayout(mutate((b) => dv(b).setUint32(20, dv(b).getUint32(20, true) ^ 1, true)))).toBe(Status.ERR_STATE_BUILD);
    core.exports.state_strict_build(0);
    expect(core.restoreLayout(blob)).toBe(Status.OK);
    expect(core.counters().stateRejected).toBe(9n);
  });

  it("fuzz: truncated, extended, bit-flipped and field-corrupted blobs never trap and never change state", async () => {
    const seed = testSeed();
    const rand = rng(seed);
    const core = await coreWithLayout();
    const blob = core.saveLayout();
    const victim = await newCore(8 * MiB);
    const pristine = victim.saveLayout();
    const e = core.exports;
    let accepted = 0;
    for (let i = 0; i < 20000; i++) {
      let b: Uint8Array;
      const kind = i % 4;
      if (kind === 0) b = blob.subarray(0, Math.floor(rand() * blob.length));
      else if (kind === 1) { b = new Uint8Array(blob.length + 1 + Math.floor(rand() * 64)); b.set(blob); }
      else {
        b = blob.slice();
        const flips = 1 + Math.floor(rand() * 4);
        for (let f = 0; f < flips; f++) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
        if (kind === 3) {
          // Re-seal both checksums so the field walker and the validators see the damage.
          const d = new DataView(b.buffer);
          victim.io().set(b, 0);
          d.setBigUint64(32, victim.exports.hash_xxh64(48, b.length - 48, 0n), true);
          victim.io().set(b.subarray(0, 40), 0);
          d.setBigUint64(40, victim.exports.hash_xxh64(0, 40, 0n), true);
        }
      }
      let status: number;
      try { status = victim.restoreLayout(b); } catch (err) { throw new Error(`seed ${seed} case ${i}: trapped: ${err}`); }
      if (status === Status.OK) {
        accepted++;
        // Only a blob that still says the same thing may be accepted; put the pristine state back.
        expect(victim.restoreLayout(pristine)).toBe(Status.OK);
      } else {
        expect(status, `seed ${seed} case ${i}`).toBeGreaterThanOrEqual(Status.ERR_STATE_LENGTH);
        expect(status).toBeLessThanOrEqual(Status.ERR_STATE_BUILD);
      }
      expectSameBytes(victim.saveLayout(), pristine, `seed ${seed} case ${i}`);
    }
    expect(e.vm_ready()).toBe(1);
    expect(accepted).toBeLessThan(20000 / 4);
  });
});

describe("host-written envelopes (src/state.ts sealEnvelope / openEnvelope)", () => {
  it("are the wasm's format: a wasm blob opened and re-sealed by the host is byte-identical, and the wasm restores it", async () => {
    const core = await coreWithLayout();
    const blob = core.saveLayout();
    const opened = await openEnvelope(blob, DeviceKind.guestMemory);
    if (typeof opened === "number") throw new Error(`openEnvelope: ${opened}`);
    const h = opened.header;
    const again = await sealEnvelope({ kind: h.kind, payloadVersion: h.payloadVersion, abiVersion: h.abiVersion, buildId: h.buildId }, opened.fields);
    expect(again).toEqual(blob);
    const dst = await newCore(8 * MiB);
    expect(dst.restoreLayout(again)).toBe(Status.OK);
  });

  it("pass the wasm's header check (state_peek_kind) with their host kind", async () => {
    const core = await newCore(4 * MiB);
    const blob = await sealEnvelope({ kind: HostKind.v86Machine, payloadVersion: 1 }, [{ tag: 1, value: Uint8Array.of(1, 2, 3) }]);
    core.io().set(blob, 0);
    expect(core.exports.state_peek_kind(blob.length)).toBe(HostKind.v86Machine);
  });

  it("host kinds never meet a wasm DeviceKind", () => {
    const device = new Set<number>(Object.values(DeviceKind));
    for (const k of Object.values(HostKind)) {
      expect(k).toBeGreaterThan(0xffff);
      expect(device.has(k)).toBe(false);
    }
  });

  it("openEnvelope names what is wrong, in envOpen's order, and never throws", async () => {
    const blob = await sealEnvelope({ kind: HostKind.v86Machine, payloadVersion: 1 }, [{ tag: 1, value: Uint8Array.of(9, 9) }, { tag: 7, value: new Uint8Array(0) }]);
    const ok = await openEnvelope(blob, HostKind.v86Machine);
    if (typeof ok === "number") throw new Error(`openEnvelope: ${ok}`);
    expect(ok.fields.map((f) => [f.tag, [...f.value]])).toEqual([[1, [9, 9]], [7, []]]);
    const flip = (at: number) => { const b = blob.slice(); b[at] ^= 1; return b; };
    expect(await openEnvelope(blob.subarray(0, 47), HostKind.v86Machine)).toBe(Status.ERR_STATE_LENGTH);
    expect(await openEnvelope(flip(0), HostKind.v86Machine)).toBe(Status.ERR_STATE_MAGIC);
    expect(await openEnvelope(flip(4), HostKind.v86Machine)).toBe(Status.ERR_STATE_VERSION);
    expect(await openEnvelope(flip(12), HostKind.v86Machine)).toBe(Status.ERR_STATE_CHECKSUM);
    expect(await openEnvelope(blob, DeviceKind.virtioNet)).toBe(Status.ERR_STATE_KIND);
    expect(await openEnvelope(flip(STATE_HEADER_SIZE + 8), HostKind.v86Machine)).toBe(Status.ERR_STATE_CHECKSUM);
    expect(await openEnvelope(blob.subarray(0, blob.length - 1), HostKind.v86Machine)).toBe(Status.ERR_STATE_LENGTH);
    expect(await openEnvelope("not a blob" as unknown as Uint8Array, HostKind.v86Machine)).toBe(Status.ERR_STATE_LENGTH);
    const seed = testSeed();
    const next = rng(seed);
    for (let i = 0; i < 300; i++) {
      const b = blob.slice(0, Math.floor(next() * (blob.length + 1)));
      if (b.length && next() < 0.7) b[Math.floor(next() * b.length)] ^= 1 + Math.floor(next() * 255);
      const st = await openEnvelope(b, HostKind.v86Machine);
      if (typeof st !== "number" && (b.length !== blob.length || b.some((x, j) => x !== blob[j]))) throw new Error(`seed ${seed}: a damaged blob was opened`);
    }
  });
});

