// A dirty log for guest RAM that vmdev cannot watch being written: the RAM of
// an emulator whose CPU writes its own memory (v86's wasm memory, another
// emulator's buffer). A mirror keeps a copy of that RAM in a VmCore of the
// same size, the core a migration source sends from; each sync reads the
// emulator's RAM a chunk at a time into the core's I/O buffer (one copy) and
// the wasm (mig_mirror_sync) compares it with the mirror page by page (v128),
// copies the pages that differ into the mirror and marks them dirty through
// the guest-memory port; or, given a view of the emulator's RAM and Node's
// Buffer, compares in place (no staging copy) and does the same. Exact (a byte compare, no hash to collide), at the
// cost of a second RAM-sized region and one read of the emulator's RAM per
// sync; docs/migrate-your-device.md, "An emulator whose CPU writes vmdev
// cannot see".

import { PAGE_SIZE, VmCore } from "../vm-core.js";
import type { WasmVariant } from "../wasm.js";
import { VmdevError, statusName } from "../status.js";

/** Copies guest RAM [gpa, gpa + dst.length) of the emulator into `dst`. */
export type GuestRamReader = (gpa: number, dst: Uint8Array) => void;

/** Options of {@link RamMirror.create}. */
export interface RamMirrorOptions {
  /** vmdev's compiled module (loadModule in Node). */
  module: WebAssembly.Module;
  variant?: WasmVariant;
  /** The emulator's RAM size (a multiple of 4 KiB). */
  ramBytes: number;
  /** Reads the emulator's RAM. */
  read: GuestRamReader;
  /** Bytes read per step (a multiple of 4 KiB; default 1 MiB). */
  chunkBytes?: number;
  /**
   * A view of the emulator's whole RAM, when JavaScript can see it (v86's
   * wasm memory): in Node the sync then compares each page in place with
   * the mirror's (Buffer.compare, no staging copy), copies the pages that
   * differ and marks them through the port (`hostWrote`). `npm run bench --
   * v86-migrate` measures both ways. Called at each sync (the memory may have grown).
   */
  view?: () => Uint8Array;
}

/** What one sync did. */
export interface MirrorSync {
  ms: number;
  /** Pages compared (all of RAM). */
  pages: number;
  /** Pages that differed: copied into the mirror and marked dirty. */
  changed: number;
}

/** A mirror of an emulator's guest RAM whose sync is the dirty log (see the top of this file). */
export class RamMirror {
  /** Every sync so far, in order. */
  readonly syncs: MirrorSync[] = [];

  private constructor(readonly core: VmCore, private readonly read: GuestRamReader, private readonly chunk: number, private readonly view?: () => Uint8Array) {}

  static async create(opts: RamMirrorOptions): Promise<RamMirror> {
    const chunk = opts.chunkBytes ?? 1 << 20;
    if (!Number.isInteger(chunk) || chunk <= 0 || chunk % PAGE_SIZE !== 0) throw new RangeError(`RamMirror: chunkBytes ${chunk} is not a positive multiple of 4 KiB`);
    const core = await VmCore.create({ module: opts.module, variant: opts.variant ?? "release", ramBytes: opts.ramBytes });
    core.ensureIo(chunk);
    const inPlace = opts.view && typeof Buffer === "function" ? opts.view : undefined;
    return new RamMirror(core, opts.read, chunk, inPlace);
  }

  get ramBytes(): number { return this.core.guest.size; }

  /**
   * Bring the mirror up to date with the emulator's RAM: every page that
   * differs is copied and marked dirty in the core's bitmap (when tracking
   * is on). Nothing may write the emulator's RAM meanwhile for the mirror to
   * be exact at return (a write during the sync is found by the next one).
   */
  sync(): MirrorSync {
    if (this.view) return this.syncInPlace(this.view());
    const t = performance.now();
    const e = this.core.exports, size = this.ramBytes;
    let changed = 0;
    for (let gpa = 0; gpa < size; gpa += this.chunk) {
      const len = Math.min(this.chunk, size - gpa);
      const n = this.core.ioBuffer.use("ram mirror", 0, len, (w) => {
        this.read(gpa, w.bytes());
        return e.mig_mirror_sync(0, gpa / PAGE_SIZE, len / PAGE_SIZE);
      });
      if (n < 0) throw new VmdevError(-n, `mig_mirror_sync at ${gpa}: ${statusName(-n)}`);
      changed += n;
    }
    const s: MirrorSync = { ms: performance.now() - t, pages: size / PAGE_SIZE, changed };
    this.syncs.push(s);
    return s;
  }

  /** The in-place sync (Node, `view` given): the same result as the staged one. */
  private syncInPlace(ram: Uint8Array): MirrorSync {
    const t = performance.now();
    const size = this.ramBytes;
    if (ram.length !== size) throw new RangeError(`RamMirror: the emulator's RAM view is ${ram.length} bytes, the mirror ${size}`);
    const mirror = this.core.guest.view(0, size);
    const a = Buffer.from(ram.buffer, ram.byteOffset, size), b = Buffer.from(mirror.buffer, mirror.byteOffset, size);
    let changed = 0;
    for (let off = 0; off < size; off += PAGE_SIZE) {
      if (a.compare(b, off, off + PAGE_SIZE, off, off + PAGE_SIZE) === 0) continue;
      mirror.set(ram.subarray(off, off + PAGE_SIZE), off);
      this.core.guest.hostWrote(off, PAGE_SIZE);
      changed++;
    }
    const s: MirrorSync = { ms: performance.now() - t, pages: size / PAGE_SIZE, changed };
    this.syncs.push(s);
    return s;
  }
}

/**
 * Copy all of `core`'s own guest RAM out through `write` (a destination
 * handing a mirror to its emulator), `chunkBytes` at a time. Returns the ms taken.
 */
export function copyGuestRamOut(core: VmCore, write: (gpa: number, src: Uint8Array) => void, chunkBytes = 4 << 20): number {
  const t = performance.now();
  const size = core.guest.size;
  for (let gpa = 0; gpa < size; gpa += chunkBytes) write(gpa, core.guest.view(gpa, Math.min(chunkBytes, size - gpa)));
  return performance.now() - t;
}
