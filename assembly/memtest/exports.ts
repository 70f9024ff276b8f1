// Exported functions of the memtest device (assembly/memtest/device.ts).

import * as memtest from "./device";

/** A memtest device writing a counter pattern into guest RAM [gpa, gpa+len) on each tick; handle or -status. */
export function memtest_create(gpa: u64, len: u32): i32 { return memtest.memtestCreate(gpa, len); }
/** The most linear memory a memtest_create takes (its table, on first use in this instance). */
export function memtest_memory_bytes(): u32 { return <u32>memtest.memtestCost(); }
export function memtest_destroy(h: i32): i32 { return memtest.memtestDestroy(h); }
export function memtest_tick(h: i32, n: u32): i32 { return memtest.memtestTick(h, n); }
export function memtest_ticks(h: i32): u64 { return memtest.memtestTicks(h); }
export function memtest_reset(h: i32): i32 { return memtest.memtestReset(h); }
export function memtest_save(h: i32): i32 { return memtest.memtestSave(h); }
export function memtest_restore(h: i32, len: u32): i32 { return memtest.memtestRestore(h, len); }
