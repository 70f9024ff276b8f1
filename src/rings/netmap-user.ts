// The backend's side of a netmap-style ring in JavaScript: reads and writes
// the shared fields directly (Atomics on the indices), on any thread that has
// the memory. It checks what the device wrote before following it, so even a
// broken device cannot make it touch memory outside the ring and its pool.

import type { VmCore } from "../vm-core.js";
import { RingsDefs } from "../generated/constants.js";

const {
  NMR_MAGIC, NMR_OFF_MAGIC, NMR_OFF_NUM_SLOTS, NMR_OFF_BUF_SIZE, NMR_OFF_DIR, NMR_OFF_BUF_BASE,
  NMR_OFF_BUF_COUNT, NMR_OFF_HEAD, NMR_OFF_CUR, NMR_OFF_TAIL, NMR_OFF_USER_WAIT, NMR_OFF_DEV_WAIT,
  NMR_OFF_SLOTS, NMR_SLOT_BYTES, NMR_SLOT_BUF, NMR_SLOT_LEN, NMR_SLOT_FLAGS, NMR_TX, NS_BUF_CHANGED,
  NMR_OFF_FLAGS, NMR_F_FROZEN,
} = RingsDefs;

export interface NetmapSlot { buf: number; len: number; flags: number }

export class NetmapRingUser {
  readonly slots: number;
  readonly bufferSize: number;
  readonly bufferCount: number;
  readonly direction: "tx" | "rx";
  private readonly base: number;
  private i32: Int32Array;
  private u8: Uint8Array;
  private dv: DataView;

  /** The ring at `ptr` in `memory` (ring_ptr of its handle). */
  constructor(private readonly memory: WebAssembly.Memory, readonly ptr: number) {
    this.i32 = new Int32Array(memory.buffer);
    this.u8 = new Uint8Array(memory.buffer);
    this.dv = new DataView(memory.buffer);
    if (this.dv.getUint32(ptr + NMR_OFF_MAGIC, true) !== NMR_MAGIC) throw new Error(`no netmap ring at ${ptr}`);
    this.slots = this.dv.getUint32(ptr + NMR_OFF_NUM_SLOTS, true);
    this.bufferSize = this.dv.getUint32(ptr + NMR_OFF_BUF_SIZE, true);
    this.bufferCount = this.dv.getUint32(ptr + NMR_OFF_BUF_COUNT, true);
    this.base = this.dv.getUint32(ptr + NMR_OFF_BUF_BASE, true);
    this.direction = this.dv.getUint32(ptr + NMR_OFF_DIR, true) === NMR_TX ? "tx" : "rx";
  }

  /** The backend side of ring `handle` of `core` (any instance attached to the memory). */
  static attach(core: VmCore, handle: number): NetmapRingUser {
    return new NetmapRingUser(core.memory, core.exports.ring_ptr(handle) >>> 0);
  }

  private refresh(): void {
    if (this.u8.buffer !== this.memory.buffer || this.u8.byteLength !== this.memory.buffer.byteLength) {
      this.i32 = new Int32Array(this.memory.buffer);
      this.u8 = new Uint8Array(this.memory.buffer);
      this.dv = new DataView(this.memory.buffer);
    }
  }
  private word(off: number): number { return (this.ptr + off) >> 2; }

  get head(): number { return Atomics.load(this.i32, this.word(NMR_OFF_HEAD)) >>> 0; }
  get cur(): number { return Atomics.load(this.i32, this.word(NMR_OFF_CUR)) >>> 0; }
  get tail(): number { return Atomics.load(this.i32, this.word(NMR_OFF_TAIL)) >>> 0; }
  /** The device froze the ring (a mode switch drains it): it hands out no new slots; frames sent now wait in the ring. */
  get frozen(): boolean { this.refresh(); return (Atomics.load(this.i32, this.word(NMR_OFF_FLAGS)) & NMR_F_FROZEN) !== 0; }

  /** Give slots up to (not including) `head` to the device; cur follows unless given. */
  setHead(head: number, cur = head): void {
    this.refresh();
    Atomics.store(this.i32, this.word(NMR_OFF_CUR), cur);
    Atomics.store(this.i32, this.word(NMR_OFF_HEAD), head);
    if (Atomics.load(this.i32, this.word(NMR_OFF_DEV_WAIT)) !== 0) Atomics.notify(this.i32, this.word(NMR_OFF_HEAD), 1);
  }

  /** Raw write of any backend-visible field, for tests that play a hostile backend. */
  poke(off: number, value: number): void { this.refresh(); Atomics.store(this.i32, this.word(off), value); }

  /** Slots the backend owns now: [head, tail). */
  owned(): number {
    const h = this.head, t = this.tail;
    if (h >= this.slots || t >= this.slots) return 0;
    return t >= h ? t - h : t + this.slots - h;
  }

  slot(i: number): NetmapSlot {
    this.refresh();
    const s = this.ptr + NMR_OFF_SLOTS + i * NMR_SLOT_BYTES;
    return { buf: this.dv.getUint32(s + NMR_SLOT_BUF, true), len: this.dv.getUint16(s + NMR_SLOT_LEN, true), flags: this.dv.getUint16(s + NMR_SLOT_FLAGS, true) };
  }

  /** Write slot i's fields (the backend may write slots it owns). */
  setSlot(i: number, s: Partial<NetmapSlot>): void {
    this.refresh();
    const a = this.ptr + NMR_OFF_SLOTS + i * NMR_SLOT_BYTES;
    if (s.buf !== undefined) this.dv.setUint32(a + NMR_SLOT_BUF, s.buf, true);
    if (s.len !== undefined) this.dv.setUint16(a + NMR_SLOT_LEN, s.len, true);
    if (s.flags !== undefined) this.dv.setUint16(a + NMR_SLOT_FLAGS, s.flags, true);
  }

  /** Pool buffer `idx` as a view (throws for an index outside the pool). */
  buffer(idx: number): Uint8Array {
    if (idx >= this.bufferCount) throw new RangeError(`buffer ${idx} outside the pool (${this.bufferCount})`);
    this.refresh();
    const p = this.base + idx * this.bufferSize;
    return this.u8.subarray(p, p + this.bufferSize);
  }

  /**
   * Slots passed back without being followed because their buffer index was
   * outside the pool or their length above the buffer size (a broken or
   * hostile peer wrote them); the device restores a slot's index when it gets
   * the slot back, so the ring keeps moving.
   */
  unreadable = 0;

  /** TX: put frames into the slots from head on and pass them to the device with one head update. Returns how many went (a slot whose buffer index is outside the pool is passed back empty, not followed). */
  send(frames: readonly Uint8Array[]): number {
    if (this.direction !== "tx") throw new Error("send: not a TX ring");
    let h = this.head;
    const h0 = h, t = this.tail;
    if (h >= this.slots || t >= this.slots) return 0;
    this.refresh();
    const dv = this.dv, u8 = this.u8, slots0 = this.ptr + NMR_OFF_SLOTS;
    let n = 0;
    // No object per slot: the slot's fields are read and written in place.
    while (n < frames.length && h !== t) {
      const f = frames[n];
      if (f.length > this.bufferSize) throw new RangeError(`frame of ${f.length} bytes > buffer size ${this.bufferSize}`);
      const a = slots0 + h * NMR_SLOT_BYTES;
      const buf = dv.getUint32(a + NMR_SLOT_BUF, true);
      const flags = dv.getUint16(a + NMR_SLOT_FLAGS, true) & ~NS_BUF_CHANGED;
      h = h + 1 === this.slots ? 0 : h + 1;
      if (buf >= this.bufferCount) {
        // Not a buffer of the pool: never follow it; give the slot back empty.
        dv.setUint16(a + NMR_SLOT_LEN, 0, true);
        dv.setUint16(a + NMR_SLOT_FLAGS, flags, true);
        this.unreadable++;
        continue;
      }
      u8.set(f, this.base + buf * this.bufferSize);
      dv.setUint16(a + NMR_SLOT_LEN, f.length, true);
      dv.setUint16(a + NMR_SLOT_FLAGS, flags, true);
      n++;
    }
    if (h !== h0) this.setHead(h);
    return n;
  }

  /**
   * RX without copies: calls `visit(memory, offset, length)` for each frame
   * received ([head, tail)), at most `max`, the frame being
   * memory[offset, offset + length) (valid only during the call); then gives
   * their slots back to the device with one head update. Returns how many
   * frames were visited (an unreadable slot goes back without a visit).
   */
  receiveEach(visit: (memory: Uint8Array, offset: number, length: number) => void, max = Infinity): number {
    if (this.direction !== "rx") throw new Error("receive: not an RX ring");
    let h = this.head;
    const h0 = h, t = this.tail;
    if (h >= this.slots || t >= this.slots) return 0;
    this.refresh();
    const slots0 = this.ptr + NMR_OFF_SLOTS;
    let n = 0;
    while (h !== t && n < max) {
      const a = slots0 + h * NMR_SLOT_BYTES, dv = this.dv;
      const buf = dv.getUint32(a + NMR_SLOT_BUF, true), len = dv.getUint16(a + NMR_SLOT_LEN, true);
      h = h + 1 === this.slots ? 0 : h + 1;
      if (buf >= this.bufferCount || len > this.bufferSize) { this.unreadable++; continue; }
      visit(this.u8, this.base + buf * this.bufferSize, len);
      n++;
      // The visitor may have grown the memory: views are refreshed before the next slot is read.
      this.refresh();
    }
    if (h !== h0) this.setHead(h);
    return n;
  }

  /** RX: copies of the frames received ([head, tail)), at most `max`; their slots go back to the device (an unreadable slot goes back without a frame). */
  receive(max = Infinity): Uint8Array[] {
    const out: Uint8Array[] = [];
    this.receiveEach((m, off, len) => { out.push(m.slice(off, off + len)); }, max);
    return out;
  }

  /** Sleep until TAIL differs from `seen` or `timeoutMs` passes (workers only: Atomics.wait). */
  waitTail(seen: number, timeoutMs: number): void {
    this.refresh();
    Atomics.store(this.i32, this.word(NMR_OFF_USER_WAIT), 1);
    Atomics.wait(this.i32, this.word(NMR_OFF_TAIL), seen, timeoutMs);
    Atomics.store(this.i32, this.word(NMR_OFF_USER_WAIT), 0);
  }
}
