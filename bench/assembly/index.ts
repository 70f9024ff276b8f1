// bench.wasm: the full vmdev export surface plus loops that keep the timed
// work inside wasm (so JS call overhead does not blur the ratios) and the
// baselines each figure is compared against.
export * from "../../assembly/index";
import { gmCopyIn, gmCopyOut, gmRamPtr, gmRamPages } from "../../assembly/core/guestmem";
export * from "./net-link";
export * from "./rx-filter";
export * from "./harvest";
export * from "./dirty-mark";
import { bitmapPtr, bitmapWords } from "../../assembly/core/dirty";
import { ioPtr } from "../../assembly/core/vm";
import { apic_msr_write, apic_msi, apic_intr_pending, apic_irr_clear } from "../../assembly/apic/exports";
import { regionAlloc } from "../../assembly/core/layout";

/** Baseline: read every byte of bitmap `h` (v128 loads, OR-reduced so nothing is optimised away). */
export function bench_scan_bitmap(h: i32): i32 {
  const base = bitmapPtr(h);
  const end = base + (<usize>bitmapWords(h) << 3);
  let acc = i64x2.splat(0);
  for (let p = base; p < end; p += 64) {
    acc = v128.or(acc, v128.or(v128.or(v128.load(p), v128.load(p, 16)), v128.or(v128.load(p, 32), v128.load(p, 48))));
  }
  return v128.any_true(acc) ? 1 : 0;
}

/** Baseline: memory.copy of `pages` 4 KiB pages from the I/O buffer into RAM, `reps` times. */
export function bench_memcopy_pages(firstPage: u32, pages: u32, reps: u32): void {
  const ram = gmRamPtr();
  const src = ioPtr();
  for (let r: u32 = 0; r < reps; r++) {
    for (let i: u32 = 0; i < pages; i++) memory.copy(ram + ((<usize>(firstPage + i)) << 12), src, 4096);
  }
}

/** The port: copy-in of `pages` 4 KiB pages (bounds-checked, dirty-marked), `reps` times. */
export function bench_copy_in_pages(firstPage: u32, pages: u32, reps: u32): i32 {
  const src = ioPtr();
  let bad = 0;
  for (let r: u32 = 0; r < reps; r++) {
    for (let i: u32 = 0; i < pages; i++) bad |= gmCopyIn(<u64>(firstPage + i) << 12, src, 4096);
  }
  return bad;
}

/** The port: copy-out of `pages` 4 KiB pages (bounds-checked), `reps` times. */
export function bench_copy_out_pages(firstPage: u32, pages: u32, reps: u32): i32 {
  const dst = ioPtr();
  let bad = 0;
  for (let r: u32 = 0; r < reps; r++) {
    for (let i: u32 = 0; i < pages; i++) bad |= gmCopyOut(<u64>(firstPage + i) << 12, dst, 4096);
  }
  return bad;
}

/** Baseline for copy-out: memory.copy from RAM into the I/O buffer. */
export function bench_memcopy_out_pages(firstPage: u32, pages: u32, reps: u32): void {
  const ram = gmRamPtr();
  const dst = ioPtr();
  for (let r: u32 = 0; r < reps; r++) {
    for (let i: u32 = 0; i < pages; i++) memory.copy(dst, ram + ((<usize>(firstPage + i)) << 12), 4096);
  }
}

/** Read all of guest RAM (to push other data out of the CPU caches between timed runs). */
export function bench_scan_ram(): i32 {
  const base = gmRamPtr();
  const end = base + (<usize>gmRamPages() << 12);
  let acc = i64x2.splat(0);
  for (let p = base; p < end; p += 64) acc = v128.or(acc, v128.load(p));
  return v128.any_true(acc) ? 1 : 0;
}

// ---- APIC ----

let plainBitmaps: usize = 0;
function bitmaps(n: u32): usize {
  if (plainBitmaps == 0) plainBitmaps = regionAlloc(<u64>n << 5, 64);
  return plainBitmaps;
}

/** The APIC path: `reps` fixed IPIs to all including self, each a 64-bit ICR write on vCPU 0 (gate + router + n IRRs). */
export function bench_apic_broadcast(reps: u32): i32 {
  let bad = 0;
  for (let r: u32 = 0; r < reps; r++) {
    const lo: u64 = 0x40 + (r & 0x7F) | (2 << 18); // fixed, edge, all including self
    bad |= apic_msr_write(0, 0x830, lo, 0);
  }
  return bad;
}

/** Baseline: set one bit in each of `n` plain 256-bit bitmaps, `reps` times. */
export function bench_bitmap_broadcast(reps: u32, n: u32): u32 {
  const p = bitmaps(n);
  for (let r: u32 = 0; r < reps; r++) {
    const v = 0x40 + (r & 0x7F);
    const off = (<usize>v >> 5) << 2, bit: u32 = 1 << (v & 31);
    for (let i: u32 = 0; i < n; i++) { const q = p + (<usize>i << 5) + off; store<u32>(q, load<u32>(q) | bit); }
  }
  return load<u32>(p + 8);
}

/** The APIC path: `reps` MSIs (decode, route, IRR) to vCPU i mod n, each followed by the highest-pending query; the IRR bit is then cleared. */
export function bench_apic_msi(reps: u32, n: u32): i32 {
  let acc = 0;
  for (let r: u32 = 0; r < reps; r++) {
    const t = r % n, v = 0x30 + (r & 0x7F);
    apic_msi(0xFEE00000 | ((t & 0xFF) << 12), t & ~0xFF, v);
    acc += apic_intr_pending(t);
    apic_irr_clear(t, v);
  }
  return acc;
}

/** Baseline: set a bit in plain 256-bit bitmap i mod n, scan it for the highest set bit, clear the bit. */
export function bench_bitmap_msi(reps: u32, n: u32): i32 {
  const p = bitmaps(n);
  let acc = 0;
  for (let r: u32 = 0; r < reps; r++) {
    const t = r % n, v = 0x30 + (r & 0x7F);
    const b = p + (<usize>t << 5);
    const q = b + ((<usize>v >> 5) << 2);
    store<u32>(q, load<u32>(q) | (1 << (v & 31)));
    let hi = -1;
    for (let w: i32 = 7; w >= 0; w--) { const x = load<u32>(b + (<usize>w << 2)); if (x != 0) { hi = (w << 5) + 31 - <i32>clz(x); break; } }
    acc += hi;
    store<u32>(q, load<u32>(q) & ~(1 << (v & 31)));
  }
  return acc;
}
export * from "./rings";
export * from "./txq";
