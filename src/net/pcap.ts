// Packet capture in the classic libpcap file format (what tcpdump -w writes
// and Wireshark opens; draft-ietf-opsawg-pcap §4–5): a 24-byte file header
// (magic, version 2.4, snap length, LINKTYPE_ETHERNET) and, per frame, a
// 16-byte record header (seconds, micro- or nanoseconds, captured length,
// original length) followed by the captured bytes. Everything is written in
// little-endian order; readers detect the order from the magic.
//
// A PcapWriter is a tap: `writer.tap` fits HostLinkOptions.tap, so it
// captures any NIC that has a host link. Where the bytes go is the sink's
// business: in memory (`PcapWriter.memory`, `bytes()` hands back one
// Uint8Array to wrap in a Blob in a browser) or a stream (src/net/pcap-file.ts
// streams to a file in Node). Either way the bytes waiting are bounded: past
// `maxBufferedBytes` a frame is dropped whole and counted, never half written,
// so the file stays readable.

/** LINKTYPE_ETHERNET: IEEE 802.3 frames, destination MAC first. */
export const LINKTYPE_ETHERNET = 1;
/** File magic for microsecond timestamps. */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
/** File magic for nanosecond timestamps. */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_FILE_HEADER = 24;
export const PCAP_RECORD_HEADER = 16;

export type PcapPrecision = "us" | "ns";

/** Options of a {@link PcapWriter}. */
export interface PcapOptions {
  /** Timestamp resolution of the file (default "us"; "ns" needs a reader that knows magic 0xa1b23c4d, as tcpdump and Wireshark do). */
  precision?: PcapPrecision;
  /** Bytes of each frame kept (longer frames are cut, their original length recorded). Default 65535. */
  snaplen?: number;
  /** Bytes the writer holds for its sink at most (memory: the whole capture; a stream: what it has not taken yet). Default 64 MiB. */
  maxBufferedBytes?: number;
  /** Nanoseconds since the Unix epoch, as a bigint (default: the performance clock). */
  clock?: () => bigint;
  /** Which directions the tap records (default both). */
  directions?: ReadonlyArray<"tx" | "rx">;
}

/** Where a writer's bytes go. */
export interface PcapSink {
  /** Take one chunk (the file header, or one whole record); the writer does not touch it again. */
  write(chunk: Uint8Array): void;
  /** Bytes given to the sink and not yet written out (for the bound). */
  pending(): number;
}

/** Counters of a {@link PcapWriter}. */
export interface PcapCounters {
  /** Frames recorded. */
  frames: number;
  /** Bytes of the file so far (headers included). */
  bytes: number;
  /** Frames dropped because the buffer bound was reached. */
  dropped: number;
  /** Frames recorded shorter than they were (snaplen). */
  truncated: number;
}

const defaultClock = (): bigint => {
  const ms = performance.timeOrigin + performance.now();
  return BigInt(Math.floor(ms)) * 1_000_000n + BigInt(Math.round((ms % 1) * 1e6));
};

/** Bytes held in memory, for {@link PcapWriter.memory}. */
class MemorySink implements PcapSink {
  readonly chunks: Uint8Array[] = [];
  size = 0;
  write(chunk: Uint8Array): void { this.chunks.push(chunk); this.size += chunk.length; }
  pending(): number { return this.size; }
}

/** A libpcap writer (see the top of this file). */
export class PcapWriter {
  readonly precision: PcapPrecision;
  readonly snaplen: number;
  private readonly max: number;
  private readonly clock: () => bigint;
  private readonly dirs: ReadonlySet<string>;
  private readonly c: PcapCounters = { frames: 0, bytes: 0, dropped: 0, truncated: 0 };
  private closed = false;

  /** A writer that keeps the capture in memory; `bytes()` returns the file. */
  static memory(opts: PcapOptions = {}): PcapWriter { return new PcapWriter(new MemorySink(), opts); }

  constructor(private readonly sink: PcapSink, opts: PcapOptions = {}) {
    this.precision = opts.precision ?? "us";
    this.snaplen = opts.snaplen ?? 65535;
    if (!Number.isInteger(this.snaplen) || this.snaplen < 1 || this.snaplen > 0x3ffff) throw new RangeError(`pcap: snaplen ${opts.snaplen} is not in 1..262143`);
    this.max = opts.maxBufferedBytes ?? 64 << 20;
    if (!(this.max >= PCAP_FILE_HEADER)) throw new RangeError(`pcap: maxBufferedBytes ${opts.maxBufferedBytes} is below the ${PCAP_FILE_HEADER}-byte file header`);
    this.clock = opts.clock ?? defaultClock;
    this.dirs = new Set(opts.directions ?? ["tx", "rx"]);
    const h = new Uint8Array(PCAP_FILE_HEADER);
    const v = new DataView(h.buffer);
    v.setUint32(0, this.precision === "ns" ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    // thiszone and sigfigs stay 0 (timestamps are UTC).
    v.setUint32(16, this.snaplen, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    this.sink.write(h);
    this.c.bytes = PCAP_FILE_HEADER;
  }

  /** A HostLinkOptions.tap that records every frame of the chosen directions. */
  readonly tap = (dir: "tx" | "rx", frame: Uint8Array): void => {
    if (this.dirs.has(dir)) this.write(frame);
  };

  /** Record one frame, stamped now (or at `timeNs`, nanoseconds since the epoch). Returns false if it was dropped. */
  write(frame: Uint8Array, timeNs?: bigint): boolean {
    if (this.closed) return false;
    const cap = Math.min(frame.length, this.snaplen);
    const size = PCAP_RECORD_HEADER + cap;
    if (this.sink.pending() + size > this.max) { this.c.dropped++; return false; }
    const t = timeNs ?? this.clock();
    const sec = t / 1_000_000_000n, ns = t % 1_000_000_000n;
    const rec = new Uint8Array(size);
    const v = new DataView(rec.buffer);
    v.setUint32(0, Number(sec & 0xffffffffn), true);
    v.setUint32(4, this.precision === "ns" ? Number(ns) : Number(ns / 1000n), true);
    v.setUint32(8, cap, true);
    v.setUint32(12, frame.length, true);
    rec.set(cap === frame.length ? frame : frame.subarray(0, cap), PCAP_RECORD_HEADER);
    this.sink.write(rec);
    this.c.frames++;
    this.c.bytes += size;
    if (cap < frame.length) this.c.truncated++;
    return true;
  }

  /** The whole capture as one file image (memory writers only). */
  bytes(): Uint8Array {
    if (!(this.sink instanceof MemorySink)) throw new Error("pcap: bytes() needs a memory writer (PcapWriter.memory); this one streams to its sink");
    const out = new Uint8Array(this.sink.size);
    let o = 0;
    for (const c of this.sink.chunks) { out.set(c, o); o += c.length; }
    return out;
  }

  /** Stop recording; later frames are ignored (not counted as dropped). */
  close(): void { this.closed = true; }

  get isClosed(): boolean { return this.closed; }

  counters(): PcapCounters { return { ...this.c }; }
}
