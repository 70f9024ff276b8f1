// Receive: buffers and descriptors, jumbo frames over several descriptors,
// the FCS, VLAN stripping, checksum offload, padding, the backlog and its
// bounds, malformed descriptors, and the statistics the driver reads.
import { describe, it, expect } from "vitest";
import { crc32 } from "node:zlib";
import { e1000Rig } from "./rig.js";
import { ipv4Frame, payloadOf } from "./packets.js";
import { frame, mac, seqOf, BROADCAST } from "../../../src/guest/virtio/frames.js";
import { Reg, Rxd, Icr, Rctl } from "../../../src/guest/e1000/defs.js";
import { Status } from "../../../src/status.js";
import { internetChecksum } from "../../../src/net/responder.js";

const fcsOf = (f: Uint8Array) => { const c = crc32(f) >>> 0; return [c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24]; };

describe("e1000 receive", () => {
  it("stores a frame with its FCS (CRC-32 of the frame) and reports EOP/DD", async () => {
    const r = await e1000Rig();
    const f = frame({ dst: r.drv.mac, length: 1514, seq: 3 });
    expect(r.dev.receive(f)).toBe(Status.OK);
    r.drv.pollRx();
    const [got] = r.drv.takeReceived();
    expect(Array.from(got.data)).toEqual(Array.from(f));
    expect(Array.from(got.fcs!)).toEqual(fcsOf(f));
    expect(got.status & (Rxd.DD | Rxd.EOP)).toBe(Rxd.DD | Rxd.EOP);
    expect(got.descriptors).toBe(1);
  });

  it("strips the FCS with RCTL.SECRC", async () => {
    const r = await e1000Rig({ driver: { secrc: true } });
    const f = frame({ dst: r.drv.mac, length: 100 });
    r.dev.receive(f);
    r.drv.pollRx();
    const [got] = r.drv.takeReceived();
    expect(got.fcs).toBeNull();
    expect(Array.from(got.data)).toEqual(Array.from(f));
  });

  it("long packets (LPE) over several 4 KiB (BSEX) buffers; without LPE they count as oversize", async () => {
    const r = await e1000Rig({ driver: { longPackets: true, rxBufferSize: 4096 } });
    const f = frame({ dst: r.drv.mac, length: 9014, seq: 5 });
    r.dev.receive(f);
    r.drv.pollRx();
    const [got] = r.drv.takeReceived();
    expect(got.descriptors).toBe(3);
    expect(Array.from(got.data)).toEqual(Array.from(f));
    expect(Array.from(got.fcs!)).toEqual(fcsOf(f));
    const q = await e1000Rig();
    q.dev.receive(frame({ dst: q.drv.mac, length: 1515 }));
    q.dev.receive(frame({ dst: q.drv.mac, length: 1518, vlan: 0 }));
    q.drv.pollRx();
    expect(q.drv.takeReceived().map((x) => x.data.length)).toEqual([1518]);
    expect(q.dev.counters().rxOversize).toBe(1n);
    expect(q.drv.readStats().ROC).toBe(1n);
  });

  it("strips the 802.1Q tag with CTRL.VME: VP status, the tag in the special field", async () => {
    const r = await e1000Rig({ driver: { vlan: true } });
    const f = frame({ dst: r.drv.mac, vlan: 7, length: 200, seq: 1 });
    f[14] |= 0x30; // priority 1, CFI 1
    r.dev.receive(f);
    r.drv.pollRx();
    const [got] = r.drv.takeReceived();
    expect(got.status & Rxd.VP).toBe(Rxd.VP);
    expect(got.special).toBe(0x3007);
    expect(got.data.length).toBe(196);
    expect(Array.from(got.data.subarray(0, 12))).toEqual(Array.from(f.subarray(0, 12)));
    expect(Array.from(got.data.subarray(12))).toEqual(Array.from(f.subarray(16)));
    // The FCS is the one the frame came with, over the tagged bytes.
    expect(Array.from(got.fcs!)).toEqual(fcsOf(f));
  });

  it("verifies IPv4, TCP and UDP checksums (RXCSUM) and reports errors; IXSM when it did not", async () => {
    const r = await e1000Rig();
    const good = ipv4Frame({ dst: r.drv.mac, src: mac("02:00:00:00:00:01"), proto: 6, payload: payloadOf(500) });
    const badL4 = good.slice(); badL4[100] ^= 0x40;
    const badIp = good.slice(); badIp[22] ^= 1; // TTL: header checksum no longer matches
    const udp = ipv4Frame({ dst: r.drv.mac, src: mac("02:00:00:00:00:01"), proto: 17, payload: payloadOf(77) });
    const udpNoSum = udp.slice(); udpNoSum[40] = 0; udpNoSum[41] = 0;
    const frag = good.slice(); frag[20] |= 0x20; // MF: a fragment is not checked past its IP header
    frag[24] = 0; frag[25] = 0;
    const ck = internetChecksum(frag, 14, 20); frag[24] = ck >> 8; frag[25] = ck & 0xff;
    for (const f of [good, badL4, badIp, udp, udpNoSum, frag, frame({ dst: r.drv.mac, length: 80 })]) r.dev.receive(f);
    r.drv.pollRx();
    const got = r.drv.takeReceived().map((x) => [x.status & (Rxd.IXSM | Rxd.TCPCS | Rxd.IPCS), x.errors & (Rxd.ERR_TCPE | Rxd.ERR_IPE)]);
    expect(got).toEqual([
      [Rxd.IPCS | Rxd.TCPCS, 0],
      [Rxd.IPCS | Rxd.TCPCS, Rxd.ERR_TCPE],
      [Rxd.IPCS | Rxd.TCPCS, Rxd.ERR_IPE],
      [Rxd.IPCS | Rxd.TCPCS, 0],
      [Rxd.IPCS, 0],
      [Rxd.IPCS, 0],
      [Rxd.IXSM, 0],
    ]);
    const off = await e1000Rig({ driver: { rxChecksum: false } });
    off.dev.receive(good);
    off.drv.pollRx();
    expect(off.drv.takeReceived()[0].status & (Rxd.IXSM | Rxd.TCPCS)).toBe(Rxd.IXSM);
  });

  it("pads frames shorter than 60 bytes", async () => {
    const r = await e1000Rig({ driver: { secrc: true } });
    const f = frame({ dst: r.drv.mac, length: 42 });
    r.dev.receive(f);
    r.drv.pollRx();
    const [got] = r.drv.takeReceived();
    expect(got.data.length).toBe(60);
    expect(Array.from(got.data.subarray(0, 42))).toEqual(Array.from(f));
  });

  it("frames wait in the backlog while descriptors are short, and arrive in order, whole, when the driver gives buffers", async () => {
    const r = await e1000Rig({ driver: { rxDescs: 8 } });
    for (let i = 0; i < 20; i++) expect(r.dev.receive(frame({ dst: r.drv.mac, length: 1000 + i, seq: i }))).toBe(Status.OK);
    expect(r.dev.backlogLength).toBe(13);   // 7 descriptors posted (one kept back by the driver)
    const seen: number[] = [];
    for (let round = 0; round < 10 && seen.length < 20; round++) {
      r.drv.pollRx();                        // gives the buffers back (RDT): the backlog drains into them
      for (const x of r.drv.takeReceived()) { expect(x.data.length).toBe(1000 + seqOf(x.data)); seen.push(seqOf(x.data)); }
    }
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const c = r.dev.counters();
    expect([c.rxBacklogged, c.backlogDrained, c.rxDropped]).toEqual([13n, 13n, 0n]);
    expect(r.drv.readStats().RNBC).toBe(13n);
  });

  it("a full backlog drops the frame (MPC, RXO); a frame the whole ring cannot hold is dropped, never truncated", async () => {
    const r = await e1000Rig({ driver: { rxDescs: 8, rxBufferSize: 256 }, device: { backlogFrames: 4 } });
    r.drv.read(Reg.ICR);
    for (let i = 0; i < 7 + 4; i++) expect(r.dev.receive(frame({ dst: r.drv.mac, length: 100, seq: i }))).toBe(Status.OK);
    expect(r.dev.receive(frame({ dst: r.drv.mac, length: 100, seq: 99 }))).toBe(Status.ERR_FULL);
    expect(r.drv.read(Reg.ICR) & Icr.RXO).toBe(Icr.RXO);
    expect(r.drv.readStats().MPC).toBe(1n);
    // 1514 + FCS needs 6 of the 256-byte buffers: fine; a 2000-byte frame (LPE) would need 8 of the 7 usable.
    r.drv.write(Reg.RCTL, r.drv.read(Reg.RCTL) | Rctl.LPE);
    for (let k = 0; k < 5; k++) { r.drv.pollRx(); r.drv.takeReceived(); }
    expect(r.dev.backlogLength).toBe(0);
    expect(r.dev.receive(frame({ dst: r.drv.mac, length: 1514, seq: 1 }))).toBe(Status.OK);
    r.drv.pollRx();
    const [big] = r.drv.takeReceived();
    expect([big.data.length, big.descriptors]).toEqual([1514, 6]);
    expect(r.dev.receive(frame({ dst: r.drv.mac, length: 2000 }))).toBe(Status.ERR_FULL);
    expect(r.dev.counters().rxDropped).toBe(2n);
  });

  it("a descriptor whose buffer is outside RAM is written back empty with RXE, counted, and skipped", async () => {
    const r = await e1000Rig();
    const { rxRing } = r.drv.layout;
    r.core.guest.writeU64(rxRing + 16, 0xfffff000n); // descriptor 1
    for (let i = 0; i < 3; i++) r.dev.receive(frame({ dst: r.drv.mac, length: 300, seq: i }));
    r.drv.pollRx();
    expect(r.drv.takeReceived().map((x) => seqOf(x.data))).toEqual([0, 1, 2]);
    expect(r.drv.rxDiscarded).toBe(1);
    expect(r.dev.counters().rxMalformed).toBe(1n);
  });

  it("drops frames with the receiver off or the link down, and counts them", async () => {
    const r = await e1000Rig();
    r.dev.setLink(false);
    r.dev.receive(frame({ dst: r.drv.mac, length: 64 }));
    r.dev.setLink(true);
    r.drv.write(Reg.RCTL, r.drv.read(Reg.RCTL) & ~Rctl.EN);
    r.dev.receive(frame({ dst: r.drv.mac, length: 64 }));
    r.drv.pollRx();
    expect(r.drv.takeReceived().length).toBe(0);
    expect(r.dev.counters().rxNotReady).toBe(2n);
    expect(r.dev.receive(new Uint8Array(13))).toBe(Status.ERR_INVALID_ARG);
    expect(r.dev.receive(new Uint8Array(16385))).toBe(Status.ERR_INVALID_ARG);
  });

  it("counts good, broadcast and multicast frames, octets with FCS, and size bins; reads clear them", async () => {
    const r = await e1000Rig();
    r.drv.setMulticast([mac("01:00:5e:00:00:fb")]);
    r.dev.receive(frame({ dst: r.drv.mac, length: 60 }));
    r.dev.receive(frame({ dst: BROADCAST, length: 120 }));
    r.dev.receive(frame({ dst: mac("01:00:5e:00:00:fb"), length: 1514 }));
    r.drv.pollRx();
    const s = { ...r.drv.readStats() };
    expect([s.GPRC, s.BPRC, s.MPRC, s.TPR]).toEqual([3n, 1n, 1n, 3n]);
    expect(s.GORCL + (s.GORCH << 32n)).toBe(BigInt(64 + 124 + 1518));
    expect([s.PRC64, s.PRC127, s.PRC1522]).toEqual([1n, 1n, 1n]);
    const again = r.drv.readStats();
    expect(again.GPRC).toBe(3n); // accumulated: the registers read 0 the second time
    expect(r.dev.peekRegister(0x4074)).toBe(0);
  });
});
