import { describe, expect, it } from "vitest";
import { Responder } from "../../src/net/responder.js";
import { parseMac } from "../../src/net/mac.js";
import { TcpDiscard, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from "../../src/net/tcp-discard.js";
import { rng, testSeed } from "../support/core.js";

// Segments are built here independently of the responder (own checksum routine).
const GUEST_MAC = [0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc];
const GUEST_IP = [10, 0, 2, 15];
const R_IP = [10, 0, 2, 2];
const R_MAC = "52:54:00:12:34:56";

function csum(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) + (bytes[i + 1] ?? 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}
const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const be32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

function tcpFrame(o: { sport?: number; dport?: number; seq: number; ack?: number; flags: number; data?: number[]; options?: number[]; badSum?: boolean }): Uint8Array {
  const opts = o.options ?? [];
  const hl = 20 + opts.length;
  const t = [...be16(o.sport ?? 40000), ...be16(o.dport ?? 9), ...be32(o.seq >>> 0), ...be32((o.ack ?? 0) >>> 0),
    (hl / 4) << 4, o.flags, ...be16(29200), 0, 0, 0, 0, ...opts, ...(o.data ?? [])];
  const c = csum([...GUEST_IP, ...R_IP, 0, 6, ...be16(t.length), ...t]) ^ (o.badSum ? 1 : 0);
  t[16] = c >> 8; t[17] = c & 0xff;
  const total = 20 + t.length;
  const ip = [0x45, 0, ...be16(total), 0, 1, 0x40, 0, 64, 6, 0, 0, ...GUEST_IP, ...R_IP];
  const ic = csum(ip);
  ip[10] = ic >> 8; ip[11] = ic & 0xff;
  return Uint8Array.from([...parseMac(R_MAC), ...GUEST_MAC, 0x08, 0x00, ...ip, ...t]);
}

interface Seg { sport: number; dport: number; seq: number; ack: number; flags: number; window: number; mss?: number; checksumOk: boolean }

function parse(f: Uint8Array): Seg {
  expect([...f.subarray(0, 6)]).toEqual(GUEST_MAC);
  expect((f[12] << 8) | f[13]).toBe(0x0800);
  const ipTotal = (f[16] << 8) | f[17];
  expect(f[23]).toBe(6);
  expect(csum([...f.subarray(14, 34)])).toBe(0);
  const t = [...f.subarray(34, 14 + ipTotal)];
  const hl = (t[12] >> 4) * 4;
  const u32 = (i: number) => ((t[i] << 24) | (t[i + 1] << 16) | (t[i + 2] << 8) | t[i + 3]) >>> 0;
  const seg: Seg = {
    sport: (t[0] << 8) | t[1], dport: (t[2] << 8) | t[3], seq: u32(4), ack: u32(8), flags: t[13], window: (t[14] << 8) | t[15],
    checksumOk: csum([...R_IP, ...GUEST_IP, 0, 6, ...be16(t.length), ...t]) === 0,
  };
  if (hl === 24 && t[20] === 2 && t[21] === 4) seg.mss = (t[22] << 8) | t[23];
  return seg;
}

const newResponder = () => new Responder({ mac: R_MAC, ip: "10.0.2.2", tcpDiscardPorts: [9] });
const one = (r: Responder, f: Uint8Array): Seg => { const out = r.handle(f); expect(out.length).toBe(1); return parse(out[0]); };
const SYN_OPTIONS = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]; // MSS, SACK-permitted, timestamps, window scale

describe("TCP discard service (Responder tcpDiscardPorts)", () => {
  it("accepts a connection, acknowledges data in order, and closes on the sender's FIN", () => {
    const r = newResponder();
    const isn = 1000;
    const synAck = one(r, tcpFrame({ seq: isn, flags: TCP_SYN, options: SYN_OPTIONS }));
    expect(synAck).toMatchObject({ sport: 9, dport: 40000, ack: isn + 1, flags: TCP_SYN | TCP_ACK, mss: 1460, checksumOk: true });
    expect(synAck.window).toBeGreaterThan(0);
    const ours = synAck.seq;
    expect(r.handle(tcpFrame({ seq: isn + 1, ack: ours + 1, flags: TCP_ACK }))).toEqual([]);
    const a1 = one(r, tcpFrame({ seq: isn + 1, ack: ours + 1, flags: TCP_ACK | TCP_PSH, data: new Array(100).fill(7) }));
    expect(a1).toMatchObject({ seq: ours + 1, ack: isn + 101, flags: TCP_ACK, checksumOk: true });
    const a2 = one(r, tcpFrame({ seq: isn + 101, ack: ours + 1, flags: TCP_ACK, data: new Array(1460).fill(1) }));
    expect(a2.ack).toBe(isn + 1561);
    const fin = one(r, tcpFrame({ seq: isn + 1561, ack: ours + 1, flags: TCP_ACK | TCP_FIN }));
    expect(fin).toMatchObject({ seq: ours + 1, ack: isn + 1562, flags: TCP_FIN | TCP_ACK, checksumOk: true });
    expect(r.handle(tcpFrame({ seq: isn + 1562, ack: ours + 2, flags: TCP_ACK }))).toEqual([]);
    expect(r.tcpCounters()).toMatchObject({ connections: 1, closed: 1, bytes: 1560, outOfOrder: 0, duplicates: 0, resetsSent: 0 });
    expect(r.counters().malformed).toBe(0);
  });

  it("answers a repeated SYN, a repeated FIN and a retransmission again, and a gap with a duplicate ACK", () => {
    const r = newResponder();
    const isn = 0xfffffff0; // the stream wraps around 2^32
    const s1 = one(r, tcpFrame({ seq: isn, flags: TCP_SYN }));
    const s2 = one(r, tcpFrame({ seq: isn, flags: TCP_SYN }));
    expect(s2.seq).toBe(s1.seq);
    const ours = s1.seq;
    const ack = ours + 1;
    const d = (seq: number, n: number) => tcpFrame({ seq: seq >>> 0, ack, flags: TCP_ACK, data: new Array(n).fill(3) });
    expect(one(r, d(isn + 1, 40)).ack).toBe((isn + 41) >>> 0);
    expect(one(r, d(isn + 81, 40)).ack).toBe((isn + 41) >>> 0); // gap: RCV.NXT again, nothing kept
    expect(one(r, d(isn + 1, 40)).ack).toBe((isn + 41) >>> 0); // all old
    expect(one(r, d(isn + 21, 40)).ack).toBe((isn + 61) >>> 0); // overlaps: the new half counts
    const finSeq = (isn + 61) >>> 0;
    const f1 = one(r, tcpFrame({ seq: finSeq, ack, flags: TCP_ACK | TCP_FIN }));
    const f2 = one(r, tcpFrame({ seq: finSeq, ack, flags: TCP_ACK | TCP_FIN }));
    expect(f2).toEqual(f1);
    expect(r.tcpCounters()).toMatchObject({ connections: 1, bytes: 60, outOfOrder: 1, duplicates: 1 });
  });

  it("resets segments for no connection, ignores other ports, drops bad checksums, bounds its table", () => {
    const r = newResponder();
    const rst = one(r, tcpFrame({ seq: 5, ack: 777, flags: TCP_ACK }));
    expect(rst).toMatchObject({ seq: 777, flags: TCP_RST });
    expect(r.handle(tcpFrame({ seq: 5, flags: TCP_RST }))).toEqual([]);
    expect(r.handle(tcpFrame({ dport: 80, seq: 5, flags: TCP_SYN }))).toEqual([]);
    expect(r.counters().ignored).toBe(1);
    expect(r.handle(tcpFrame({ seq: 5, flags: TCP_SYN, badSum: true }))).toEqual([]);
    expect(r.counters().malformed).toBe(1);
    for (let p = 0; p < 16; p++) expect(one(r, tcpFrame({ sport: 1000 + p, seq: p, flags: TCP_SYN })).flags).toBe(TCP_SYN | TCP_ACK);
    expect(one(r, tcpFrame({ sport: 2000, seq: 9, flags: TCP_SYN })).flags).toBe(TCP_RST | TCP_ACK);
    expect(r.tcpCounters()).toMatchObject({ connections: 16, refused: 1 });
    // A reset at RCV.NXT frees a slot.
    expect(r.handle(tcpFrame({ sport: 1000, seq: 1, flags: TCP_RST }))).toEqual([]);
    expect(one(r, tcpFrame({ sport: 2000, seq: 9, flags: TCP_SYN })).flags).toBe(TCP_SYN | TCP_ACK);
  });

  it("gets every byte of a stream through loss, reordering and duplication, each byte counted once", () => {
    const seed = testSeed();
    const next = rng(seed);
    const tcp = new TcpDiscard([9]);
    const peer = { peerIp: 0x0a00020f, peerPort: 40000, port: 9 };
    const total = 200_000, mss = 1460, isn = Math.floor(next() * 2 ** 32) >>> 0;
    let [synAck] = tcp.segment({ ...peer, seq: isn, ack: 0, flags: TCP_SYN, dataLength: 0 });
    while (next() < 0.3) [synAck] = tcp.segment({ ...peer, seq: isn, ack: 0, flags: TCP_SYN, dataLength: 0 }); // lost SYN-ACKs
    const ack = (synAck.seq + 1) >>> 0;
    tcp.segment({ ...peer, seq: (isn + 1) >>> 0, ack, flags: TCP_ACK, dataLength: 0 });
    // A go-back-N sender: a window of segments per round, some lost, some reordered or repeated.
    let acked = 0;
    for (let round = 0; acked < total && round < 100_000; round++) {
      const burst: number[] = [];
      for (let off = acked; off < Math.min(total, acked + 8 * mss); off += mss) if (next() > 0.1) burst.push(off);
      if (burst.length > 1 && next() < 0.3) { const i = Math.floor(next() * (burst.length - 1)); [burst[i], burst[i + 1]] = [burst[i + 1], burst[i]]; }
      if (burst.length && next() < 0.2) burst.push(burst[Math.floor(next() * burst.length)]);
      for (const off of burst) {
        const n = Math.min(mss, total - off);
        for (const out of tcp.segment({ ...peer, seq: (isn + 1 + off) >>> 0, ack, flags: TCP_ACK, dataLength: n })) {
          const got = (out.ack - (isn + 1)) >>> 0;
          if (got > acked && got <= total) acked = got;
        }
      }
    }
    const fin = tcp.segment({ ...peer, seq: (isn + 1 + total) >>> 0, ack, flags: TCP_ACK | TCP_FIN, dataLength: 0 });
    expect(fin[0]?.flags, `seed ${seed}`).toBe(TCP_FIN | TCP_ACK);
    tcp.segment({ ...peer, seq: (isn + 2 + total) >>> 0, ack: (ack + 1) >>> 0, flags: TCP_ACK, dataLength: 0 });
    expect(tcp.counters().bytes, `seed ${seed}`).toBe(total);
    expect(tcp.counters().closed, `seed ${seed}`).toBe(1);
    expect(tcp.openConnections).toBe(0);
  });

  it("never throws on random and mutated segments, and its table stays bounded", () => {
    const seed = testSeed();
    const next = rng(seed);
    const r = newResponder();
    const base = tcpFrame({ seq: 1, flags: TCP_SYN, options: SYN_OPTIONS, data: [1, 2, 3] });
    for (let i = 0; i < 20_000; i++) {
      let f: Uint8Array;
      if (next() < 0.5) {
        f = tcpFrame({ sport: Math.floor(next() * 65536), seq: Math.floor(next() * 2 ** 32), ack: Math.floor(next() * 2 ** 32), flags: Math.floor(next() * 64), data: new Array(Math.floor(next() * 64)).fill(0) });
      } else {
        f = base.slice(0, 14 + Math.floor(next() * (base.length - 14 + 1)));
        for (let k = 0; k < 3; k++) if (f.length > 34) f[34 + Math.floor(next() * (f.length - 34))] ^= 1 + Math.floor(next() * 255);
      }
      try { r.handle(f); } catch (e) { throw new Error(`seed ${seed}, case ${i}: ${e}`); }
    }
    expect(r.tcpOpenConnections).toBeLessThanOrEqual(16);
    expect(r.tcpCounters().refused, `seed ${seed}`).toBeGreaterThan(0); // the table filled up and stayed bounded
  });
});
