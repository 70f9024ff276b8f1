// Transmit: legacy and extended descriptors, checksum offload, TCP
// segmentation, VLAN insertion, padding, malformed packets and back-pressure,
// driven by the driver model and checked on the frames the host receives.
import { describe, it, expect } from "vitest";
import { e1000Rig } from "./rig.js";
import { ipv4Frame, checksumsOk, be16, be32, payloadOf, l4Checksum } from "./packets.js";
import { pseudoHeaderSum } from "../../../src/guest/e1000/driver.js";
import { frame, mac, seqOf } from "../../../src/guest/virtio/frames.js";
import { Reg, Icr, Ctrl } from "../../../src/guest/e1000/defs.js";

const PEER = mac("02:00:00:00:00:01");

describe("e1000 transmit", () => {
  it("sends a packet split over several legacy descriptors as one frame", async () => {
    const r = await e1000Rig();
    const f = frame({ dst: PEER, length: 1514, seq: 1 });
    expect(r.drv.transmit(f, { split: [14, 1, 100, 3, 700] })).toBe(true);
    expect(r.sent.map((x) => Array.from(x))).toEqual([Array.from(f)]);
    expect(r.drv.reclaimTx()).toBe(1);
    expect(r.dev.counters().txFrames).toBe(1n);
  });

  it("inserts the checksum of a legacy descriptor (CMD.IC at CSO over CSS..end)", async () => {
    const r = await e1000Rig();
    const f = ipv4Frame({ dst: PEER, src: r.drv.mac, proto: 17, payload: payloadOf(301) });
    const good = f.slice();
    // The stack leaves the pseudo-header sum in the field and asks for the rest.
    const ps = pseudoHeaderSum(f.subarray(14, 34), 17, f.length - 34);
    f[40] = ps >> 8; f[41] = ps & 0xff;
    r.drv.transmit(f, { legacyCsum: { css: 34, cso: 40 } });
    expect(Array.from(r.sent[0])).toEqual(Array.from(good));
    expect(r.dev.counters().txCsumOffloads).toBe(1n);
  });

  it("checksum offload through a context descriptor: TCP and UDP, and the IPv4 header checksum", async () => {
    const r = await e1000Rig();
    for (const proto of [6, 17] as const) {
      const f = ipv4Frame({ dst: PEER, src: r.drv.mac, proto, payload: payloadOf(999, proto) });
      const ck = proto === 6 ? 50 : 40;
      const ps = pseudoHeaderSum(f.subarray(14, 34), proto, f.length - 34);
      f[ck] = ps >> 8; f[ck + 1] = ps & 0xff;
      f[24] = 0; f[25] = 0; // IP header checksum left to the device
      r.drv.transmit(f, { csum: { start: 34, offset: ck - 34, tcp: proto === 6, ip: { start: 14, offset: 10, end: 33 } } });
    }
    expect(r.sent.length).toBe(2);
    for (const s of r.sent) expect(checksumsOk(s)).toEqual({ ip: true, l4: true });
    expect(r.dev.counters().txCsumOffloads).toBe(4n);
  });

  it("TCP segmentation: per segment IP length, ID and checksum, TCP sequence, flags on the last, checksums, payload intact", async () => {
    const r = await e1000Rig();
    const payload = payloadOf(20000, 3);
    const mss = 1448;
    const big = ipv4Frame({ dst: PEER, src: r.drv.mac, proto: 6, payload, seq: 0xfffff000, id: 0xfffe, flags: 0x19, tcpOptions: 12 });
    // Linux's sentinel workaround: the last 4 bytes in their own descriptor.
    const hdr = 14 + 20 + 32;
    expect(r.drv.transmitTso(big, mss, { split: [hdr, 3000, 1, 4092] })).toBe(true);
    const segs = Math.ceil(payload.length / mss);
    expect(r.sent.length).toBe(segs);
    const got = new Uint8Array(payload.length);
    r.sent.forEach((s, i) => {
      const plen = Math.min(mss, payload.length - i * mss);
      expect(s.length).toBe(hdr + plen);
      expect(be16(s, 16)).toBe(s.length - 14);                     // IPv4 total length
      expect(be16(s, 18)).toBe((0xfffe + i) & 0xffff);              // identification, +1 per segment
      expect(be32(s, 38)).toBe((0xfffff000 + i * mss) >>> 0);       // sequence number
      expect(s[47]).toBe(i === segs - 1 ? 0x19 : 0x10);             // FIN/PSH only on the last (ACK kept)
      expect(checksumsOk(s)).toEqual({ ip: true, l4: true });
      expect(Array.from(s.subarray(0, 14))).toEqual(Array.from(big.subarray(0, 14)));
      got.set(s.subarray(hdr), i * mss);
    });
    expect(Array.from(got)).toEqual(Array.from(payload));
    const c = r.dev.counters();
    expect(c.txTsoSegments).toBe(BigInt(segs));
    expect(c.txMalformed).toBe(0n);
    expect(r.drv.readStats().TSCTC).toBe(1n);
  });

  it("TCP segmentation with VLAN insertion tags every segment (CTRL.VME, VLE)", async () => {
    const r = await e1000Rig({ driver: { vlan: true } });
    const big = ipv4Frame({ dst: PEER, src: r.drv.mac, proto: 6, payload: payloadOf(5000), flags: 0x18 });
    r.drv.transmitTso(big, 1000, { vlan: 0x2005 });
    expect(r.sent.length).toBe(5);
    for (const s of r.sent) {
      expect([s[12], s[13], s[14], s[15]]).toEqual([0x81, 0x00, 0x20, 0x05]);
      const untagged = new Uint8Array(s.length - 4);
      untagged.set(s.subarray(0, 12)); untagged.set(s.subarray(16), 12);
      expect(checksumsOk(untagged)).toEqual({ ip: true, l4: true });
    }
    expect(r.dev.counters().txVlanInserted).toBe(5n);
  });

  it("pads short frames with TCTL.PSP", async () => {
    const r = await e1000Rig();
    r.drv.transmit(frame({ dst: PEER, length: 20 }));
    expect(r.sent[0].length).toBe(60);
    expect(Array.from(r.sent[0].subarray(20))).toEqual(new Array(40).fill(0));
  });

  it("skips malformed packets, counts them, writes their descriptors back and carries on", async () => {
    const r = await e1000Rig();
    const { txRing } = r.drv.layout;
    // 1. A buffer outside guest RAM: queue a good packet, then point its descriptor far away.
    r.drv.transmit(frame({ dst: PEER, length: 64, seq: 1 }), { kick: false });
    r.core.guest.writeU64(txRing, 0xfff00000n);
    r.drv.transmit(frame({ dst: PEER, length: 64, seq: 2 }));
    expect(r.sent.map(seqOf)).toEqual([2]);
    expect(r.dev.counters().txMalformed).toBe(1n);
    expect(r.drv.reclaimTx()).toBe(2);
    // 2. Too long for a frame without segmentation.
    const long = new Uint8Array(16385);
    long.set(frame({ dst: PEER, length: 64, seq: 3 }));
    r.drv.transmit(long, { split: [4096, 4096, 4096, 4096, 1] });
    r.drv.transmit(frame({ dst: PEER, length: 64, seq: 4 }));
    expect(r.sent.map(seqOf)).toEqual([2, 4]);
    expect(r.dev.counters().txMalformed).toBe(2n);
    // 3. A segmentation context that disagrees with the data (PAYLEN too long).
    const big = ipv4Frame({ dst: PEER, src: r.drv.mac, proto: 6, payload: payloadOf(3000) });
    r.drv.transmitTso(big, 1000, { kick: false });
    const ctx = r.drv.layout.txRing + ((r.drv as unknown as { txNtu: number }).txNtu - 2) * 16;
    r.core.guest.writeU32(ctx + 8, (r.core.guest.readU32(ctx + 8) & ~0xfffff) | 3001);
    r.drv.flushTx();
    r.drv.transmit(frame({ dst: PEER, length: 64, seq: 5 }));
    expect(r.sent.map((s) => (s.length === 64 ? seqOf(s) : -1))).toEqual([2, 4, 5]);
    expect(r.dev.counters().txMalformed).toBe(3n);
    expect(r.drv.readStats().TSCTFC).toBe(1n);
    expect(r.drv.reclaimTx()).toBe(4);
  });

  it("a packet waits until its EOP descriptor is there", async () => {
    const r = await e1000Rig();
    const { txRing } = r.drv.layout;
    r.drv.transmit(frame({ dst: PEER, length: 300, seq: 1 }), { split: [100, 100, 100], kick: false });
    // Clear EOP on the last descriptor and tell the device about the first two only.
    r.drv.write(Reg.TDT, 2);
    expect(r.sent.length).toBe(0);
    expect(r.drv.read(Reg.TDH)).toBe(0);
    r.drv.write(Reg.TDT, 3);
    expect(r.sent.map(seqOf)).toEqual([1]);
    expect(r.drv.read(Reg.TDH)).toBe(3);
    void txRing;
  });

  it("back-pressure: a full host outbox stops the ring where it is and nothing is lost or repeated", async () => {
    const r = await e1000Rig();
    let hold = true;
    const held: Uint8Array[] = [];
    r.dev.onTransmit = (f) => { if (hold) held.push(f.slice()); else r.sent.push(f.slice()); };
    // 200 × 1514 B and two 40 KB segmentation packets: more than the 256 KiB outbox in one TDT write.
    for (let i = 0; i < 100; i++) r.drv.transmit(frame({ dst: PEER, length: 1514, seq: i }), { kick: false });
    const big = ipv4Frame({ dst: PEER, src: r.drv.mac, proto: 6, payload: payloadOf(40000), seq: 0 });
    r.drv.transmitTso(big, 536, { kick: false });
    for (let i = 100; i < 200; i++) r.drv.transmit(frame({ dst: PEER, length: 1514, seq: i }), { kick: false });
    hold = false;
    r.drv.flushTx();
    const all = [...held, ...r.sent];
    const plain = all.filter((f) => f.length === 1514 && f[12] === 0x88).map(seqOf);
    expect(plain).toEqual(Array.from({ length: 200 }, (_, i) => i));
    const tcp = all.filter((f) => f[12] === 0x08);
    expect(tcp.length).toBe(Math.ceil(40000 / 536));
    expect(tcp.map((s, i) => be32(s, 38) - i * 536)).toEqual(new Array(tcp.length).fill(0));
    expect(r.dev.counters().txStalls).toBeGreaterThanOrEqual(1n);
    expect(r.drv.reclaimTx()).toBe(201);
  });

  it("raises TXDW for written-back descriptors and TXQE when the ring empties", async () => {
    const r = await e1000Rig();
    r.drv.read(Reg.ICR);
    r.drv.transmit(frame({ dst: PEER, length: 64 }));
    const icr = r.drv.read(Reg.ICR);
    expect(icr & (Icr.TXDW | Icr.TXQE)).toBe(Icr.TXDW | Icr.TXQE);
    expect(r.irq.intxAsserts).toBeGreaterThanOrEqual(1);
    expect(r.irq.intxLevel).toBe(false); // the read cleared every cause
  });

  it("does not transmit without link, bus mastering or TCTL.EN, and sends when they return", async () => {
    const r = await e1000Rig();
    r.dev.setLink(false);
    r.drv.transmit(frame({ dst: PEER, length: 64, seq: 1 }));
    expect(r.sent.length).toBe(0);
    r.dev.setLink(true);
    expect(r.sent.map(seqOf)).toEqual([1]);
    r.dev.pci.configWrite(4, 2, 0x0003);
    r.drv.transmit(frame({ dst: PEER, length: 64, seq: 2 }));
    expect(r.sent.length).toBe(1);
    r.dev.pci.configWrite(4, 2, 0x0007);
    expect(r.sent.map(seqOf)).toEqual([1, 2]);
    void Ctrl; void l4Checksum;
  });
});
