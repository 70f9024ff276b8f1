// The I/O buffer: the region of wasm memory through which bulk bytes cross
// the boundary (exports take offsets into it, never pointers). Every use of
// it is a named window [offset, offset + length) held by one owner until it
// is released. The map of who puts what where:
//
//   state blob          [0, n)        gm_save/gm_restore and device *_save/*_restore envelopes
//   guest-memory copy   [0, chunk)    GuestMemory.readBytes/writeBytes staging (gm_copy_out/in)
//   dirty ranges        [0, 8·cap)    dirty_harvest_ranges output: (u32 page, u32 count) pairs
//   dirty words         [0, 8·n)      dirty_merge_words input
//   net frame           [0, len)      a frame given to a NIC model's receive path (virtio-net, e1000, NE2000)
//   net frames          [0, len)      a frame array given to virtio-net's batched receive
//   ring frames         [0, len)      a frame array a netmap ring's sync takes or fills,
//                                     a frame submitted to a TX queue
//   data-port run       [0, w·n)      NE2000 data-port values: a read-ahead run (ne2k_run_read),
//                                     held writes handed over, a rep ins/outs string
//   switch groups       [0, 8·n)      the groups a virtual switch port joined (nsw_groups output)
//   migration payload   [0, len)      PAGES being encoded or HASHES being read out (source);
//                                     a received frame's payload, applied in place (destination)
//   migration layout    [0, n)        the source's guest-memory layout under check (mig_layout_check)
//   migration unsent    [0, 4·n)      pages never sent (mig_unsent output)
//   migration mismatches [o, o+8·cap) pages whose hashes differ (mig_compare output), placed
//                                     after the HASHES payload it is compared against
//   ram mirror          [0, chunk)    an emulator's RAM staged for mig_mirror_sync (RamMirror.sync)
//
// Most windows start at 0: they are taken one after another, never at once.
// With checking on (the debug build), taking a window that overlaps one
// still held throws IoOverlap: it would overwrite bytes their owner has not
// read yet. Windows are always checked against the buffer's size.

/** The names of the I/O buffer's windows (the map above). */
export type IoWindowName =
  | "state blob" | "guest-memory copy" | "dirty ranges" | "dirty words" | "net frame" | "net frames" | "ring frames" | "data-port run" | "switch groups" | "net filter table"
  | "migration payload" | "migration layout" | "migration unsent" | "migration mismatches" | "ram mirror";

/** A window was taken while an overlapping one was still held. */
export class IoOverlap extends Error {
  constructor(readonly taken: IoWindow, readonly held: IoWindow) {
    super(`I/O buffer: "${taken.name}" [${taken.offset}, ${taken.offset + taken.length}) overlaps "${held.name}" [${held.offset}, ${held.offset + held.length}), still held`);
    this.name = "IoOverlap";
  }
}

/** What the buffer needs of its VM: where the I/O buffer is and a view of memory. */
export interface IoHost {
  readonly exports: { io_ptr(): number; io_size(): number };
  u8(): Uint8Array;
}

/** One held window. Its views are made fresh on each call (memory may have grown). */
export class IoWindow {
  private held = true;
  constructor(private readonly owner: IoBuffer, readonly name: IoWindowName, readonly offset: number, readonly length: number) {}

  /** Address of the window in linear memory. */
  get address(): number { return this.owner.address + this.offset; }

  /** The window's bytes. */
  bytes(): Uint8Array {
    const a = this.address;
    return this.owner.host.u8().subarray(a, a + this.length);
  }

  /** A DataView over the window. */
  view(): DataView {
    const b = this.bytes();
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  get isHeld(): boolean { return this.held; }

  /** Give the window back (idempotent). */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.owner.drop(this);
  }
}

/** The I/O buffer of one VM instance, handed out as windows. */
export class IoBuffer {
  private readonly windows: IoWindow[] = [];

  /** `checked`: keep the held windows and refuse overlaps (the debug build). */
  constructor(readonly host: IoHost, readonly checked: boolean) {}

  /** Address of the buffer in linear memory (pointers above 2 GiB arrive negative). */
  get address(): number { return this.host.exports.io_ptr() >>> 0; }
  get size(): number { return this.host.exports.io_size(); }

  /** Windows held now (empty unless checked). */
  held(): readonly IoWindow[] { return this.windows; }

  /** Take [offset, offset + length) as `name` until released. */
  claim(name: IoWindowName, offset: number, length: number): IoWindow {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`I/O buffer: "${name}" [${offset}, ${offset + length}) is outside its ${this.size} bytes`);
    }
    const w = new IoWindow(this, name, offset, length);
    if (!this.checked) return w;
    for (const h of this.windows) {
      if (offset < h.offset + h.length && h.offset < offset + length) throw new IoOverlap(w, h);
    }
    this.windows.push(w);
    return w;
  }

  /** Run `fn` with the window held; it is released however `fn` ends. */
  use<T>(name: IoWindowName, offset: number, length: number, fn: (w: IoWindow) => T): T {
    const w = this.claim(name, offset, length);
    try { return fn(w); } finally { w.release(); }
  }

  /** @internal */
  drop(w: IoWindow): void {
    const i = this.windows.indexOf(w);
    if (i >= 0) this.windows.splice(i, 1);
  }
}
