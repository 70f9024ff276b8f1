// Exports of the generic NIC layer. The RX filter engine (filter.ts) over a
// filter state that lives in the caller's I/O buffer: for hosts that filter
// frames themselves and for testing the engine the way NIC models use it.
// Numbers in, numbers out: `reg` is the state's offset in the I/O buffer
// (FS_BYTES bytes, see rxf_state_bytes), frames are (offset, length) in the
// same buffer, and a MAC is two big-endian numbers as in vnet_create (bytes
// 0..1 in macHi, 2..5 in macLo). Predicates return 1 or 0, or -Status.
// And the in-wasm virtual switch (switch.ts, fdb.ts): `nsw_*`, whose ports
// are devices of any NIC model named by (kind, handle), kind the core
// DeviceKind number (VIRTIO_NET, E1000, NE2000), with multicast group
// membership per port.

import { Status } from "../core/status";
import { ioPtr, ioRangeOk } from "../core/vm";
import {
  FS_BYTES, EXACT_MAX, OVERFLOW_UNI, OVERFLOW_MULTI, macLoad, rxfInit, rxfExactSet, rxfExactAdd, rxfExactClear, rxfExactMatch,
  rxfHash64Write, rxfHash64Has, rxfHash64Index, rxfMtaWrite, rxfMtaHas, rxfMtaIndex, rxfVftaWrite, rxfVlanHas, rxfTci,
  crc32, crcTablesReady,
} from "./filter";
import { nswCreate, nswDestroy, nswAttach, nswDetach, nswOf, nswPortIndex, nswJoin, nswLeave, nswAllMulti, switchForward } from "./switch";
import { portId } from "./ports";
import { swAllMulti, swCounters, swGroupsOf, swLearn, swForget, swCost } from "./fdb";

function state(reg: u32): usize { return ioRangeOk(reg, <u64>FS_BYTES) ? ioPtr() + <usize>reg : 0; }

/** The address of a 6-byte destination at `off`, or -1 if the range is not in the I/O buffer. */
function dst(off: u32, len: u32): i64 {
  if (len < 6 || !ioRangeOk(off, len)) return -1;
  return <i64>macLoad(ioPtr() + <usize>off);
}

// @ts-ignore: decorator
@inline function mac(macHi: u32, macLo: u32): u64 { return <u64>bswap<u16>(<u16>macHi) | (<u64>bswap<u32>(macLo) << 16); }

/** Bytes of one filter state. */
export function rxf_state_bytes(): u32 { return <u32>FS_BYTES; }

/** Zero the filter state at `reg` with `cap` exact entries (1..64). */
export function rxf_init(reg: u32, cap: u32): i32 {
  const f = state(reg); if (f == 0) return Status.ERR_RANGE;
  if (cap < 1 || cap > EXACT_MAX) return Status.ERR_INVALID_ARG;
  rxfInit(f, cap);
  return Status.OK;
}

/** Program exact entry `slot` (< cap) with a MAC and its valid bit (RAR/RAH.AV, PAR). */
export function rxf_exact_set(reg: u32, slot: u32, macHi: u32, macLo: u32, valid: u32): i32 {
  const f = state(reg); if (f == 0) return Status.ERR_RANGE;
  if (macHi > 0xffff) return Status.ERR_INVALID_ARG;
  return rxfExactSet(f, slot, mac(macHi, macLo), valid != 0) ? Status.OK : Status.ERR_INVALID_ARG;
}

/** Add a MAC to a free exact entry. ERR_FULL: none was free, so its class (unicast or multicast) is now accepted whole. */
export function rxf_exact_add(reg: u32, macHi: u32, macLo: u32): i32 {
  const f = state(reg); if (f == 0) return Status.ERR_RANGE;
  if (macHi > 0xffff) return Status.ERR_INVALID_ARG;
  return rxfExactAdd(f, mac(macHi, macLo)) ? Status.OK : Status.ERR_FULL;
}

/** Drop the exact entries, and the overflow, of the classes in `classes` (1 unicast, 2 multicast, 3 both). */
export function rxf_exact_clear(reg: u32, classes: u32): i32 {
  const f = state(reg); if (f == 0) return Status.ERR_RANGE;
  if (classes == 0 || (classes & ~(OVERFLOW_UNI | OVERFLOW_MULTI)) != 0) return Status.ERR_INVALID_ARG;
  rxfExactClear(f, classes);
  return Status.OK;
}

/** Whether the frame's destination is in the exact table, or its class overflowed. */
export function rxf_exact_match(reg: u32, frameOff: u32, len: u32): i32 {
  const f = state(reg); if (f == 0) return -Status.ERR_RANGE;
  const a = dst(frameOff, len); if (a < 0) return -Status.ERR_RANGE;
  return rxfExactMatch(f, <u64>a) ? 1 : 0;
}

/** Set the 64-bit hash filter: MAR0..3 in `lo` (MAR0 in bits 7:0), MAR4..7 in `hi`. */
export function rxf_hash64_set(reg: u32, lo: u32, hi: u32): i32 {
  const f = state(reg); if (f == 0) return Status.ERR_RANGE;
  for (let i: u32 = 0; i < 4; i++) { rxfHash64Write(f, i, lo >> (8 * i)); rxfHash64Write(f, 4 + i, hi >> (8 * i)); }
  return Status.OK;
}

/** Whether the MAR bit of the frame's destination is set. */
export function rxf_hash64_match(reg: u32, frameOff: u32, len: u32): i32 {
  const f = state(reg); if (f == 0) return -Status.ERR_RANGE;
  if (dst(frameOff, len) < 0) return -Status.ERR_RANGE;
  return rxfHash64Has(f, ioPtr() + <usize>frameOff) ? 1 : 0;
}

/** The DP8390/RTL8139 MAR index (0..63) of a MAC: bits 5:3 the register, 2:0 the bit. */
export function rxf_hash64_index(macHi: u32, macLo: u32): i32 {
  if (macHi > 0xffff) return -Status.ERR_INVALID_ARG;
  return <i32>rxfHash64Index(mac(macHi, macLo));
}

/** Write MTA[word] (word < 128). */
export function rxf_mta_set(reg: u32, word: u32, value: u32): i32 {
  const f = state(reg); if (f == 0) return Status.ERR_RANGE;
  if (word >= 128) return Status.ERR_INVALID_ARG;
  rxfMtaWrite(f, word, value);
  return Status.OK;
}

/** Whether the MTA bit of the frame's destination under RCTL.MO = `mo` (0..3) is set. */
export function rxf_mta_match(reg: u32, frameOff: u32, len: u32, mo: u32): i32 {
  const f = state(reg); if (f == 0) return -Status.ERR_RANGE;
  if (mo > 3) return -Status.ERR_INVALID_ARG;
  const a = dst(frameOff, len); if (a < 0) return -Status.ERR_RANGE;
  return rxfMtaHas(f, <u64>a, mo) ? 1 : 0;
}

/** The 8254x MTA index (0..4095) of a MAC under RCTL.MO = `mo`: bits 11:5 the register, 4:0 the bit. */
export function rxf_mta_index(macHi: u32, macLo: u32, mo: u32): i32 {
  if (macHi > 0xffff || mo > 3) return -Status.ERR_INVALID_ARG;
  return <i32>rxfMtaIndex(mac(macHi, macLo), mo);
}

/** Write VFTA[word] (word < 128). */
export function rxf_vfta_set(reg: u32, word: u32, value: u32): i32 {
  const f = state(reg); if (f == 0) return Status.ERR_RANGE;
  if (word >= 128) return Status.ERR_INVALID_ARG;
  rxfVftaWrite(f, word, value);
  return Status.OK;
}

/** VLAN filter: 1 if the frame is not tagged with `tpid` (e.g. 0x8100) or its VLAN id is in the VFTA, else 0. */
export function rxf_vlan_match(reg: u32, frameOff: u32, len: u32, tpid: u32): i32 {
  const f = state(reg); if (f == 0) return -Status.ERR_RANGE;
  if (tpid > 0xffff) return -Status.ERR_INVALID_ARG;
  if (len < 14 || !ioRangeOk(frameOff, len)) return -Status.ERR_RANGE;
  const tci = rxfTci(ioPtr() + <usize>frameOff, len, tpid);
  return tci < 0 || rxfVlanHas(f, <u32>tci) ? 1 : 0;
}

/** CRC-32 (IEEE 802.3, zlib's crc32) of `len` bytes at `ioOff`, continuing from `crc` (0 to start); -Status on a bad range. */
export function rxf_crc32(ioOff: u32, len: u32, crc: u32): i64 {
  if (!ioRangeOk(ioOff, len)) return -Status.ERR_RANGE;
  crcTablesReady();
  return <i64>crc32(ioPtr() + <usize>ioOff, len, crc);
}

// ---- The virtual switch -----------------------------------------------------------

/** A new in-wasm switch (id ≥ 1; at most SWITCH_MAX per instance) or -Status (ERR_NO_MEMORY: none free). */
export function nsw_create(): i32 { return nswCreate(); }

/** Destroy switch `sw`: its ports are on no switch again (their frames go to the host); the id is free for the next nsw_create. */
export function nsw_destroy(sw: i32): i32 { return nswDestroy(sw); }

/**
 * Make device (kind, h) a port of switch `sw`, all-multicast and in no
 * group; it leaves its earlier switch or link first. ERR_BAD_HANDLE or
 * ERR_BAD_STATE (the model refuses, e.g. virtio-net in ring mode) with
 * nothing changed; ERR_FULL, the device then on no switch, when all
 * SWITCH_MAX_PORTS ports are taken.
 */
export function nsw_attach(sw: i32, kind: u32, h: u32): i32 { return nswAttach(sw, kind, h); }

/** Take device (kind, h) off its switch (OK also when it is on none); its memberships and learned addresses go. */
export function nsw_detach(kind: u32, h: u32): i32 { return nswDetach(kind, h); }

/**
 * Send the `len`-byte frame at `ioOff` (I/O buffer) into the switch device
 * (kind, h) is a port of, as if that port had sent it (its source address
 * is learned there): what the host sends on a NIC's behalf, such as the
 * RARP of an announce. ERR_BAD_STATE when the device is on no switch,
 * ERR_INVALID_ARG for a range outside the I/O buffer or a frame shorter
 * than an Ethernet header.
 */
export function nsw_send(kind: u32, h: u32, ioOff: u32, len: u32): i32 {
  if (len < 14 || !ioRangeOk(ioOff, len)) return Status.ERR_INVALID_ARG;
  const sw = nswOf(kind, h);
  if (sw <= 0) return Status.ERR_BAD_STATE;
  return switchForward(sw, portId(kind, h), ioPtr() + ioOff, len) ? Status.OK : Status.ERR_BAD_HANDLE;
}

/**
 * Port (kind, h) of `sw` accepts unicast address macHi:macLo besides its
 * own (the guest listed it: virtio MAC_TABLE_SET, 8254x RAR): the address
 * goes into the forwarding database on that port, so frames to it go there
 * instead of being flooded. The database is a cache: a station that later
 * sends from the address elsewhere moves it, and a forgotten one floods,
 * so nothing is lost. ERR_INVALID_ARG for a group address; errors as nsw_join.
 */
export function nsw_unicast_add(sw: i32, kind: u32, h: u32, macHi: u32, macLo: u32): i32 {
  const i = nswPortIndex(sw, kind, h); if (i < 0) return -i;
  if (macHi > 0xffff || ((macHi >> 8) & 1) != 0) return Status.ERR_INVALID_ARG;
  swLearn(sw, mac(macHi, macLo), portId(kind, h));
  return Status.OK;
}

/** Withdraw port (kind, h)'s extra unicast address macHi:macLo (the database forgets it if it still names this port); errors as nsw_unicast_add. */
export function nsw_unicast_remove(sw: i32, kind: u32, h: u32, macHi: u32, macLo: u32): i32 {
  const i = nswPortIndex(sw, kind, h); if (i < 0) return -i;
  if (macHi > 0xffff || ((macHi >> 8) & 1) != 0) return Status.ERR_INVALID_ARG;
  swForget(sw, mac(macHi, macLo), portId(kind, h));
  return Status.OK;
}

/** Bytes of linear memory the switch tables take (the first nsw_create carves them for every switch of the instance): what a NIC configured onto a switch adds to its plan. */
export function nsw_memory_bytes(): i64 { return <i64>swCost(); }

/** The switch device (kind, h) is a port of, 0 for none. */
export function nsw_port_switch(kind: u32, h: u32): i32 { return nswOf(kind, h); }

/**
 * Port (kind, h) of `sw` joins multicast group macHi:macLo: frames to it are
 * forwarded to the port from now on. OK (also when already a member);
 * ERR_FULL, counted in JOINS_REFUSED, when the switch holds
 * SWITCH_MAX_GROUPS groups; ERR_INVALID_ARG for a unicast or the broadcast
 * address; ERR_BAD_HANDLE / ERR_BAD_STATE for an unknown switch or a device
 * that is not its port.
 */
export function nsw_join(sw: i32, kind: u32, h: u32, macHi: u32, macLo: u32): i32 {
  const i = nswPortIndex(sw, kind, h); if (i < 0) return -i;
  if (macHi > 0xffff) return Status.ERR_INVALID_ARG;
  return nswJoin(sw, <u32>i, mac(macHi, macLo));
}

/** Port (kind, h) of `sw` leaves group macHi:macLo (OK also when it was not a member); errors as nsw_join. */
export function nsw_leave(sw: i32, kind: u32, h: u32, macHi: u32, macLo: u32): i32 {
  const i = nswPortIndex(sw, kind, h); if (i < 0) return -i;
  if (macHi > 0xffff) return Status.ERR_INVALID_ARG;
  return nswLeave(sw, <u32>i, mac(macHi, macLo));
}

/** Port (kind, h) of `sw` takes every multicast frame (on = 1) or only its groups' (0); errors as nsw_join. */
export function nsw_allmulti(sw: i32, kind: u32, h: u32, on: u32): i32 {
  const i = nswPortIndex(sw, kind, h); if (i < 0) return -i;
  if (on > 1) return Status.ERR_INVALID_ARG;
  nswAllMulti(sw, <u32>i, on != 0);
  return Status.OK;
}

/** 1 if port (kind, h) of `sw` is all-multicast, 0 if not, or -Status as nsw_join. */
export function nsw_port_allmulti(sw: i32, kind: u32, h: u32): i32 {
  const i = nswPortIndex(sw, kind, h); if (i < 0) return i;
  return <i32>((swAllMulti(sw) >> <u32>i) & 1);
}

/**
 * The groups port (kind, h) of `sw` joined: up to `max` of them as 8 bytes
 * each (the MAC in wire order, two zero bytes) at `ioOff` in the I/O buffer.
 * Returns how many it has in all (more than `max`: call again with more
 * room), or -Status.
 */
export function nsw_groups(sw: i32, kind: u32, h: u32, ioOff: u32, max: u32): i32 {
  const i = nswPortIndex(sw, kind, h); if (i < 0) return i;
  if (!ioRangeOk(ioOff, <u64>max * 8)) return -Status.ERR_RANGE;
  return <i32>swGroupsOf(sw, <u32>i, ioPtr() + <usize>ioOff, max);
}

/** Address of port (kind, h) of `sw`'s u64 counters (SWITCH_PORT_COUNTERS of them, named by net/defs.ts SwitchCounter), 0 when it is not a port of `sw`. */
export function nsw_counters_ptr(sw: i32, kind: u32, h: u32): usize {
  const i = nswPortIndex(sw, kind, h);
  return i < 0 ? 0 : swCounters(sw, <u32>i);
}
