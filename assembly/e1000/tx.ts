// Transmit (§3.3): the descriptor ring from TDH to TDT, one packet at a time.
//
// Descriptors: legacy (CMD.DEXT clear, §3.3.3), context (DEXT, DTYP 0000b,
// §3.3.6) and data (DEXT, DTYP 0001b, §3.3.7). A context descriptor loads
// the checksum context, or with TUCMD.TSE the segmentation context. A packet
// is the descriptors up to the one with EOP; it is sent only once all of
// them are there (TDT past its EOP). Its bytes are gathered, then:
//  * legacy with CMD.IC: the checksum of [CSS, end) goes to CSO;
//  * data with POPTS.TXSM / IXSM: the TCP/UDP checksum of [TUCSS, TUCSE or
//    end) goes to TUCSO, the IP checksum of [IPCSS, IPCSE] to IPCSO;
//  * data with DCMD.TSE: TCP segmentation (§3.5) with the segmentation
//    context: each segment is the HDRLEN header plus up to MSS payload bytes;
//    per segment the IPv4 total length and identification (+1 per segment)
//    or the IPv6 payload length are set, the TCP sequence number advanced
//    and FIN/PSH kept only on the last segment (UDP: its length set), then
//    the checksums inserted as above, the TCP/UDP one over the pseudo-header
//    partial sum the driver left in the field plus the segment's length;
//  * with CTRL.VME and VLE on the EOP descriptor, an 802.1Q tag (VET, the
//    special field) is inserted after the addresses;
//  * with TCTL.PSP, frames shorter than 60 bytes are padded.
// Frames go to the host outbox (or, while the device is a port of the
// virtual switch, into the switch: port.ts); when it is full the ring stops where it is
// (TDH not advanced, a segmentation resumes at the next segment) until the
// host drains it. Descriptors with RS (or RPS) are written back with DD once
// their packet is sent; TXDW follows (delayed by TIDV/TADV with IDE), TXQE
// when the ring is empty. A malformed packet (unknown descriptor type, a
// context descriptor inside a packet, a buffer outside guest RAM, too long,
// shorter than 14 bytes, an inconsistent segmentation context) is counted,
// not sent, and its descriptors written back. Every loop is bounded by the
// ring size. Not modelled: collisions and retries, TIPG timing, the TXD_LOW
// threshold, TX FIFO registers beyond storage.

import { Status } from "../core/status";
import { gmCopyOut, gmCopyIn } from "../core/guestmem";
import { E1k, reg, setReg, count, stat, stat64, descBuf, frameBuf } from "./device";
import { E1kCounter } from "./defs";
import {
  R_TDBAL, R_TDLEN, R_TDH, R_TDT, R_TIDV, R_TADV, R_CTRL, R_VET, R_TCTL, TCTL_PSP, CTRL_VME, TXD_CMD_EOP, TXD_CMD_IC,
  TXD_CMD_RS, TXD_CMD_RPS, TXD_CMD_DEXT, TXD_CMD_VLE, TXD_CMD_IDE, TUCMD_TCP, TUCMD_IP, TUCMD_TSE, DCMD_TSE,
  TXD_STAT_DD, TXD_DTYP_CONTEXT, TXD_DTYP_DATA, POPTS_IXSM, POPTS_TXSM, ICR_TXQE, DESC_BYTES, E1K_MAX_TX_FRAME,
  E1K_MAX_TSO_PACKET, E1K_TX_OUT_BYTES, S_GPTC, S_TPT, S_GOTCL, S_TOTL, S_PTC64, S_PTC127, S_PTC255, S_PTC511,
  S_PTC1023, S_PTC1522, S_MPTC, S_BPTC, S_TSCTC, S_TSCTFC,
} from "./regs";
import { irqCause, txTimerKick } from "./irq";
import { linkUp } from "./phy";
import { ringBase, ringFault, ringSize } from "./rings";
import { busMaster } from "./pci";
import { sumBytes, fold, n16, putSum } from "./csum";
import { switchForward, nswOf } from "../net/switch";
import { portId } from "../net/ports";
import { DeviceKind } from "../core/defs";

const ETH_MIN: u32 = 60;
const MALFORMED: i32 = -2;
const STALLED: i32 = -1;

// @ts-ignore: decorator
@inline function be16(p: usize): u32 { return (<u32>load<u8>(p) << 8) | <u32>load<u8>(p, 1); }
// @ts-ignore: decorator
@inline function setBe16(p: usize, v: u32): void { store<u8>(p, <u8>(v >> 8)); store<u8>(p, <u8>v, 1); }

/** Whether the transmit DMA may run: ring valid and enabled, link up, bus mastering on, not quiesced. */
export function txRunning(d: E1k): bool { return d.txRingOk == 1 && d.quiesced == 0 && busMaster(d) && linkUp(d); }

/** Copy frame bytes [0, len) at `src` to the outbox, inserting a tag after the addresses when `tci` ≥ 0. */
function outbox(d: E1k, src: usize, len: u32, tci: i32): bool {
  const out: u32 = len + (tci >= 0 ? <u32>4 : 0);
  const padTo: u32 = (reg(d, R_TCTL) & TCTL_PSP) != 0 && out < ETH_MIN ? ETH_MIN : out;
  const need: u32 = 4 + ((padTo + 3) & ~<u32>3);
  if (E1K_TX_OUT_BYTES - d.txOutLen < need) return false;
  const o = d.txOut + <usize>d.txOutLen;
  store<u32>(o, padTo);
  const f = o + 4;
  if (tci >= 0) {
    memory.copy(f, src, 12);
    const vet = reg(d, R_VET);
    store<u8>(f, <u8>(vet >> 8), 12); store<u8>(f, <u8>vet, 13);
    store<u8>(f, <u8>(tci >> 8), 14); store<u8>(f, <u8>tci, 15);
    memory.copy(f + 16, src + 12, len - 12);
    count(d, E1kCounter.TX_VLAN_INSERTED);
  } else {
    memory.copy(f, src, len);
  }
  if (padTo > out) memory.fill(f + out, 0, padTo - out);
  const sw = nswOf(DeviceKind.E1000, d.handle);
  if (sw != 0) {
    // A switch port: the frame, composed where the next outbox record would go, goes into the switch instead.
    switchForward(sw, portId(DeviceKind.E1000, d.handle), f, padTo);
  } else {
    d.txOutLen += need;
    d.txOutFrames++;
  }
  // Statistics count the frame as it leaves, with its FCS (§13.7).
  const wire = padTo + 4;
  stat(d, S_GPTC); stat(d, S_TPT);
  stat64(d, S_GOTCL, wire); stat64(d, S_TOTL, wire);
  if ((load<u8>(f) & 1) != 0) {
    if (load<u32>(f) == 0xffffffff && load<u16>(f, 4) == 0xffff) stat(d, S_BPTC); else stat(d, S_MPTC);
  }
  stat(d, wire <= 64 ? S_PTC64 : wire <= 127 ? S_PTC127 : wire <= 255 ? S_PTC255 : wire <= 511 ? S_PTC511 : wire <= 1023 ? S_PTC1023 : S_PTC1522);
  count(d, E1kCounter.TX_FRAMES);
  count(d, E1kCounter.TX_BYTES, padTo);
  return true;
}

/** Insert a checksum of [start, end) at `at` in a frame of `len` bytes, if the offsets fit. */
function insertSum(d: E1k, p: usize, len: u32, start: u32, end: u32, at: u32): void {
  if (end == 0 || end > len) end = len;
  if (start >= end || at + 2 > len) return;
  putSum(p + <usize>at, sumBytes(p + <usize>start, end - start, 0));
  count(d, E1kCounter.TX_CSUM_OFFLOADS);
}

/** One frame with checksum offloads. STALLED when the outbox has no room. */
function sendOne(d: E1k, len: u32, legacy: bool, first: usize, tci: i32): i32 {
  const p = d.txBuf;
  if (legacy) {
    // CMD.IC: checksum from CSS to the end, at CSO (§3.3.3).
    if ((<u32>load<u8>(first, 11) & TXD_CMD_IC) != 0) insertSum(d, p, len, <u32>load<u8>(first, 13), 0, <u32>load<u8>(first, 10));
  } else {
    const popts = <u32>load<u8>(first, 13);
    const c = d.ctxCsum;
    if (popts & POPTS_TXSM) insertSum(d, p, len, <u32>load<u8>(c, 4), <u32>load<u16>(c, 6) == 0 ? 0 : <u32>load<u16>(c, 6) + 1, <u32>load<u8>(c, 5));
    if (popts & POPTS_IXSM) insertSum(d, p, len, <u32>load<u8>(c), <u32>load<u16>(c, 2) == 0 ? 0 : <u32>load<u16>(c, 2) + 1, <u32>load<u8>(c, 1));
  }
  return outbox(d, p, len, tci) ? 0 : STALLED;
}

/** TCP/UDP segmentation of the gathered packet (§3.5). STALLED with d.txSegDone set; MALFORMED for a bad context. */
function sendTso(d: E1k, len: u32, first: usize, tci: i32): i32 {
  const c = d.ctxTso;
  const ipcss = <u32>load<u8>(c), ipcso = <u32>load<u8>(c, 1), ipcse = <u32>load<u16>(c, 2);
  const tucss = <u32>load<u8>(c, 4), tucso = <u32>load<u8>(c, 5);
  const paylen = load<u32>(c, 8) & 0xfffff;
  const tucmd = <u32>load<u8>(c, 11);
  const hdr = <u32>load<u8>(c, 13);
  const mss = <u32>load<u16>(c, 14);
  const popts = <u32>load<u8>(first, 13);
  const ipv4 = (tucmd & TUCMD_IP) != 0, tcp = (tucmd & TUCMD_TCP) != 0;
  if ((tucmd & TUCMD_TSE) == 0 || mss == 0 || hdr == 0 || hdr > len || paylen != len - hdr ||
      ipcss + (ipv4 ? 20 : 40) > hdr || tucss < ipcss + (ipv4 ? 20 : 40) || tucss + (tcp ? 20 : 8) > hdr ||
      tucso + 2 > hdr || ipcso + 2 > hdr || hdr + mss > E1K_MAX_TX_FRAME - 4) {
    stat(d, S_TSCTFC);
    return MALFORMED;
  }
  const segs: u32 = paylen == 0 ? 1 : (paylen + mss - 1) / mss;
  const s = frameBuf;
  // Bounded: at most PAYLEN / MSS ≤ 2^20 segments, and the outbox stops the loop when full.
  for (let i = d.txSegDone; i < segs; i++) {
    const off = i * mss;
    const plen = min<u32>(mss, paylen - off);
    const flen = hdr + plen;
    memory.copy(s, d.txBuf, hdr);
    memory.copy(s + hdr, d.txBuf + hdr + off, plen);
    if (ipv4) {
      setBe16(s + ipcss + 2, flen - ipcss);
      setBe16(s + ipcss + 4, (be16(s + ipcss + 4) + i) & 0xffff);
    } else {
      setBe16(s + ipcss + 4, flen - ipcss - 40);
    }
    if (tcp) {
      const sp = s + tucss + 4;
      const seq = bswap<u32>(load<u32>(sp)) + off;
      store<u32>(sp, bswap<u32>(seq));
      if (i + 1 != segs) store<u8>(s + tucss + 13, load<u8>(s + tucss + 13) & ~<u8>0x09); // FIN, PSH only on the last
    } else {
      setBe16(s + tucss + 4, flen - tucss);
    }
    if (popts & POPTS_TXSM) {
      // The driver left the pseudo-header sum without the length in the field: add this segment's.
      const f = s + tucso;
      store<u16>(f, <u16>fold(<u64>load<u16>(f) + n16(flen - tucss)));
      putSum(f, sumBytes(s + tucss, flen - tucss, 0));
      count(d, E1kCounter.TX_CSUM_OFFLOADS);
    }
    if (popts & POPTS_IXSM) {
      store<u16>(s + ipcso, 0);
      insertSum(d, s, flen, ipcss, ipcse == 0 ? 0 : ipcse + 1, ipcso);
    }
    if (!outbox(d, s, flen, tci)) { d.txSegDone = i; return STALLED; }
    count(d, E1kCounter.TX_TSO_SEGMENTS);
  }
  d.txSegDone = 0;
  stat(d, S_TSCTC);
  return 0;
}

/** Read descriptor `i` into descBuf at `at`. */
// @ts-ignore: decorator
@inline function readDesc(base: u64, i: u32, at: usize): bool {
  return gmCopyOut(base + <u64>i * DESC_BYTES, at, DESC_BYTES) == Status.OK;
}

/** Write back DD on the descriptors h..h+k-1 that ask for it, with their interrupts. */
function writeBackPacket(d: E1k, base: u64, n: u32, h: u32, k: u32, now: u64): bool {
  const b = descBuf + 32;
  // Bounded: k ≤ ring size.
  for (let j: u32 = 0; j < k; j++) {
    const a = base + <u64>((h + j) % n) * DESC_BYTES;
    if (gmCopyOut(a + 11, b, 2) != Status.OK) return false;
    const cmd = <u32>load<u8>(b);
    if ((cmd & (TXD_CMD_RS | TXD_CMD_RPS)) == 0) continue;
    store<u8>(b, <u8>((<u32>load<u8>(b, 1) & 0xf0) | TXD_STAT_DD));
    if (gmCopyIn(a + 12, b, 1) != Status.OK) return false;
    txTimerKick(d, (cmd & TXD_CMD_IDE) != 0, reg(d, R_TIDV), reg(d, R_TADV), now);
  }
  return true;
}

/**
 * The packet (or context descriptor) at TDH. Returns the descriptors it took
 * (≥ 1), 0 when its EOP is not there yet, STALLED when the outbox is full.
 */
function txPacket(d: E1k, base: u64, n: u32, h: u32, t: u32, now: u64): i32 {
  const first = descBuf;
  if (!readDesc(base, h, first)) { ringFault(d, false); return STALLED; }
  const cmd0 = <u32>load<u8>(first, 11);
  const dext = (cmd0 & TXD_CMD_DEXT) != 0;
  const dtyp = (<u32>load<u8>(first, 10) >> 4) & 15;
  if (dext && dtyp == TXD_DTYP_CONTEXT) {
    memory.copy((cmd0 & TUCMD_TSE) != 0 ? d.ctxTso : d.ctxCsum, first, DESC_BYTES);
    if (!writeBackPacket(d, base, n, h, 1, now)) { ringFault(d, false); return STALLED; }
    return 1;
  }
  const tso = dext && dtyp == TXD_DTYP_DATA && (cmd0 & DCMD_TSE) != 0;
  const limit: u32 = tso ? E1K_MAX_TSO_PACKET : E1K_MAX_TX_FRAME - 4;
  let bad = dext && dtyp != TXD_DTYP_DATA;
  let len: u32 = 0;
  let k: u32 = 0;
  let tci: i32 = -1;
  const cur = descBuf + 16;
  // Gather up to EOP. Bounded: at most the n - 1 descriptors between TDH and TDT.
  let i = h;
  for (;;) {
    if (i == t) return 0;
    const dp = k == 0 ? first : cur;
    if (k != 0 && !readDesc(base, i, dp)) { ringFault(d, false); return STALLED; }
    const cmd = <u32>load<u8>(dp, 11);
    const ext = (cmd & TXD_CMD_DEXT) != 0;
    const ty = (<u32>load<u8>(dp, 10) >> 4) & 15;
    if (k != 0 && ext && ty == TXD_DTYP_CONTEXT) { bad = true; break; } // a context inside a packet ends it, unsent
    if (ext != dext || (ext && ty != TXD_DTYP_DATA)) bad = true;
    const blen = ext ? load<u32>(dp, 8) & 0xfffff : <u32>load<u16>(dp, 8);
    if (!bad) {
      if (blen > limit - len || gmCopyOut(load<u64>(dp), d.txBuf + len, blen) != Status.OK) bad = true;
      else len += blen;
    }
    k++;
    i = i + 1 == n ? 0 : i + 1;
    if (cmd & TXD_CMD_EOP) {
      if ((cmd & TXD_CMD_VLE) != 0 && (reg(d, R_CTRL) & CTRL_VME) != 0) tci = <i32>load<u16>(dp, 14);
      break;
    }
  }
  let r: i32 = MALFORMED;
  if (!bad && len >= 14) r = tso ? sendTso(d, len, first, tci) : sendOne(d, len, !dext, first, tci);
  if (r == STALLED) return STALLED;
  if (r == MALFORMED) { count(d, E1kCounter.TX_MALFORMED); d.txSegDone = 0; }
  if (!writeBackPacket(d, base, n, h, k, now)) { ringFault(d, false); return STALLED; }
  return <i32>k;
}

/** Process the ring from TDH to TDT (a TDT write, TCTL.EN, the host draining the outbox, link up). */
export function txKick(d: E1k, now: u64): void {
  if (!txRunning(d)) return;
  const n = ringSize(d, R_TDLEN);
  const base = ringBase(d, R_TDBAL);
  const wasStalled = d.txStalled != 0;
  d.txStalled = 0;
  let sent = false;
  // Bounded: each round takes ≥ 1 of the < n descriptors between TDH and TDT, or stops.
  for (let round: u32 = 0; round < n; round++) {
    const h = reg(d, R_TDH), t = reg(d, R_TDT);
    if (h == t) break;
    const r = txPacket(d, base, n, h, t, now);
    if (r == STALLED) {
      if (d.txRingOk == 1) {
        d.txStalled = 1;
        if (!wasStalled) count(d, E1kCounter.TX_STALLS);
      }
      return;
    }
    if (r == 0) return;
    setReg(d, R_TDH, (h + <u32>r) % n);
    sent = true;
  }
  if (sent && reg(d, R_TDH) == reg(d, R_TDT)) irqCause(d, ICR_TXQE, now);
}

/** The host took the outbox: clear it and restart a ring that stopped on it. */
export function txDrained(d: E1k, now: u64): void {
  d.txOutLen = 0;
  d.txOutFrames = 0;
  if (d.txStalled != 0) txKick(d, now);
}
