// virtio-net saved state: identity round-trips, a migration in the middle of
// traffic that loses and duplicates nothing, and hostile blobs (re-sealed with
// valid checksums so the device's own validation is what rejects them).
import { describe, it, expect } from "vitest";
import { envelopeFields as fields, editField as edit, resealChecksums } from "../../support/envelope.js";
import { Status, VirtioNet } from "../../../src/index.js";
import { Rig, F, frame, OWN_MAC } from "./rig.js";
import { newCore, rng, testSeed } from "../../support/core.js";
import { expectSameBytes } from "../../support/bytes.js";

const FEATS = [F.VERSION_1, F.MAC, F.STATUS, F.CTRL_VQ, F.CTRL_RX, F.CTRL_VLAN, F.MRG_RXBUF, F.EVENT_IDX, F.GUEST_ANNOUNCE];

async function busyRig(transport: "pci" | "mmio") {
  const r = await Rig.create(transport, { backlogFrames: 8 });
  r.init(FEATS);
  r.ctrl(2, 0, Uint8Array.of(7, 0));
  r.postRx(0, 2, 2048);
  for (let i = 0; i < 5; i++) r.dev.receive(frame(OWN_MAC, 100 + i, i)); // 2 delivered, 3 backlogged
  return r;
}

for (const transport of ["pci", "mmio"] as const) {
  describe(`virtio-net state over ${transport}`, () => {
    it("save → restore → save is identity, and the restored device keeps working", async () => {
      const r = await busyRig(transport);
      expect(r.dev.backlogLength).toBe(3);
      const a = r.dev.saveState();
      expect(r.dev.restoreState(a)).toBe(Status.OK);
      expect(r.dev.saveState()).toEqual(a);
      r.dev.resume(); // a restored device is quiesced until resumed
      r.send(frame("02:00:00:00:00:09"));
      expect(r.tx).toHaveLength(1);
    });

    it("migrates in the middle of traffic: no frame lost or duplicated", async () => {
      const src = await busyRig(transport);
      // TX chains made available but not yet kicked, and RX frames waiting in the backlog.
      const sent = [0, 1, 2].map((i) => frame("02:00:00:00:00:0a", 80, 50 + i));
      for (const f of sent) { const b = src.buf(12 + f.length); src.g.writeBytes(b + 12, f); src.add(1, [{ addr: b, len: 12 + f.length }]); }
      expect(src.takeUsed(0)).toHaveLength(2);
      src.dev.quiesce();
      const blob = src.dev.saveState();
      const ram = src.g.readBytes(0, src.g.size);

      const core = await newCore(src.g.size);
      core.guest.writeBytes(0, ram);
      const dst = await Rig.create(transport, { backlogFrames: 8 }, 0, core);
      dst.rings = src.rings;
      const before = Buffer.from(dst.g.readBytes(0, dst.g.size));
      expect(dst.dev.restoreState(blob)).toBe(Status.OK);
      // Restore processes no queue and writes no guest RAM; the host's resume
      // processes the kicks that never reached the source.
      expect(dst.tx).toEqual([]);
      expect(before.equals(dst.g.readBytes(0, dst.g.size))).toBe(true);
      dst.dev.resume();
      expect(dst.tx).toEqual(sent);
      const bufs = dst.postRx(0, 8, 2048);
      const used = dst.takeUsed(0);
      const got = used.filter((u) => u.len > 0).map((u) => dst.g.readBytes(bufs.get(u.id)! + 12, u.len - 12));
      expect(got).toEqual([2, 3, 4].map((i) => frame(OWN_MAC, 100 + i, i)));
      expect(dst.dev.backlogLength).toBe(0);
    });
  });
}

describe("restore validation", () => {
  it("rejects blobs with each invariant broken and leaves the device untouched", async () => {
    const r = await busyRig("pci");
    const good = r.dev.saveState();
    const before = r.dev.saveState();
    const f = fields(good);
    const cases: Array<[string, Uint8Array]> = [
      ["acked ⊄ offered", edit(good, 2, 0, (d, o) => d.setBigUint64(o, d.getBigUint64(o, true) | (1n << 40n), true))],
      ["unknown status bit", edit(good, 3, 0, (d, o) => d.setUint32(o, 0x10f, true))],
      ["queue size not a power of two", edit(good, 100, 0, (d, o) => d.setUint32(o, 48, true))],
      ["queue size above the maximum", edit(good, 100, 0, (d, o) => d.setUint32(o, 512, true))],
      ["misaligned ring of a ready queue", edit(good, 100, 16, (d, o) => d.setBigUint64(o, d.getBigUint64(o, true) + 8n, true))],
      ["ring outside RAM", edit(good, 101, 32, (d, o) => d.setBigUint64(o, 1n << 40n, true))],
      ["indices further apart than the queue size", edit(good, 101, 40, (d, o) => d.setUint32(o, 200, true))],
      ["index above 16 bits", edit(good, 101, 44, (d, o) => d.setUint32(o, 0x10000, true))],
      ["MSI-X vector out of range", edit(good, 100, 8, (d, o) => d.setUint32(o, 77, true))],
      ["queue pairs 0", edit(good, 33, 0, (d, o) => d.setUint32(o, 0, true))],
      ["multicast MAC", edit(good, 30, 0, (d, o) => d.setUint8(o, 1))],
      ["MAC table count past 64", edit(good, 36, 4, (d, o) => d.setUint32(o, 65, true))],
      ["backlog frame longer than the slot", edit(good, 37, 0, (d, o) => d.setUint32(o, 5000, true))],
      ["backlog frame length running past the field", edit(good, 37, 0, (d, o) => d.setUint32(o, f.get(37)![1], true))],
      ["mtu differs", edit(good, 35, 0, (d, o) => d.setUint32(o, 1400, true))],
      ["CTRL_RX acked without CTRL_VQ", edit(good, 2, 0, (d, o) => d.setBigUint64(o, d.getBigUint64(o, true) & ~(1n << 17n), true))],
      ["VLAN filter on without CTRL_VLAN", edit(good, 2, 0, (d, o) => d.setBigUint64(o, d.getBigUint64(o, true) & ~(1n << 19n), true))],
    ];
    for (const [name, blob] of cases) {
      expect(r.dev.restoreState(blob), name).toBe(Status.ERR_STATE_INVALID);
      expect(r.dev.saveState(), name).toEqual(before);
    }
  });

  it("fuzzed blobs never trap, never throw and never change the device", async () => {
    const seed = testSeed();
    const rand = rng(seed);
    const r = await busyRig("mmio");
    const good = r.dev.saveState();
    const f = [...fields(good).values()];
    try {
      for (let i = 0; i < 3000; i++) {
        const b = good.slice();
        const n = 1 + Math.floor(rand() * 4);
        for (let k = 0; k < n; k++) {
          const [off, len] = f[Math.floor(rand() * f.length)];
          if (len === 0) continue;
          b[off + Math.floor(rand() * len)] ^= 1 << Math.floor(rand() * 8);
        }
        const sealed = rand() < 0.9 ? resealChecksums(b) : b;
        const s = r.dev.restoreState(sealed);
        if (s !== Status.OK) expectSameBytes(r.dev.saveState(), good);
        else { r.dev.restoreState(good); }
      }
      for (const len of [0, 10, 47, 48, 60]) expect(r.dev.restoreState(good.subarray(0, len))).not.toBe(Status.OK);
    } catch (e) { console.error(`seed ${seed}`); throw e; }
  });

  it("a blob for another configuration is refused", async () => {
    const r = await busyRig("mmio");
    const blob = r.dev.saveState();
    const other = VirtioNet.create(r.core, { mac: OWN_MAC, transport: "mmio", queuePairs: 2, interrupts: { msi() {}, intx() {} } });
    expect(other.restoreState(blob)).toBe(Status.ERR_STATE_INVALID);
    const pci = VirtioNet.create(r.core, { mac: OWN_MAC, transport: "pci", interrupts: { msi() {}, intx() {} } });
    expect(pci.restoreState(blob)).toBe(Status.ERR_STATE_INVALID);
  });
});
