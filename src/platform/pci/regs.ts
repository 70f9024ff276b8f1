// A register file of configuration space in host memory: the bytes, which
// bits the guest may write, which it clears by writing one (RW1C). Bridges
// and the SR-IOV capability keep their registers in one; every access is
// validated here once (width, alignment, range).

import { accessOk, ones } from "./defs.js";

export class ConfigRegs {
  readonly bytes: Uint8Array;
  /** Bits a write sets or clears. */
  readonly wmask: Uint8Array;
  /** Bits a write of one clears (RW1C). */
  readonly w1c: Uint8Array;

  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size);
    this.wmask = new Uint8Array(size);
    this.w1c = new Uint8Array(size);
  }

  /** Whether an access of `width` at `off` is well formed for this file. */
  ok(off: number, width: number): boolean { return accessOk(off, width, this.size); }

  /** Little-endian read; a malformed access reads all ones (the caller counts it). */
  read(off: number, width: 1 | 2 | 4): number {
    if (!this.ok(off, width)) return ones(width);
    let v = 0;
    for (let i = width - 1; i >= 0; i--) v = (v << 8) | this.bytes[off + i];
    return v >>> 0;
  }

  /** A guest write through the masks; a malformed access is dropped (returns false). */
  write(off: number, width: 1 | 2 | 4, value: number): boolean {
    if (!this.ok(off, width)) return false;
    for (let i = 0; i < width; i++) {
      const b = (value >>> (8 * i)) & 0xff, m = this.wmask[off + i], c = this.w1c[off + i];
      this.bytes[off + i] = ((this.bytes[off + i] & ~m & ~(b & c)) | (b & m)) & 0xff;
    }
    return true;
  }

  /** Set a register as the device (not the guest) does: no masks. */
  set(off: number, width: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < width; i++) this.bytes[off + i] = (value >>> (8 * i)) & 0xff;
  }

  /** Set the write mask of a register. */
  writable(off: number, width: 1 | 2 | 4, mask: number): void {
    for (let i = 0; i < width; i++) this.wmask[off + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Mark bits of a register RW1C. */
  clearable(off: number, width: 1 | 2 | 4, mask: number): void {
    for (let i = 0; i < width; i++) this.w1c[off + i] = (mask >>> (8 * i)) & 0xff;
  }

  /**
   * Whether `image` could be this file's contents: every bit the guest cannot
   * change (outside wmask and w1c) equals ours. What a restore checks.
   */
  consistent(image: Uint8Array): boolean {
    if (image.length !== this.size) return false;
    for (let i = 0; i < this.size; i++) {
      const fixed = ~(this.wmask[i] | this.w1c[i]) & 0xff;
      if ((image[i] & fixed) !== (this.bytes[i] & fixed)) return false;
    }
    return true;
  }
}
