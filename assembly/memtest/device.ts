// A small device the machine runtime uses to prove its device path: the
// "memtest" device writes a counter pattern into a window of guest RAM on each
// tick (through the guest-memory port, so its writes are dirty-marked) and
// saves/restores through the state envelope. It stands in for real device
// models in machine tests; it models no hardware.
//
// Instances are slots in a fixed table allocated on first use; the table
// pointer is per wasm instance, so a memtest device belongs to the instance
// that created it (the main thread's).

import { Status } from "../core/status";
import { regionAlloc, regionCost, counterAdd, Counter } from "../core/layout";
import { gmCheck, gmStore32, gmLayoutGen } from "../core/guestmem";
import { ioPtr, ioSize } from "../core/vm";
import { DeviceKind, envBegin, envPutU32, envPutU64, envFinish, envOpen, envVersion, envGetU32, envGetU64, envU32, envU64 } from "../core/state";

export const MEMTEST_MAX: i32 = 16;
const STATE_VERSION: u32 = 1;
const T_WINDOW_GPA: u32 = 1;
const T_WINDOW_LEN: u32 = 2;
const T_TICKS: u32 = 3;
const T_CURSOR: u32 = 4;

@unmanaged class Memtest {
  live: u32;
  windowLen: u32;
  windowGpa: u64;
  ticks: u64;
  cursor: u32;
  /** gmLayoutGen() the window was last checked against. */
  layoutGen: u32;
}

let table: usize = 0;

// @ts-ignore: decorator
@inline function at(h: i32): Memtest {
  return changetype<Memtest>(table + <usize>(h - 1) * offsetof<Memtest>());
}

function valid(h: i32): bool {
  if (table != 0 && h >= 1 && h <= MEMTEST_MAX && at(h).live != 0) return true;
  counterAdd(Counter.BAD_HANDLE, 1);
  return false;
}

/** The most linear memory memtestCreate carves: the instance's table, on first use. */
export function memtestCost(): u64 { return regionCost(<u64>MEMTEST_MAX * offsetof<Memtest>(), 16); }

/** Create a device writing into [gpa, gpa+len) (len a multiple of 4). Returns a handle or -status. */
export function memtestCreate(gpa: u64, len: u32): i32 {
  if (len == 0 || (len & 3) != 0 || (gpa & 3) != 0) return -Status.ERR_INVALID_ARG;
  const s = gmCheck(gpa, len);
  if (s != Status.OK) return -s;
  if (table == 0) {
    table = regionAlloc(<u64>MEMTEST_MAX * offsetof<Memtest>(), 16);
    if (table == 0) return -Status.ERR_NO_MEMORY;
  }
  for (let h = 1; h <= MEMTEST_MAX; h++) {
    const d = at(h);
    if (d.live != 0) continue;
    d.live = 1; d.windowGpa = gpa; d.windowLen = len; d.ticks = 0; d.cursor = 0; d.layoutGen = gmLayoutGen();
    return h;
  }
  return -Status.ERR_FULL;
}

export function memtestDestroy(h: i32): i32 {
  if (!valid(h)) return Status.ERR_BAD_HANDLE;
  at(h).live = 0;
  return Status.OK;
}

/**
 * Write `n` (≤ 65536) u32 words of the tick counter into the window, wrapping.
 * ERR_HOLE, writing nothing, while a hole covers part of the window.
 */
export function memtestTick(h: i32, n: u32): i32 {
  if (!valid(h)) return Status.ERR_BAD_HANDLE;
  if (n > 65536) return Status.ERR_INVALID_ARG;
  const d = at(h);
  const gen = gmLayoutGen();
  if (d.layoutGen != gen) {
    // The holes changed since the window was checked: check it again before the unchecked stores.
    const s = gmCheck(d.windowGpa, d.windowLen);
    if (s != Status.OK) return s;
    d.layoutGen = gen;
  }
  // Bounded by n; the window passed gmCheck against the current holes and every word lies inside it.
  for (let i: u32 = 0; i < n; i++) {
    if (d.cursor >= d.windowLen) d.cursor = 0;
    d.ticks++;
    gmStore32(d.windowGpa + d.cursor, <u32>d.ticks);
    d.cursor += 4;
  }
  return Status.OK;
}

export function memtestTicks(h: i32): u64 { return valid(h) ? at(h).ticks : 0; }

export function memtestReset(h: i32): i32 {
  if (!valid(h)) return Status.ERR_BAD_HANDLE;
  const d = at(h);
  d.ticks = 0; d.cursor = 0;
  return Status.OK;
}

/** Save to the start of the I/O buffer; returns the length or -status. */
export function memtestSave(h: i32): i32 {
  if (!valid(h)) return -Status.ERR_BAD_HANDLE;
  const d = at(h);
  envBegin(ioPtr(), ioSize(), DeviceKind.MEMTEST, STATE_VERSION);
  envPutU64(T_WINDOW_GPA, d.windowGpa);
  envPutU32(T_WINDOW_LEN, d.windowLen);
  envPutU64(T_TICKS, d.ticks);
  envPutU32(T_CURSOR, d.cursor);
  return envFinish();
}

/** Restore from `len` bytes at the start of the I/O buffer; the device is untouched on error. */
export function memtestRestore(h: i32, len: u32): i32 {
  if (!valid(h)) return Status.ERR_BAD_HANDLE;
  if (len > ioSize()) return Status.ERR_STATE_LENGTH;
  const s = envOpen(ioPtr(), len, DeviceKind.MEMTEST);
  if (s != Status.OK) return s;
  if (envVersion() != STATE_VERSION) return Status.ERR_STATE_VERSION;
  // Validate every field before applying any.
  if (!envGetU64(T_WINDOW_GPA)) return Status.ERR_STATE_INVALID;
  const gpa = envU64();
  if (!envGetU32(T_WINDOW_LEN)) return Status.ERR_STATE_INVALID;
  const wlen = envU32();
  if (!envGetU64(T_TICKS)) return Status.ERR_STATE_INVALID;
  const ticks = envU64();
  if (!envGetU32(T_CURSOR)) return Status.ERR_STATE_INVALID;
  const cursor = envU32();
  const d = at(h);
  // The window is configuration, not state: a blob for another window is refused.
  if (gpa != d.windowGpa || wlen != d.windowLen) return Status.ERR_STATE_INVALID;
  if ((cursor & 3) != 0 || cursor > wlen) return Status.ERR_STATE_INVALID;
  d.ticks = ticks; d.cursor = cursor;
  return Status.OK;
}
