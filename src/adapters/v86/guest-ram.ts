// Guest RAM that lives in v86's memory, as the guest-memory port's foreign
// placement (src/wasm.ts ForeignRam): every device access to guest RAM goes
// through here, bounds-checked; written ranges invalidate v86's JIT cache.

import type { ForeignRam } from "../../wasm.js";
import type { V86AdapterCounters, V86Cpu } from "./types.js";

/**
 * Guest RAM owned by v86: copies to and from `cpu.mem8`'s bytes in v86's wasm
 * memory. The view is rebuilt when v86's memory grows (its buffer changes).
 */
export class V86GuestRam implements ForeignRam {
  private cpu: V86Cpu | null = null;
  private view: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private size = 0;
  constructor(private readonly counters: V86AdapterCounters) {}

  bind(cpu: V86Cpu): void {
    this.cpu = cpu;
    this.offset = cpu.mem8.byteOffset;
    this.size = cpu.memory_size[0] >>> 0;
    this.view = new Uint8Array(0);
  }

  private ram(): Uint8Array | null {
    const cpu = this.cpu;
    if (!cpu) return null;
    const buf = cpu.wasm_memory.buffer;
    if (this.view.buffer !== buf || this.view.byteLength !== this.size) this.view = new Uint8Array(buf, this.offset, this.size);
    return this.view;
  }

  private inRange(gpa: number, len: number): boolean {
    return Number.isInteger(gpa) && gpa >= 0 && len >= 0 && gpa + len <= this.size;
  }

  read(gpa: number, dst: Uint8Array): boolean {
    const ram = this.ram();
    if (!ram || !this.inRange(gpa, dst.length)) { this.counters.ramFaults++; return false; }
    dst.set(ram.subarray(gpa, gpa + dst.length));
    return true;
  }

  write(gpa: number, src: Uint8Array): boolean {
    const ram = this.ram();
    if (!ram || !this.inRange(gpa, src.length)) { this.counters.ramFaults++; return false; }
    ram.set(src, gpa);
    return true;
  }

  written(gpa: number, len: number): void {
    if (!this.cpu || len <= 0 || !this.inRange(gpa, len)) return;
    // Code the guest may have JIT-compiled from these pages is stale now.
    this.cpu.jit_dirty_cache(gpa, gpa + len);
    this.counters.jitInvalidations++;
  }
}
