// A tiny host-side IPv4 peer for tests and demos: answers ARP requests for its
// address, ICMP echo requests, and (optionally) UDP echo and a TCP discard
// service (src/net/tcp-discard.ts). Frame level: Ethernet
// II frames in, reply frames out, no virtio header. Every field of an incoming
// frame is guest-controlled, so each is validated and bad frames are counted,
// never thrown on.

import { TcpDiscard, type TcpDiscardCounters, type TcpSegmentOut } from "./tcp-discard.js";
import { parseMac } from "./mac.js";

/** What the responder has seen and done. */
export interface ResponderCounters {
  /** Frames handed to `handle`. */
  frames: number;
  arpRequests: number;
  arpReplies: number;
  icmpEchoRequests: number;
  icmpEchoReplies: number;
  udpEchoes: number;
  /** Well-formed frames not for us or of a kind we don't answer (IPv6, other ARP ops, ...). */
  ignored: number;
  /** IPv4 fragments (not reassembled; ignored). */
  fragments: number;
  /** Truncated frames, bad lengths, bad checksums. */
  malformed: number;
  /** Bytes of ICMP echo payload answered. */
  echoPayloadBytes: number;
}

/** Responder configuration. */
export interface ResponderOptions {
  /** The responder's MAC address ("52:54:00:12:34:56" or 6 bytes). */
  mac: string | Uint8Array;
  /** The responder's IPv4 address (dotted quad). */
  ip: string;
  /** UDP ports answered by echoing the datagram back (RFC 862). Default none. */
  udpEchoPorts?: number[];
  /** TCP ports that accept connections and discard what they receive (RFC 863). Default none. */
  tcpDiscardPorts?: number[];
}

const ETH_HDR = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
/** Ethernet minimum frame without FCS (IEEE 802.3 §3.2.8); replies shorter than this are padded. */
const ETH_MIN = 60;

/** Parse a dotted-quad IPv4 address. Throws on a malformed address (host input). */
export function parseIpv4(ip: string): Uint8Array {
  const parts = ip.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new RangeError(`bad IPv4 address "${ip}"`);
  return Uint8Array.from(parts.map(Number));
}

/** RFC 1071 Internet checksum of `data[off, off+len)`, folded, not complemented. */
export function onesComplementSum(data: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  let i = off;
  const end = off + len;
  for (; i + 1 < end; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (i < end) sum += data[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum field value for `data[off, off+len)` (with the field itself zeroed). */
export function internetChecksum(data: Uint8Array, off: number, len: number, initial = 0): number {
  return ~onesComplementSum(data, off, len, initial) & 0xffff;
}

function sameBytes(a: Uint8Array, aOff: number, b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (a[aOff + i] !== b[i]) return false;
  return true;
}

function isBroadcast(f: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (f[i] !== 0xff) return false;
  return true;
}

/** A host-side ARP / ICMP echo / UDP echo peer. */
export class Responder {
  readonly mac: Uint8Array;
  readonly ip: Uint8Array;
  private readonly udpPorts: Set<number>;
  private readonly tcp: TcpDiscard;
  private readonly c: ResponderCounters = {
    frames: 0, arpRequests: 0, arpReplies: 0, icmpEchoRequests: 0, icmpEchoReplies: 0,
    udpEchoes: 0, ignored: 0, fragments: 0, malformed: 0, echoPayloadBytes: 0,
  };
  /** Source MAC of the last peer that talked to us. */
  peerMac: Uint8Array | null = null;

  constructor(opts: ResponderOptions) {
    this.mac = parseMac(opts.mac);
    this.ip = parseIpv4(opts.ip);
    this.udpPorts = new Set(opts.udpEchoPorts ?? []);
    this.tcp = new TcpDiscard(opts.tcpDiscardPorts ?? []);
  }

  /** A snapshot of the counters. */
  counters(): ResponderCounters { return { ...this.c }; }

  /** The TCP discard service's counters. */
  tcpCounters(): TcpDiscardCounters { return this.tcp.counters(); }

  /** TCP connections open or waiting for their last ACK (at most 16). */
  get tcpOpenConnections(): number { return this.tcp.openConnections; }

  /** Handle one frame; returns the reply frames (zero or one). */
  handle(frame: Uint8Array): Uint8Array[] {
    this.c.frames++;
    if (frame.length < ETH_HDR) { this.c.malformed++; return []; }
    if (!isBroadcast(frame) && !sameBytes(frame, 0, this.mac)) { this.c.ignored++; return []; }
    const type = (frame[12] << 8) | frame[13];
    if (type === ETHERTYPE_ARP) return this.arp(frame);
    if (type === ETHERTYPE_IPV4) return this.ipv4(frame);
    this.c.ignored++;
    return [];
  }

  // RFC 826: Ethernet/IPv4 ARP is 28 bytes after the Ethernet header.
  private arp(f: Uint8Array): Uint8Array[] {
    if (f.length < ETH_HDR + 28) { this.c.malformed++; return []; }
    const a = ETH_HDR;
    const htype = (f[a] << 8) | f[a + 1], ptype = (f[a + 2] << 8) | f[a + 3];
    if (htype !== 1 || ptype !== ETHERTYPE_IPV4 || f[a + 4] !== 6 || f[a + 5] !== 4) { this.c.malformed++; return []; }
    const op = (f[a + 6] << 8) | f[a + 7];
    if (op !== 1 || !sameBytes(f, a + 24, this.ip)) { this.c.ignored++; return []; }
    this.c.arpRequests++;
    const r = new Uint8Array(ETH_MIN);
    r.set(f.subarray(a + 8, a + 14), 0);      // to the sender's hardware address
    r.set(this.mac, 6);
    r[12] = 0x08; r[13] = 0x06;
    r.set([0, 1, 0x08, 0x00, 6, 4, 0, 2], a);
    r.set(this.mac, a + 8);
    r.set(this.ip, a + 14);
    r.set(f.subarray(a + 8, a + 18), a + 18); // target = original sender (MAC + IP)
    this.peerMac = f.slice(a + 8, a + 14);
    this.c.arpReplies++;
    return [r];
  }

  private ipv4(f: Uint8Array): Uint8Array[] {
    const ip = ETH_HDR;
    if (f.length < ip + 20) { this.c.malformed++; return []; }
    const ihl = (f[ip] & 0x0f) * 4;
    const total = (f[ip + 2] << 8) | f[ip + 3];
    // RFC 791: version 4, IHL ≥ 5 words, header and total length inside the frame.
    if (f[ip] >> 4 !== 4 || ihl < 20 || total < ihl || ip + total > f.length) { this.c.malformed++; return []; }
    if (onesComplementSum(f, ip, ihl) !== 0xffff) { this.c.malformed++; return []; }
    if (!sameBytes(f, ip + 16, this.ip)) { this.c.ignored++; return []; }
    const fragField = (f[ip + 6] << 8) | f[ip + 7];
    if ((fragField & 0x2000) !== 0 || (fragField & 0x1fff) !== 0) { this.c.fragments++; return []; }
    const proto = f[ip + 9];
    const l4 = ip + ihl, l4len = total - ihl;
    if (proto === IPPROTO_ICMP) return this.icmp(f, ip, ihl, l4, l4len);
    if (proto === IPPROTO_UDP) return this.udp(f, ip, ihl, l4, l4len);
    if (proto === IPPROTO_TCP) return this.tcpSegment(f, ip, l4, l4len);
    this.c.ignored++;
    return [];
  }

  /** Reply skeleton: Ethernet + IPv4 header (no options) addressed back to the sender. */
  private ipReply(f: Uint8Array, ip: number, proto: number, payloadLen: number): Uint8Array {
    const total = 20 + payloadLen;
    const r = new Uint8Array(Math.max(ETH_MIN, ETH_HDR + total));
    r.set(f.subarray(6, 12), 0);
    r.set(this.mac, 6);
    r[12] = 0x08; r[13] = 0x00;
    r[ip] = 0x45; r[ip + 1] = f[ip + 1];
    r[ip + 2] = total >> 8; r[ip + 3] = total & 0xff;
    r[ip + 4] = f[ip + 4]; r[ip + 5] = f[ip + 5];
    r[ip + 8] = 64; r[ip + 9] = proto;
    r.set(this.ip, ip + 12);
    r.set(f.subarray(ip + 12, ip + 16), ip + 16);
    const ck = internetChecksum(r, ip, 20);
    r[ip + 10] = ck >> 8; r[ip + 11] = ck & 0xff;
    this.peerMac = f.slice(6, 12);
    return r;
  }

  // RFC 792: echo reply = the request with type 0 and a new checksum. The code is
  // not checked and is copied, as Linux does (busybox `ping -p X` sends code X).
  private icmp(f: Uint8Array, ip: number, _ihl: number, l4: number, len: number): Uint8Array[] {
    if (len < 8 || onesComplementSum(f, l4, len) !== 0xffff) { this.c.malformed++; return []; }
    if (f[l4] !== 8) { this.c.ignored++; return []; }
    this.c.icmpEchoRequests++;
    const r = this.ipReply(f, ip, IPPROTO_ICMP, len);
    const o = ETH_HDR + 20;
    r.set(f.subarray(l4, l4 + len), o);
    r[o] = 0; r[o + 2] = 0; r[o + 3] = 0; // type echo reply; code kept
    const ck = internetChecksum(r, o, len);
    r[o + 2] = ck >> 8; r[o + 3] = ck & 0xff;
    this.c.icmpEchoReplies++;
    this.c.echoPayloadBytes += len - 8;
    return [r];
  }

  // RFC 768; the pseudo-header checksum is verified when present (non-zero) and always sent.
  private udp(f: Uint8Array, ip: number, _ihl: number, l4: number, len: number): Uint8Array[] {
    if (len < 8) { this.c.malformed++; return []; }
    const udpLen = (f[l4 + 4] << 8) | f[l4 + 5];
    if (udpLen < 8 || udpLen > len) { this.c.malformed++; return []; }
    const pseudo = (src: Uint8Array, so: number, dst: Uint8Array, dOff: number) =>
      onesComplementSum(src, so, 4, onesComplementSum(dst, dOff, 4, IPPROTO_UDP + udpLen));
    if (((f[l4 + 6] << 8) | f[l4 + 7]) !== 0 && onesComplementSum(f, l4, udpLen, pseudo(f, ip + 12, f, ip + 16)) !== 0xffff) {
      this.c.malformed++; return [];
    }
    const dport = (f[l4 + 2] << 8) | f[l4 + 3];
    if (!this.udpPorts.has(dport)) { this.c.ignored++; return []; }
    const r = this.ipReply(f, ip, IPPROTO_UDP, udpLen);
    const o = ETH_HDR + 20;
    r.set(f.subarray(l4 + 8, l4 + udpLen), o + 8);
    r[o] = f[l4 + 2]; r[o + 1] = f[l4 + 3];
    r[o + 2] = f[l4]; r[o + 3] = f[l4 + 1];
    r[o + 4] = udpLen >> 8; r[o + 5] = udpLen & 0xff;
    let ck = internetChecksum(r, o, udpLen, pseudo(r, ip + 12, r, ip + 16));
    if (ck === 0) ck = 0xffff; // RFC 768: a computed zero is sent as all ones
    r[o + 6] = ck >> 8; r[o + 7] = ck & 0xff;
    this.c.udpEchoes++;
    return [r];
  }

  // RFC 9293 §3.1: header of 5–15 words inside the segment; the checksum covers
  // the pseudo-header (source, destination, protocol, TCP length) and must verify.
  private tcpSegment(f: Uint8Array, ip: number, l4: number, len: number): Uint8Array[] {
    if (len < 20) { this.c.malformed++; return []; }
    const dataOff = (f[l4 + 12] >> 4) * 4;
    if (dataOff < 20 || dataOff > len) { this.c.malformed++; return []; }
    const pseudo = onesComplementSum(f, ip + 12, 4, onesComplementSum(f, ip + 16, 4, IPPROTO_TCP + len));
    if (onesComplementSum(f, l4, len, pseudo) !== 0xffff) { this.c.malformed++; return []; }
    const port = (f[l4 + 2] << 8) | f[l4 + 3];
    if (!this.tcp.serves(port)) { this.c.ignored++; return []; }
    const u32 = (o: number) => ((f[o] << 24) | (f[o + 1] << 16) | (f[o + 2] << 8) | f[o + 3]) >>> 0;
    const peerPort = (f[l4] << 8) | f[l4 + 1];
    const out = this.tcp.segment({
      peerIp: u32(ip + 12), peerPort, port, seq: u32(l4 + 4), ack: u32(l4 + 8), flags: f[l4 + 13] & 0x3f, dataLength: len - dataOff,
    });
    return out.map((seg) => this.tcpReply(f, ip, port, peerPort, seg));
  }

  /** A TCP segment without payload from `port` back to the sender of `f`. */
  private tcpReply(f: Uint8Array, ip: number, port: number, peerPort: number, seg: TcpSegmentOut): Uint8Array {
    const hdr = seg.mss !== undefined ? 24 : 20;
    const r = this.ipReply(f, ip, IPPROTO_TCP, hdr);
    const o = ETH_HDR + 20;
    const be32 = (at: number, v: number) => { r[at] = v >>> 24; r[at + 1] = (v >>> 16) & 0xff; r[at + 2] = (v >>> 8) & 0xff; r[at + 3] = v & 0xff; };
    r[o] = port >> 8; r[o + 1] = port & 0xff;
    r[o + 2] = peerPort >> 8; r[o + 3] = peerPort & 0xff;
    be32(o + 4, seg.seq);
    be32(o + 8, seg.ack);
    r[o + 12] = (hdr / 4) << 4;
    r[o + 13] = seg.flags;
    r[o + 14] = seg.window >> 8; r[o + 15] = seg.window & 0xff;
    if (seg.mss !== undefined) { r[o + 20] = 2; r[o + 21] = 4; r[o + 22] = seg.mss >> 8; r[o + 23] = seg.mss & 0xff; } // RFC 9293 §3.2: MSS option
    const pseudo = onesComplementSum(r, ip + 12, 4, onesComplementSum(r, ip + 16, 4, IPPROTO_TCP + hdr));
    const ck = internetChecksum(r, o, hdr, pseudo);
    r[o + 16] = ck >> 8; r[o + 17] = ck & 0xff;
    return r;
  }
}
