// Dirty-marking bench kit: the port's write path with each way of marking the
// page after the data store, timed against each other in one run. Every loop
// stores a u32 into one of `pages` hot pages and marks that page in the guest
// bitmap, so all but the first mark of each page find its bit already set.
import { bitmapPtr, bitmapPages, bitmapEnabled, summaryPtr, GUEST_BITMAP } from "../../assembly/core/dirty";
import { gmRamPtr, gmForeign, gmStore32 } from "../../assembly/core/guestmem";
import { counterAdd, Counter } from "../../assembly/core/layout";

const SKIP_PLAIN = 0; // the previous mark: plain test, skip the RMW when set (unsound)
const RMW = 1; // always the atomic OR

// @ts-ignore: decorator
@inline function mark(base: usize, summary: usize, p: u32, mode: i32): void {
  const w = base + (<usize>(p >> 6) << 3);
  const bit = <u64>1 << (p & 63);
  if (mode == SKIP_PLAIN) { if ((load<u64>(w) & bit) == 0) atomic.or<u64>(w, bit); }
  else atomic.or<u64>(w, bit);
  const b = p >> 9;
  const sw = summary + (<usize>(b >> 6) << 3);
  const sbit = <u64>1 << (b & 63);
  if ((atomic.load<u64>(sw) & sbit) == 0) atomic.or<u64>(sw, sbit);
}

// @ts-ignore: decorator
@inline function storeLoop(firstPage: u32, pages: u32, reps: u32, mode: i32): u32 {
  const ram = gmRamPtr();
  const base = bitmapPtr(GUEST_BITMAP), summary = summaryPtr(GUEST_BITMAP);
  for (let r: u32 = 0; r < reps; r++) {
    for (let i: u32 = 0; i < pages; i++) {
      const p = firstPage + i;
      store<u32>(ram + (<usize>p << 12) + (<usize>(r & 1023) << 2), r);
      if (mode >= 0) mark(base, summary, p, mode);
    }
  }
  return load<u32>(ram + (<usize>firstPage << 12));
}

/** Baseline: the u32 stores alone, no marking. */
export function bench_store_unmarked(firstPage: u32, pages: u32, reps: u32): u32 { return storeLoop(firstPage, pages, reps, -1); }
/** u32 store, then the previous mark (plain test-and-skip). */
export function bench_store_mark_skip(firstPage: u32, pages: u32, reps: u32): u32 { return storeLoop(firstPage, pages, reps, SKIP_PLAIN); }
/** u32 store, then the atomic OR every time. */
export function bench_store_mark_rmw(firstPage: u32, pages: u32, reps: u32): u32 { return storeLoop(firstPage, pages, reps, RMW); }

/** The port itself: gmStore32 (which marks through bitmapMarkRange) on the same pattern. */
export function bench_store_port(firstPage: u32, pages: u32, reps: u32): u32 {
  for (let r: u32 = 0; r < reps; r++) {
    for (let i: u32 = 0; i < pages; i++) gmStore32((<u64>(firstPage + i) << 12) + (<u64>(r & 1023) << 2), r);
  }
  return r32(firstPage);
}
/** The port's previous write path, kept verbatim so one run times it against gmStore32: the store, then the test-and-skip mark. */
export function bench_store_port_prev(firstPage: u32, pages: u32, reps: u32): u32 {
  for (let r: u32 = 0; r < reps; r++) {
    for (let i: u32 = 0; i < pages; i++) prevStore32((<u64>(firstPage + i) << 12) + (<u64>(r & 1023) << 2), r);
  }
  return r32(firstPage);
}

function prevStore32(gpa: u64, v: u32): void {
  if (!gmForeign()) store<u32>(gmRamPtr() + <usize>gpa, v);
  else return;
  prevMarkRange(GUEST_BITMAP, <u32>(gpa >> 12), 1);
}

function prevMarkRange(h: i32, first: u32, count: u32): void {
  if (!bitmapEnabled(h)) return;
  const pages = bitmapPages(h);
  if (first >= pages) { counterAdd(Counter.DIRTY_MARKS_IGNORED, 1); return; }
  let end = <u64>first + <u64>count;
  if (end > <u64>pages) { counterAdd(Counter.DIRTY_MARKS_IGNORED, 1); end = <u64>pages; }
  const base = bitmapPtr(h);
  const summary = summaryPtr(h);
  let p = first;
  const last = <u32>end;
  while (p < last) {
    const bit = p & 63;
    const n = min<u32>(64 - bit, last - p);
    const mask: u64 = n == 64 ? <u64>-1 : ((<u64>1 << n) - 1) << bit;
    const w = base + (<usize>(p >> 6) << 3);
    if ((load<u64>(w) & mask) != mask) atomic.or<u64>(w, mask);
    const b = (p >> 6) >> 3;
    const sw = summary + (<usize>(b >> 6) << 3);
    const sbit = <u64>1 << (b & 63);
    if ((atomic.load<u64>(sw) & sbit) == 0) atomic.or<u64>(sw, sbit);
    p += n;
  }
}

// @ts-ignore: decorator
@inline function r32(page: u32): u32 { return load<u32>(gmRamPtr() + (<usize>page << 12)); }
