// Holes of guest RAM as migration compares them: the live hole table of this
// VM (assembly/core/layout.ts control block) and the hole list of a
// guest-memory layout envelope a source sent (assembly/core/vm.ts gmSaveState).
// A hole list is (u32 first page, u32 page count) pairs; pages are in a hole
// if any pair covers them (pairs may overlap or touch).

import { Status } from "../core/status";
import { controlBlock, CB_HOLES, MAX_HOLES } from "../core/layout";
import { gmHoleCount, gmRamPages } from "../core/guestmem";
import { DeviceKind, envOpen, envVersion, envGetU32, envU32, envFind, envFoundLen } from "../core/state";
import { GM_STATE_VERSION, T_RAM_PAGES, T_HOLES } from "../core/vm";

/** True if page `p` lies in one of the `n` holes at `list`. */
export function inHoles(list: usize, n: u32, p: u32): bool {
  // Bounded by n ≤ MAX_HOLES; list holds n validated pairs.
  for (let i: u32 = 0; i < n; i++) {
    const first = load<u32>(list + (<usize>i << 3));
    const count = load<u32>(list + (<usize>i << 3), 4);
    if (p >= first && p - first < count) return true;
  }
  return false;
}

/** The live hole table of this VM. */
export function liveHoles(): usize { return controlBlock() + CB_HOLES; }
export function liveHoleCount(): u32 { return gmHoleCount(); }

// Sorted boundaries of two hole lists (starts and ends, plus 0 and the RAM size).
const MAX_BOUNDS: i32 = 4 * MAX_HOLES + 2;
const bounds = memory.data(MAX_BOUNDS << 2);

/** Result of the last layoutDiff: the first page whose hole-ness differs, and whether it is a hole in the blob. */
export let diffFirst: u32 = 0xffff_ffff;
export let diffFirstIsHole: bool = false;

/**
 * Compare the layout envelope of `len` bytes at `inp` (untrusted) with this
 * VM's: the same RAM size and the same pages in holes. Returns the number of
 * pages in a hole on one side and not the other (0: the layouts agree), or
 * -status if the blob is not a valid layout for this RAM size. Changes nothing.
 */
export function layoutDiff(inp: usize, len: u32): i32 {
  diffFirst = 0xffff_ffff; diffFirstIsHole = false;
  const s = envOpen(inp, len, DeviceKind.GUEST_MEMORY);
  if (s != Status.OK) return -s;
  if (envVersion() != GM_STATE_VERSION) return -Status.ERR_STATE_VERSION;
  const pages = gmRamPages();
  if (!envGetU32(T_RAM_PAGES) || envU32() != pages) return -Status.ERR_STATE_INVALID;
  const theirs = envFind(T_HOLES);
  const bytes = envFoundLen();
  if (theirs == 0 || (bytes & 7) != 0 || (bytes >> 3) > <u32>MAX_HOLES) return -Status.ERR_STATE_INVALID;
  const tn = bytes >> 3;
  // Bounded by tn ≤ MAX_HOLES.
  for (let i: u32 = 0; i < tn; i++) {
    const first = load<u32>(theirs + (<usize>i << 3));
    const count = load<u32>(theirs + (<usize>i << 3), 4);
    if (count == 0 || first >= pages || count > pages - first) return -Status.ERR_STATE_INVALID;
  }
  const mine = liveHoles();
  const mn = liveHoleCount();
  // Hole-ness is constant between consecutive boundaries, so testing each
  // segment's first page decides the whole segment.
  let nb: i32 = 0;
  store<u32>(bounds, 0); nb++;
  store<u32>(bounds + (<usize>nb << 2), pages); nb++;
  for (let i: u32 = 0; i < tn; i++) {
    const first = load<u32>(theirs + (<usize>i << 3));
    store<u32>(bounds + (<usize>nb << 2), first); nb++;
    store<u32>(bounds + (<usize>nb << 2), first + load<u32>(theirs + (<usize>i << 3), 4)); nb++;
  }
  for (let i: u32 = 0; i < mn; i++) {
    const first = load<u32>(mine + (<usize>i << 3));
    const end = <u64>first + <u64>load<u32>(mine + (<usize>i << 3), 4);
    store<u32>(bounds + (<usize>nb << 2), first < pages ? first : pages); nb++;
    store<u32>(bounds + (<usize>nb << 2), end < <u64>pages ? <u32>end : pages); nb++;
  }
  // Insertion sort of nb ≤ MAX_BOUNDS values.
  for (let i = 1; i < nb; i++) {
    const v = load<u32>(bounds + (<usize>i << 2));
    let j = i - 1;
    while (j >= 0 && load<u32>(bounds + (<usize>j << 2)) > v) { store<u32>(bounds + (<usize>(j + 1) << 2), load<u32>(bounds + (<usize>j << 2))); j--; }
    store<u32>(bounds + (<usize>(j + 1) << 2), v);
  }
  let diff: u32 = 0;
  for (let i = 0; i + 1 < nb; i++) {
    const a = load<u32>(bounds + (<usize>i << 2)), b = load<u32>(bounds + (<usize>(i + 1) << 2));
    if (a >= b) continue;
    const hole = inHoles(theirs, tn, a);
    if (hole == inHoles(mine, mn, a)) continue;
    if (diffFirst == 0xffff_ffff) { diffFirst = a; diffFirstIsHole = hole; }
    diff += b - a;
  }
  return <i32>diff;
}
