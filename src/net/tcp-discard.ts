// The receiving half of TCP (RFC 9293) for a discard service (RFC 863): a
// host-side peer accepts connections on its ports, acknowledges every byte in
// order and throws it away, and closes when the sender closes. It never sends
// data, so it keeps no retransmission timer: a lost SYN-ACK, ACK or FIN-ACK is
// answered again when the sender retransmits. Segments come from the guest and
// every field is guest-controlled: the connection table is bounded, sequence
// numbers are compared modulo 2^32, and anything that does not fit the state
// is answered as RFC 9293 §3.10.7 says (RST or a duplicate ACK) or counted.

/** A parsed TCP segment, as the caller (the IPv4 layer) extracted it. */
export interface TcpSegmentIn {
  /** The sender's IPv4 address and port, and our port. */
  peerIp: number;
  peerPort: number;
  port: number;
  seq: number;
  ack: number;
  flags: number;
  /** Payload bytes in the segment. */
  dataLength: number;
}

/** A segment to send back; the caller builds the frame (always to the sender of the input). */
export interface TcpSegmentOut {
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** Add the MSS option (SYN-ACK only). */
  mss?: number;
}

export const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10;

/** What the discard service has seen and done. */
export interface TcpDiscardCounters {
  /** Segments handed to `segment` for a discard port. */
  segments: number;
  /** Connections accepted (SYN answered with SYN-ACK). */
  connections: number;
  /** Connections closed by the sender's FIN and our FIN acknowledged. */
  closed: number;
  /** Payload bytes accepted in order (each byte counted once). */
  bytes: number;
  /** Segments beyond the next expected byte (dropped, answered with a duplicate ACK). */
  outOfOrder: number;
  /** Segments whose payload was all received before (a retransmission). */
  duplicates: number;
  /** RSTs sent (segments for no connection, SYN with the table full) and received. */
  resetsSent: number;
  resetsReceived: number;
  /** SYNs refused because the connection table was full. */
  refused: number;
}

const enum State { SynReceived, Established, LastAck }

interface Connection {
  state: State;
  /** Next byte expected from the peer (RCV.NXT). */
  rcvNxt: number;
  /** Our initial sequence number and next one (SND.NXT). */
  iss: number;
  sndNxt: number;
  /** The peer's initial sequence number (a repeated SYN carries it again). */
  irs: number;
}

/** Receive window advertised; the service consumes data at once, so it is always open. */
const WINDOW = 0xffff;
/** MSS offered: an Ethernet MTU of 1500 less the IPv4 and TCP headers. */
const MSS = 1460;

/** a − b as a signed 32-bit distance (sequence-space comparison, RFC 9293 §3.4). */
function seqDiff(a: number, b: number): number { return (a - b) | 0; }

/** A TCP discard service on a set of ports. */
export class TcpDiscard {
  private readonly ports: ReadonlySet<number>;
  private readonly conns = new Map<string, Connection>();
  private readonly c: TcpDiscardCounters = {
    segments: 0, connections: 0, closed: 0, bytes: 0, outOfOrder: 0, duplicates: 0, resetsSent: 0, resetsReceived: 0, refused: 0,
  };
  private issCounter = 0x1000_0000;

  /** `maxConnections` bounds the table (open and half-closed connections). */
  constructor(ports: Iterable<number>, private readonly maxConnections = 16) {
    this.ports = new Set(ports);
  }

  /** A snapshot of the counters. */
  counters(): TcpDiscardCounters { return { ...this.c }; }

  /** Connections in the table (open or waiting for the last ACK). */
  get openConnections(): number { return this.conns.size; }

  /** Whether `port` is one of ours (segments to other ports are the caller's). */
  serves(port: number): boolean { return this.ports.has(port); }

  /** Handle one segment to one of our ports; returns the segments to send back (zero or one). */
  segment(s: TcpSegmentIn): TcpSegmentOut[] {
    this.c.segments++;
    const key = `${s.peerIp >>> 0}:${s.peerPort}:${s.port}`;
    const conn = this.conns.get(key);
    const rst = (s.flags & TCP_RST) !== 0, syn = (s.flags & TCP_SYN) !== 0, ackFlag = (s.flags & TCP_ACK) !== 0;
    const segLen = s.dataLength + (syn ? 1 : 0) + ((s.flags & TCP_FIN) !== 0 ? 1 : 0);

    if (!conn) {
      // LISTEN (§3.10.7.2): RST is dropped, ACK answered with RST, SYN opens.
      if (rst) return [];
      if (ackFlag) return [this.reset(s.ack, 0, TCP_RST)];
      if (!syn) return [];
      if (this.conns.size >= this.maxConnections && !this.evictClosing()) {
        this.c.refused++;
        return [this.reset(0, (s.seq + segLen) >>> 0, TCP_RST | TCP_ACK)];
      }
      const iss = this.nextIss();
      const irs = s.seq >>> 0;
      this.conns.set(key, { state: State.SynReceived, rcvNxt: (irs + 1) >>> 0, iss, sndNxt: (iss + 1) >>> 0, irs });
      this.c.connections++;
      return [{ seq: iss, ack: (irs + 1) >>> 0, flags: TCP_SYN | TCP_ACK, window: WINDOW, mss: MSS }];
    }

    if (rst) {
      // §3.10.7.4: a reset in the window (here: at RCV.NXT or the ISN in SYN-RECEIVED) closes.
      if (s.seq >>> 0 === conn.rcvNxt || (conn.state === State.SynReceived && s.seq >>> 0 === conn.irs)) {
        this.conns.delete(key);
        this.c.resetsReceived++;
      }
      return [];
    }
    if (syn) {
      // The same SYN again: our SYN-ACK was lost. Any other SYN on a live connection gets an ACK (§3.10.7.4).
      if (conn.state === State.SynReceived && s.seq >>> 0 === conn.irs) {
        return [{ seq: conn.iss, ack: conn.rcvNxt, flags: TCP_SYN | TCP_ACK, window: WINDOW, mss: MSS }];
      }
      return [this.ackOf(conn)];
    }
    if (!ackFlag) return []; // §3.10.7.4 fifth check: no ACK bit, drop
    if (conn.state === State.SynReceived) {
      if (s.ack >>> 0 !== conn.sndNxt) return [this.reset(s.ack, 0, TCP_RST)];
      conn.state = State.Established;
    }
    if (conn.state === State.LastAck && s.ack >>> 0 === conn.sndNxt) {
      this.conns.delete(key);
      this.c.closed++;
      return [];
    }

    const fin = (s.flags & TCP_FIN) !== 0;
    if (s.dataLength === 0 && !fin) return []; // a pure ACK needs no answer
    const start = seqDiff(s.seq, conn.rcvNxt);
    if (start > 0) {
      // A gap before this segment: keep nothing, ask for RCV.NXT again (the sender's fast retransmit).
      this.c.outOfOrder++;
      return [this.ackOf(conn)];
    }
    const fresh = s.dataLength + start; // bytes past RCV.NXT
    if (fresh > 0) {
      conn.rcvNxt = (conn.rcvNxt + fresh) >>> 0;
      this.c.bytes += fresh;
    } else if (s.dataLength > 0) {
      this.c.duplicates++;
    }
    if (fin) {
      if (conn.state !== State.LastAck && fresh >= 0 && seqDiff((s.seq + s.dataLength) >>> 0, conn.rcvNxt) === 0) {
        // The sender is done: acknowledge its FIN and close our side at once (nothing to send).
        conn.rcvNxt = (conn.rcvNxt + 1) >>> 0;
        conn.state = State.LastAck;
        conn.sndNxt = (conn.sndNxt + 1) >>> 0;
        return [{ seq: (conn.sndNxt - 1) >>> 0, ack: conn.rcvNxt, flags: TCP_FIN | TCP_ACK, window: WINDOW }];
      }
      if (conn.state === State.LastAck) {
        // Its FIN again: our FIN-ACK was lost.
        return [{ seq: (conn.sndNxt - 1) >>> 0, ack: conn.rcvNxt, flags: TCP_FIN | TCP_ACK, window: WINDOW }];
      }
    }
    return [this.ackOf(conn)];
  }

  private ackOf(conn: Connection): TcpSegmentOut {
    return { seq: conn.sndNxt, ack: conn.rcvNxt, flags: TCP_ACK, window: WINDOW };
  }

  private reset(seq: number, ack: number, flags: number): TcpSegmentOut {
    this.c.resetsSent++;
    return { seq: seq >>> 0, ack: ack >>> 0, flags, window: 0 };
  }

  /** Make room by dropping a connection that only waits for its last ACK. */
  private evictClosing(): boolean {
    for (const [k, v] of this.conns) {
      if (v.state === State.LastAck) { this.conns.delete(k); return true; }
    }
    return false;
  }

  /** ISNs far apart per connection (RFC 9293 §3.4.1 asks for unpredictable ones against spoofing; this peer only talks to its own guest). */
  private nextIss(): number {
    this.issCounter = (this.issCounter + 0x0100_0000 + 0x1234) >>> 0;
    return this.issCounter;
  }
}
