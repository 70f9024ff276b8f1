// Fault injection for tests: a Transport wrapper that breaks the link at a
// chosen point of the exchange. The trigger is a message type (and, for
// PAGES, a round), read from the frame header of each outgoing send (the
// engines send one whole frame per call).

import type { Transport } from "../../migration/transport.js";
import { LinkError } from "../../migration/transport.js";
import { FRAME_HEADER, FRAME_MAGIC, Msg } from "../../migration/wire.js";

/** What a FaultyTransport does to the frame that triggers it. */
export type FaultAction =
  /** Close the link instead of sending the frame. */
  | "drop"
  /** Flip one byte of the frame (header or payload, chosen by `offset`) and send it. */
  | "flip"
  /** Send the first half of the frame, then close. */
  | "truncate"
  /** The peer dies: close silently without sending, as a killed process would. */
  | "die"
  /** The sender believes the frame left, but it never arrives; then the link closes. */
  | "lose"
  /** The frame and everything after it vanish, but the link stays open (a hung peer): only timeouts notice. */
  | "stall";

/** One fault: where it triggers and what it does. */
export interface Fault {
  /** Message type whose n-th occurrence triggers the fault. */
  type: number;
  /** For PAGES/ROUND: only frames of this round (ROUND_FINAL rounds included). */
  round?: number;
  /** Which matching frame (0 = first). */
  nth?: number;
  action: FaultAction;
  /** Byte to flip for "flip" (default: the middle of the frame). */
  offset?: number;
  /** Only frames sent after a ROUND with ROUND_FINAL (the stop-and-copy round). */
  finalRound?: boolean;
}

/** Wraps a transport and injects one fault on the send path. */
export class FaultyTransport implements Transport {
  readonly label: string;
  /** Set once the fault fired. */
  fired = false;
  private seen = 0;
  private dead = false;
  constructor(private readonly inner: Transport, private readonly fault: Fault) {
    this.label = `${inner.label} (fault: ${fault.action})`;
  }

  private finalSeen = false;

  private matches(b: Uint8Array): boolean {
    if (this.fired || b.length < FRAME_HEADER) return false;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (dv.getUint32(0, true) !== FRAME_MAGIC) return false;
    if (dv.getUint8(5) === Msg.ROUND && b.length >= FRAME_HEADER + 8 && (dv.getUint32(FRAME_HEADER + 4, true) & 1) !== 0) this.finalSeen = true;
    if (dv.getUint8(5) !== this.fault.type) return false;
    if (this.fault.finalRound && !this.finalSeen) return false;
    if (this.fault.round !== undefined && (this.fault.type === Msg.PAGES || this.fault.type === Msg.ROUND)) {
      if (b.length < FRAME_HEADER + 4 || dv.getUint32(FRAME_HEADER, true) !== this.fault.round) return false;
    }
    return this.seen++ === (this.fault.nth ?? 0);
  }

  private stalled = false;

  async send(bytes: Uint8Array): Promise<void> {
    if (this.dead) throw new LinkError("link closed");
    if (this.stalled) return;
    if (!this.matches(bytes)) return this.inner.send(bytes);
    this.fired = true;
    switch (this.fault.action) {
      case "drop":
      case "die":
        this.dead = true;
        this.inner.close();
        throw new LinkError(`fault injected: ${this.fault.action}`);
      case "flip": {
        const c = new Uint8Array(bytes);
        const at = Math.min(c.length - 1, this.fault.offset ?? (c.length >> 1));
        c[at] ^= 0x5a;
        return this.inner.send(c);
      }
      case "stall":
        this.stalled = true;
        return;
      case "lose":
        this.dead = true;
        setTimeout(() => this.inner.close(), 5);
        return;
      case "truncate":
        await this.inner.send(new Uint8Array(bytes.subarray(0, bytes.length >> 1)));
        this.dead = true;
        this.inner.close();
        throw new LinkError("fault injected: truncated");
    }
  }
  onData(cb: (chunk: Uint8Array) => void): void { this.inner.onData(cb); }
  onClose(cb: (err?: Error) => void): void { this.inner.onClose(cb); }
  consumed(bytes: number): void { this.inner.consumed(bytes); }
  get buffered(): number { return this.inner.buffered; }
  get bufferedHighWater(): number { return this.inner.bufferedHighWater; }
  close(): void { this.dead = true; this.inner.close(); }
}
