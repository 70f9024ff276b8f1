// The typed host interface over one VM's core: guest RAM (the guest-memory
// port), dirty bitmaps, and the I/O buffer through which bytes cross the
// wasm boundary. Device models (virtio-net, APIC) attach to a VmCore.

import { check, Status, VmdevError } from "./status.js";
import { instantiate, createMemory, isSharedVariant, type ForeignRam, type VmdevWasm, type WasmVariant } from "./wasm.js";
import type { VmdevExports } from "./generated/exports.js";
import { CoreCounter } from "./counters.js";
import { readCounters, countersJson, type JsonCounter } from "./tables.js";
import { CoreDefs } from "./generated/constants.js";
import { IoBuffer } from "./io-buffer.js";

export const PAGE_SIZE = CoreDefs.PAGE_SIZE;
export const PAGE_SHIFT = CoreDefs.PAGE_SHIFT;
/** Handle of the guest-RAM dirty bitmap. */
export const GUEST_BITMAP = CoreDefs.GUEST_BITMAP;

export interface VmCoreOptions {
  /** Compiled vmdev module (see loadModule); compile once, create many VMs. */
  module: WebAssembly.Module;
  variant: WasmVariant;
  /** Guest RAM size in bytes (a multiple of 4 KiB, at most 3.75 GiB in vmdev's memory). */
  ramBytes: number;
  /** Guest RAM owned by the embedding emulator instead of vmdev's linear memory. */
  foreign?: ForeignRam;
  /** Holes (MMIO windows) as [gpa, bytes] pairs, page aligned. */
  holes?: Array<[number, number]>;
  /** Size of the foreign guest RAM's address space when `foreign` is set (defaults to ramBytes). */
}

/** A contiguous run of dirty pages. */
export interface PageRange { page: number; count: number }

export class VmCore {
  readonly wasm: VmdevWasm;
  readonly exports: VmdevExports;
  readonly memory: WebAssembly.Memory;
  readonly guest: GuestMemory;
  readonly dirty: DirtyBitmap;
  readonly variant: WasmVariant;
  /** The I/O buffer as named windows (io-buffer.ts); the debug build checks that no two held windows overlap. */
  readonly ioBuffer: IoBuffer;
  private views: { buffer: ArrayBufferLike | null; u8: Uint8Array; dv: DataView } = { buffer: null, u8: new Uint8Array(0), dv: new DataView(new ArrayBuffer(0)) };

  private constructor(wasm: VmdevWasm, variant: WasmVariant) {
    this.wasm = wasm;
    this.exports = wasm.exports;
    this.memory = wasm.memory;
    this.variant = variant;
    this.ioBuffer = new IoBuffer(this, variant === "debug");
    this.guest = new GuestMemory(this);
    this.dirty = new DirtyBitmap(this, GUEST_BITMAP);
  }

  static async create(opts: VmCoreOptions): Promise<VmCore> {
    const { ramBytes } = opts;
    if (!Number.isInteger(ramBytes) || ramBytes <= 0 || ramBytes % PAGE_SIZE !== 0) {
      throw new VmdevError(Status.ERR_INVALID_ARG, `ram size ${ramBytes} is not a positive multiple of 4 KiB`);
    }
    const memory = createMemory(isSharedVariant(opts.variant));
    const wasm = await instantiate(opts.module, { memory, foreign: opts.foreign });
    check(wasm.exports.vm_init(ramBytes / PAGE_SIZE, opts.foreign ? CoreDefs.VM_FOREIGN_RAM : 0), "vm_init");
    const core = new VmCore(wasm, opts.variant);
    for (const [gpa, bytes] of opts.holes ?? []) core.guest.addHole(gpa, bytes);
    return core;
  }

  /**
   * Attach to a VM whose memory another thread created (a vCPU worker). The
   * module and memory come from `VmCore.shareable()` via postMessage.
   */
  static async attach(shared: SharedVm, ioBytes = 64 * 1024): Promise<VmCore> {
    const wasm = await instantiate(shared.module, { memory: shared.memory });
    check(wasm.exports.vm_attach(ioBytes), "vm_attach");
    return new VmCore(wasm, shared.variant);
  }

  /** What a worker needs to attach: both parts can be posted to a Worker. */
  shareable(): SharedVm {
    if (!isSharedVariant(this.variant)) throw new VmdevError(Status.ERR_UNSUPPORTED, "shareable: this VM's memory is not shared");
    return { module: this.wasm.module, memory: this.memory, variant: this.variant };
  }

  /** ABI version of the loaded module (major << 16 | minor). */
  get abiVersion(): number { return this.exports.abi_version() >>> 0; }
  /** Build id baked into the module (a hash of its sources). */
  get buildId(): number { return this.exports.build_id() >>> 0; }

  /** A Uint8Array over all of linear memory, re-created after memory grows. */
  u8(): Uint8Array { this.refresh(); return this.views.u8; }
  dv(): DataView { this.refresh(); return this.views.dv; }

  private refresh(): void {
    const buf = this.memory.buffer;
    if (this.views.buffer !== buf || this.views.u8.byteLength !== buf.byteLength) {
      this.views = { buffer: buf, u8: new Uint8Array(buf), dv: new DataView(buf) };
    }
  }

  /** Address of this instance's I/O buffer in linear memory (pointers above 2 GiB arrive negative: fix them here). */
  ioPtr(): number { return this.exports.io_ptr() >>> 0; }

  /** This instance's I/O buffer: offset 0 of it is where state blobs and bulk bytes go. */
  io(): Uint8Array {
    return this.u8().subarray(this.ioPtr(), this.ioPtr() + this.exports.io_size());
  }

  /** Make the I/O buffer at least `bytes` long. */
  ensureIo(bytes: number): void {
    if (this.exports.io_size() < bytes) check(this.exports.io_resize(Math.max(bytes, 4096)), "io_resize");
  }

  /** Core event counters (errors of the guest-memory port, dirty marks ignored, state rejected). */
  counters(): Record<keyof typeof CoreCounter, bigint> {
    return readCounters(this.dv(), this.exports.vm_counters_ptr() >>> 0, CoreCounter);
  }
  /** {@link counters} as JSON-safe numbers (src/tables.ts countersJson: a number up to 2^53 − 1, else a decimal string). */
  countersJSON(): Record<keyof typeof CoreCounter, JsonCounter> { return countersJson(this.counters()); }

  /** Save the guest-memory layout (size, holes, tracking) as an envelope blob. */
  saveLayout(): Uint8Array { return this.saveEnvelope("gm_save", () => this.exports.gm_save()); }

  /** Restore the layout from a blob; returns a status, never throws for a bad blob. */
  restoreLayout(blob: Uint8Array): number { return this.restoreEnvelope(blob, (len) => this.exports.gm_restore(len)); }

  /** The envelope `save` writes at I/O offset 0 (it returns the length, or -status: thrown as `op` failing). */
  saveEnvelope(op: string, save: () => number): Uint8Array {
    return this.ioBuffer.use("state blob", 0, this.exports.io_size(), (w) => {
      const n = save();
      if (n < 0) throw new VmdevError(-n, op);
      return w.bytes().slice(0, n);
    });
  }

  /** Stage `blob` at I/O offset 0 for `restore(length)`; its status, or ERR_STATE_LENGTH if the blob cannot fit. */
  restoreEnvelope(blob: Uint8Array, restore: (len: number) => number): number {
    if (blob.length > this.exports.io_size()) return Status.ERR_STATE_LENGTH;
    return this.ioBuffer.use("state blob", 0, blob.length, (w) => {
      w.bytes().set(blob);
      return restore(blob.length);
    });
  }
}

export interface SharedVm {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  variant: WasmVariant;
}

const big = (n: number | bigint): bigint => (typeof n === "bigint" ? n : BigInt(n));

/**
 * Guest RAM as the host sees it: every access bounds-checked by the wasm port
 * and every write dirty-marked. Methods throw VmdevError on a bad range; use
 * `check` first where the range comes from the guest.
 */
export class GuestMemory {
  constructor(private readonly core: VmCore) {}

  get size(): number { return this.core.exports.gm_ram_pages() * PAGE_SIZE; }
  get pages(): number { return this.core.exports.gm_ram_pages(); }
  get foreign(): boolean { return this.core.exports.gm_foreign() === 1; }

  /** Status of accessing [gpa, gpa+len): OK, ERR_RANGE or ERR_HOLE. */
  check(gpa: number | bigint, len: number | bigint): number {
    return this.core.exports.gm_check(big(gpa), big(len));
  }

  addHole(gpa: number, bytes: number): void {
    if (gpa % PAGE_SIZE || bytes % PAGE_SIZE) throw new VmdevError(Status.ERR_INVALID_ARG, "addHole: not page aligned");
    check(this.core.exports.gm_add_hole(gpa / PAGE_SIZE, bytes / PAGE_SIZE), "gm_add_hole");
  }

  private read(gpa: number | bigint, width: number): bigint {
    check(this.core.exports.gm_read(big(gpa), width), `read${width * 8}`);
    // u64 results arrive as signed i64.
    return BigInt.asUintN(64, this.core.exports.gm_value());
  }
  readU8(gpa: number | bigint): number { return Number(this.read(gpa, 1)); }
  readU16(gpa: number | bigint): number { return Number(this.read(gpa, 2)); }
  readU32(gpa: number | bigint): number { return Number(this.read(gpa, 4)); }
  readU64(gpa: number | bigint): bigint { return this.read(gpa, 8); }

  private write(gpa: number | bigint, width: number, v: number | bigint): void {
    check(this.core.exports.gm_write(big(gpa), width, BigInt.asUintN(64, big(v))), `write${width * 8}`);
  }
  writeU8(gpa: number | bigint, v: number): void { this.write(gpa, 1, v); }
  writeU16(gpa: number | bigint, v: number): void { this.write(gpa, 2, v); }
  writeU32(gpa: number | bigint, v: number): void { this.write(gpa, 4, v); }
  writeU64(gpa: number | bigint, v: bigint | number): void { this.write(gpa, 8, v); }

  /** Copy `len` bytes out of guest RAM. */
  readBytes(gpa: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    const chunk = this.core.exports.io_size();
    for (let done = 0; done < len; done += chunk) {
      const n = Math.min(chunk, len - done);
      this.core.ioBuffer.use("guest-memory copy", 0, n, (w) => {
        check(this.core.exports.gm_copy_out(big(gpa + done), 0, n), "copy_out");
        out.set(w.bytes(), done);
      });
    }
    if (len === 0) check(this.check(gpa, 0), "copy_out");
    return out;
  }

  /** Copy bytes into guest RAM, marking the pages dirty. The whole range is checked before any byte moves. */
  writeBytes(gpa: number, bytes: Uint8Array): void {
    check(this.check(gpa, bytes.length), "copy_in");
    const chunk = this.core.exports.io_size();
    for (let done = 0; done < bytes.length; done += chunk) {
      const n = Math.min(chunk, bytes.length - done);
      this.core.ioBuffer.use("guest-memory copy", 0, n, (w) => {
        w.bytes().set(bytes.subarray(done, done + n));
        check(this.core.exports.gm_copy_in(big(gpa + done), 0, n), "copy_in");
      });
    }
  }

  fill(gpa: number, byte: number, len: number): void {
    check(this.core.exports.gm_fill(big(gpa), byte & 0xff, big(len)), "fill");
  }

  /**
   * Zero-copy view of own-placement guest RAM [gpa, gpa+len) for reading.
   * Writes through it bypass the dirty bitmap: call `hostWrote` after them.
   */
  view(gpa: number, len: number): Uint8Array {
    if (this.foreign) throw new VmdevError(Status.ERR_UNSUPPORTED, "view: guest RAM is foreign");
    check(this.check(gpa, len), "view");
    const base = (this.core.exports.gm_ram_ptr() >>> 0) + gpa;
    return this.core.u8().subarray(base, base + len);
  }

  /** Mark [gpa, gpa+len) written after writing it through `view`. */
  hostWrote(gpa: number, len: number): void {
    check(this.core.exports.gm_host_wrote(big(gpa), big(len)), "host_wrote");
  }

  /** XXH64 of one page of own-placement RAM. */
  hashPage(page: number, seed = 0n): bigint {
    return BigInt.asUintN(64, this.core.exports.gm_hash_page(page, seed));
  }
}

/** A dirty-page bitmap (handle 1 is guest RAM's). */
export class DirtyBitmap {
  constructor(private readonly core: VmCore, readonly handle: number) {}

  /** Create another bitmap of `pages` pages (e.g. an embedder's own log to merge). */
  static create(core: VmCore, pages: number): DirtyBitmap {
    const h = core.exports.dirty_create(pages);
    if (h < 0) throw new VmdevError(-h, "dirty_create");
    return new DirtyBitmap(core, h);
  }

  get pages(): number { return this.num(this.core.exports.dirty_pages(this.handle), "dirty_pages"); }
  get enabled(): boolean { return this.num(this.core.exports.dirty_enabled(this.handle), "dirty_enabled") === 1; }

  private num(v: number, op: string): number {
    if (v < 0) throw new VmdevError(-v, op);
    return v;
  }

  /** Start tracking with a clean bitmap. */
  enable(): void { check(this.core.exports.dirty_enable(this.handle, 1), "dirty_enable"); }
  disable(): void { check(this.core.exports.dirty_enable(this.handle, 0), "dirty_enable"); }
  mark(page: number): void { check(this.core.exports.dirty_mark(this.handle, page), "dirty_mark"); }
  markRange(first: number, count: number): void { check(this.core.exports.dirty_mark_range(this.handle, first, count), "dirty_mark_range"); }
  test(page: number): boolean { return this.num(this.core.exports.dirty_test(this.handle, page), "dirty_test") === 1; }
  count(): number { return this.num(this.core.exports.dirty_count(this.handle), "dirty_count"); }

  /**
   * Get-and-clear the whole bitmap as coalesced ranges. Each word is swapped
   * with zero atomically, so marks racing the harvest are kept for the next one.
   */
  harvest(): PageRange[] {
    const out: PageRange[] = [];
    this.harvestEach((page, count) => out.push({ page, count }));
    return out;
  }

  /** Like harvest, calling `fn` for each range instead of building an array. Returns the page total. */
  harvestEach(fn: (page: number, count: number) => void): number {
    const e = this.core.exports;
    const cap = Math.floor(e.io_size() / 8);
    const words = this.num(e.dirty_words(this.handle), "dirty_words");
    let cursor = 0;
    let total = 0;
    // `fn` runs while the ranges are in the I/O buffer: one that uses the buffer meanwhile is an overlap.
    const w = this.core.ioBuffer.claim("dirty ranges", 0, cap * 8);
    try {
      // Each call consumes at least one word or finishes, so this is bounded by the word count.
      while (cursor < words) {
        const n = e.dirty_harvest_ranges(this.handle, cursor, 0, cap);
        if (n < 0) throw new VmdevError(-n, "dirty_harvest");
        const dv = this.core.dv();
        const io = w.address;
        for (let i = 0; i < n; i++) {
          const page = dv.getUint32(io + i * 8, true);
          const count = dv.getUint32(io + i * 8 + 4, true);
          total += count;
          fn(page, count);
        }
        cursor = e.dirty_cursor();
      }
    } finally {
      w.release();
    }
    return total;
  }

  /**
   * Get-and-clear the whole bitmap as (firstPage, pageCount) pairs in one
   * typed array: one copy per harvest call, no callback or object per range
   * (what a migration round wants at millions of ranges).
   */
  harvestRanges(): { ranges: Uint32Array; pages: number } {
    const e = this.core.exports;
    const cap = Math.floor(e.io_size() / 8);
    const words = this.num(e.dirty_words(this.handle), "dirty_words");
    let out = new Uint32Array(64);
    let len = 0, cursor = 0, pages = 0;
    this.core.ioBuffer.use("dirty ranges", 0, cap * 8, (w) => {
      // Each call consumes at least one word or finishes, so this is bounded by the word count.
      while (cursor < words) {
        const n = e.dirty_harvest_ranges(this.handle, cursor, 0, cap);
        if (n < 0) throw new VmdevError(-n, "dirty_harvest");
        if (len + 2 * n > out.length) {
          const grown = new Uint32Array(Math.max(out.length * 2, len + 2 * n));
          grown.set(out.subarray(0, len));
          out = grown;
        }
        const got = new Uint32Array(this.core.memory.buffer, w.address, 2 * n);
        out.set(got, len);
        for (let i = 1; i < 2 * n; i += 2) pages += got[i];
        len += 2 * n;
        cursor = e.dirty_cursor();
      }
    });
    return { ranges: out.subarray(0, len), pages };
  }

  /** OR words (bit i of word w = page 64w + i) into this bitmap from `firstWord`. */
  mergeWords(firstWord: number, words: BigUint64Array): void {
    const e = this.core.exports;
    const cap = Math.floor(e.io_size() / 8);
    for (let done = 0; done < words.length; done += cap) {
      const n = Math.min(cap, words.length - done);
      this.core.ioBuffer.use("dirty words", 0, n * 8, (w) => {
        new BigUint64Array(this.core.memory.buffer, w.address, n).set(words.subarray(done, done + n));
        check(e.dirty_merge_words(this.handle, firstWord + done, 0, n), "dirty_merge_words");
      });
    }
  }

  /** OR another bitmap of the same size into this one. */
  merge(other: DirtyBitmap): void {
    check(this.core.exports.dirty_merge(this.handle, other.handle), "dirty_merge");
  }
}
