// Helpers of the ring tests: test frames and a check that a hostile peer made
// the library write nothing outside the memory it may write.
import type { VmCore } from "../../src/index.js";

/** A frame of `len` bytes carrying `tag` and `seq` at offsets 14 and 18 (where the TX log sink reads them) and a pattern after. */
export function tagged(len: number, tag: number, seq: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 7 + seq + tag) & 0xff;
  f.set([0x52, 0x54, 0, 0, 0, 0x0b, 0x52, 0x54, 0, 0, 0, 0x0a, 0x08, 0x00]);
  const dv = new DataView(f.buffer);
  if (len >= 18) dv.setUint32(14, tag, true);
  if (len >= 22) dv.setUint32(18, seq, true);
  return f;
}

/** A snapshot of linear memory except the ranges a call may write ([start, end) pairs). */
export class MemoryGuard {
  private readonly copy: Uint8Array;
  constructor(private readonly core: VmCore, private readonly allowed: Array<[number, number]>) {
    this.copy = core.u8().slice();
  }
  /** Offsets outside the allowed ranges whose bytes changed (the first few). */
  changed(): number[] {
    const now = this.core.u8();
    const out: number[] = [];
    const ranges = [...this.allowed].sort((a, b) => a[0] - b[0]);
    let from = 0;
    const scan = (a: number, b: number) => {
      const x = Buffer.from(this.copy.buffer, this.copy.byteOffset + a, b - a);
      const y = Buffer.from(now.buffer, now.byteOffset + a, b - a);
      if (x.equals(y)) return;
      for (let i = a; i < b && out.length < 8; i++) if (this.copy[i] !== now[i]) out.push(i);
    };
    for (const [a, b] of ranges) { if (a > from) scan(from, Math.min(a, this.copy.length)); from = Math.max(from, b); }
    if (from < this.copy.length) scan(from, this.copy.length);
    return out;
  }
}
