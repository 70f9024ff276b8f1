import { describe, expect, it } from "vitest";
import { Responder, parseIpv4 } from "../../src/net/responder.js";
import { parseMac } from "../../src/net/mac.js";
import { rng, testSeed } from "../support/core.js";

// Frames are built here independently of the responder (own checksum routine).
const GUEST_MAC = [0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc];
const GUEST_IP = [10, 0, 2, 15];
const R_MAC = "52:54:00:12:34:56";
const R_IP = "10.0.2.2";

function csum(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) + (bytes[i + 1] ?? 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}
const be16 = (n: number) => [n >> 8, n & 0xff];

function arpRequest(targetIp: number[]): Uint8Array {
  return Uint8Array.from([
    ...[255, 255, 255, 255, 255, 255], ...GUEST_MAC, 0x08, 0x06,
    0, 1, 0x08, 0, 6, 4, 0, 1, ...GUEST_MAC, ...GUEST_IP, 0, 0, 0, 0, 0, 0, ...targetIp,
  ]);
}

function ipv4(proto: number, payload: number[], opts: { dst?: number[]; frag?: number; id?: number } = {}): number[] {
  const total = 20 + payload.length;
  const h = [0x45, 0, ...be16(total), ...be16(opts.id ?? 0x1234), ...be16(opts.frag ?? 0x4000), 64, proto, 0, 0, ...GUEST_IP, ...(opts.dst ?? [10, 0, 2, 2])];
  const c = csum(h);
  h[10] = c >> 8; h[11] = c & 0xff;
  return [...h, ...payload];
}

function eth(dst: number[], type: number, body: number[]): Uint8Array {
  return Uint8Array.from([...dst, ...GUEST_MAC, ...be16(type), ...body]);
}

function echoRequest(seq: number, data: number[], opts: { dst?: number[]; frag?: number; code?: number } = {}): Uint8Array {
  const icmp = [8, opts.code ?? 0, 0, 0, 0x42, 0x42, ...be16(seq), ...data];
  const c = csum(icmp);
  icmp[2] = c >> 8; icmp[3] = c & 0xff;
  return eth([...parseMac(R_MAC)], 0x0800, ipv4(1, icmp, opts));
}

function udpDatagram(dport: number, data: number[]): Uint8Array {
  const len = 8 + data.length;
  const u = [...be16(40000), ...be16(dport), ...be16(len), 0, 0, ...data];
  const c = csum([...GUEST_IP, 10, 0, 2, 2, 0, 17, ...be16(len), ...u]);
  u[6] = c >> 8; u[7] = c & 0xff;
  return eth([...parseMac(R_MAC)], 0x0800, ipv4(17, u));
}

const newResponder = () => new Responder({ mac: R_MAC, ip: R_IP, udpEchoPorts: [7] });

describe("Responder", () => {
  it("answers an ARP request for its address, and only for it", () => {
    const r = newResponder();
    const [reply] = r.handle(arpRequest([10, 0, 2, 2]));
    expect(reply.length).toBe(60);
    expect([...reply.subarray(0, 6)]).toEqual(GUEST_MAC);
    expect([...reply.subarray(6, 12)]).toEqual([...parseMac(R_MAC)]);
    expect([...reply.subarray(20, 22)]).toEqual([0, 2]);               // op = reply
    expect([...reply.subarray(22, 28)]).toEqual([...parseMac(R_MAC)]); // sender MAC
    expect([...reply.subarray(28, 32)]).toEqual([10, 0, 2, 2]);        // sender IP
    expect([...reply.subarray(32, 38)]).toEqual(GUEST_MAC);
    expect([...reply.subarray(38, 42)]).toEqual(GUEST_IP);
    expect(r.handle(arpRequest([10, 0, 2, 3]))).toEqual([]);
    expect(r.counters()).toMatchObject({ frames: 2, arpRequests: 1, arpReplies: 1, ignored: 1, malformed: 0 });
  });

  it("answers ICMP echo with the same id, sequence and payload and valid checksums", () => {
    const r = newResponder();
    const data = Array.from({ length: 1400 }, (_, i) => (i * 7) & 0xff);
    const [reply] = r.handle(echoRequest(9, data));
    expect(reply.length).toBe(14 + 20 + 8 + 1400);
    expect([...reply.subarray(0, 6)]).toEqual(GUEST_MAC);
    const ip = [...reply.subarray(14, 34)];
    expect(csum(ip)).toBe(0);
    expect(ip.slice(12, 16)).toEqual([10, 0, 2, 2]);
    expect(ip.slice(16, 20)).toEqual(GUEST_IP);
    const icmp = [...reply.subarray(34)];
    expect(csum(icmp)).toBe(0);
    expect(icmp[0]).toBe(0);
    expect(icmp.slice(4, 8)).toEqual([0x42, 0x42, 0, 9]);
    expect(icmp.slice(8)).toEqual(data);
    expect(r.counters()).toMatchObject({ icmpEchoRequests: 1, icmpEchoReplies: 1, echoPayloadBytes: 1400 });
  });

  it("regression_busybox_ping_pattern_sets_icmp_code: answers an echo request whose code is not 0, keeping the code", () => {
    // busybox 1.35 `ping -p a5` fills the ICMP header's code byte with the pattern; Linux answers it.
    const r = newResponder();
    const [reply] = r.handle(echoRequest(4, [0xa5, 0xa5, 0xa5, 0xa5], { code: 0xa5 }));
    expect(reply[34]).toBe(0);
    expect(reply[35]).toBe(0xa5);
    expect(csum([...reply.subarray(34, 34 + 12)])).toBe(0);
    expect(r.counters()).toMatchObject({ icmpEchoReplies: 1, ignored: 0 });
  });

  it("pads short replies to the Ethernet minimum", () => {
    const [reply] = newResponder().handle(echoRequest(1, []));
    expect(reply.length).toBe(60);
    expect((reply[16] << 8) | reply[17]).toBe(28); // IP total length excludes padding
  });

  it("echoes UDP on configured ports only, with a valid checksum", () => {
    const r = newResponder();
    const [reply] = r.handle(udpDatagram(7, [1, 2, 3, 4, 5]));
    const u = [...reply.subarray(34, 34 + 13)];
    expect(u.slice(0, 4)).toEqual([0, 7, ...be16(40000)]);
    expect(u.slice(8)).toEqual([1, 2, 3, 4, 5]);
    expect(csum([10, 0, 2, 2, ...GUEST_IP, 0, 17, 0, 13, ...u])).toBe(0);
    expect(r.handle(udpDatagram(9, [1]))).toEqual([]);
    expect(r.counters()).toMatchObject({ udpEchoes: 1, ignored: 1 });
  });

  it("counts a corrupted ICMP checksum as malformed, exactly once", () => {
    const r = newResponder();
    const f = echoRequest(1, [1, 2, 3]);
    f[f.length - 1] ^= 0xff;
    expect(r.handle(f)).toEqual([]);
    expect(r.counters()).toMatchObject({ malformed: 1, icmpEchoRequests: 0 });
  });

  it("counts a bad IP header checksum, a lying total length and a runt as malformed", () => {
    const r = newResponder();
    const a = echoRequest(1, [1]); a[24] ^= 1;
    const b = echoRequest(1, [1]); b[16] = 0x40;
    expect(r.handle(a)).toEqual([]);
    expect(r.handle(b)).toEqual([]);
    expect(r.handle(new Uint8Array(10))).toEqual([]);
    expect(r.counters().malformed).toBe(3);
  });

  it("ignores fragments and frames for other hosts", () => {
    const r = newResponder();
    expect(r.handle(echoRequest(1, [1], { frag: 0x2000 }))).toEqual([]);
    expect(r.handle(echoRequest(1, [1], { dst: [10, 0, 2, 9] }))).toEqual([]);
    expect(r.handle(eth([2, 0, 0, 0, 0, 1], 0x0800, ipv4(1, [8, 0, 0, 0])))).toEqual([]);
    expect(r.counters()).toMatchObject({ fragments: 1, ignored: 2, malformed: 0 });
  });

  it("parses addresses and rejects malformed ones", () => {
    expect([...parseIpv4("10.0.2.2")]).toEqual([10, 0, 2, 2]);
    expect(() => parseIpv4("10.0.2.256")).toThrow(RangeError);
    expect(() => parseMac("52:54:00:12:34")).toThrow(RangeError);
  });

  it("never throws on random and mutated frames", () => {
    const seed = testSeed();
    const next = rng(seed);
    const r = newResponder();
    const seeds = [arpRequest([10, 0, 2, 2]), echoRequest(3, [9, 9, 9]), udpDatagram(7, [1, 2])];
    try {
      for (let i = 0; i < 3000; i++) {
        const base = seeds[i % seeds.length];
        const f = next() < 0.3 ? Uint8Array.from({ length: Math.floor(next() * 120) }, () => Math.floor(next() * 256))
          : base.slice(0, Math.max(0, base.length - Math.floor(next() * 4) * (next() < 0.3 ? 8 : 0)));
        for (let k = 0; k < 3; k++) if (f.length) f[Math.floor(next() * f.length)] = Math.floor(next() * 256);
        for (const reply of r.handle(f)) expect(reply.length).toBeGreaterThanOrEqual(60);
      }
    } catch (e) {
      console.error(`responder fuzz seed ${seed}`);
      throw e;
    }
    expect(r.counters().frames).toBe(3000);
  });
});
