// NE2000 receive path: the DP8390's address filter, the receive buffer ring
// in the on-card RAM, and the bounded backlog that replaces silent drops.
//
// Filter order (DP8390D data sheet, RCR and "Address Matching"), on the
// shared RX filter engine (net/filter.ts: PAR is its exact entry 0, MAR its
// 64-bit CRC hash):
//   1. broadcast destination (all ones)  → accepted iff RCR.AB;
//   2. group destination (I/G bit set)   → accepted iff RCR.AM and the MAR bit
//      selected by the top 6 bits of the destination's CRC-32 is set (bits
//      5-3 pick MAR0-7, bits 2-0 the bit): the 64-bit hash filter;
//   3. individual destination            → accepted iff RCR.PRO (promiscuous
//      physical) or it equals PAR0-5.
// PRO accepts every individual address but no group address by itself: a
// promiscuous driver also sets AM and all of MAR (Linux's 8390 does). RSR.PHY
// marks group (multicast or broadcast) frames.
//
// The ring (data sheet "Packet Reception"): frames are stored from page CURR
// as a 4-byte header (RSR, next page, byte count low/high — the count
// includes the header) and the frame, wrapping from PSTOP to PSTART; CURR
// moves past the frame. The DMA never enters page BNRY, so a frame needing
// n pages fits when n ≤ (BNRY − CURR) mod (PSTOP − PSTART): the driver's
// BNRY trails the next frame it will read by one page. Linux writes
// BNRY = next − 1 even when the next frame is at PSTART, i.e. PSTART − 1;
// that names page PSTOP − 1 in ring order and is read so. Any other BNRY
// outside the ring is never met by the chip's comparator: frames are then
// stored without the overwrite check, as the chip does (RX_NO_BOUNDARY).
//
// ISR.PRX stays set when the driver acknowledges it while the ring still
// holds packets it has not released (rxUnread). On the chip a later arrival
// would set it again; with the backlog the later arrivals are these very
// frames, so a driver that reads a budget of packets per pass (Linux's 8390
// reads 9) and then acknowledges is interrupted again instead of leaving them
// in the ring until some other frame comes.
//
// Back-pressure: when the ring has no room, an accepted frame waits in the
// device's backlog (bounded, in arrival order) and enters the ring when the
// driver frees pages by moving BNRY (or reprograms the ring, or starts the
// NIC). Only when the backlog is full too is a frame lost: then ISR.OVW and
// ISR.RST are set, CNTR2 and RSR.MPA count it, as a ring overflow does on the
// chip. The backlog is emptied by a board reset (its frames count as dropped).

import { Status } from "../core/status";
import {
  RCR_AB, RCR_AM, RCR_PRO, RCR_MON, RSR_PRX, RSR_PHY, RSR_MPA, RSR_DIS, ISR_PRX, ISR_OVW, ISR_RST, ISR_CNT, TCR_LB_MASK,
  RX_HEADER, MIN_FRAME, MAX_FRAME, ETH_HEADER, SLOT_BYTES, RAM_START, RAM_FIRST_PAGE, RAM_END_PAGE, CR_STA, Ne2kCounter,
} from "./defs";
import { Ne2k, count, countN, updateLine } from "./device";
import { AddrClass, addrClass, macLoad, rxfExactHas, rxfHash64Has } from "../net/filter";

/** Outcomes of a ring store. */
const STORED: i32 = 0;
const NO_ROOM: i32 = 1;
const NEVER_FITS: i32 = 2;
const RING_INVALID: i32 = 3;

/** RSR bits for a frame the filter accepts (PRX, PHY for group), 0 if it refuses it. */
export function rxFilter(d: Ne2k, frame: usize): u32 {
  const rcr = d.rcr;
  const a = macLoad(frame);
  const cls = addrClass(a);
  if (cls == AddrClass.BROADCAST) return (rcr & RCR_AB) != 0 ? RSR_PRX | RSR_PHY : 0;
  if (cls == AddrClass.MULTICAST) return (rcr & RCR_AM) != 0 && rxfHash64Has(d.filt, frame) ? RSR_PRX | RSR_PHY : 0;
  return (rcr & RCR_PRO) != 0 || rxfExactHas(d.filt, a) ? RSR_PRX : 0;
}

/** Receiving: started and not in loopback (in loopback the receiver takes only the device's own frames). */
// @ts-ignore: decorator
@inline function receiverOn(d: Ne2k): bool { return (d.cr & CR_STA) != 0 && (d.tcr & TCR_LB_MASK) == 0; }

/** Count a frame the chip missed in CNTR2 (ISR.CNT when its top bit sets) and RSR.MPA. */
function tallyMissed(d: Ne2k): void {
  if (d.cntr2 < 0xff) d.cntr2++;
  if (d.cntr2 & 0x80) d.isr |= ISR_CNT;
  d.rsr |= RSR_MPA;
}

/**
 * A frame of `len` bytes at `src` (linear memory, not in a backlog slot)
 * from the wire. OK when stored, backlogged, filtered or not received (the
 * NIC is offline: as on the wire); ERR_FULL when lost and counted;
 * ERR_INVALID_ARG for a length outside 14..MAX_FRAME.
 */
export function rxFromHost(d: Ne2k, src: usize, len: u32): i32 {
  if (len < ETH_HEADER || len > MAX_FRAME) { count(d, Ne2kCounter.RX_INVALID); return Status.ERR_INVALID_ARG; }
  if (!receiverOn(d)) { count(d, Ne2kCounter.RX_OFFLINE); return Status.OK; }
  return rxAccept(d, src, len);
}

/** A frame the device transmitted in loopback mode, back at its own receiver. */
export function rxLoopback(d: Ne2k, src: usize, len: u32): void {
  rxAccept(d, src, len);
}

/** The filter's verdict on `src` with its counting, and monitor mode's: RSR bits to store the frame with, or 0 when it is not stored. */
function judge(d: Ne2k, src: usize): u32 {
  const status = rxFilter(d, src);
  if (status == 0) {
    count(d, Ne2kCounter.RX_FILTERED);
    if (load<u8>(src) & 1) count(d, Ne2kCounter.RX_MULTICAST_FILTERED);
    return 0;
  }
  if (d.rcr & RCR_MON) {
    count(d, Ne2kCounter.RX_MONITOR);
    d.rsr = status | RSR_MPA | RSR_DIS; // DIS: the receiver is in monitor mode (data sheet, RSR)
    tallyMissed(d);
    updateLine(d);
    return 0;
  }
  return status;
}

/** Whether the backlog holds a frame not yet judged (held while quiesced): later frames queue behind it unjudged too. */
function heldAhead(d: Ne2k): bool {
  if (d.quiesced != 0) return true;
  if (d.backlogCount == 0) return false;
  let k = d.backlogHead + d.backlogCount - 1;
  if (k >= d.backlogCap) k -= d.backlogCap;
  return load<u32>(d.backlog + <usize>k * SLOT_BYTES, 4) == 0;
}

function rxAccept(d: Ne2k, src: usize, len: u32): i32 {
  // Held (status 0): the filter may change before the receiver runs again, so the frame is judged on delivery.
  const held = heldAhead(d);
  const status = held ? 0 : judge(d, src);
  if (!held && status == 0) return Status.OK;
  if (d.backlogCount == 0 && !held) {
    const r = ringStore(d, src, len, status);
    if (r == STORED) { updateLine(d); return Status.OK; }
    if (r == NEVER_FITS) { count(d, Ne2kCounter.RX_TOO_BIG); tallyMissed(d); updateLine(d); return Status.ERR_FULL; }
    if (r == RING_INVALID) count(d, Ne2kCounter.RX_RING_INVALID);
  }
  if (d.backlogCount < d.backlogCap) {
    let k = d.backlogHead + d.backlogCount;
    if (k >= d.backlogCap) k -= d.backlogCap;
    const s = d.backlog + <usize>k * SLOT_BYTES;
    store<u32>(s, max<u32>(len, MIN_FRAME));
    store<u32>(s, status, 4);
    // len ≤ MAX_FRAME ≤ SLOT_BYTES - 8; a runt is padded as the sender's MAC would.
    memory.copy(s + 8, src, len);
    if (len < MIN_FRAME) memory.fill(s + 8 + len, 0, MIN_FRAME - len);
    d.backlogCount++;
    count(d, Ne2kCounter.RX_BACKLOGGED);
    if (held && d.quiesced == 0) rxDrain(d);
    return Status.OK;
  }
  count(d, Ne2kCounter.RX_DROPPED);
  count(d, Ne2kCounter.OVERFLOWS);
  d.isr |= ISR_OVW | ISR_RST;
  tallyMissed(d);
  // Quiesced: the overflow is recorded, the line moves at ne2k_resume (no interrupt before the VM runs).
  if (d.quiesced == 0) updateLine(d);
  return Status.ERR_FULL;
}

/** Move backlog frames into the ring while they fit (bounded: the ring fills within one ring's worth of frames). */
export function rxDrain(d: Ne2k): void {
  let moved = false;
  while (d.backlogCount != 0 && receiverOn(d) && d.quiesced == 0) {
    const s = d.backlog + <usize>d.backlogHead * SLOT_BYTES;
    if (load<u32>(s, 4) == 0) store<u32>(s, judge(d, s + 8), 4);
    const status = load<u32>(s, 4);
    if (status != 0) {
      const r = ringStore(d, s + 8, load<u32>(s), status);
      if (r == NO_ROOM || r == RING_INVALID) break;
      if (r == NEVER_FITS) { count(d, Ne2kCounter.RX_TOO_BIG); tallyMissed(d); }
      else count(d, Ne2kCounter.BACKLOG_DRAINED);
    }
    d.backlogHead = d.backlogHead + 1 == d.backlogCap ? 0 : d.backlogHead + 1;
    d.backlogCount--;
    moved = true;
  }
  if (moved) {
    // Frames left the ring's way: an overflow's RST clears once room was made (data sheet, ISR.RST).
    if ((d.cr & CR_STA) != 0) d.isr &= ~ISR_RST;
    updateLine(d);
  }
}

/**
 * Whether the ring holds packets the driver has not released: BNRY + 1 (in
 * ring order) is not CURR. False when BNRY is outside the ring (the chip
 * then does not know either).
 */
export function rxUnread(d: Ne2k): bool {
  if (!ringValid(d)) return false;
  let b = d.bnry;
  if (b == d.pstart - 1) b = d.pstop - 1;
  if (b < d.pstart || b >= d.pstop) return false;
  const next = b + 1 == d.pstop ? d.pstart : b + 1;
  return next != d.curr;
}

/** Whether PSTART/PSTOP/CURR describe a ring inside the buffer RAM with CURR on it. */
export function ringValid(d: Ne2k): bool {
  return d.pstart >= RAM_FIRST_PAGE && d.pstart < d.pstop && d.pstop <= RAM_END_PAGE && d.curr >= d.pstart && d.curr < d.pstop;
}

/** Store one frame of `flen` bytes at CURR, padded to MIN_FRAME with zeros. */
function ringStore(d: Ne2k, frame: usize, flen: u32, status: u32): i32 {
  if (!ringValid(d)) return RING_INVALID;
  const len = max<u32>(flen, MIN_FRAME);
  const ring = d.pstop - d.pstart;
  const total = len + RX_HEADER;
  const pages = (total + 255) >> 8;
  if (pages > ring - 1) return NEVER_FITS;
  let b = d.bnry;
  if (b == d.pstart - 1) b = d.pstop - 1;
  if (b >= d.pstart && b < d.pstop) {
    const free = b >= d.curr ? b - d.curr : b + ring - d.curr;
    if (pages > free) return NO_ROOM;
  } else count(d, Ne2kCounter.RX_NO_BOUNDARY);
  let next = d.curr + pages;
  if (next >= d.pstop) next -= ring;
  // Header then frame, wrapping once at PSTOP. The ring lies in RAM (ringValid) and total < ring bytes.
  const startOff = (d.curr << 8) - RAM_START;
  const endOff = (d.pstop << 8) - RAM_START;
  const hdr = d.ram + startOff;
  store<u8>(hdr, <u8>status);
  store<u8>(hdr, <u8>next, 1);
  store<u8>(hdr, <u8>(total & 0xff), 2);
  store<u8>(hdr, <u8>(total >> 8), 3);
  const first = min<u32>(len, endOff - startOff - RX_HEADER);
  copyPadded(hdr + RX_HEADER, frame, 0, first, flen);
  if (first < len) copyPadded(d.ram + ((d.pstart << 8) - RAM_START), frame, first, len - first, flen);
  const endAddr = first < len ? (d.pstart << 8) + (len - first) : (d.curr << 8) + RX_HEADER + len;
  d.clda = endAddr & 0xffff;
  d.curr = next;
  d.lnpp = next;
  d.rsr = status;
  d.isr |= ISR_PRX;
  count(d, Ne2kCounter.RX_FRAMES);
  countN(d, Ne2kCounter.RX_BYTES, len);
  if (status & RSR_PHY) {
    if (load<u32>(frame) == 0xffffffff && load<u16>(frame, 4) == 0xffff) count(d, Ne2kCounter.RX_BROADCAST);
    else count(d, Ne2kCounter.RX_MULTICAST);
  }
  return STORED;
}

/** Copy bytes [from, from+n) of a frame of `flen` bytes to `dst`, zeros past its end. */
function copyPadded(dst: usize, frame: usize, from: u32, n: u32, flen: u32): void {
  const have: u32 = from >= flen ? 0 : min<u32>(n, flen - from);
  if (have) memory.copy(dst, frame + from, have);
  if (have < n) memory.fill(dst + have, 0, n - have);
}
