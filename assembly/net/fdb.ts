// Tables of the in-wasm virtual switches: the ports (NIC model kind and
// handle, packed by ports.ts portId), a forwarding database of learned source
// MACs, and the multicast group table (per group the ports that joined it),
// with each port's all-multicast flag and counters. The forwarding database
// is a cache: a destination it does not know (or forgot on a collision) is
// flooded to every other port, so no frame is lost to it. The group table is
// not a cache: a join it has no room for is refused (ERR_FULL) and the port's
// control plane falls back to all-multicast.
//
// Region: where each (kind, handle) is (SWITCH_MAX_KIND × SWITCH_MAX_HANDLE ×
// {u8 switch id, u8 port index}), then MAX_SWITCHES switch blocks, carved by
// the first swCreate in this instance (switches belong to the instance that
// made them, like the devices that are their ports).
// Switch block: header (used, all-multicast port mask, live groups) | ports
// (SWITCH_MAX_PORTS × PORT_BYTES: id, counters) | FDB (FDB_SIZE × {u64 mac |
// VALID, u32 port id, pad}) | groups (GROUP_SLOTS × {u64 mac | VALID, u32
// port mask, pad}, open addressing with linear probing; GROUP_SLOTS is twice
// SWITCH_MAX_GROUPS so probes stay short).

import { regionAlloc, regionCost } from "../core/layout";
import { SWITCH_MAX, SWITCH_MAX_PORTS, SWITCH_MAX_GROUPS, SWITCH_MAX_KIND, SWITCH_MAX_HANDLE } from "./defs";
import { portKind, portHandle } from "./ports";

export const MAX_SWITCHES: i32 = SWITCH_MAX;
export const MAX_PORTS: u32 = SWITCH_MAX_PORTS;
const FDB_SIZE: u32 = 256;
const GROUP_SLOTS: u32 = SWITCH_MAX_GROUPS * 2;
const PORT_BYTES: usize = 64;
const SW_USED: usize = 0;
const SW_ALLMULTI: usize = 4;
const SW_GROUPS: usize = 8;
const SW_PORTS: usize = 16;
const SW_FDB: usize = SW_PORTS + <usize>SWITCH_MAX_PORTS * PORT_BYTES;
const SW_GROUP_TABLE: usize = SW_FDB + <usize>FDB_SIZE * 16;
const SW_BYTES: usize = SW_GROUP_TABLE + <usize>GROUP_SLOTS * 16;
const PORT_COUNTERS: usize = 16;
const VALID: u64 = (<u64>1) << 63;

const WHERE_BYTES: usize = (<usize>(SWITCH_MAX_KIND * SWITCH_MAX_HANDLE * 2) + 15) & ~15;
const REGION_BYTES: u64 = <u64>WHERE_BYTES + <u64>SW_BYTES * MAX_SWITCHES;

// The region's first switch block (0 until the first swCreate); `where` is just before it.
let base: usize = 0;

function sw(id: i32): usize { return base + <usize>(id - 1) * SW_BYTES; }

export function swValid(id: i32): bool {
  return base != 0 && id >= 1 && id <= MAX_SWITCHES && load<u32>(sw(id) + SW_USED) != 0;
}

/** The most linear memory switch tables take (all MAX_SWITCHES, carved by the first swCreate). */
export function swCost(): u64 { return regionCost(REGION_BYTES, 16); }

/** A new switch; returns its id (1..MAX_SWITCHES) or 0 when all are in use / no memory. */
export function swCreate(): i32 {
  if (base == 0) {
    const p = regionAlloc(REGION_BYTES, 16);
    if (p == 0) return 0;
    base = p + WHERE_BYTES;
  }
  for (let id = 1; id <= MAX_SWITCHES; id++) {
    const s = sw(id);
    if (load<u32>(s + SW_USED) == 0) { memory.fill(s, 0, SW_BYTES); store<u32>(s + SW_USED, 1); return id; }
  }
  return 0;
}

/** Free switch `id` (swCreate clears it again when it is reused). The caller removed its ports. */
export function swDestroy(id: i32): void { store<u32>(sw(id) + SW_USED, 0); }

// ---- Ports --------------------------------------------------------------------

// @ts-ignore: decorator
@inline function portRec(id: i32, i: u32): usize { return sw(id) + SW_PORTS + <usize>i * PORT_BYTES; }
// @ts-ignore: decorator
@inline function whereAt(pid: u32): usize { return base - WHERE_BYTES + ((<usize>portKind(pid) * SWITCH_MAX_HANDLE + portHandle(pid)) << 1); }

/** Port id on port index `i` (0 if free). */
export function swPort(id: i32, i: u32): u32 { return load<u32>(portRec(id, i)); }

/** The switch port id `pid` is on (0: none). The caller checked the id's kind and handle are in range. */
export function swOf(pid: u32): i32 { return base == 0 ? 0 : <i32>load<u8>(whereAt(pid)); }
/** Its port index there. */
export function swIndexOf(pid: u32): u32 { return <u32>load<u8>(whereAt(pid), 1); }

/** Add port `pid` (on no switch) to switch `id`: all-multicast on, counters zero. False when no port is free. */
export function swAddPort(id: i32, pid: u32): bool {
  // Bounded by MAX_PORTS.
  for (let i: u32 = 0; i < MAX_PORTS; i++) {
    const p = portRec(id, i);
    if (load<u32>(p) != 0) continue;
    memory.fill(p, 0, PORT_BYTES);
    store<u32>(p, pid);
    const s = sw(id);
    store<u32>(s + SW_ALLMULTI, load<u32>(s + SW_ALLMULTI) | (1 << i));
    store<u8>(whereAt(pid), <u8>id);
    store<u8>(whereAt(pid), <u8>i, 1);
    return true;
  }
  return false;
}

/** Take port `pid` off switch `id`: its memberships and what was learned behind it go too. */
export function swRemovePort(id: i32, pid: u32): void {
  if (swOf(pid) != id) return;
  const i = swIndexOf(pid);
  const s = sw(id);
  store<u32>(portRec(id, i), 0);
  store<u32>(s + SW_ALLMULTI, load<u32>(s + SW_ALLMULTI) & ~(1 << i));
  store<u16>(whereAt(pid), 0);
  groupsDropPort(id, i);
  // Bounded by FDB_SIZE.
  for (let k: u32 = 0; k < FDB_SIZE; k++) {
    const e = s + SW_FDB + <usize>k * 16;
    if (load<u32>(e, 8) == pid) store<u64>(e, 0);
  }
}

/** Address of port index `i`'s counters (SWITCH_PORT_COUNTERS u64). */
export function swCounters(id: i32, i: u32): usize { return portRec(id, i) + PORT_COUNTERS; }

// @ts-ignore: decorator
@inline export function swCount(id: i32, i: u32, c: i32, n: u64 = 1): void {
  const p = portRec(id, i) + PORT_COUNTERS + (<usize>c << 3);
  store<u64>(p, load<u64>(p) + n);
}

/** Mask of the ports that take every multicast frame. */
export function swAllMulti(id: i32): u32 { return load<u32>(sw(id) + SW_ALLMULTI); }

export function swSetAllMulti(id: i32, i: u32, on: bool): void {
  const s = sw(id);
  const m = load<u32>(s + SW_ALLMULTI);
  store<u32>(s + SW_ALLMULTI, on ? m | (1 << i) : m & ~(1 << i));
}

// ---- Forwarding database ------------------------------------------------------

// @ts-ignore: decorator
@inline function slot(mac: u64): u32 { return <u32>((mac * 0x9e3779b97f4a7c15) >> 56); }

/** The 6 bytes at `p` as a number (wire order in the low 48 bits). */
// @ts-ignore: decorator
@inline export function macAt(p: usize): u64 { return <u64>load<u32>(p) | (<u64>load<u16>(p, 4) << 32); }

export function swLearn(id: i32, mac: u64, pid: u32): void {
  const e = sw(id) + SW_FDB + <usize>slot(mac) * 16;
  store<u64>(e, mac | VALID);
  store<u32>(e, pid, 8);
}

/** Forget `mac` if the forwarding database has it on port `pid` (a port's extra address withdrawn). */
export function swForget(id: i32, mac: u64, pid: u32): void {
  const e = sw(id) + SW_FDB + <usize>slot(mac) * 16;
  if (load<u64>(e) == (mac | VALID) && load<u32>(e, 8) == pid) store<u64>(e, 0);
}

/** Port id that last sent from `mac`, or 0. */
export function swLookup(id: i32, mac: u64): u32 {
  const e = sw(id) + SW_FDB + <usize>slot(mac) * 16;
  return load<u64>(e) == (mac | VALID) ? load<u32>(e, 8) : 0;
}

// ---- Multicast groups -----------------------------------------------------------

// @ts-ignore: decorator
@inline function gHome(mac: u64): u32 { return <u32>((mac * 0x9e3779b97f4a7c15) >> 55); } // 9 bits: GROUP_SLOTS = 512
// @ts-ignore: decorator
@inline function gEntry(id: i32, k: u32): usize { return sw(id) + SW_GROUP_TABLE + <usize>k * 16; }

/** Slot of group `mac`, or -1. Bounded: the probe stops at an empty slot, and at most half the slots are used. */
function gFind(id: i32, mac: u64): i32 {
  let k = gHome(mac);
  for (let n: u32 = 0; n < GROUP_SLOTS; n++) {
    const key = load<u64>(gEntry(id, k));
    if (key == 0) return -1;
    if (key == (mac | VALID)) return <i32>k;
    k = (k + 1) & (GROUP_SLOTS - 1);
  }
  return -1;
}

/** Ports that joined group `mac`. */
export function swGroupMask(id: i32, mac: u64): u32 {
  const k = gFind(id, mac);
  return k < 0 ? 0 : load<u32>(gEntry(id, <u32>k), 8);
}

/** Empty slot `k` and close the gap behind it (backward-shift deletion; bounded by GROUP_SLOTS). */
function gDelete(id: i32, k: u32): void {
  let hole = k;
  let j = k;
  for (let n: u32 = 0; n < GROUP_SLOTS; n++) {
    j = (j + 1) & (GROUP_SLOTS - 1);
    const e = gEntry(id, j);
    const key = load<u64>(e);
    if (key == 0) break;
    const home = gHome(key & ~VALID);
    // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
    const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
    if (inRange) continue;
    memory.copy(gEntry(id, hole), e, 16);
    hole = j;
  }
  memory.fill(gEntry(id, hole), 0, 16);
  const s = sw(id);
  store<u32>(s + SW_GROUPS, load<u32>(s + SW_GROUPS) - 1);
}

/** Port index `i` joins group `mac`: 1 joined, 0 already a member, -1 the table is full. */
export function swJoin(id: i32, i: u32, mac: u64): i32 {
  const bit: u32 = 1 << i;
  let k = gFind(id, mac);
  if (k >= 0) {
    const e = gEntry(id, <u32>k);
    const m = load<u32>(e, 8);
    if (m & bit) return 0;
    store<u32>(e, m | bit, 8);
    return 1;
  }
  const s = sw(id);
  if (load<u32>(s + SW_GROUPS) >= SWITCH_MAX_GROUPS) return -1;
  let h = gHome(mac);
  // Bounded: fewer than GROUP_SLOTS slots are used, so an empty one comes within GROUP_SLOTS steps.
  for (let n: u32 = 0; n < GROUP_SLOTS; n++) {
    const e = gEntry(id, h);
    if (load<u64>(e) == 0) {
      store<u64>(e, mac | VALID);
      store<u32>(e, bit, 8);
      store<u32>(s + SW_GROUPS, load<u32>(s + SW_GROUPS) + 1);
      return 1;
    }
    h = (h + 1) & (GROUP_SLOTS - 1);
  }
  return -1;
}

/** Port index `i` leaves group `mac`: true if it was a member. */
export function swLeave(id: i32, i: u32, mac: u64): bool {
  const k = gFind(id, mac);
  if (k < 0) return false;
  const e = gEntry(id, <u32>k);
  const m = load<u32>(e, 8);
  const bit: u32 = 1 << i;
  if ((m & bit) == 0) return false;
  if (m == bit) gDelete(id, <u32>k); else store<u32>(e, m & ~bit, 8);
  return true;
}

/** Groups the switch holds now. */
export function swGroupCount(id: i32): u32 { return load<u32>(sw(id) + SW_GROUPS); }

/**
 * Write up to `max` of port index `i`'s groups as 8 bytes each (MAC, two
 * zero bytes) from `out`; returns how many it has in all. Bounded by GROUP_SLOTS.
 */
export function swGroupsOf(id: i32, i: u32, out: usize, max: u32): u32 {
  const bit: u32 = 1 << i;
  let n: u32 = 0;
  for (let k: u32 = 0; k < GROUP_SLOTS; k++) {
    const e = gEntry(id, k);
    if (load<u64>(e) == 0 || (load<u32>(e, 8) & bit) == 0) continue;
    if (n < max) store<u64>(out + (<usize>n << 3), load<u64>(e) & ~VALID);
    n++;
  }
  return n;
}

/**
 * Drop port index `i` from every group. A deletion may shift a later entry
 * into the slot just examined, so that slot is looked at again; each repeat
 * deletes a group, so the walk takes at most GROUP_SLOTS + SWITCH_MAX_GROUPS steps.
 */
function groupsDropPort(id: i32, i: u32): void {
  const bit: u32 = 1 << i;
  let k: u32 = 0;
  for (let steps: u32 = 0; k < GROUP_SLOTS && steps < GROUP_SLOTS + SWITCH_MAX_GROUPS; steps++) {
    const e = gEntry(id, k);
    const m = load<u32>(e, 8);
    if (load<u64>(e) != 0 && (m & bit) != 0) {
      if (m == bit) { gDelete(id, k); continue; }
      store<u32>(e, m & ~bit, 8);
    }
    k++;
  }
}
