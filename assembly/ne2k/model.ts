// NE2000 register model: a DP8390D network interface controller on an
// NE2000-compatible board (the RTL8029AS on PCI, 10ec:8029, BAR0 = 32 I/O
// ports; or an ISA board at a port the host chooses), after the National
// Semiconductor DP8390D data sheet (July 1995) and the RTL8029AS data sheet.
//
// Port window (32 ports): 0x00-0x0f the register page selected by CR.PS,
// 0x10-0x17 the remote-DMA data port, 0x18-0x1f the reset port (a read
// resets the board; a write does nothing). A 16/32-bit access to the
// register ports is split into byte accesses, as a bus does for an 8-bit
// device; one that straddles the register, data and reset ranges is refused
// (BAD_ACCESS: reads ones, writes dropped).
//
// Registers implemented (R read, W write):
//   all pages  0x00 CR (R/W): STP, STA, TXP, RD2-0, PS1-0
//   page 0  R: 0x01/02 CLDA0/1, 0x03 BNRY, 0x04 TSR, 0x05 NCR (0: no
//              collisions), 0x06 FIFO (0: the FIFO is not modelled), 0x07 ISR,
//              0x08/09 CRDA0/1, 0x0a/0b RTL8029 ID 'P' 'C' (PCI; 0 on ISA),
//              0x0c RSR, 0x0d-0x0f CNTR0-2 (tally counters, cleared by the read)
//           W: 0x01 PSTART, 0x02 PSTOP, 0x03 BNRY, 0x04 TPSR, 0x05/06 TBCR0/1,
//              0x07 ISR (write 1 to clear bits 0-6), 0x08/09 RSAR0/1,
//              0x0a/0b RBCR0/1, 0x0c RCR, 0x0d TCR, 0x0e DCR, 0x0f IMR
//   page 1 RW: 0x01-0x06 PAR0-5, 0x07 CURR, 0x08-0x0f MAR0-7 (the multicast
//              hash filter, writable and read back)
//   page 2  R: 0x01 PSTART, 0x02 PSTOP, 0x03 RNPP, 0x04 TPSR, 0x05 LNPP,
//              0x06/07 address counter, 0x0c RCR, 0x0d TCR, 0x0e DCR, 0x0f IMR
//              (0x08-0x0b reserved: read 0)
//           W: 0x01/02 CLDA0/1, 0x03 RNPP, 0x05 LNPP, 0x06/07 address counter
//              (diagnostic values, stored and read back; they steer nothing;
//              other page-2 writes are dropped and counted, REG_UNMODELLED)
//   page 3 (RTL8029AS, PCI only) RW: 0x01 9346CR (EEM bits), 0x03 CONFIG0
//              (R, 0), 0x05 CONFIG2, 0x06 CONFIG3 (writable while 9346CR.EEM = 11;
//              FUDUP is stored: the link has no collisions either way)
//   data port: remote read and remote write, 8-bit (DCR.WTS = 0: one byte per
//              byte of the access) and word mode (WTS = 1: one 16-bit transfer
//              per 8/16-bit access, two per 32-bit access), DCR.BOS byte order,
//              the address wrapping from PSTOP to PSTART as on the chip; RDC
//              when the count reaches 0 (at once for a count of 0)
//   memory the remote DMA sees: the station-address PROM at 0x0000-0x001f
//              (each byte doubled, 0x57 0x57 signature), the 16 KiB buffer RAM
//              at 0x4000-0x7fff; anything else reads 0xff and drops writes (DMA_OUTSIDE)
//   receive:   address filter (rx.ts over net/filter.ts: AB, AM with the MAR hash, PRO, PAR),
//              the ring PSTART/PSTOP/BNRY/CURR with the 4-byte header, RCR.MON
//              (RSR.MPA and DIS),
//              RSR with PHY, CNTR2 for frames missed; a full ring holds frames
//              in a bounded backlog (back-pressure); OVW only beyond that bound
//   transmit:  TPSR/TBCR from the buffer RAM, TSR.PTX, ISR.PTX, loopback
//              (TCR.LB ≠ 0) to the device's own receiver (tx.ts)
//   ISR/IMR:   the interrupt line is ISR & IMR (bits 0-6), level, and on PCI
//              gated by the command register's INTx disable; PRX stays set while
//              the ring holds packets the driver has not released (rx.ts)
//   PCI configuration (pci.ts): 10ec:8029, class 020000, BAR0 (32 I/O ports),
//              command I/O space and INTx disable, status bit 3, subsystem
//              10ec:8029, interrupt line (RW) and pin INTA#; no capabilities
//
// Not modelled (behaviour instead):
//   - send packet (RD = 011): refused (DMA_REFUSED) and taken as abort;
//     RD = 000 is "not allowed" by the data sheet and refused the same way
//     without touching a transfer in progress
//   - DCR.LS/LAS/FT (FIFO threshold, address size), TCR.CRC/ATD/OFST:
//     stored and read back, no effect (no FCS is generated or checked: frames
//     cross the host link without one, and none is stored in the ring)
//   - RCR.SEP and RCR.AR: stored, no effect: the host link carries no
//     errored frames, and runts are padded to 60 bytes as the sending MAC
//     would (IEEE 802.3 §4.2.3.3), so there is nothing for them to accept
//   - collisions, deferral, carrier: NCR and TSR's COL/ABT/CRS/FU/CDH/OWC
//     stay 0 except TSR.ABT for a malformed transmission
//   - CNTR0/CNTR1 (frame alignment and CRC errors): always 0; ISR.RXE and
//     RSR.CRC/FAE/FO/DFR never set (no errored frame reaches the board)
//   - the FIFO register, the 93C46 EEPROM behind 9346CR, BPAGE and the
//     other RTL8029AS page-3 registers (REG_UNMODELLED: read 0, writes dropped)
//   - DP8390 page 3 on the ISA board (REG_UNMODELLED)
//
// Work per call is bounded whatever the guest programs: a port access moves at
// most 4 bytes of remote DMA, or drains the backlog until the ring is full (at
// most one ring of frames copied; frames the ring can never hold are dropped
// without a copy, at most the backlog's bound); a TXP sends one frame. A run
// of data-port accesses (ne2k_run_read / ne2k_run_write_budget, below) covers
// at most RUN_MAX accesses, and a host that serves a guest's access from one
// makes at most one commit and one new run for it. A write carries only its
// width's bytes (a byte write in word mode has a zero high byte). Malformed
// programming is counted (defs.ts Ne2kCounter), never a trap.

import {
  NE_REGS_END, NE_DATA, NE_RESET, NE_PORTS, R_CR,
  P0R_CLDA0, P0R_CLDA1, P0_BNRY, P0R_TSR, P0R_NCR, P0R_FIFO, P0_ISR, P0R_CRDA0, P0R_CRDA1, P0R_ID0, P0R_ID1, P0R_RSR,
  P0R_CNTR0, P0R_CNTR1, P0R_CNTR2, P0W_PSTART, P0W_PSTOP, P0W_TPSR, P0W_TBCR0, P0W_TBCR1, P0W_RSAR0, P0W_RSAR1,
  P0W_RBCR0, P0W_RBCR1, P0W_RCR, P0W_TCR, P0W_DCR, P0W_IMR, P1_PAR0, P1_CURR, P1_MAR0,
  P2R_PSTART, P2R_PSTOP, P2_RNPP, P2R_TPSR, P2_LNPP, P2_ACU, P2_ACL, P2R_RCR, P2R_TCR, P2R_DCR, P2R_IMR,
  P3_9346CR, P3_CONFIG0, P3_CONFIG2, P3_CONFIG3, EEM_CONFIG_WRITE,
  CR_STP, CR_STA, CR_TXP, CR_RD_MASK, CR_RD_READ, CR_RD_WRITE, CR_RD_SEND, CR_PS_SHIFT,
  ISR_PRX, ISR_RDC, ISR_RST, IMR_MASK, DCR_WTS, DCR_BOS, DCR_MASK, TCR_MASK, RCR_MASK, RCR_PRO, RCR_AM,
  PROM_BYTES, RAM_START, RAM_END, UNMAPPED_BYTE, RTL8029_ID0, RTL8029_ID1, BUS_PCI, Ne2kCounter,
} from "./defs";
import { Ne2k, count, boardReset, updateLine, filterChanged } from "./device";
import { rxDrain, rxUnread } from "./rx";
import { rxfExactGet, rxfExactSet, rxfHash64Read, rxfHash64Write } from "../net/filter";
import { txCommand } from "./tx";

// @ts-ignore: decorator
@inline function ones(width: u32): u32 { return width >= 4 ? 0xffffffff : (1 << (width << 3)) - 1; }

/** Whether the NIC is started (STA) rather than stopped (STP). */
// @ts-ignore: decorator
@inline export function running(d: Ne2k): bool { return (d.cr & CR_STA) != 0; }

/** A port access of `width` (1, 2, 4) at `off` (0..31) of the window. */
export function portRead(d: Ne2k, off: u32, width: u32): u32 {
  if (!accessOk(d, off, width)) return ones(width);
  if (off >= NE_RESET) { boardReset(d); return 0; }
  if (off >= NE_DATA) return dataRead(d, width);
  let v: u32 = 0;
  // Bounded: width ≤ 4 byte accesses, all below NE_REGS_END (accessOk).
  for (let k: u32 = 0; k < width; k++) v |= regRead(d, off + k) << (k << 3);
  return v;
}

export function portWrite(d: Ne2k, off: u32, width: u32, v: u32): void {
  if (!accessOk(d, off, width)) return;
  v &= ones(width); // an access carries `width` bytes: a byte write in word mode has no high byte to give
  if (off >= NE_RESET) return;
  if (off >= NE_DATA) { dataWrite(d, width, v); return; }
  for (let k: u32 = 0; k < width; k++) regWrite(d, off + k, (v >> (k << 3)) & 0xff);
}

function accessOk(d: Ne2k, off: u32, width: u32): bool {
  const ok = (width == 1 || width == 2 || width == 4) && off < NE_PORTS && off + width <= NE_PORTS &&
    (off >= NE_REGS_END || off + width <= NE_REGS_END) && (off >= NE_RESET || off + width <= NE_RESET);
  if (!ok) count(d, Ne2kCounter.BAD_ACCESS);
  return ok;
}

// ---- registers ---------------------------------------------------------------

function regRead(d: Ne2k, r: u32): u32 {
  if (r == R_CR) return d.cr;
  const page = d.cr >> CR_PS_SHIFT;
  if (page == 0) {
    switch (r) {
      case P0R_CLDA0: return d.clda & 0xff;
      case P0R_CLDA1: return d.clda >> 8;
      case P0_BNRY: return d.bnry;
      case P0R_TSR: return d.tsr;
      case P0R_NCR: return 0;
      case P0R_FIFO: return 0;
      case P0_ISR: return d.isr;
      case P0R_CRDA0: return d.crda & 0xff;
      case P0R_CRDA1: return d.crda >> 8;
      case P0R_ID0: return d.bus == BUS_PCI ? RTL8029_ID0 : 0;
      case P0R_ID1: return d.bus == BUS_PCI ? RTL8029_ID1 : 0;
      case P0R_RSR: return d.rsr;
      case P0R_CNTR0: { const v = d.cntr0; d.cntr0 = 0; return v; }
      case P0R_CNTR1: { const v = d.cntr1; d.cntr1 = 0; return v; }
      default: { const v = d.cntr2; d.cntr2 = 0; return v; } // P0R_CNTR2
    }
  }
  if (page == 1) {
    if (r < P1_CURR) return <u32>(rxfExactGet(d.filt, 0) >> ((r - P1_PAR0) << 3)) & 0xff;
    if (r == P1_CURR) return d.curr;
    return rxfHash64Read(d.filt, r - P1_MAR0);
  }
  if (page == 2) {
    switch (r) {
      case P2R_PSTART: return d.pstart;
      case P2R_PSTOP: return d.pstop;
      case P2_RNPP: return d.rnpp;
      case P2R_TPSR: return d.tpsr;
      case P2_LNPP: return d.lnpp;
      case P2_ACU: return d.ac >> 8;
      case P2_ACL: return d.ac & 0xff;
      case P2R_RCR: return d.rcr;
      case P2R_TCR: return d.tcr;
      case P2R_DCR: return d.dcr;
      case P2R_IMR: return d.imr;
      default: return 0; // 0x08-0x0b reserved
    }
  }
  if (d.bus == BUS_PCI) {
    if (r == P3_9346CR) return d.cr9346;
    if (r == P3_CONFIG0) return 0;
    if (r == P3_CONFIG2) return d.config2;
    if (r == P3_CONFIG3) return d.config3;
  }
  count(d, Ne2kCounter.REG_UNMODELLED);
  return 0;
}

function regWrite(d: Ne2k, r: u32, v: u32): void {
  if (r == R_CR) { command(d, v); return; }
  const page = d.cr >> CR_PS_SHIFT;
  if (page == 0) {
    switch (r) {
      case P0W_PSTART: d.pstart = v; rxDrain(d); return;
      case P0W_PSTOP: d.pstop = v; rxDrain(d); return;
      case P0_BNRY: d.bnry = v; rxDrain(d); return;
      case P0W_TPSR: d.tpsr = v; return;
      case P0W_TBCR0: d.tbcr = (d.tbcr & 0xff00) | v; return;
      case P0W_TBCR1: d.tbcr = (d.tbcr & 0xff) | (v << 8); return;
      case P0_ISR:
        d.isr &= ~(v & IMR_MASK);
        if ((v & ISR_PRX) != 0 && rxUnread(d)) d.isr |= ISR_PRX; // see rx.ts: PRX while packets wait
        updateLine(d);
        return;
      case P0W_RSAR0: d.rsar = (d.rsar & 0xff00) | v; return;
      case P0W_RSAR1: d.rsar = (d.rsar & 0xff) | (v << 8); return;
      case P0W_RBCR0: d.rbcr = (d.rbcr & 0xff00) | v; return;
      case P0W_RBCR1: d.rbcr = (d.rbcr & 0xff) | (v << 8); return;
      case P0W_RCR: {
        const was = d.rcr;
        d.rcr = v & RCR_MASK;
        if (((was ^ d.rcr) & (RCR_PRO | RCR_AM)) != 0) filterChanged(d);
        return;
      }
      case P0W_TCR: d.tcr = v & TCR_MASK; rxDrain(d); return;
      case P0W_DCR: d.dcr = v & DCR_MASK; return;
      default: d.imr = v & IMR_MASK; updateLine(d); return; // P0W_IMR
    }
  }
  if (page == 1) {
    if (r < P1_CURR) {
      const s = <u64>(r - P1_PAR0) << 3;
      rxfExactSet(d.filt, 0, (rxfExactGet(d.filt, 0) & ~(<u64>0xff << s)) | (<u64>v << s), true);
    } else if (r == P1_CURR) {
      d.curr = v;
      rxDrain(d);
    } else if (rxfHash64Read(d.filt, r - P1_MAR0) != v) {
      rxfHash64Write(d.filt, r - P1_MAR0, v);
      filterChanged(d);
    }
    return;
  }
  if (page == 2) {
    switch (r) {
      case 0x01: d.clda = (d.clda & 0xff00) | v; return;
      case 0x02: d.clda = (d.clda & 0xff) | (v << 8); return;
      case P2_RNPP: d.rnpp = v; return;
      case P2_LNPP: d.lnpp = v; return;
      case P2_ACU: d.ac = (d.ac & 0xff) | (v << 8); return;
      case P2_ACL: d.ac = (d.ac & 0xff00) | v; return;
      default: count(d, Ne2kCounter.REG_UNMODELLED); return;
    }
  }
  if (d.bus == BUS_PCI) {
    if (r == P3_9346CR) { d.cr9346 = v & 0xcf; return; }
    if (r == P3_CONFIG2 || r == P3_CONFIG3) {
      // Writable only in config-write mode (9346CR.EEM = 11); otherwise ignored like the chip does.
      if ((d.cr9346 & EEM_CONFIG_WRITE) == EEM_CONFIG_WRITE) { if (r == P3_CONFIG2) d.config2 = v; else d.config3 = v; }
      return;
    }
  }
  count(d, Ne2kCounter.REG_UNMODELLED);
}

/**
 * A write to CR. STP stops the NIC (ISR.RST set), STA starts it (RST
 * cleared); with neither, the run state stays (drivers switch pages with
 * CR = PS | RD2 while running). TXP starts a transmission if the NIC is
 * started; RD starts or aborts a remote DMA from RSAR for RBCR bytes.
 */
function command(d: Ne2k, v: u32): void {
  const wasRunning = running(d);
  let run = wasRunning;
  if (v & CR_STP) run = false;
  else if (v & CR_STA) run = true;
  d.cr = (v & ~<u32>(CR_STP | CR_STA | CR_TXP)) | (run ? CR_STA : CR_STP) | (d.cr & CR_TXP);
  if (!run) d.isr |= ISR_RST;
  else if (!wasRunning) d.isr &= ~ISR_RST;
  const rd = v & CR_RD_MASK;
  if (rd == 0 || rd == CR_RD_SEND) {
    count(d, Ne2kCounter.DMA_REFUSED);
    if (rd == CR_RD_SEND) { d.dmaMode = 0; d.rcnt = 0; }
  } else if (rd == CR_RD_READ || rd == CR_RD_WRITE) {
    d.crda = d.rsar;
    d.rcnt = d.rbcr;
    d.dmaMode = rd;
    if (d.rcnt == 0) { d.dmaMode = 0; d.isr |= ISR_RDC; }
  } else {
    d.dmaMode = 0; d.rcnt = 0;
  }
  if (v & CR_TXP) txCommand(d);
  if (run && !wasRunning) rxDrain(d);
  updateLine(d);
}

// ---- remote DMA through the data port -----------------------------------------

/** The byte the remote DMA reads at `a` (PROM, RAM, or nothing decoded). */
// @ts-ignore: decorator
@inline function memRead(d: Ne2k, a: u32): u32 {
  if (a >= RAM_START && a < RAM_END) return <u32>load<u8>(d.ram + (a - RAM_START)); // a is inside RAM (checked)
  if (a < PROM_BYTES) return <u32>load<u8>(d.prom + a);
  count(d, Ne2kCounter.DMA_OUTSIDE);
  return UNMAPPED_BYTE;
}

// @ts-ignore: decorator
@inline function memWrite(d: Ne2k, a: u32, b: u32): void {
  if (a >= RAM_START && a < RAM_END) { store<u8>(d.ram + (a - RAM_START), <u8>b); return; } // a is inside RAM (checked)
  count(d, Ne2kCounter.DMA_OUTSIDE);
}

/** Advance the remote DMA address by one byte: it wraps from PSTOP to PSTART (the ring), and at 64 KiB. */
// @ts-ignore: decorator
@inline function dmaStep(d: Ne2k): void {
  let a = (d.crda + 1) & 0xffff;
  if (a == d.pstop << 8 && d.pstop > d.pstart) a = d.pstart << 8;
  d.crda = a;
}

/** Count `n` transferred bytes off the remote byte count; RDC when it reaches 0. */
// @ts-ignore: decorator
@inline function dmaCount(d: Ne2k, n: u32): void {
  if (d.rcnt <= n) {
    d.rcnt = 0;
    d.dmaMode = 0;
    d.isr |= ISR_RDC;
  } else d.rcnt -= n;
}

function dataRead(d: Ne2k, width: u32): u32 {
  if (d.dmaMode != CR_RD_READ) { count(d, Ne2kCounter.DMA_IDLE); return ones(width); }
  let v: u32 = 0;
  if (d.dcr & DCR_WTS) {
    const words: u32 = width == 4 ? 2 : 1;
    // Bounded: at most two word transfers.
    for (let i: u32 = 0; i < words; i++) {
      if (d.dmaMode != CR_RD_READ) { count(d, Ne2kCounter.DMA_IDLE); v |= 0xffff << (i << 4); continue; }
      const lo = memRead(d, d.crda); dmaStep(d);
      const hi = memRead(d, d.crda); dmaStep(d);
      const w = (d.dcr & DCR_BOS) ? (lo << 8) | hi : lo | (hi << 8);
      v |= w << (i << 4);
      dmaCount(d, 2);
    }
    if (width == 1) v &= 0xff;
  } else {
    for (let i: u32 = 0; i < width; i++) {
      if (d.dmaMode != CR_RD_READ) { count(d, Ne2kCounter.DMA_IDLE); v |= 0xff << (i << 3); continue; }
      v |= memRead(d, d.crda) << (i << 3);
      dmaStep(d);
      dmaCount(d, 1);
    }
  }
  updateLine(d);
  return v;
}

function dataWrite(d: Ne2k, width: u32, v: u32): void {
  if (d.dmaMode != CR_RD_WRITE) { count(d, Ne2kCounter.DMA_IDLE); return; }
  if (d.dcr & DCR_WTS) {
    const words: u32 = width == 4 ? 2 : 1;
    for (let i: u32 = 0; i < words; i++) {
      if (d.dmaMode != CR_RD_WRITE) { count(d, Ne2kCounter.DMA_IDLE); continue; }
      const w = (v >> (i << 4)) & 0xffff;
      const first = (d.dcr & DCR_BOS) ? w >> 8 : w & 0xff;
      const second = (d.dcr & DCR_BOS) ? w & 0xff : w >> 8;
      memWrite(d, d.crda, first); dmaStep(d);
      memWrite(d, d.crda, second); dmaStep(d);
      dmaCount(d, 2);
    }
  } else {
    for (let i: u32 = 0; i < width; i++) {
      if (d.dmaMode != CR_RD_WRITE) { count(d, Ne2kCounter.DMA_IDLE); continue; }
      memWrite(d, d.crda, (v >> (i << 3)) & 0xff);
      dmaStep(d);
      dmaCount(d, 1);
    }
  }
  updateLine(d);
}

// ---- runs of data-port accesses (the host's read-ahead and write-behind) ------
//
// A guest moves a packet with a string of data-port accesses (Linux: insl,
// outsl). A host that pays for each call into the device can take such a run
// in one call: the device says how many accesses of one width from here
// only move bytes of RAM (or the PROM, reading) and leave bytes to the count,
// so that nothing but CRDA and the count changes — no RDC, no interrupt, no
// counter. The host then reads ahead that many values (runRead), serving the
// guest's accesses from them, and before its next other call gives back what
// the guest did not take (runCommit); or holds that many writes and hands them
// over in one string write. The device ends exactly where the accesses one
// by one would have left it.

/** Bytes one data-port access of `width` moves under the current DCR. */
// @ts-ignore: decorator
@inline function bytesPerAccess(d: Ne2k, width: u32): u32 {
  if ((d.dcr & DCR_WTS) == 0) return width;
  return width == 4 ? 4 : 2;
}

/** Accesses of `width` (at most `max`) that move only RAM/PROM bytes and leave the count above 0. */
export function dataRunLength(d: Ne2k, width: u32, write: bool, max: u32): u32 {
  if (d.dmaMode != (write ? CR_RD_WRITE : CR_RD_READ)) return 0;
  const b = bytesPerAccess(d, width);
  let n = (d.rcnt - 1) / b;
  if (n > max) n = max;
  // The bytes from CRDA that lie in RAM (or the PROM, reading), a segment at a time as the
  // address moves: to the end of RAM or the PROM, or to PSTOP, from where it wraps to PSTART.
  // Bounded: each segment takes at least one byte of the n × b ≤ RUN_MAX × 4 (exports.ts).
  const need = n * b, stop = d.pstop << 8, wraps = d.pstop > d.pstart, start = d.pstart << 8;
  let a = d.crda, ok: u32 = 0;
  while (ok < need) {
    let end: u32 = 0;
    if (a >= RAM_START && a < RAM_END) end = RAM_END;
    else if (!write && a < PROM_BYTES) end = PROM_BYTES;
    else break;
    if (wraps && a < stop && stop < end) end = stop;
    const k = min<u32>(need - ok, end - a);
    ok += k;
    a += k;
    if (a == stop && wraps) a = start;
  }
  return ok / b;
}

/**
 * Move `n` data-port accesses of `width` between the remote DMA and `buf` as
 * one byte stream, when the accesses' values are the bytes in address order
 * (little-endian): each access moves exactly `width` bytes, and no BOS swap
 * in word mode. False, having done nothing, otherwise. The caller checked
 * with dataRunLength that the `n` accesses touch only RAM (or the PROM,
 * reading) and leave the count above 0, so each segment below stays inside
 * one of them and only CRDA and the count change, as access by access.
 */
export function runMove(d: Ne2k, width: u32, n: u32, buf: usize, write: bool): bool {
  if (bytesPerAccess(d, width) != width || (d.dcr & (DCR_WTS | DCR_BOS)) == (DCR_WTS | DCR_BOS)) return false;
  const total = n * width;
  const stop = d.pstop << 8, wraps = d.pstop > d.pstart, start = d.pstart << 8;
  let left = total, p = buf;
  // Bounded: each segment moves at least one byte (the run is inside RAM/PROM).
  while (left != 0) {
    const a = d.crda;
    let end: u32 = a < PROM_BYTES ? PROM_BYTES : RAM_END;
    if (wraps && a < stop && stop < end) end = stop;
    if (end <= a) break; // not reached: dataRunLength checked every byte
    const k = min<u32>(left, end - a);
    const at = a < PROM_BYTES ? d.prom + a : d.ram + (a - RAM_START); // [a, a + k) is inside the PROM or RAM
    if (write) memory.copy(at, p, k); else memory.copy(p, at, k);
    left -= k; p += k;
    let na = a + k;
    if (na == stop && wraps) na = start;
    d.crda = na;
  }
  d.rcnt -= total - left;
  return true;
}

/** Read ahead up to `max` data-port reads of `width` into `dst`; returns how many. The device remembers where it was. */
export function runRead(d: Ne2k, width: u32, max: u32, dst: usize): u32 {
  const n = dataRunLength(d, width, false, max);
  if (n == 0) return 0;
  d.specCrda = d.crda; d.specRcnt = d.rcnt; d.specN = n; d.specWidth = width;
  if (runMove(d, width, n, dst, false)) return n;
  // Bounded by n; these reads change only CRDA and the count (dataRunLength).
  for (let i: u32 = 0; i < n; i++) {
    const v = dataRead(d, width);
    if (width == 1) store<u8>(dst + i, <u8>v); else if (width == 2) store<u16>(dst + (<usize>i << 1), <u16>v); else store<u32>(dst + (<usize>i << 2), v);
  }
  return n;
}

/** The guest took `consumed` of the values read ahead: put the DMA where those reads alone leave it. */
export function runCommit(d: Ne2k, consumed: u32): void {
  const n = d.specN;
  if (n == 0) return;
  d.specN = 0;
  if (consumed >= n) return;
  d.crda = d.specCrda; d.rcnt = d.specRcnt;
  for (let i: u32 = 0; i < consumed; i++) dataRead(d, d.specWidth);
}
