// bench.wasm: the full vmdev export surface plus loops that keep the timed
// work inside wasm (so JS call overhead does not blur the ratios) and the
// baselines each figure is compared against.
export * from "../../assembly/index";
export * from "./net-link";
import { gmCopyIn, gmCopyOut, gmRamPtr } from "../../assembly/core/guestmem";
import { bitmapPtr, bitmapWords } from "../../assembly/core/dirty";
import { ioPtr } from "../../assembly/core/vm";

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

/** Baseline for the net figures: memory.copy of `count` frames of `len` bytes from the I/O buffer into RAM (rotating over 1 MiB). */
export function bench_memcopy_frames(len: u32, count: u32): void {
  const ram = gmRamPtr();
  const src = ioPtr();
  let off: usize = 0;
  for (let i: u32 = 0; i < count; i++) {
    memory.copy(ram + off, src, len);
    off = (off + 2048) & 0xfffff;
  }
}
