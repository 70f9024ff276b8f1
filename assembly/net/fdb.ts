// Learning-switch tables for in-wasm virtual switches: the ports (device
// handles) and a forwarding database of learned source MACs. The table is a
// cache: a destination it does not know (or forgot on a collision) is flooded
// to every other port, so no frame is lost to it.

import { regionAlloc, regionCost } from "../core/layout";

export const MAX_SWITCHES: i32 = 4;
export const MAX_PORTS: u32 = 16;
const FDB_SIZE: u32 = 256;
const SW_USED: usize = 0;
const SW_PORTS: usize = 8;          // MAX_PORTS × u32 handle (0 = free)
const SW_FDB: usize = 128;          // FDB_SIZE × {u64 key = mac | valid << 63, u32 handle, u32 pad}
const SW_BYTES: usize = SW_FDB + <usize>FDB_SIZE * 16;
const VALID: u64 = (<u64>1) << 63;

let base: usize = 0;

function sw(id: i32): usize { return base + <usize>(id - 1) * SW_BYTES; }

export function swValid(id: i32): bool {
  return base != 0 && id >= 1 && id <= MAX_SWITCHES && load<u32>(sw(id) + SW_USED) != 0;
}

/** The most linear memory switch tables take (all MAX_SWITCHES, carved by the first swCreate). */
export function swCost(): u64 { return regionCost(<u64>SW_BYTES * MAX_SWITCHES, 16); }

/** A new switch; returns its id (1..MAX_SWITCHES) or 0 when all are in use / no memory. */
export function swCreate(): i32 {
  if (base == 0) base = regionAlloc(<u64>SW_BYTES * MAX_SWITCHES, 16);
  if (base == 0) return 0;
  for (let id = 1; id <= MAX_SWITCHES; id++) {
    const s = sw(id);
    if (load<u32>(s + SW_USED) == 0) { memory.fill(s, 0, SW_BYTES); store<u32>(s + SW_USED, 1); return id; }
  }
  return 0;
}

/** Free switch `id` (swCreate clears it again when it is reused). */
export function swDestroy(id: i32): void { store<u32>(sw(id) + SW_USED, 0); }

/** Handle on port `i` (0 if free). */
export function swPort(id: i32, i: u32): u32 { return load<u32>(sw(id) + SW_PORTS + (<usize>i << 2)); }

export function swAddPort(id: i32, h: u32): bool {
  const s = sw(id);
  for (let i: u32 = 0; i < MAX_PORTS; i++) {
    const p = s + SW_PORTS + (<usize>i << 2);
    if (load<u32>(p) == 0) { store<u32>(p, h); return true; }
  }
  return false;
}

export function swRemovePort(id: i32, h: u32): void {
  const s = sw(id);
  for (let i: u32 = 0; i < MAX_PORTS; i++) {
    const p = s + SW_PORTS + (<usize>i << 2);
    if (load<u32>(p) == h) store<u32>(p, 0);
  }
  // Forget what was learned behind it.
  for (let i: u32 = 0; i < FDB_SIZE; i++) {
    const e = s + SW_FDB + <usize>i * 16;
    if (load<u32>(e, 8) == h) store<u64>(e, 0);
  }
}

// @ts-ignore: decorator
@inline function slot(mac: u64): u32 { return <u32>((mac * 0x9e3779b97f4a7c15) >> 56); }

/** The 6 bytes at `p` as a number (wire order in the low 48 bits). */
// @ts-ignore: decorator
@inline export function macAt(p: usize): u64 { return <u64>load<u32>(p) | (<u64>load<u16>(p, 4) << 32); }

export function swLearn(id: i32, mac: u64, h: u32): void {
  const e = sw(id) + SW_FDB + <usize>slot(mac) * 16;
  store<u64>(e, mac | VALID);
  store<u32>(e, h, 8);
}

/** Port handle that last sent from `mac`, or 0. */
export function swLookup(id: i32, mac: u64): u32 {
  const e = sw(id) + SW_FDB + <usize>slot(mac) * 16;
  return load<u64>(e) == (mac | VALID) ? load<u32>(e, 8) : 0;
}
