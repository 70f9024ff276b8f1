// Exported functions of the memtest device (assembly/memtest/device.ts).

import * as memtest from "./device";

/** A memtest device writing a counter pattern into guest RAM [gpa, gpa+len) on each tick; handle or -status. */
export function memtest_create(gpa: u64, len: u32): i32 { return memtest.memtestCreate(gpa, len); }
/** The most linear memory a memtest_create takes (its table, on first use in this instance). */
export function memtest_memory_bytes(): u32 { return <u32>memtest.memtestCost(); }
/** Destroy memtest device `h`; a Status. */
export function memtest_destroy(h: i32): i32 { return memtest.memtestDestroy(h); }
/** Write `n` (≤ 65536) u32 words of the tick counter into the window, wrapping; ERR_HOLE, writing nothing, while a hole covers part of it. */
export function memtest_tick(h: i32, n: u32): i32 { return memtest.memtestTick(h, n); }
/** Words device `h` has written so far (0 for a bad handle). */
export function memtest_ticks(h: i32): u64 { return memtest.memtestTicks(h); }
/** Reset device `h` to its first tick; a Status. */
export function memtest_reset(h: i32): i32 { return memtest.memtestReset(h); }
/** Save device `h` as an envelope at the start of the I/O buffer; its length or -Status. */
export function memtest_save(h: i32): i32 { return memtest.memtestSave(h); }
/** Restore device `h` from `len` bytes at the start of the I/O buffer, untouched on error; a Status. */
export function memtest_restore(h: i32, len: u32): i32 { return memtest.memtestRestore(h, len); }
