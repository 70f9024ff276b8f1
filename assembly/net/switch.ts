// The in-wasm learning switch (its tables are fdb.ts): ports are devices of
// any NIC model that registered its kind (ports.ts). A frame sent in through
// port `from` goes out of:
//  * the one port that last sent from its destination MAC (known unicast);
//  * every other port (broadcast, unknown unicast);
//  * for a multicast destination (I/G bit set, not broadcast), the other
//    ports that joined that group or are all-multicast; each port counts the
//    multicast frames it was given and those it was spared (pruned).
// A port starts all-multicast, which floods group frames to it as a plain
// learning switch does, until its control plane joins groups and turns the
// flag off. Each copy goes through the receiving model's deliver, so its
// receive filter still applies.

import { Status } from "../core/status";
import { SwitchCounter, SWITCH_MAX_HANDLE, SWITCH_MAX_KIND } from "./defs";
import {
  MAX_PORTS, swValid, swCreate, swDestroy, swPort, swAddPort, swRemovePort, swOf, swIndexOf, swLearn, swLookup, macAt,
  swAllMulti, swSetAllMulti, swGroupMask, swJoin, swLeave, swCount, swCounters,
} from "./fdb";
import { portId, portNameOk, portCheck, portBind, portDeliver } from "./ports";

const BROADCAST: u64 = 0xffff_ffff_ffff;

/**
 * Forward the `len`-byte frame at `frame` (linear memory, not in any
 * receiver's scratch) that came in through port `from` of switch `sw`,
 * learning its source. False, and nothing sent, when the switch does not
 * exist or the frame is shorter than an Ethernet header.
 */
export function switchForward(sw: i32, from: u32, frame: usize, len: u32): bool {
  if (!swValid(sw) || len < 14) return false;
  const src = macAt(frame + 6);
  if ((src & 1) == 0) swLearn(sw, src, from);
  const dst = macAt(frame);
  if ((dst & 1) == 0) {
    const to = swLookup(sw, dst);
    if (to != 0) {
      // Known destination: one port (never back out of the port it came in on).
      if (to != from) portDeliver(to, frame, len);
      return true;
    }
  } else if (dst != BROADCAST) {
    const want = swGroupMask(sw, dst) | swAllMulti(sw);
    // Bounded by MAX_PORTS.
    for (let i: u32 = 0; i < MAX_PORTS; i++) {
      const p = swPort(sw, i);
      if (p == 0 || p == from) continue;
      if ((want >> i) & 1) { swCount(sw, i, SwitchCounter.MC_DELIVERED); portDeliver(p, frame, len); }
      else swCount(sw, i, SwitchCounter.MC_PRUNED);
    }
    return true;
  }
  // Bounded by MAX_PORTS.
  for (let i: u32 = 0; i < MAX_PORTS; i++) {
    const p = swPort(sw, i);
    if (p != 0 && p != from) portDeliver(p, frame, len);
  }
  return true;
}

/** A new switch: its id, or -ERR_NO_MEMORY when all are in use. */
export function nswCreate(): i32 {
  const id = swCreate();
  return id == 0 ? -Status.ERR_NO_MEMORY : id;
}

/** The switch (kind, h) is a port of, 0 for none (or a name out of range). */
export function nswOf(kind: u32, h: u32): i32 {
  return kind != 0 && kind < SWITCH_MAX_KIND && h != 0 && h < SWITCH_MAX_HANDLE ? swOf(portId(kind, h)) : 0;
}

/** Take (kind, h) off its switch, if it is on one; the model is told. */
export function nswDetach(kind: u32, h: u32): i32 {
  const sw = nswOf(kind, h);
  if (sw == 0) return Status.OK;
  const pid = portId(kind, h);
  swRemovePort(sw, pid);
  portBind(pid, 0);
  return Status.OK;
}

/**
 * Make (kind, h) a port of `sw`; it leaves any earlier switch (and whatever
 * else its model connects it to). ERR_BAD_HANDLE or ERR_BAD_STATE with
 * nothing changed when the switch or the device does not exist or the model
 * refuses; ERR_FULL (the device now on no switch) when no port is free.
 */
export function nswAttach(sw: i32, kind: u32, h: u32): i32 {
  if (!swValid(sw)) return Status.ERR_BAD_HANDLE;
  const s = portCheck(kind, h);
  if (s != Status.OK) return s;
  const pid = portId(kind, h);
  nswDetach(kind, h);
  portBind(pid, 0);
  if (!swAddPort(sw, pid)) return Status.ERR_FULL;
  portBind(pid, sw);
  return Status.OK;
}

/** Destroy switch `sw`: every port is told it is on none. */
export function nswDestroy(sw: i32): i32 {
  if (!swValid(sw)) return Status.ERR_BAD_HANDLE;
  // Bounded by MAX_PORTS.
  for (let i: u32 = 0; i < MAX_PORTS; i++) {
    const p = swPort(sw, i);
    if (p == 0) continue;
    swRemovePort(sw, p);
    portBind(p, 0);
  }
  swDestroy(sw);
  return Status.OK;
}

/** Port index of (kind, h) on `sw`, or -Status: ERR_BAD_HANDLE for an unknown switch, ERR_BAD_STATE when it is not a port of it. */
export function nswPortIndex(sw: i32, kind: u32, h: u32): i32 {
  if (!swValid(sw) || !portNameOk(kind, h)) return -Status.ERR_BAD_HANDLE;
  const pid = portId(kind, h);
  if (swOf(pid) != sw) return -Status.ERR_BAD_STATE;
  return <i32>swIndexOf(pid);
}

/** Group `mac` (multicast, not broadcast) for port index `i`: join. ERR_FULL (counted) when the table is full. */
export function nswJoin(sw: i32, i: u32, mac: u64): i32 {
  if ((mac & 1) == 0 || mac == BROADCAST) return Status.ERR_INVALID_ARG;
  const r = swJoin(sw, i, mac);
  if (r < 0) { swCount(sw, i, SwitchCounter.JOINS_REFUSED); return Status.ERR_FULL; }
  if (r > 0) { swCount(sw, i, SwitchCounter.JOINS); swCount(sw, i, SwitchCounter.GROUPS_JOINED); }
  return Status.OK;
}

/** Port index `i` leaves group `mac` (OK also when it was not a member). */
export function nswLeave(sw: i32, i: u32, mac: u64): i32 {
  if ((mac & 1) == 0 || mac == BROADCAST) return Status.ERR_INVALID_ARG;
  if (swLeave(sw, i, mac)) {
    swCount(sw, i, SwitchCounter.LEAVES);
    const g = swCounters(sw, i) + (<usize>SwitchCounter.GROUPS_JOINED << 3);
    store<u64>(g, load<u64>(g) - 1);
  }
  return Status.OK;
}

export function nswAllMulti(sw: i32, i: u32, on: bool): void { swSetAllMulti(sw, i, on); }
