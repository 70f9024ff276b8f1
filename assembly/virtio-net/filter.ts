// virtio-net's receive filter (virtio 1.2 §5.1.6.5.1/2): the receive modes,
// the primary MAC, the unicast and multicast tables and the VLAN filter the
// control queue sets, in virtio-net's own state layout (RF_*: it is saved
// verbatim in the device's envelope), composing the address and VLAN
// primitives of the RX filter engine (net/filter.ts).

import { AddrClass, ETH_P_8021Q, addrClass, macLoad, bitTest, rxfTci } from "../net/filter";

// Filter order (virtio 1.2 §5.1.6.5.1/2, as QEMU's receive_filter orders it):
//   1. promiscuous            → accept every frame (VLAN filter not applied);
//   2. VLAN (when enabled)    → an 802.1Q-tagged frame whose VID bit is clear is dropped;
//   3. broadcast destination  → dropped if nobcast, else accepted;
//   4. multicast destination  → dropped if nomulti; accepted if allmulti, if in the
//                               multicast table, or if that table overflowed; else dropped;
//   5. unicast destination    → dropped if nouni; accepted if alluni, if equal to the
//                               primary MAC, if in the unicast table, or if that table
//                               overflowed; else dropped.
// A table given more than FILTER_MAC_ENTRIES entries keeps none of them and
// accepts its whole class instead (the overflow rule), so no frame the driver
// asked for is lost.

export const FILTER_MAC_ENTRIES: u32 = 64;

import { RXF_PROMISC, RXF_ALLMULTI, RXF_ALLUNI, RXF_NOMULTI, RXF_NOUNI, RXF_NOBCAST } from "./defs";
export { RXF_PROMISC, RXF_ALLMULTI, RXF_ALLUNI, RXF_NOMULTI, RXF_NOUNI, RXF_NOBCAST };

// Region layout.
export const RF_FLAGS: usize = 0;
export const RF_UC_COUNT: usize = 4;
export const RF_MC_COUNT: usize = 8;
export const RF_UC_OVERFLOW: usize = 12;
export const RF_MC_OVERFLOW: usize = 16;
export const RF_VLAN_ON: usize = 20;
export const RF_MAC: usize = 24;        // 6 bytes + 2 pad
export const RF_UC: usize = 32;         // 64 × 6
export const RF_MC: usize = RF_UC + <usize>FILTER_MAC_ENTRIES * 6;
export const RF_VLAN: usize = RF_MC + <usize>FILTER_MAC_ENTRIES * 6; // 4096 bits
export const FILTER_BYTES: usize = RF_VLAN + 512;

/** Power-on filter: promiscuous (what a driver without CTRL_RX gets), empty tables, VLAN filter off. */
export function filterReset(f: usize, vlanFiltering: bool): void {
  const mac0 = load<u32>(f + RF_MAC);
  const mac1 = load<u16>(f + RF_MAC, 4);
  memory.fill(f, 0, FILTER_BYTES);
  store<u32>(f + RF_MAC, mac0);
  store<u16>(f + RF_MAC, mac1, 4);
  store<u32>(f + RF_FLAGS, RXF_PROMISC);
  store<u32>(f + RF_VLAN_ON, vlanFiltering ? 1 : 0);
}

export function filterSetMac(f: usize, src: usize): void { memory.copy(f + RF_MAC, src, 6); }

export function filterSetFlag(f: usize, flag: u32, on: bool): void {
  const v = load<u32>(f + RF_FLAGS);
  store<u32>(f + RF_FLAGS, on ? v | flag : v & ~flag);
}

export function filterSetVlanFiltering(f: usize, on: bool): void { store<u32>(f + RF_VLAN_ON, on ? 1 : 0); }

/** Set (on) or clear a VLAN id; vid < 4096 is the caller's check. */
export function filterVlan(f: usize, vid: u32, on: bool): void {
  const p = f + RF_VLAN + <usize>(vid >> 3);
  const b = <u32>load<u8>(p);
  store<u8>(p, <u8>(on ? b | (1 << (vid & 7)) : b & ~(1 << (vid & 7))));
}

/**
 * Replace the unicast (`multicast` false) or multicast table with `n` entries
 * of 6 bytes at `src` (linear memory). More than FILTER_MAC_ENTRIES → overflow.
 */
export function filterSetTable(f: usize, multicast: bool, src: usize, n: u32): void {
  const cnt = multicast ? RF_MC_COUNT : RF_UC_COUNT;
  const ovf = multicast ? RF_MC_OVERFLOW : RF_UC_OVERFLOW;
  const tab = multicast ? RF_MC : RF_UC;
  if (n > FILTER_MAC_ENTRIES) {
    store<u32>(f + cnt, 0); store<u32>(f + ovf, 1);
    return;
  }
  memory.copy(f + tab, src, <usize>n * 6);
  store<u32>(f + cnt, n); store<u32>(f + ovf, 0);
}

// @ts-ignore: decorator
@inline function macEq(a: usize, b: usize): bool {
  return load<u32>(a) == load<u32>(b) && load<u16>(a, 4) == load<u16>(b, 4);
}

function inTable(f: usize, tab: usize, n: u32, dst: usize): bool {
  // Bounded: n ≤ FILTER_MAC_ENTRIES (filterSetTable).
  for (let i: u32 = 0; i < n; i++) if (macEq(f + tab + <usize>i * 6, dst)) return true;
  return false;
}

/** Whether the frame of `len` bytes at `frame` (linear memory, len ≥ 14) passes the filter. */
export function filterAccept(f: usize, frame: usize, len: u32): bool {
  const flags = load<u32>(f + RF_FLAGS);
  if (flags & RXF_PROMISC) return true;
  if (load<u32>(f + RF_VLAN_ON) != 0) {
    const tci = rxfTci(frame, len, ETH_P_8021Q);
    if (tci >= 0 && !bitTest(f + RF_VLAN, <u32>tci & 0xfff)) return false;
  }
  const cls = addrClass(macLoad(frame));
  if (cls == AddrClass.BROADCAST) return (flags & RXF_NOBCAST) == 0;
  if (cls == AddrClass.MULTICAST) {
    if (flags & RXF_NOMULTI) return false;
    if (flags & RXF_ALLMULTI) return true;
    if (load<u32>(f + RF_MC_OVERFLOW) != 0) return true;
    return inTable(f, RF_MC, load<u32>(f + RF_MC_COUNT), frame);
  }
  if (flags & RXF_NOUNI) return false;
  if (flags & RXF_ALLUNI) return true;
  if (macEq(f + RF_MAC, frame)) return true;
  if (load<u32>(f + RF_UC_OVERFLOW) != 0) return true;
  return inTable(f, RF_UC, load<u32>(f + RF_UC_COUNT), frame);
}
