// The driver's view of guest RAM. The driver model plays the guest, so it
// writes guest RAM through the host API of the VmCore (never the device's
// code). Own-placement RAM is accessed through a DataView over the port's
// zero-copy view with the dirty bitmap told of every write (`hostWrote`);
// foreign RAM goes through the checked port calls one access at a time.
import type { VmCore } from "../../vm-core.js";

/** Guest-physical byte accessor used by the driver model. Throws on an access outside RAM: the driver never makes one. */
export class GuestRam {
  readonly size: number;
  private readonly base: number;
  private readonly viaPort: boolean;
  /** Tell the dirty bitmap about driver writes (off only in benchmarks, where nothing harvests). */
  trackDirty: boolean;

  private cu8: Uint8Array;
  private cdv: DataView;

  /**
   * Over a VmCore's guest RAM, or over raw bytes another emulator owns (a
   * function returning the current view, for comparisons with other device
   * models; no dirty tracking there).
   */
  constructor(source: VmCore | (() => Uint8Array), opts: { trackDirty?: boolean } = {}) {
    if (typeof source === "function") {
      const v = source();
      this.core = { u8: () => new Uint8Array(source().buffer), dv: () => new DataView(source().buffer) } as unknown as VmCore;
      this.size = v.length;
      this.viaPort = false;
      this.base = v.byteOffset;
      this.trackDirty = false;
    } else {
      this.core = source;
      this.size = source.guest.size;
      this.viaPort = source.guest.foreign;
      this.base = this.viaPort ? 0 : source.exports.gm_ram_ptr() >>> 0;
      this.trackDirty = opts.trackDirty ?? true;
    }
    this.cu8 = this.core.u8();
    this.cdv = this.core.dv();
  }
  readonly core: VmCore;

  // Guest RAM never moves inside linear memory, so views made once stay right
  // for it; only a non-shared memory's growth detaches them (length 0).
  private u8(): Uint8Array {
    if (this.cu8.byteLength === 0) { this.cu8 = this.core.u8(); this.cdv = this.core.dv(); }
    return this.cu8;
  }
  private dv(): DataView {
    if (this.cu8.byteLength === 0) { this.cu8 = this.core.u8(); this.cdv = this.core.dv(); }
    return this.cdv;
  }

  private at(gpa: number, len: number): number {
    if (!(gpa >= 0 && len >= 0 && gpa + len <= this.size)) throw new RangeError(`driver access [${gpa}, +${len}) outside guest RAM`);
    return this.base + gpa;
  }
  private wrote(gpa: number, len: number): void {
    if (this.trackDirty) this.core.guest.hostWrote(gpa, len);
  }

  r8(gpa: number): number { return this.viaPort ? this.core.guest.readU8(gpa) : this.dv().getUint8(this.at(gpa, 1)); }
  r16(gpa: number): number { return this.viaPort ? this.core.guest.readU16(gpa) : this.dv().getUint16(this.at(gpa, 2), true); }
  r32(gpa: number): number { return this.viaPort ? this.core.guest.readU32(gpa) : this.dv().getUint32(this.at(gpa, 4), true); }
  r64(gpa: number): bigint { return this.viaPort ? this.core.guest.readU64(gpa) : this.dv().getBigUint64(this.at(gpa, 8), true); }

  w8(gpa: number, v: number): void {
    if (this.viaPort) return this.core.guest.writeU8(gpa, v);
    this.dv().setUint8(this.at(gpa, 1), v); this.wrote(gpa, 1);
  }
  w16(gpa: number, v: number): void {
    if (this.viaPort) return this.core.guest.writeU16(gpa, v);
    this.dv().setUint16(this.at(gpa, 2), v, true); this.wrote(gpa, 2);
  }
  w32(gpa: number, v: number): void {
    if (this.viaPort) return this.core.guest.writeU32(gpa, v);
    this.dv().setUint32(this.at(gpa, 4), v >>> 0, true); this.wrote(gpa, 4);
  }
  w64(gpa: number, v: bigint | number): void {
    if (this.viaPort) return this.core.guest.writeU64(gpa, v);
    this.dv().setBigUint64(this.at(gpa, 8), BigInt.asUintN(64, BigInt(v)), true); this.wrote(gpa, 8);
  }

  /** A view of [gpa, gpa+len) without copying (own-placement RAM; a copy otherwise). Valid until the bytes are reused. */
  peek(gpa: number, len: number): Uint8Array {
    if (this.viaPort) return this.core.guest.readBytes(gpa, len);
    const p = this.at(gpa, len);
    return this.u8().subarray(p, p + len);
  }

  read(gpa: number, len: number): Uint8Array {
    if (this.viaPort) return this.core.guest.readBytes(gpa, len);
    const p = this.at(gpa, len);
    return this.u8().slice(p, p + len);
  }
  write(gpa: number, bytes: Uint8Array): void {
    if (this.viaPort) return this.core.guest.writeBytes(gpa, bytes);
    this.u8().set(bytes, this.at(gpa, bytes.length)); this.wrote(gpa, bytes.length);
  }
  fill(gpa: number, byte: number, len: number): void {
    if (this.viaPort) return this.core.guest.fill(gpa, byte, len);
    const p = this.at(gpa, len);
    this.u8().fill(byte, p, p + len); this.wrote(gpa, len);
  }
}

/** A bump allocator over a window of guest RAM (the driver's "kernel heap"). */
export class GuestAllocator {
  private next: number;
  constructor(readonly start: number, readonly end: number) { this.next = start; }
  /** Allocate `len` bytes aligned to `align` (a power of two). */
  alloc(len: number, align = 16): number {
    const at = (this.next + align - 1) & ~(align - 1);
    if (at + len > this.end) throw new RangeError(`guest allocator exhausted (${len} bytes at ${at}, end ${this.end})`);
    this.next = at + len;
    return at;
  }
  get used(): number { return this.next - this.start; }
}
