// A migration peer written from docs/migration-protocol.md, for tests with a
// source that lies. It frames and hashes with its own code (XXH64 from
// xxhash-wasm, not the engine's wasm or FrameWriter) and sends exactly what a
// test scripts: pages that were never sent, digests that claim otherwise,
// layouts that are not the destination's, floods that ignore the handshake.
import xxhash from "xxhash-wasm";
import type { Transport } from "../../src/migration/index.js";
import { Msg } from "../../src/migration/index.js";

export const PAGE = 4096;
const HDR = 32;
const MAGIC = 0x474d4d56; // "VMMG"
const VERSION = 3;

type Hasher = Awaited<ReturnType<typeof xxhash>>;
let hasher: Hasher | undefined;
/** XXH64 (xxhash-wasm), loaded once. */
export async function xxh(): Promise<Hasher> { return (hasher ??= await xxhash()); }

/** Little-endian payload builder. */
export class Bytes {
  private parts: number[] = [];
  u16(v: number): this { this.parts.push(v & 0xff, (v >>> 8) & 0xff); return this; }
  u32(v: number): this { for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff); return this; }
  u64(v: bigint): this { for (let i = 0n; i < 8n; i++) this.parts.push(Number((v >> (8n * i)) & 0xffn)); return this; }
  raw(b: Uint8Array): this { for (const x of b) this.parts.push(x); return this; }
  str(s: string): this { const b = new TextEncoder().encode(s); return this.u16(b.length).raw(b); }
  done(): Uint8Array { return Uint8Array.from(this.parts); }
}

/** A frame as the peer received it. */
export interface PeerFrame { type: number; payload: Uint8Array }

/** Builds frames (each direction numbers its own from 0). */
export class FrameBuilder {
  private seq = 0;
  constructor(private readonly h: Hasher) {}
  /**
   * A frame. `recordHashes`: flag 1 (PAGES only), the payload checksum chained
   * over the round prefix and the record headers (docs/migration-protocol.md,
   * "Frames"), the page data left to the records' own hashes.
   */
  frame(type: number, payload: Uint8Array = new Uint8Array(0), recordHashes = false): Uint8Array {
    const f = new Uint8Array(HDR + payload.length);
    const dv = new DataView(f.buffer);
    const seq = this.seq++;
    dv.setUint32(0, MAGIC, true);
    dv.setUint8(4, VERSION);
    dv.setUint8(5, type);
    dv.setUint16(6, recordHashes ? 1 : 0, true);
    dv.setUint32(8, seq, true);
    dv.setUint32(12, payload.length, true);
    dv.setBigUint64(16, recordHashes ? recordsChecksum(this.h, payload, BigInt(seq)) : this.h.h64Raw(payload, BigInt(seq)), true);
    dv.setBigUint64(24, this.h.h64Raw(f.subarray(0, 24), 0n), true);
    f.set(payload, HDR);
    return f;
  }
}

/**
 * The FRAME_RECORD_HASHES checksum as the protocol document states it:
 * XXH64 of the 4-byte round prefix seeded with the sequence number, then
 * chained through each 16-byte record header (the previous value is the next
 * seed), records walked by their u16 length; bytes left over when a record
 * runs off the end are hashed with the chain value XOR 0x9e3779b97f4a7c15.
 */
export function recordsChecksum(h: Hasher, payload: Uint8Array, seq: bigint): bigint {
  const TAIL = 0x9e3779b97f4a7c15n;
  if (payload.length < 4) return h.h64Raw(payload, seq);
  let acc = h.h64Raw(payload.subarray(0, 4), seq);
  let off = 4;
  while (payload.length - off >= 16) {
    acc = h.h64Raw(payload.subarray(off, off + 16), acc);
    const dlen = payload[off + 6] | (payload[off + 7] << 8);
    if (dlen > payload.length - off - 16) return h.h64Raw(payload.subarray(off), acc ^ TAIL);
    off += 16 + dlen;
  }
  return off === payload.length ? acc : h.h64Raw(payload.subarray(off), acc ^ TAIL);
}

/** A scripted migration source over any Transport. */
export class WirePeer {
  private readonly out: FrameBuilder;
  private inbox = new Uint8Array(0);
  private inSeq = 0;
  private closed = false;
  private wake: (() => void) | null = null;

  private constructor(readonly transport: Transport, readonly h: Hasher) {
    this.out = new FrameBuilder(h);
    transport.onData((c) => {
      const b = new Uint8Array(this.inbox.length + c.length);
      b.set(this.inbox); b.set(c, this.inbox.length);
      this.inbox = b;
      transport.consumed(c.length);
      this.kick();
    });
    transport.onClose(() => { this.closed = true; this.kick(); });
  }

  static async over(t: Transport): Promise<WirePeer> { return new WirePeer(t, await xxh()); }

  private kick(): void { const w = this.wake; this.wake = null; w?.(); }

  get linkClosed(): boolean { return this.closed; }

  send(type: number, payload?: Uint8Array, recordHashes = false): Promise<void> { return this.transport.send(this.out.frame(type, payload, recordHashes)); }

  /** The next frame from the destination, or null once the link closed. Checks both checksums. */
  async recv(): Promise<PeerFrame | null> {
    for (;;) {
      if (this.inbox.length >= HDR) {
        const dv = new DataView(this.inbox.buffer, this.inbox.byteOffset);
        if (dv.getUint32(0, true) !== MAGIC || dv.getBigUint64(24, true) !== this.h.h64Raw(this.inbox.subarray(0, 24), 0n)) throw new Error("peer: bad frame header");
        if (dv.getUint32(8, true) !== this.inSeq) throw new Error("peer: frame out of sequence");
        const len = dv.getUint32(12, true);
        if (this.inbox.length >= HDR + len) {
          const payload = this.inbox.slice(HDR, HDR + len);
          if (dv.getBigUint64(16, true) !== this.h.h64Raw(payload, BigInt(this.inSeq))) throw new Error("peer: payload checksum");
          const type = dv.getUint8(5);
          this.inbox = this.inbox.slice(HDR + len);
          this.inSeq++;
          return { type, payload };
        }
      }
      if (this.closed) return null;
      await new Promise<void>((r) => { this.wake = r; });
    }
  }

  /** The next frame, which must be of `type`. */
  async expect(type: number): Promise<PeerFrame> {
    const f = await this.recv();
    if (!f) throw new Error(`peer: link closed waiting for message ${type}`);
    if (f.type !== type) throw new Error(`peer: got message ${f.type}${f.type === Msg.ABORT ? ` (ABORT: ${readAbort(f.payload)})` : ""}, wanted ${type}`);
    return f;
  }

  pageHash(bytes: Uint8Array): bigint { return this.h.h64Raw(bytes, 0n); }
  get zeroHash(): bigint { return this.h.h64Raw(new Uint8Array(PAGE), 0n); }
  /** XXH64 over the page-hash table: what DIGEST carries. */
  digestOf(table: bigint[]): bigint {
    const t = new Uint8Array(table.length * 8);
    const dv = new DataView(t.buffer);
    table.forEach((v, i) => dv.setBigUint64(i * 8, v, true));
    return this.h.h64Raw(t, 0n);
  }
}

/** HELLO payload. */
export function hello(o: { abiVersion: number; ramPages: number; flags: number; devices?: Array<{ kind: number; name: string }>; layout: Uint8Array }): Uint8Array {
  const b = new Bytes().u32(VERSION).u32(o.abiVersion).u32(PAGE).u32(o.ramPages).u32(o.flags).u32(o.devices?.length ?? 0);
  for (const d of o.devices ?? []) b.u32(d.kind).str(d.name);
  return b.u32(o.layout.length).raw(o.layout).done();
}
export const round = (n: number, final = false) => new Bytes().u32(n).u32(final ? 1 : 0).done();
export const roundEnd = (n: number, records: number) => new Bytes().u32(n).u32(records).done();
/** A PAGES payload: the round, then FULL records of `pages` ([page number, contents]). */
export function pagesPayload(peer: WirePeer, r: number, pages: Array<[number, Uint8Array]>): Uint8Array {
  const b = new Bytes().u32(r);
  for (const [p, bytes] of pages) b.u32(p).raw(Uint8Array.of(1, 0)).u16(PAGE).u64(peer.pageHash(bytes)).raw(bytes);
  return b.done();
}
export const digest = (value: bigint, rounds: number, devices: number, mode: number) => new Bytes().u64(value).u32(rounds).u32(devices).u32(mode).done();

/** HELLO_ACK: [status, reason]. */
export function readAck(p: Uint8Array): [number, string] {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const n = dv.getUint16(4, true);
  return [dv.getUint32(0, true), new TextDecoder().decode(p.subarray(6, 6 + n))];
}
export function readAbort(p: Uint8Array): string {
  const n = new DataView(p.buffer, p.byteOffset, p.byteLength).getUint16(0, true);
  return new TextDecoder().decode(p.subarray(2, 2 + n));
}
/** VERDICT: accept, reason, message, total, listed pages. */
export function readVerdict(p: Uint8Array): { accept: boolean; reason: number; message: string; total: number; pages: Array<{ page: number; round: number }> } {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const accept = dv.getUint32(0, true) === 1, reason = dv.getUint32(4, true);
  const n = dv.getUint16(8, true);
  const message = new TextDecoder().decode(p.subarray(10, 10 + n));
  let o = 10 + n;
  const total = dv.getUint32(o, true), k = dv.getUint32(o + 4, true);
  o += 8;
  const pages = Array.from({ length: k }, (_, i) => ({ page: dv.getUint32(o + i * 8, true), round: dv.getUint32(o + i * 8 + 4, true) }));
  return { accept, reason, message, total, pages };
}
