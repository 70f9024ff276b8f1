// The sending half of TCP (RFC 9293) for host → guest bulk transfers over raw
// frames: a host-side HTTP/1.0 server on one port that answers any request
// ending in a blank line with a body of pseudo-random bytes for a set time or
// size, then closes. The guest fetches it with busybox `wget -O /dev/null`.
//
// One connection at a time. The sender keeps at most `maxInFlight` bytes
// unacknowledged (and never more than the guest's window; no window scaling
// is offered, so that window is at most 65535), retransmits from the oldest
// unacknowledged byte after three duplicate ACKs or when `tick` finds no
// progress for the retransmission timeout (go-back-N), and ends with FIN once
// the body is out. Every field of the guest's segments is checked before use.
import { internetChecksum, onesComplementSum, parseIpv4 } from "../../src/net/responder.js";
import { parseMac } from "../../src/net/mac.js";

const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;
const MSS = 1460;

export interface TcpSourceOptions {
  mac: string;
  ip: string;
  port: number;
  /** Body length, or... */
  bytes?: number;
  /** ...send for this long (ms, from the first body byte), whichever the caller sets. */
  durationMs?: number;
  /** Unacknowledged bytes at most (default 32 KiB). */
  maxInFlight?: number;
  /** Retransmission timeout (default 1 s). */
  rtoMs?: number;
  now?: () => number;
}

export interface TcpSourceCounters {
  connections: number;
  /** Body bytes the guest acknowledged. */
  bodyAcked: number;
  segments: number;
  /** Go-back-N restarts: after three duplicate ACKs, or a retransmission timeout. */
  fastRetransmits: number;
  timeouts: number;
  resetsReceived: number;
  /** Connections that completed: our FIN acknowledged. */
  completed: number;
  /** Segments from the guest that did not parse or verify. */
  malformed: number;
  firstByteAt: number;
  lastAckAt: number;
}

const seqDiff = (a: number, b: number) => (a - b) | 0;

interface Conn {
  peerMac: Uint8Array;
  peerIp: Uint8Array;
  peerPort: number;
  iss: number;
  rcvNxt: number;
  /** Offsets in our stream (0 = first byte after SYN). */
  una: number;
  nxt: number;
  /** Stream: response header then body; `end` is its length once fixed (body by time: when time is up). */
  header: Uint8Array | null;
  end: number;
  finSent: boolean;
  peerWindow: number;
  dupAcks: number;
  lastProgress: number;
  request: string;
  established: boolean;
}

export class TcpSource {
  private readonly mac: Uint8Array;
  private readonly ip: Uint8Array;
  private conn: Conn | null = null;
  private ipId = 1;
  private readonly now: () => number;
  private readonly c: TcpSourceCounters = { connections: 0, bodyAcked: 0, segments: 0, fastRetransmits: 0, timeouts: 0, resetsReceived: 0, completed: 0, malformed: 0, firstByteAt: 0, lastAckAt: 0 };

  constructor(private readonly opts: TcpSourceOptions) {
    this.mac = parseMac(opts.mac);
    this.ip = parseIpv4(opts.ip);
    this.now = opts.now ?? (() => performance.now());
  }

  counters(): TcpSourceCounters { return { ...this.c }; }

  /** An IPv4 TCP frame to our address and port. */
  serves(f: Uint8Array): boolean {
    if (f.length < 54 || f[12] !== 0x08 || f[13] !== 0 || f[23] !== 6) return false;
    for (let i = 0; i < 4; i++) if (f[30 + i] !== this.ip[i]) return false;
    const l4 = 14 + (f[14] & 0x0f) * 4;
    return l4 + 4 <= f.length && ((f[l4 + 2] << 8) | f[l4 + 3]) === this.opts.port;
  }

  handle(f: Uint8Array): Uint8Array[] {
    const ihl = (f[14] & 0x0f) * 4, total = (f[16] << 8) | f[17], l4 = 14 + ihl, len = total - ihl;
    if (ihl < 20 || total < ihl + 20 || 14 + total > f.length || onesComplementSum(f, 14, ihl) !== 0xffff) { this.c.malformed++; return []; }
    const pseudo = onesComplementSum(f, 26, 4, onesComplementSum(f, 30, 4, 6 + len));
    if (onesComplementSum(f, l4, len, pseudo) !== 0xffff) { this.c.malformed++; return []; }
    const dataOff = (f[l4 + 12] >> 4) * 4;
    if (dataOff < 20 || dataOff > len) { this.c.malformed++; return []; }
    const u32 = (o: number) => ((f[o] << 24) | (f[o + 1] << 16) | (f[o + 2] << 8) | f[o + 3]) >>> 0;
    const seq = u32(l4 + 4), ack = u32(l4 + 8), flags = f[l4 + 13], window = (f[l4 + 14] << 8) | f[l4 + 15];
    const peerPort = (f[l4] << 8) | f[l4 + 1];
    const data = f.subarray(l4 + dataOff, l4 + len);
    let c = this.conn;
    if (flags & RST) {
      if (c && c.peerPort === peerPort) { this.c.resetsReceived++; this.conn = null; }
      return [];
    }
    if (flags & SYN) {
      if (c && c.peerPort === peerPort && !c.established) return [this.segment(c, -1, 0, SYN | ACK, true)];
      c = {
        peerMac: f.slice(6, 12), peerIp: f.slice(26, 30), peerPort, iss: 0x2000_0000 + this.c.connections * 0x0100_0000, rcvNxt: (seq + 1) >>> 0,
        una: 0, nxt: 0, header: null, end: -1, finSent: false, peerWindow: window, dupAcks: 0, lastProgress: this.now(), request: "", established: false,
      };
      this.conn = c;
      this.c.connections++;
      return [this.segment(c, -1, 0, SYN | ACK, true)];
    }
    if (!c || c.peerPort !== peerPort || (flags & ACK) === 0) return [];
    const out: Uint8Array[] = [];
    // ACK: offsets in our stream are ack − (iss + 1).
    const acked = seqDiff(ack, (c.iss + 1) >>> 0);
    if (!c.established) { if (acked !== 0) return []; c.established = true; }
    const limit = c.nxt + (c.finSent ? 1 : 0);
    if (acked > c.una && acked <= limit) {
      if (c.header) this.c.bodyAcked = Math.max(0, Math.min(acked, c.end >= 0 ? c.end : acked) - c.header.length);
      c.una = acked; c.dupAcks = 0; c.lastProgress = this.now(); this.c.lastAckAt = c.lastProgress;
      if (c.finSent && acked === c.end + 1) this.c.completed++;
    } else if (acked === c.una && data.length === 0 && c.una < c.nxt) {
      if (++c.dupAcks === 3) { c.nxt = c.una; this.c.fastRetransmits++; c.finSent = false; }
    }
    c.peerWindow = window;
    // Data from the guest: the request (in order only), and its FIN.
    const fin = (flags & FIN) !== 0;
    if (data.length > 0 || fin) {
      if (seq >>> 0 === c.rcvNxt) {
        c.rcvNxt = (c.rcvNxt + data.length + (fin ? 1 : 0)) >>> 0;
        if (c.request.length < 4096) c.request += String.fromCharCode(...data);
        if (!c.header && c.request.includes("\r\n\r\n")) {
          const len = this.opts.bytes;
          c.header = new TextEncoder().encode(`HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n${len !== undefined ? `Content-Length: ${len}\r\n` : ""}Connection: close\r\n\r\n`);
          if (len !== undefined) c.end = c.header.length + len;
        }
      }
      out.push(this.segment(c, c.nxt + (c.finSent ? 1 : 0), 0, ACK, false));
    }
    out.push(...this.pump(c));
    return out;
  }

  /** Retransmit on timeout; call every few tens of ms. */
  tick(): Uint8Array[] {
    const c = this.conn;
    if (!c || !c.header) return [];
    const rto = this.opts.rtoMs ?? 1000;
    if ((c.una < c.nxt || (c.finSent && c.una <= c.end)) && this.now() - c.lastProgress > rto) {
      c.nxt = c.una; c.finSent = false; c.lastProgress = this.now(); this.c.timeouts++;
    }
    return this.pump(c);
  }

  /** Whether the last connection finished (our FIN acknowledged). */
  get done(): boolean { return this.c.completed > 0 && this.conn !== null && this.conn.finSent && this.conn.una === this.conn.end + 1; }

  private pump(c: Conn): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (!c.header || !c.established) return out;
    const now = this.now();
    if (c.end < 0 && this.opts.durationMs !== undefined && this.c.firstByteAt > 0 && now - this.c.firstByteAt >= this.opts.durationMs) c.end = Math.max(c.nxt, c.header.length);
    const cap = Math.min(this.opts.maxInFlight ?? 32768, c.peerWindow);
    // Bounded: each segment moves nxt forward by at least one byte, at most `cap` bytes in flight.
    while (c.end < 0 || c.nxt < c.end) {
      const room = cap - (c.nxt - c.una);
      if (room <= 0) break;
      let n = Math.min(MSS, room);
      if (c.end >= 0) n = Math.min(n, c.end - c.nxt);
      if (n <= 0) break;
      if (this.c.firstByteAt === 0) this.c.firstByteAt = now;
      out.push(this.segment(c, c.nxt, n, ACK | PSH, false));
      c.nxt += n;
    }
    if (c.end >= 0 && c.nxt === c.end && !c.finSent && c.nxt - c.una < cap + 1) {
      out.push(this.segment(c, c.nxt, 0, FIN | ACK, false));
      c.finSent = true;
    }
    return out;
  }

  /** Stream byte at offset `o`: the header, then the body's pattern. */
  private streamByte(c: Conn, o: number): number {
    const h = c.header!;
    if (o < h.length) return h[o];
    const b = o - h.length;
    return (b * 131 + (b >>> 8) * 7 + 0x5a) & 0xff;
  }

  /** A segment at stream offset `off` (−1: the SYN) with `n` payload bytes. */
  private segment(c: Conn, off: number, n: number, flags: number, synOpt: boolean): Uint8Array {
    this.c.segments++;
    const tcpHdr = synOpt ? 24 : 20, total = 20 + tcpHdr + n;
    const f = new Uint8Array(Math.max(60, 14 + total));
    f.set(c.peerMac, 0); f.set(this.mac, 6); f[12] = 0x08; f[13] = 0x00;
    const id = this.ipId++ & 0xffff;
    f.set([0x45, 0, total >> 8, total & 0xff, id >> 8, id & 0xff, 0x40, 0, 64, 6, 0, 0], 14);
    f.set(this.ip, 26); f.set(c.peerIp, 30);
    const ick = internetChecksum(f, 14, 20);
    f[24] = ick >> 8; f[25] = ick & 0xff;
    const t = 34;
    const seq = (c.iss + 1 + off) >>> 0;
    const put32 = (o: number, v: number) => { f[o] = v >>> 24; f[o + 1] = (v >>> 16) & 0xff; f[o + 2] = (v >>> 8) & 0xff; f[o + 3] = v & 0xff; };
    f[t] = this.opts.port >> 8; f[t + 1] = this.opts.port & 0xff; f[t + 2] = c.peerPort >> 8; f[t + 3] = c.peerPort & 0xff;
    put32(t + 4, seq); put32(t + 8, c.rcvNxt);
    f[t + 12] = (tcpHdr / 4) << 4; f[t + 13] = flags; f[t + 14] = 0xff; f[t + 15] = 0xff;
    if (synOpt) f.set([2, 4, MSS >> 8, MSS & 0xff], t + 20);
    for (let i = 0; i < n; i++) f[t + tcpHdr + i] = this.streamByte(c, off + i);
    const len = tcpHdr + n;
    const pseudo = onesComplementSum(f, 26, 4, onesComplementSum(f, 30, 4, 6 + len));
    const ck = internetChecksum(f, t, len, pseudo);
    f[t + 16] = ck >> 8; f[t + 17] = ck & 0xff;
    return f;
  }
}
