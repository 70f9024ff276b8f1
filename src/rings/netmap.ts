// Netmap-style rings, device side (assembly/rings/netmap.ts): the device
// validates everything the backend wrote on every sync. The backend side in
// JavaScript is NetmapRingUser (netmap-user.ts).

import { check, VmdevError, Status } from "../status.js";
import type { VmCore } from "../vm-core.js";
import { RingsDefs } from "../generated/constants.js";
import { RingObject, handleOf } from "./object.js";
import { FrameArrayWriter, FrameBatch } from "./frame-array.js";
import type { RingPool } from "./pool.js";

const { RING_KIND_NETMAP, NMR_TX, NMR_RX, NMR_SLOT_RING, NMR_SLOT_NORMAL } = RingsDefs;

export type RingDirection = "tx" | "rx";
export type SlotMode = "ring" | "normal";

export interface NetmapRingOptions {
  pool: RingPool;
  /** 2..32768. */
  slots: number;
  /** "tx": the backend sends frames to the device; "rx": the device delivers frames to the backend (netmap's naming, from the backend's side). */
  direction: RingDirection;
}

/** What a sync returned: a Status (ERR_CORRUPT: the backend wrote an impossible head or cur; the ring was reset and counted) and the frames. */
export interface SyncResult { status: number; frames: FrameBatch | null; count: number }

export class NetmapRing extends RingObject {
  readonly slots: number;
  readonly direction: RingDirection;
  readonly pool: RingPool;
  private constructor(core: VmCore, handle: number, opts: NetmapRingOptions) {
    super(core, handle, RING_KIND_NETMAP);
    this.slots = opts.slots;
    this.direction = opts.direction;
    this.pool = opts.pool;
  }

  static create(core: VmCore, opts: NetmapRingOptions): NetmapRing {
    if (opts.pool.core !== core) throw new VmdevError(Status.ERR_INVALID_ARG, "nmr_create: pool of another VM");
    const h = core.exports.nmr_create(opts.pool.handle, opts.slots, opts.direction === "tx" ? NMR_TX : NMR_RX);
    return new NetmapRing(core, handleOf(h, "nmr_create"), opts);
  }

  /**
   * TX ring: take the frames the backend sent, at most what fits in the I/O
   * buffer or `maxBytes` of it (a frame array: frameRecordBytes each). The frames are views valid until the next call
   * that uses the I/O buffer.
   */
  txsync(maxBytes = Infinity): SyncResult {
    const len = Math.min(this.core.exports.io_size(), maxBytes);
    return this.core.ioBuffer.use("ring frames", 0, len, (w) => {
      const n = this.core.exports.nmr_txsync(this.handle, 0, len);
      if (n < 0) return { status: -n, frames: null, count: 0 };
      return { status: Status.OK, frames: FrameBatch.read(w.bytes(), n), count: n };
    });
  }

  /**
   * RX ring: take back what the backend released, then deliver as many of
   * `frames` as there are free slots. Returns how many were delivered, or a
   * negative Status.
   */
  rxsync(frames: readonly Uint8Array[] = []): number {
    return this.core.ioBuffer.use("ring frames", 0, this.core.exports.io_size(), (win) => {
      const w = new FrameArrayWriter(win.bytes());
      let i = 0;
      while (i < frames.length && w.push(frames[i])) i++;
      return this.core.exports.nmr_rxsync(this.handle, 0, w.bytes);
    });
  }

  /** Stop (true) or resume handing the backend new slots. */
  freeze(on: boolean): void { check(this.core.exports.nmr_freeze(this.handle, on ? 1 : 0), "nmr_freeze"); }
  /** Slots the backend holds by the device's last sync (0: drained). */
  get userHeld(): number { return this.core.exports.nmr_user_held(this.handle); }
  slotMode(i: number): SlotMode {
    const m = this.core.exports.nmr_slot_mode(this.handle, i);
    if (m < 0) throw new VmdevError(-m, "nmr_slot_mode");
    return m === NMR_SLOT_RING ? "ring" : "normal";
  }
  /** Set a device-owned slot's mode; returns a Status (ERR_BAD_STATE: the backend holds the slot). */
  setSlotMode(i: number, mode: SlotMode): number {
    return this.core.exports.nmr_slot_set_mode(this.handle, i, mode === "ring" ? NMR_SLOT_RING : NMR_SLOT_NORMAL);
  }
  /** The device's private view: hwcur, hwtail, the head and cur it last accepted, the tail it published. */
  kring(): { hwcur: number; hwtail: number; rhead: number; rcur: number; rtail: number } {
    const f = (i: number) => this.core.exports.nmr_kfield(this.handle, i);
    return { hwcur: f(0), hwtail: f(1), rhead: f(2), rcur: f(3), rtail: f(4) };
  }
}
