// virtio-net device behaviour through raw rings: TX, RX (num_buffers, mergeable
// buffers, backlog), control queue, announce, in-wasm links.
import { describe, it, expect } from "vitest";
import { Status, VirtioNet, VirtualSwitch } from "../../../src/index.js";
import { Rig, F, S, frame, OWN_MAC } from "./rig.js";

const BASE = [F.VERSION_1, F.MAC, F.STATUS, F.MTU, F.CTRL_VQ, F.CTRL_RX, F.CTRL_RX_EXTRA, F.CTRL_VLAN, F.CTRL_MAC_ADDR, F.GUEST_ANNOUNCE];

for (const transport of ["pci", "mmio"] as const) {
  describe(`virtio-net over ${transport}`, () => {
    it("offers the features of the issue and reads its config", async () => {
      const r = await Rig.create(transport, { queuePairs: 4, mtu: 9000 });
      const f = r.deviceFeatures();
      for (const b of [...BASE, F.MRG_RXBUF, F.MQ, F.EVENT_IDX, F.INDIRECT_DESC]) expect((f >> BigInt(b)) & 1n).toBe(1n);
      expect([0, 1, 2, 3, 4, 5].map((i) => r.configRead(i, 1))).toEqual([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
      expect(r.configRead(6, 2)).toBe(1);    // link up
      expect(r.configRead(8, 2)).toBe(4);    // max_virtqueue_pairs
      expect(r.configRead(10, 2)).toBe(9000);
    });

    it("transmits a frame to onTransmit before the notify returns", async () => {
      const r = await Rig.create(transport);
      r.init(BASE);
      const f = frame("02:00:00:00:00:02", 100);
      const head = r.send(f);
      expect(r.tx).toEqual([f]);
      expect(r.takeUsed(1)).toEqual([{ id: head, len: 0 }]);
      expect(r.dev.counters().txFrames).toBe(1n);
    });

    it("gathers a frame split over several descriptors, header split too", async () => {
      const r = await Rig.create(transport);
      r.init(BASE);
      const f = frame("02:00:00:00:00:02", 300);
      const whole = new Uint8Array(12 + 300); whole.set(f, 12);
      const a = r.buf(5, whole.subarray(0, 5)), b = r.buf(100, whole.subarray(5, 105)), c = r.buf(207, whole.subarray(105));
      r.add(1, [{ addr: a, len: 5 }, { addr: b, len: 100 }, { addr: c, len: 207 }]);
      r.notify(1);
      expect(r.tx).toEqual([f]);
    });

    it("receives with a 12-byte header and num_buffers = 1 little-endian without MRG_RXBUF", async () => {
      const r = await Rig.create(transport);
      r.init(BASE);
      const bufs = r.postRx(0, 2, 2048);
      const f = frame(OWN_MAC, 80);
      expect(r.dev.receive(f)).toBe(Status.OK);
      const [u] = r.takeUsed(0);
      expect(u.len).toBe(12 + 80);
      const a = bufs.get(u.id)!;
      expect(r.g.readU16(a + 10)).toBe(1);
      expect(r.g.readU8(a + 10)).toBe(1);
      expect(r.g.readBytes(a + 12, 80)).toEqual(f);
    });

    it("spans mergeable buffers and writes num_buffers", async () => {
      const r = await Rig.create(transport);
      r.init([...BASE, F.MRG_RXBUF]);
      const bufs = r.postRx(0, 8, 256);
      const f = frame(OWN_MAC, 1000, 3);
      expect(r.dev.receive(f)).toBe(Status.OK);
      const used = r.takeUsed(0);
      expect(used.map((u) => u.len)).toEqual([256, 256, 256, 244]);
      const first = bufs.get(used[0].id)!;
      expect(r.g.readU16(first + 10)).toBe(4);
      const got = new Uint8Array(1012);
      let o = 0;
      for (const u of used) { got.set(r.g.readBytes(bufs.get(u.id)!, u.len), o); o += u.len; }
      expect(got.subarray(12)).toEqual(f);
    });

    it("never truncates: without MRG_RXBUF a frame larger than the buffer is dropped, the buffer stays for the next frame", async () => {
      const r = await Rig.create(transport);
      r.init(BASE);
      const bufs = r.postRx(0, 1, 128);
      expect(r.dev.receive(frame(OWN_MAC, 200))).toBe(Status.ERR_FULL);
      expect(r.takeUsed(0)).toEqual([]);
      const c = r.dev.counters();
      expect([c.rxShortBuffer, c.rxDropped, c.rxFrames]).toEqual([1n, 1n, 0n]);
      expect(r.dev.backlogLength).toBe(0);
      const f = frame(OWN_MAC, 100);
      expect(r.dev.receive(f)).toBe(Status.OK);
      const [u] = r.takeUsed(0);
      expect(u.len).toBe(112);
      expect(r.g.readBytes(bufs.get(u.id)! + 12, 100)).toEqual(f);
    });

    it("with MRG_RXBUF a frame no full ring of buffers can hold is dropped instead of blocking the backlog", async () => {
      const r = await Rig.create(transport, { queueSize: 4 });
      r.init([...BASE, F.MRG_RXBUF], { size: 4 });
      r.postRx(0, 4, 64);                                 // 4 × 64 B < 12 + 300
      expect(r.dev.receive(frame(OWN_MAC, 300))).toBe(Status.ERR_FULL);
      expect(r.takeUsed(0)).toEqual([]);
      expect(r.dev.receive(frame(OWN_MAC, 100))).toBe(Status.OK);
      expect(r.takeUsed(0).map((u) => u.len)).toEqual([64, 48]);
    });

    it("backlogs frames while there are no buffers, in order, drops only past the bound", async () => {
      const r = await Rig.create(transport, { backlogFrames: 4 });
      r.init(BASE);
      const frames = [1, 2, 3, 4, 5].map((s) => frame(OWN_MAC, 60 + s, s));
      expect(frames.map((f) => r.dev.receive(f))).toEqual([0, 0, 0, 0, Status.ERR_FULL]);
      const c = r.dev.counters();
      expect(c.rxBacklogged).toBe(4n);
      expect(c.rxDropped).toBe(1n);
      const bufs = r.postRx(0, 8, 2048);
      const used = r.takeUsed(0);
      expect(used.map((u) => r.g.readBytes(bufs.get(u.id)! + 12, u.len - 12))).toEqual(frames.slice(0, 4));
    });

    it("a control command changes the filter for the next frame; a bad payload answers ERR and keeps the old setting", async () => {
      const r = await Rig.create(transport);
      r.init(BASE);
      r.postRx(0, 16, 2048);
      const other = frame("02:99:99:99:99:99", 64);
      expect(r.dev.receive(other)).toBe(Status.OK);
      expect(r.takeUsed(0)).toHaveLength(1); // promiscuous after reset
      expect(r.ctrl(0, 0, Uint8Array.of(0))).toBe(0); // PROMISC off
      r.dev.receive(other);
      expect(r.takeUsed(0)).toHaveLength(0);
      expect(r.dev.counters().rxFiltered).toBe(1n);
      expect(r.ctrl(0, 0, Uint8Array.of(1, 1))).toBe(1);    // wrong length
      expect(r.ctrl(0, 0, new Uint8Array(0))).toBe(1);      // no value
      r.dev.receive(other);
      expect(r.takeUsed(0)).toHaveLength(0);                // still filtered
      expect(r.dev.counters().ctrlErr).toBe(2n);
      expect(r.ctrl(0, 0, Uint8Array.of(0x80))).toBe(0);    // any non-zero value enables
      r.dev.receive(other);
      expect(r.takeUsed(0)).toHaveLength(1);
      expect(r.ctrl(0, 0, Uint8Array.of(0))).toBe(0);
      r.dev.receive(frame(OWN_MAC));
      expect(r.takeUsed(0)).toHaveLength(1);
    });

    it("sets the MAC via CTRL_MAC_ADDR and announces; ANNOUNCE_ACK clears the bit", async () => {
      const r = await Rig.create(transport);
      r.init(BASE);
      expect(r.ctrl(1, 1, Uint8Array.of(0x52, 0, 0, 0, 0, 9))).toBe(0);
      expect(r.configRead(5, 1)).toBe(9);
      expect(r.ctrl(1, 1, Uint8Array.of(0x53, 0, 0, 0, 0, 9))).toBe(1); // multicast refused
      expect(r.configRead(0, 1)).toBe(0x52);
      r.ackIsr();
      expect(r.intx).toBe(false);
      const edgesBefore = r.intxEdges;
      expect(r.dev.announce()).toBe(Status.OK);
      expect(r.configRead(6, 2)).toBe(3);
      expect(r.intxEdges).toBe(edgesBefore + 1);
      expect(r.ackIsr()).toBe(2); // configuration change
      expect(r.ctrl(3, 0, new Uint8Array(0))).toBe(0);
      expect(r.configRead(6, 2)).toBe(1);
    });

    it("a malformed TX chain completes with length 0, is counted once, and the next chain still goes", async () => {
      const r = await Rig.create(transport);
      r.init(BASE);
      const bad = r.add(1, [{ addr: 0x7fff_0000_0000, len: 100 }]);
      const f = frame("02:00:00:00:00:02");
      r.send(f);
      expect(r.takeUsed(1)).toEqual([{ id: bad, len: 0 }, { id: bad + 1, len: 0 }]);
      expect(r.dev.counters().txMalformed).toBe(1n);
      expect(r.tx).toEqual([f]);
      expect(r.dev.needsReset).toBe(false);
    });

    it("an avail index that jumps past the queue size sets DEVICE_NEEDS_RESET and raises a config interrupt", async () => {
      const r = await Rig.create(transport);
      r.init(BASE);
      r.setAvailIdx(1, 65);
      const before = r.intxEdges + r.msis.length;
      r.notify(1);
      expect(r.dev.needsReset).toBe(true);
      expect(r.status() & S.NEEDS_RESET).toBe(S.NEEDS_RESET);
      expect(r.intxEdges + r.msis.length).toBe(before + 1);
      expect(r.dev.counters().availJump).toBe(1n);
      // Reset brings it back.
      r.init(BASE);
      expect(r.dev.needsReset).toBe(false);
      r.send(frame("02:00:00:00:00:02"));
      expect(r.tx).toHaveLength(1);
    });

    it("multiqueue: VQ_PAIRS_SET within bounds; out of bounds is ERR", async () => {
      const r = await Rig.create(transport, { queuePairs: 4 });
      r.init([...BASE, F.MQ], { queues: 9 });
      expect(r.ctrl(4, 0, Uint8Array.of(4, 0), 8)).toBe(0);
      expect(r.ctrl(4, 0, Uint8Array.of(5, 0), 8)).toBe(1);
      expect(r.ctrl(4, 0, Uint8Array.of(0, 0), 8)).toBe(1);
      // Frames of different flows spread over the receive queues.
      for (let p = 0; p < 4; p++) r.postRx(2 * p, 32, 2048);
      for (let i = 0; i < 64; i++) r.dev.receive(frame(OWN_MAC, 64, i, `02:00:00:00:${(i >> 8).toString(16)}:${(i & 255).toString(16)}`));
      const per = [0, 1, 2, 3].map((p) => r.takeUsed(2 * p).length);
      expect(per.reduce((a, b) => a + b)).toBe(64);
      expect(per.filter((n) => n > 0).length).toBeGreaterThan(1);
      // TX on any pair.
      r.send(frame("02:00:00:00:00:02"), 5);
      expect(r.tx).toHaveLength(1);
    });
  });
}

describe("in-wasm link", () => {
  it("moves frames device → device without onTransmit", async () => {
    const a = await Rig.create("pci");
    const b = await Rig.create("mmio", { mac: "52:54:00:00:00:02" }, 0, a.core, 16 << 20);
    VirtioNet.connect(a.dev, b.dev);
    a.init(BASE); b.init(BASE);
    const bufs = b.postRx(0, 4, 2048);
    const f = frame("52:54:00:00:00:02", 500);
    a.send(f);
    expect(a.tx).toHaveLength(0);
    const [u] = b.takeUsed(0);
    expect(b.g.readBytes(bufs.get(u.id)! + 12, 500)).toEqual(f);
    expect(b.intx).toBe(true);
  });
});

describe("in-wasm link under load", () => {
  it("a TX batch larger than the peer's buffers: delivered in order, the rest waits in the backlog, nothing lost", async () => {
    const a = await Rig.create("mmio");
    const b = await Rig.create("pci", { mac: "52:54:00:00:00:02", backlogFrames: 64 }, 0, a.core, 16 << 20);
    VirtioNet.connect(a.dev, b.dev);
    a.init(BASE); b.init(BASE);
    const frames = Array.from({ length: 40 }, (_, i) => frame("52:54:00:00:00:02", 64 + i, i));
    for (const f of frames) { const p = a.buf(12 + f.length); a.g.writeBytes(p + 12, f); a.add(1, [{ addr: p, len: 12 + f.length }], false); }
    a.setAvailIdx(1, 40);
    const first = b.postRx(0, 16, 2048);
    a.notify(1);
    const got1 = b.takeUsed(0).map((u) => b.g.readBytes(first.get(u.id)! + 12, u.len - 12));
    expect(got1).toEqual(frames.slice(0, 16));
    expect(b.intx).toBe(true);
    expect(b.dev.backlogLength).toBe(24);
    expect(a.takeUsed(1)).toHaveLength(40);
    b.rings[0].nextDesc = 16;
    const more = b.postRx(0, 32, 2048);
    const u2 = b.takeUsed(0);
    const got2 = u2.map((u) => b.g.readBytes(more.get(u.id)! + 12, u.len - 12));
    expect(got2).toEqual(frames.slice(16));
  });

  it("loopback: a device linked to itself receives what it sends", async () => {
    const r = await Rig.create("mmio");
    VirtioNet.connect(r.dev, r.dev);
    r.init(BASE);
    const bufs = r.postRx(0, 2, 2048);
    const f = frame(OWN_MAC, 90);
    r.send(f);
    const [u] = r.takeUsed(0);
    expect(r.g.readBytes(bufs.get(u.id)! + 12, 90)).toEqual(f);
    r.dev.disconnect();
    r.send(f);
    expect(r.tx).toEqual([f]);
  });
});

describe("in-wasm switch", () => {
  it("floods unknown destinations, learns sources, then forwards to one port only", async () => {
    const a = await Rig.create("mmio", { mac: "52:54:00:00:00:0a" });
    const b = await Rig.create("mmio", { mac: "52:54:00:00:00:0b" }, 0, a.core, 10 << 20);
    const c = await Rig.create("pci", { mac: "52:54:00:00:00:0c" }, 0, a.core, 20 << 20);
    const sw = VirtualSwitch.create(a.core);
    for (const r of [a, b, c]) { sw.attach(r.dev); r.init(BASE); r.postRx(0, 8, 2048); }
    // b has not sent yet: a's frame to b is flooded (c filters it: not its MAC, promiscuous off).
    c.ctrl(0, 0, Uint8Array.of(0));
    a.send(frame("52:54:00:00:00:0b", 64, 1, "52:54:00:00:00:0a"));
    expect(b.takeUsed(0)).toHaveLength(1);
    expect(c.dev.counters().rxFiltered).toBe(1n);
    // b answers: a is known (learned), so only a gets it.
    b.send(frame("52:54:00:00:00:0a", 64, 2, "52:54:00:00:00:0b"));
    expect(a.takeUsed(0)).toHaveLength(1);
    expect(c.dev.counters().rxFiltered).toBe(1n);
    expect(c.dev.counters().rxFrames).toBe(0n);
    // Broadcast reaches every other port, never the sender.
    a.send(frame("ff:ff:ff:ff:ff:ff", 64, 3, "52:54:00:00:00:0a"));
    expect([a.takeUsed(0).length, b.takeUsed(0).length, c.takeUsed(0).length]).toEqual([0, 1, 1]);
    expect(c.intx).toBe(true);
    // Detached ports transmit to the host again.
    sw.detach(c.dev);
    c.send(frame("52:54:00:00:00:0a"));
    expect(c.tx).toHaveLength(1);
    expect([a, b].map((r) => r.tx.length)).toEqual([0, 0]);
  });
});
