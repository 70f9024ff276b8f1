// Receive (§3.2): the filter, the bounded backlog and the descriptor ring.
//
// A host frame (no FCS) shorter than 60 bytes is padded to 60, as a wire
// delivers it. It is dropped, and counted, when the receiver is off or the
// link down; too long for the receiver (RCTL.LPE clear: 1514 bytes, 1518
// tagged; set: 16384) it counts in ROC; refused by the filter (filter.ts) it
// is counted and gone. An accepted frame goes to the guest at once when the
// ring has the descriptors it needs, else it waits in the backlog (a byte
// ring bounded in frames and bytes) until the driver gives buffers (RDT),
// in order, never truncated; a full backlog drops it (MPC, RXO).
//
// Storing a frame: the 802.1Q tag is stripped with CTRL.VME (status VP, the
// tag in the special field, §3.2.3.1); the FCS (CRC-32 of the frame as it
// came) is appended unless RCTL.SECRC; the bytes fill as many buffers of the
// RCTL.BSIZE/BSEX size as needed, EOP on the last. With RXCSUM.IPOFL/TUOFL
// the IPv4 header and TCP/UDP checksums are verified (IPCS/TCPCS, IPE/TCPE);
// otherwise IXSM is set. A descriptor whose buffer is outside guest RAM is
// written back empty with EOP and RXE, counted, and skipped. The packet
// checksum field of the descriptor (RXCSUM.PCSS) is written as 0.

import { Status } from "../core/status";
import { gmCheck, gmCopyIn, gmCopyOut } from "../core/guestmem";
import { E1k, reg, setReg, count, stat, stat64, descBuf, padBuf, frameBuf } from "./device";
import { E1K_MAX_RX_FRAME, E1kCounter } from "./defs";
import {
  R_RCTL, R_CTRL, R_VET, R_RDLEN, R_RDH, R_RDT, R_RDBAL, R_RDTR, R_RADV, R_RXCSUM, RCTL_EN, RCTL_LPE, RCTL_BSEX,
  RCTL_BSIZE_SHIFT, RCTL_SECRC, RCTL_RDMTS_SHIFT, CTRL_VME, RXCSUM_IPOFL, RXCSUM_TUOFL, RXD_STAT_DD, RXD_STAT_EOP,
  RXD_STAT_IXSM, RXD_STAT_VP, RXD_STAT_TCPCS, RXD_STAT_IPCS, RXD_ERR_TCPE, RXD_ERR_IPE, RXD_ERR_RXE, ICR_RXO,
  ICR_RXDMT0, DESC_BYTES, S_MPC, S_RNBC, S_ROC, S_GPRC, S_GORCL, S_TPR, S_TORL, S_BPRC, S_MPRC, S_PRC64, S_PRC127,
  S_PRC255, S_PRC511, S_PRC1023, S_PRC1522,
} from "./regs";
import { filterAccept } from "./filter";
import { irqCause, rxTimerKick } from "./irq";
import { linkUp } from "./phy";
import { ringBase, ringFault, ringSize } from "./rings";
import { sumBytes, fold, n16 } from "./csum";
import { crc32 } from "../net/filter";
import { busMaster } from "./pci";

const ETH_MIN: u32 = 60;
const BACKLOG_WRAP: u32 = 0xffffffff;

/** Receive buffer size from RCTL.BSIZE and BSEX (§13.4.22). */
export function rxBufSize(rctl: u32): u32 {
  const s = (rctl >> RCTL_BSIZE_SHIFT) & 3;
  if ((rctl & RCTL_BSEX) == 0) return 2048 >> s;
  return s == 0 ? 2048 : 32768 >> s; // BSEX with BSIZE 00 is reserved: taken as 2048
}

// ---- Backlog: records of u32 length + bytes padded to 4, in a byte ring ---------

// @ts-ignore: decorator
@inline function recBytes(len: u32): u32 { return 4 + ((len + 3) & ~<u32>3); }

function backlogPush(d: E1k, frame: usize, len: u32): bool {
  if (d.backlogFrames >= d.backlogMaxFrames) return false;
  const need = recBytes(len);
  let at = d.backlogTail;
  if (d.backlogFrames == 0) { d.backlogHead = 0; d.backlogTail = 0; d.backlogUsed = 0; at = 0; }
  if (d.backlogFrames == 0 || at >= d.backlogHead) {
    // Free space: [tail, cap) and then [0, head).
    if (d.backlogCap - at < need) {
      if (d.backlogFrames != 0 && d.backlogHead < need) return false;
      if (d.backlogFrames == 0 && d.backlogCap < need) return false;
      if (d.backlogCap - at >= 4) store<u32>(d.backlog + at, BACKLOG_WRAP);
      d.backlogUsed += d.backlogCap - at;
      at = 0;
    }
  } else if (d.backlogHead - at < need) return false;
  store<u32>(d.backlog + at, len);
  memory.copy(d.backlog + at + 4, frame, len);
  d.backlogTail = at + need;
  d.backlogUsed += need;
  d.backlogFrames++;
  return true;
}

/** Offset of the record at the head (following a wrap marker). */
export function backlogHeadRecord(d: E1k): u32 {
  let h = d.backlogHead;
  if (d.backlogCap - h < 4 || load<u32>(d.backlog + h) == BACKLOG_WRAP) {
    d.backlogUsed -= d.backlogCap - h;
    h = 0;
    d.backlogHead = 0;
  }
  return h;
}

function backlogPop(d: E1k, at: u32): void {
  const need = recBytes(load<u32>(d.backlog + at));
  d.backlogHead = at + need;
  d.backlogUsed -= need;
  d.backlogFrames--;
  if (d.backlogFrames == 0) { d.backlogHead = 0; d.backlogTail = 0; d.backlogUsed = 0; }
}

/** Append a frame to the backlog when restoring (no filter, no counting). */
export function backlogRestore(d: E1k, frame: usize, len: u32): bool { return backlogPush(d, frame, len); }

/** Offset of the record at or after `at` (following a wrap marker); walking starts at d.backlogHead. */
export function backlogRecordAt(d: E1k, at: u32): u32 {
  return d.backlogCap - at < 4 || load<u32>(d.backlog + at) == BACKLOG_WRAP ? 0 : at;
}

/** Offset just past the record at `at`. */
export function backlogAfter(d: E1k, at: u32): u32 { return at + recBytes(load<u32>(d.backlog + at)); }

// ---- Storing a frame in the ring -------------------------------------------------

/** Whether the receive DMA may run: ring valid and enabled, link up, bus mastering on, not quiesced. */
// @ts-ignore: decorator
@inline function rxRunning(d: E1k): bool { return d.rxRingOk == 1 && d.quiesced == 0 && busMaster(d); }

/** Status and error bits of the checksum offload on the stored frame (no FCS). */
function rxChecksum(d: E1k, p: usize, len: u32): u32 {
  const ctl = reg(d, R_RXCSUM);
  if ((ctl & (RXCSUM_IPOFL | RXCSUM_TUOFL)) == 0) return RXD_STAT_IXSM;
  let l3: u32 = 14;
  let et = (<u32>load<u8>(p, 12) << 8) | <u32>load<u8>(p, 13);
  if (et == (reg(d, R_VET) & 0xffff) && len >= 18) { et = (<u32>load<u8>(p, 16) << 8) | <u32>load<u8>(p, 17); l3 = 18; }
  if (et != 0x0800 || len < l3 + 20) return RXD_STAT_IXSM;
  const ip = p + l3;
  const vihl = <u32>load<u8>(ip);
  const ihl = (vihl & 15) * 4;
  const tot = (<u32>load<u8>(ip, 2) << 8) | <u32>load<u8>(ip, 3);
  if ((vihl >> 4) != 4 || ihl < 20 || tot < ihl || l3 + tot > len) return RXD_STAT_IXSM;
  let st: u32 = 0;
  if (ctl & RXCSUM_IPOFL) {
    st |= RXD_STAT_IPCS;
    if (fold(sumBytes(ip, ihl, 0)) != 0xffff) st |= RXD_ERR_IPE << 8;
  }
  const proto = <u32>load<u8>(ip, 9);
  const frag = ((<u32>load<u8>(ip, 6) << 8) | <u32>load<u8>(ip, 7)) & 0x3fff;
  const l4len = tot - ihl;
  if ((ctl & RXCSUM_TUOFL) != 0 && frag == 0 && ((proto == 6 && l4len >= 20) || (proto == 17 && l4len >= 8))) {
    const l4 = ip + ihl;
    if (!(proto == 17 && load<u16>(l4, 6) == 0)) {
      st |= RXD_STAT_TCPCS;
      const acc = sumBytes(ip + 12, 8, sumBytes(l4, l4len, n16(proto) + n16(l4len)));
      if (fold(acc) != 0xffff) st |= RXD_ERR_TCPE << 8;
    }
  }
  if (st == 0) return RXD_STAT_IXSM;
  count(d, E1kCounter.RX_CSUM_OFFLOADS);
  return st;
}

/** Write back descriptor `i`: length, packet checksum 0, status, errors, special (§3.2.3). */
function writeBack(d: E1k, base: u64, i: u32, len: u32, status: u32, errors: u32, special: u32): bool {
  store<u16>(descBuf, <u16>len);
  store<u16>(descBuf, 0, 2);
  store<u8>(descBuf, <u8>status, 4);
  store<u8>(descBuf, <u8>errors, 5);
  store<u16>(descBuf, <u16>special, 6);
  return gmCopyIn(base + <u64>i * DESC_BYTES + 8, descBuf, 8) == Status.OK;
}

/** Buffer address of descriptor `i`, or -1 (as u64 max) when the ring cannot be read. */
function bufferAddr(d: E1k, base: u64, i: u32): u64 {
  if (gmCopyOut(base + <u64>i * DESC_BYTES, descBuf + 8, 8) != Status.OK) return 0xffff_ffff_ffff_ffff;
  return load<u64>(descBuf + 8);
}

/**
 * Store one frame of `len` bytes at `frame` in the ring. 1: stored; 0: too
 * few descriptors now (or the ring stopped), nothing consumed; -1: the whole
 * ring could never hold it.
 */
function deliver(d: E1k, frame: usize, len: u32, now: u64): i32 {
  if (!rxRunning(d)) return 0;
  const rctl = reg(d, R_RCTL);
  // The frame as stored: tag stripped with VME, FCS appended unless SECRC.
  let stored = len;
  let status: u32 = RXD_STAT_EOP | RXD_STAT_DD;
  let special: u32 = 0;
  const tagged = len >= 18 && ((<u32>load<u8>(frame, 12) << 8) | <u32>load<u8>(frame, 13)) == (reg(d, R_VET) & 0xffff);
  if (tagged && (reg(d, R_CTRL) & CTRL_VME) != 0) {
    special = (<u32>load<u8>(frame, 14) << 8) | <u32>load<u8>(frame, 15);
    memory.copy(frameBuf, frame, 12);
    memory.copy(frameBuf + 12, frame + 16, len - 16);
    stored = len - 4;
    status |= RXD_STAT_VP;
  } else {
    memory.copy(frameBuf, frame, len);
  }
  const csumBits = rxChecksum(d, frameBuf, stored);
  status |= csumBits & 0xff;
  const errors = csumBits >> 8;
  if ((rctl & RCTL_SECRC) == 0) { store<u32>(frameBuf + stored, crc32(frame, len, 0)); stored += 4; }
  const bufSize = rxBufSize(rctl);
  const n = ringSize(d, R_RDLEN);
  const need = (stored + bufSize - 1) / bufSize;
  if (need > n - 1) return -1;
  const base = ringBase(d, R_RDBAL);
  // Skip descriptors whose buffers lie outside RAM. Bounded: each round consumes ≥ 1 descriptor or leaves.
  for (let round: u32 = 0; ; round++) {
    const h = reg(d, R_RDH), t = reg(d, R_RDT);
    const avail = t >= h ? t - h : n - h + t;
    if (avail < need || round > n) return 0;
    let bad: i32 = -1;
    for (let k: u32 = 0; k < need; k++) {
      const a = bufferAddr(d, base, (h + k) % n);
      if (a == 0xffff_ffff_ffff_ffff) { ringFault(d, true); return 0; }
      const chunk = min<u32>(bufSize, stored - k * bufSize);
      if (gmCheck(a, chunk) != Status.OK) { bad = <i32>k; break; }
    }
    if (bad < 0) break;
    for (let k: u32 = 0; k <= <u32>bad; k++) {
      if (!writeBack(d, base, (h + k) % n, 0, RXD_STAT_DD | RXD_STAT_EOP, RXD_ERR_RXE, 0)) { ringFault(d, true); return 0; }
      count(d, E1kCounter.RX_MALFORMED);
    }
    setReg(d, R_RDH, (h + <u32>bad + 1) % n);
  }
  const h = reg(d, R_RDH);
  for (let k: u32 = 0; k < need; k++) {
    const i = (h + k) % n;
    const a = bufferAddr(d, base, i);
    const chunk = min<u32>(bufSize, stored - k * bufSize);
    // Checked above; a host that fails a copy leaves the bytes as they were.
    gmCopyIn(a, frameBuf + <usize>(k * bufSize), chunk);
    const last = k + 1 == need;
    if (!writeBack(d, base, i, chunk, last ? status : RXD_STAT_DD, last ? errors : 0, last ? special : 0)) { ringFault(d, true); return 0; }
  }
  setReg(d, R_RDH, (h + need) % n);
  // Statistics count the frame as it came on the wire, with its FCS (§13.7).
  const wire = len + 4;
  stat(d, S_GPRC); stat(d, S_TPR);
  stat64(d, S_GORCL, wire); stat64(d, S_TORL, wire);
  if ((load<u8>(frame) & 1) != 0) {
    if (load<u32>(frame) == 0xffffffff && load<u16>(frame, 4) == 0xffff) stat(d, S_BPRC); else stat(d, S_MPRC);
  }
  stat(d, wire <= 64 ? S_PRC64 : wire <= 127 ? S_PRC127 : wire <= 255 ? S_PRC255 : wire <= 511 ? S_PRC511 : wire <= 1023 ? S_PRC1023 : S_PRC1522);
  count(d, E1kCounter.RX_FRAMES);
  count(d, E1kCounter.RX_BYTES, len);
  if (status & RXD_STAT_VP) count(d, E1kCounter.RX_VLAN_STRIPPED);
  rxTimerKick(d, reg(d, R_RDTR), reg(d, R_RADV), now);
  rxDmtCheck(d, now);
  return 1;
}

/** RXDMT0 when the free descriptors fall to the RDMTS fraction of the ring (§13.4.22). */
export function rxDmtCheck(d: E1k, now: u64): void {
  const n = ringSize(d, R_RDLEN);
  if (n == 0) return;
  const h = reg(d, R_RDH), t = reg(d, R_RDT);
  const free = t >= h ? t - h : n - h + t;
  const sel = (reg(d, R_RCTL) >> RCTL_RDMTS_SHIFT) & 3;
  const threshold = n >> (sel == 0 ? 1 : sel == 1 ? 2 : 3);
  if (free <= threshold) {
    if (d.rxDmtBelow == 0) { d.rxDmtBelow = 1; irqCause(d, ICR_RXDMT0, now); }
  } else d.rxDmtBelow = 0;
}

/**
 * Deliver backlogged frames in order while descriptors last. Bounded by the
 * backlog's frame count. A frame of the unjudged tail (held while quiesced)
 * is judged by the filter as it stands now.
 */
export function rxDrain(d: E1k, now: u64): void {
  while (d.backlogFrames != 0) {
    if (!rxRunning(d)) return;
    const at = backlogHeadRecord(d);
    const unjudged = d.backlogFrames <= d.rxUnjudged;
    if (!unjudged || filterAccept(d, d.backlog + at + 4, load<u32>(d.backlog + at))) {
      const r = deliver(d, d.backlog + at + 4, load<u32>(d.backlog + at), now);
      if (r == 0) return;
      if (r < 0) count(d, E1kCounter.RX_DROPPED); else count(d, E1kCounter.BACKLOG_DRAINED);
    }
    if (unjudged) d.rxUnjudged--;
    backlogPop(d, at);
  }
}

/**
 * A frame for the guest, `len` bytes at `frame` (linear memory, no FCS).
 * OK: stored, backlogged, or dropped as the hardware would (receiver off,
 * link down, oversize, filtered; all counted). ERR_FULL: dropped because the
 * backlog is full or the ring can never hold it (counted). ERR_INVALID_ARG:
 * shorter than 14 or longer than 16384 bytes.
 */
export function rxReceive(d: E1k, frame: usize, len: u32, now: u64): i32 {
  if (len < 14 || len > E1K_MAX_RX_FRAME) { count(d, E1kCounter.RX_INVALID); return Status.ERR_INVALID_ARG; }
  const rctl = reg(d, R_RCTL);
  if ((rctl & RCTL_EN) == 0 || !linkUp(d)) { count(d, E1kCounter.RX_NOT_READY); return Status.OK; }
  const tagged = len >= 18 && ((<u32>load<u8>(frame, 12) << 8) | <u32>load<u8>(frame, 13)) == (reg(d, R_VET) & 0xffff);
  const max: u32 = (rctl & RCTL_LPE) != 0 ? E1K_MAX_RX_FRAME : tagged ? 1518 : 1514;
  if (len > max) { stat(d, S_ROC); count(d, E1kCounter.RX_OVERSIZE); return Status.OK; }
  if (len < ETH_MIN) {
    memory.copy(padBuf, frame, len);
    memory.fill(padBuf + len, 0, ETH_MIN - len);
    frame = padBuf;
    len = ETH_MIN;
  }
  if (d.quiesced != 0 || d.rxUnjudged != 0) {
    // Held: the filter may change before the receive path starts again, so the frame is judged on delivery.
    if (!backlogPush(d, frame, len)) {
      stat(d, S_MPC);
      count(d, E1kCounter.RX_DROPPED);
      // Quiesced: the overrun is recorded, the line moves at e1k_resume (no interrupt before the VM runs).
      if (d.quiesced != 0) d.icr |= ICR_RXO;
      else irqCause(d, ICR_RXO, now);
      return Status.ERR_FULL;
    }
    d.rxUnjudged++;
    count(d, E1kCounter.RX_BACKLOGGED);
    if (d.quiesced == 0) rxDrain(d, now);
    return Status.OK;
  }
  if (!filterAccept(d, frame, len)) return Status.OK;
  if (d.backlogFrames != 0) rxDrain(d, now);
  if (d.backlogFrames == 0) {
    const r = deliver(d, frame, len, now);
    if (r == 1) return Status.OK;
    if (r < 0) { count(d, E1kCounter.RX_DROPPED); return Status.ERR_FULL; }
  }
  stat(d, S_RNBC);
  count(d, E1kCounter.RX_NO_BUFFER);
  if (!backlogPush(d, frame, len)) {
    stat(d, S_MPC);
    count(d, E1kCounter.RX_DROPPED);
    irqCause(d, ICR_RXO, now);
    return Status.ERR_FULL;
  }
  count(d, E1kCounter.RX_BACKLOGGED);
  return Status.OK;
}
