// IPv4/TCP/UDP frames for the offload tests, built and checked from the RFCs
// (791, 793, 768) with the host-side Internet checksum.
import { internetChecksum, onesComplementSum } from "../../../src/net/responder.js";

export const SRC_IP = Uint8Array.of(10, 0, 0, 1);
export const DST_IP = Uint8Array.of(10, 0, 0, 2);

export interface Ipv4Spec {
  dst: Uint8Array; src: Uint8Array; proto: 6 | 17; payload: Uint8Array;
  id?: number; seq?: number; ack?: number; flags?: number; vlan?: number; tcpOptions?: number;
}

/** An Ethernet + IPv4 + TCP/UDP frame with correct checksums. */
export function ipv4Frame(s: Ipv4Spec): Uint8Array {
  const l2 = s.vlan !== undefined ? 18 : 14;
  const thl = s.proto === 6 ? 20 + (s.tcpOptions ?? 0) : 8;
  const l4len = thl + s.payload.length;
  const f = new Uint8Array(l2 + 20 + l4len);
  f.set(s.dst, 0); f.set(s.src, 6);
  if (s.vlan !== undefined) { f[12] = 0x81; f[13] = 0; f[14] = s.vlan >> 8; f[15] = s.vlan & 0xff; }
  f[l2 - 2] = 0x08; f[l2 - 1] = 0x00;
  const ip = l2;
  const tot = 20 + l4len;
  f.set([0x45, 0, tot >> 8, tot & 0xff, (s.id ?? 0x1234) >> 8, (s.id ?? 0x1234) & 0xff, 0x40, 0, 64, s.proto, 0, 0], ip);
  f.set(SRC_IP, ip + 12); f.set(DST_IP, ip + 16);
  const ck = internetChecksum(f, ip, 20);
  f[ip + 10] = ck >> 8; f[ip + 11] = ck & 0xff;
  const l4 = ip + 20;
  if (s.proto === 6) {
    const seq = s.seq ?? 1000, ack = s.ack ?? 0;
    f.set([0x30, 0x39, 0x00, 0x50, seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff, ack >>> 24, (ack >>> 16) & 0xff, (ack >>> 8) & 0xff, ack & 0xff, (thl / 4) << 4, s.flags ?? 0x18, 0xff, 0xff], l4);
    for (let i = 20; i < thl; i++) f[l4 + i] = 1; // NOP options
  } else {
    f.set([0x30, 0x39, 0x00, 0x07, l4len >> 8, l4len & 0xff], l4);
  }
  f.set(s.payload, l4 + thl);
  const sum = l4Checksum(f, ip, s.proto, l4len);
  const at = l4 + (s.proto === 6 ? 16 : 6);
  f[at] = sum >> 8; f[at + 1] = sum & 0xff;
  return f;
}

/** The TCP/UDP checksum over the pseudo-header and [l4, l4 + len) (with the field as it is). */
export function l4Checksum(f: Uint8Array, ip: number, proto: number, len: number): number {
  const pseudo = onesComplementSum(f, ip + 12, 8, proto + len);
  let c = internetChecksum(f, ip + 20, len, pseudo);
  if (proto === 17 && c === 0) c = 0xffff;
  return c;
}

/** Whether an IPv4 frame's header and TCP/UDP checksums verify. */
export function checksumsOk(f: Uint8Array, l2 = 14): { ip: boolean; l4: boolean } {
  const ip = l2;
  const ihl = (f[ip] & 15) * 4, tot = (f[ip + 2] << 8) | f[ip + 3], proto = f[ip + 9];
  const ipOk = onesComplementSum(f, ip, ihl) === 0xffff;
  const pseudo = onesComplementSum(f, ip + 12, 8, proto + tot - ihl);
  const l4Ok = onesComplementSum(f, ip + ihl, tot - ihl, pseudo) === 0xffff;
  return { ip: ipOk, l4: l4Ok };
}

export const be16 = (f: Uint8Array, o: number) => (f[o] << 8) | f[o + 1];
export const be32 = (f: Uint8Array, o: number) => ((f[o] << 24) | (f[o + 1] << 16) | (f[o + 2] << 8) | f[o + 3]) >>> 0;

export function payloadOf(n: number, seed = 0): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 7 + seed * 13 + (i >> 8)) & 0xff;
  return p;
}
