// The frame stream of vde_plug's stdio (vde2 `vde_plug`, libvdeplug's
// vdestream): each frame is a 2-byte big-endian length and that many bytes,
// back to back, in both directions. Nothing else is on the stream.

/** Bytes of the length prefix. */
export const STREAM_HEADER_BYTES = 2;
/** The longest frame the 16-bit prefix can carry. */
export const STREAM_MAX_FRAME = 0xffff;

/** `frame` with its length prefix, ready to write. Throws RangeError past STREAM_MAX_FRAME. */
export function encodeStreamFrame(frame: Uint8Array): Uint8Array {
  if (frame.length > STREAM_MAX_FRAME) throw new RangeError(`frame of ${frame.length} bytes: the stream carries at most ${STREAM_MAX_FRAME}`);
  const out = new Uint8Array(STREAM_HEADER_BYTES + frame.length);
  out[0] = frame.length >>> 8;
  out[1] = frame.length & 0xff;
  out.set(frame, STREAM_HEADER_BYTES);
  return out;
}

/**
 * Cuts a byte stream into frames. It holds at most one partial frame, in a
 * fixed buffer of 2 + 65535 bytes, whatever the writer sends: a length
 * prefix cannot ask for more, so the stream never grows memory. Every frame
 * the prefix announces is handed out, whatever its length (zero included):
 * the caller applies its own bounds.
 */
export class FrameStreamReader {
  private readonly buf = new Uint8Array(STREAM_HEADER_BYTES + STREAM_MAX_FRAME);
  private have = 0;

  /** Bytes of an unfinished frame (prefix included) held now. */
  get partialBytes(): number { return this.have; }

  /** Feed the next bytes of the stream; `out` gets each complete frame (its own copy), in order. */
  push(chunk: Uint8Array, out: (frame: Uint8Array) => void): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.have === 0 && n - i >= STREAM_HEADER_BYTES) {
        // Whole frames straight from the chunk, without a copy into the buffer.
        const len = (chunk[i] << 8) | chunk[i + 1];
        if (n - i - STREAM_HEADER_BYTES >= len) {
          out(chunk.slice(i + STREAM_HEADER_BYTES, i + STREAM_HEADER_BYTES + len));
          i += STREAM_HEADER_BYTES + len;
          continue;
        }
      }
      if (this.have < STREAM_HEADER_BYTES) { this.buf[this.have++] = chunk[i++]; continue; }
      const total = STREAM_HEADER_BYTES + ((this.buf[0] << 8) | this.buf[1]);
      // Bounded: total <= 2 + 65535, the buffer's size.
      const take = Math.min(total - this.have, n - i);
      this.buf.set(chunk.subarray(i, i + take), this.have);
      this.have += take;
      i += take;
      if (this.have === total) {
        this.have = 0;
        out(this.buf.slice(STREAM_HEADER_BYTES, total));
      }
    }
    // A prefix announcing an empty frame completes at once.
    if (this.have === STREAM_HEADER_BYTES && this.buf[0] === 0 && this.buf[1] === 0) { this.have = 0; out(new Uint8Array(0)); }
  }
}
