// The Intel 82540EM (PCI 8086:100E) model, from the 8254x Family of Gigabit
// Ethernet Controllers Software Developer's Manual. The room: defs.ts
// (constants shared with the host), regs.ts (the register map), device.ts
// (this file: the device block), gate.ts (register access), pci.ts,
// eeprom.ts, phy.ts, irq.ts, rings.ts, rx.ts, filter.ts, tx.ts, csum.ts,
// state.ts, exports.ts.
//
// Registers the model implements (BAR0 offsets; also through the BAR1 I/O
// window, IOADDR 00h / IODATA 04h, §13.2), with behaviour:
//   CTRL 0000h      stored; RST = software reset of the MAC (§13.4.1);
//                   PHY_RST holds the PHY in reset (link down) and leaving
//                   it resets the PHY; VME enables VLAN strip/insert.
//   STATUS 0008h    read-only: FD, LU (link), 1000 Mb/s, 33 MHz 32-bit PCI.
//   EECD 0010h      Microwire EEPROM bit-banging (SK/CS/DI/DO), REQ/GNT, PRES.
//   EERD 0014h      EEPROM read shortcut (START → DONE with the word).
//   MDIC 0020h      PHY access at MDIO address 1 (read/write, READY, IE →
//                   MDAC; other addresses ERROR).
//   ICR 00C0h, ICS 00C8h, IMS 00D0h, IMC 00D8h  interrupt causes (ICR read
//                   clears, write-1-clears), set, mask set, mask clear;
//                   INTA# = ICR & IMS. Causes raised: TXDW, TXQE, LSC,
//                   RXDMT0, RXO, RXT0, MDAC (and any through ICS).
//   ITR 00C4h       minimum interval between interrupts (× 256 ns).
//   RCTL 0100h      EN, UPE, MPE, BAM, LPE, MO, BSIZE/BSEX, VFE, CFIEN/CFI,
//                   SECRC, RDMTS (RXDMT0 threshold); SBP, LBM, DPF, PMCF stored.
//   TCTL 0400h      EN, PSP (pad short packets); CT, COLD stored.
//   RDBAL/RDBAH/RDLEN/RDH/RDT 2800h-2818h, TDBAL/TDBAH/TDLEN/TDH/TDT
//                   3800h-3818h  the rings, validated when programmed.
//   RDTR 2820h, RADV 282Ch, TIDV 3820h, TADV 382Ch  receive / transmit
//                   interrupt delays (RDTR and TIDV with FPD flush).
//   PBA 1000h       receive/transmit packet-buffer split (RXA, TXA = 64 - RXA).
//   RXCSUM 5000h    IPOFL, TUOFL (receive checksum verification); PCSS stored.
//   VET 0038h       the VLAN ethertype for strip, insert and the VLAN filter.
//   MTA 5200h-53FCh the 4096-bit multicast table (RCTL.MO selects the bits).
//   RAL/RAH 5400h-547Ch  the 16 exact receive addresses (AV; ASEL other than
//                   destination address makes an entry not match).
//   VFTA 5600h-57FCh the 4096-bit VLAN filter table.
//   Statistics 4000h-40FCh (clear on read; 64-bit pairs clear on the high
//                   half): MPC, RNBC, ROC, GPRC, BPRC, MPRC, GORCL/H,
//                   TORL/H, TPR, PRC64-PRC1522, GPTC, BPTC, MPTC, GOTCL/H,
//                   TOTL/H, TPT, PTC64-PTC1522, TSCTC, TSCTFC. The others in
//                   the block (CRCERRS, ALGNERRC, SYMERRS, RXERRC, SCC, ECOL,
//                   MCC, LATECOL, COLC, DC, TNCRS, SEC, CEXTERR, RLEC,
//                   XON/XOFF counts, FCRUC, RUC, RFC, RJC, management
//                   counters) read 0: no such events on this link.
//   Stored only (read back what was written, no behaviour): CTRL_EXT 0018h
//                   (EE_RST reads 0), FLA 001Ch, FCAL/FCAH/FCT 0028h-0030h,
//                   FCTTV 0170h, FCRTL/FCRTH 2160h/2168h (flow control: no
//                   PAUSE frames are sent or honoured), TXCW 0178h, LEDCTL
//                   0E00h, TIPG 0410h, AIT 0458h (no inter-packet timing),
//                   RXDCTL 2828h, TXDCTL 3828h (thresholds: write-back is
//                   immediate), TXDMAC 3000h, TSPMT 3830h, RSRPD 2C00h (no
//                   small-packet interrupt), the packet-buffer FIFO registers
//                   RDFH/RDFT/RDFHS/RDFTS/RDFPC 2410h-2430h and
//                   TDFH/TDFT/TDFHS/TDFTS/TDFPC 3410h-3430h (no FIFO is
//                   modelled), wake-up WUC/WUFC/WUS/WUPL/WUPM/FFLT/FFMT/FFVT
//                   and IPAV/IP4AT/IP6AT (no wake-up or ARP/IP filtering),
//                   MANC 5820h (no manageability).
//   RXCW 0180h reads 0 (no SerDes). Any other offset reads 0 and ignores
//   writes (counted as a bad access), as do accesses narrower than 32 bits
//   (served by merging into the register, also counted).
// Also: PCI configuration (pci.ts: type-0 header, BAR0 128 KiB memory, BAR1
// 64 I/O ports, INTA#, power-management capability; no MSI, no expansion
// ROM, no flash BAR), the EEPROM image (eeprom.ts: MAC, IDs, checksum BABAh;
// writes not modelled) and the PHY registers (phy.ts).
// Not modelled: collisions and half duplex, flow control, the TXD_LOW and
// small-packet interrupts (RXSEQ, RXCFG, PHYINT, GPI causes are never
// raised, only through ICS), wake-up and manageability, PHY loopback and
// forced speeds, EEPROM writes, 82541+ registers.
//
// The device block of one 82540EM and its life: handles, create/destroy,
// power-on and software reset, the register file and the counters. Each
// device lives in one block (core/layout.ts blockAlloc) holding everything
// it owns, so a create gets all of it or takes nothing.
//
// Block layout: E1k | register file (128 KiB, MMIO layout) | PCI config (256)
// | counters | EEPROM (64 words) | PHY (32 words) | TX contexts (2 × 16)
// | host outbox | TX gather buffer | receive backlog (a byte ring).

import { Status } from "../core/status";
import { regionAlloc, regionCost, blockAlloc, blockCost, blockFree } from "../core/layout";
import {
  LC_E1000, lcEnter, lcLeave, lcPeek, lcReserve, lcSet, lcAbort, lcOpen, lcClose, lcDetach, lcRefs, lcClosing, lcPoison, lcTableCost,
} from "../core/lifecycle";
import { FS_BYTES, rxfInit, rxfExactSet } from "../net/filter";
import { E1K_MMIO_BYTES, E1K_MAX_RX_FRAME, E1K_COUNTERS, E1K_NO_DEADLINE, E1kCounter } from "./defs";
import {
  E1K_MAX_DEVICES, E1K_TX_OUT_BYTES, E1K_MAX_TSO_PACKET, EEPROM_WORDS, PHY_REGS, R_CTRL, R_EECD, R_LEDCTL, R_PBA,
  R_VET, R_RXCSUM, R_RAL0, R_MTA, R_VFTA, MTA_WORDS, VFTA_WORDS, RAR_ENTRIES, R_STATS, R_STATS_END, R_TXDCTL,
  R_RXDCTL, RAH_AV, CTRL_FD, CTRL_ASDE, CTRL_SLU, CTRL_SPEED_1000, EECD_PRES, RXCSUM_IPOFL, RXCSUM_TUOFL,
} from "./regs";

const DEV_ALIGN: u32 = 64;
export const CFG_BYTES: u32 = 256;
const CTX_BYTES: u32 = 16;

// @ts-ignore: decorator
@unmanaged export class E1k {
  handle: u32;
  blockBytes: u32;
  /** Register file: the value of every stored register at its BAR0 offset. */
  regs: usize;
  cfg: usize;
  counters: usize;
  eeprom: usize;
  phy: usize;
  /** Receive filter state of the shared engine (net/filter.ts): RAR 0..15, MTA, VFTA, mirrored from the registers. */
  filter: usize;
  /** Offload contexts from the last context descriptors: checksum-only and TCP segmentation. */
  ctxCsum: usize;
  ctxTso: usize;
  txOut: usize;
  txOutLen: u32;
  txOutFrames: u32;
  txBuf: usize;
  /** Segments of the packet at TDH already in the outbox (segmentation resumes there). */
  txSegDone: u32;
  /** The transmit ring stopped on a full outbox. */
  txStalled: u32;
  backlog: usize;
  backlogCap: u32;
  backlogMaxFrames: u32;
  backlogHead: u32;
  backlogTail: u32;
  backlogFrames: u32;
  backlogUsed: u32;
  /** MAC of the EEPROM image (wire order in the low 48 bits). */
  mac: u64;
  /** Link to the partner as the host sets it (cable plugged). */
  hostLink: u32;
  /** BMSR link status latched low since the last BMSR read (IEEE 802.3 22.2.4.2.13). */
  phyLatchLow: u32;
  /** IOADDR of the I/O window (§13.2). */
  ioAddr: u32;
  // Microwire EEPROM interface state (§5.3).
  eeBitsIn: u32;
  eeShift: u32;
  eeReading: u32;
  eeOutBit: i32;
  eeWord: u32;
  eeLast: u32;
  // Interrupts.
  icr: u32;
  ims: u32;
  line: u32;
  /** The line stayed low because of ITR since the cause appeared (counted once). */
  throttled: u32;
  /** Free receive descriptors were below the RDMTS threshold after the last delivery. */
  rxDmtBelow: u32;
  // Ring validity, recomputed whenever a ring register, RCTL or TCTL changes.
  rxRingOk: u32;
  txRingOk: u32;
  quiesced: u32;
  /** Frames at the backlog's tail not yet judged by the receive filter (they arrived while quiesced, or behind such frames). */
  rxUnjudged: u32;
  /** The receive filter changed since the host last took it (PENDING_FILTER, e1k_filter_take). */
  filterChanged: u32;
  lastNow: u64;
  /** Earliest guest time the throttled line may rise (ITR). */
  itrAt: u64;
  rxPktAt: u64;
  rxAbsAt: u64;
  txPktAt: u64;
  txAbsAt: u64;
}

// Per-instance scratch (one device works at a time): a descriptor, a short
// frame padded to 60 bytes, and the frame being stored to the guest
// (stripped, FCS appended).
export let descBuf: usize = 0;
export let padBuf: usize = 0;
export let frameBuf: usize = 0;
const SCRATCH_BYTES: u64 = 128 + <u64>E1K_MAX_RX_FRAME + 128;

/** Make this instance's scratch (once). False without memory, with nothing taken. */
export function e1kScratch(): bool {
  if (descBuf != 0) return true;
  const p = regionAlloc(SCRATCH_BYTES, 64);
  if (p == 0) return false;
  descBuf = p;
  padBuf = p + 64;
  frameBuf = p + 128;
  return true;
}

export function e1kScratchCost(): u64 { return regionCost(SCRATCH_BYTES, 64); }

/** Device for handle `h` (being created or open), or 0; no reference taken (the owner's create and destroy). */
export function e1kGet(h: i32): usize { return lcPeek(LC_E1000, h, E1K_MAX_DEVICES); }

/**
 * Device `h` for an entry point, with a reference taken (core/lifecycle.ts;
 * paired with e1kLeave), this instance's scratch made; or null, counted as a
 * bad handle (unknown or destroyed).
 */
// @ts-ignore: decorator
@inline export function e1kEnter(h: i32): E1k | null {
  const p = lcEnter(LC_E1000, h, E1K_MAX_DEVICES);
  if (p == 0) return null;
  // An instance attached to the VM makes its scratch on its first call.
  if (descBuf == 0 && !e1kScratch()) { lcLeave(LC_E1000, h); return null; }
  return changetype<E1k>(p);
}

/** Drop the reference e1kEnter took. */
// @ts-ignore: decorator
@inline export function e1kLeave(d: E1k): void { lcLeave(LC_E1000, <i32>d.handle); }

/** Calls in progress on device `h` (any thread), -1 for a handle naming no device. */
export function e1kInFlight(h: i32): i32 { return lcRefs(LC_E1000, h, E1K_MAX_DEVICES); }

// @ts-ignore: decorator
@inline function a16(n: u64): u64 { return (n + 15) & ~<u64>15; }

const OFF_REGS: u64 = a16(offsetof<E1k>());
const OFF_CFG: u64 = OFF_REGS + <u64>E1K_MMIO_BYTES;
const OFF_CTR: u64 = OFF_CFG + <u64>CFG_BYTES;
const OFF_EEPROM: u64 = OFF_CTR + <u64>E1K_COUNTERS * 8;
const OFF_PHY: u64 = OFF_EEPROM + <u64>EEPROM_WORDS * 2;
const OFF_CTX: u64 = OFF_PHY + <u64>PHY_REGS * 2;
const OFF_FILTER: u64 = a16(OFF_CTX + 2 * <u64>CTX_BYTES);
const OFF_OUT: u64 = a16(OFF_FILTER + <u64>FS_BYTES);
const OFF_TXBUF: u64 = OFF_OUT + <u64>E1K_TX_OUT_BYTES;
const OFF_BACKLOG: u64 = a16(OFF_TXBUF + <u64>E1K_MAX_TSO_PACKET + 64);

/** Bytes of one device block with a backlog of `backlogBytes`. */
export function e1kBlockBytes(backlogBytes: u32): u64 { return OFF_BACKLOG + <u64>backlogBytes; }

/** The most linear memory e1kCreate takes (handle table on first use included). */
export function e1kCost(backlogBytes: u32): u64 {
  return lcTableCost() + blockCost(e1kBlockBytes(backlogBytes), DEV_ALIGN);
}

/** Make a device; returns its handle (attached, not yet open: the caller resets it, then e1kOpen) or -Status with nothing taken. */
export function e1kCreate(macHi: u32, macLo: u32, backlogFrames: u32, backlogBytes: u32): i32 {
  e1kReap();
  const h = lcReserve(LC_E1000, E1K_MAX_DEVICES);
  if (h < 0) return h;
  const total = e1kBlockBytes(backlogBytes);
  const p = blockAlloc(total, DEV_ALIGN);
  if (p == 0) { lcAbort(LC_E1000, h); return -Status.ERR_NO_MEMORY; }
  // Everything but the outbox, gather buffer and backlog is read before written: zero it.
  memory.fill(p, 0, <usize>OFF_OUT);
  const d = changetype<E1k>(p);
  d.handle = <u32>h;
  d.blockBytes = <u32>total;
  d.regs = p + <usize>OFF_REGS;
  d.cfg = p + <usize>OFF_CFG;
  d.counters = p + <usize>OFF_CTR;
  d.eeprom = p + <usize>OFF_EEPROM;
  d.phy = p + <usize>OFF_PHY;
  d.ctxCsum = p + <usize>OFF_CTX;
  d.ctxTso = d.ctxCsum + CTX_BYTES;
  d.filter = p + <usize>OFF_FILTER;
  d.txOut = p + <usize>OFF_OUT;
  d.txBuf = p + <usize>OFF_TXBUF;
  d.backlog = p + <usize>OFF_BACKLOG;
  d.backlogCap = backlogBytes;
  d.backlogMaxFrames = backlogFrames;
  // MAC in wire order: macHi holds bytes 0..1, macLo bytes 2..5 (big-endian numbers).
  d.mac = (<u64>bswap<u16>(<u16>macHi)) | (<u64>bswap<u32>(macLo) << 16);
  d.hostLink = 1;
  lcSet(LC_E1000, h, p);
  return h;
}

/** Open device `h`: entry points admit calls from now on. */
export function e1kOpen(h: i32): void { lcOpen(LC_E1000, h); }

/**
 * Destroy device `h`: close it (later calls refused, DMA stopped), then free
 * its handle and block once no call holds it. OK, ERR_BAD_HANDLE, or
 * ERR_MORE (calls in progress on other threads: call again once drained;
 * the next create frees it too).
 */
export function e1kDestroy(h: i32): i32 {
  const p = e1kGet(h);
  const c = lcClose(LC_E1000, h, E1K_MAX_DEVICES);
  if (c == 0) return Status.ERR_BAD_HANDLE;
  if (c == 1) changetype<E1k>(p).quiesced = 1;
  return e1kDetach(h);
}

function e1kDetach(h: i32): i32 {
  const p = lcDetach(LC_E1000, h);
  if (p == 0) return Status.ERR_MORE;
  const bytes = changetype<E1k>(p).blockBytes;
  lcPoison(p, bytes);
  blockFree(p, bytes, DEV_ALIGN);
  return Status.OK;
}

/** Free every destroyed device whose calls have drained. */
function e1kReap(): void {
  // Bounded by E1K_MAX_DEVICES.
  for (let h: i32 = 1; h < E1K_MAX_DEVICES; h++) if (lcClosing(LC_E1000, h, E1K_MAX_DEVICES)) e1kDetach(h);
}

// ---- Register file and counters ---------------------------------------------------

// @ts-ignore: decorator
@inline export function reg(d: E1k, off: u32): u32 { return load<u32>(d.regs + <usize>off); }
// @ts-ignore: decorator
@inline export function setReg(d: E1k, off: u32, v: u32): void { store<u32>(d.regs + <usize>off, v); }

// @ts-ignore: decorator
@inline export function count(d: E1k, index: i32, n: u64 = 1): void {
  const p = d.counters + (<usize>index << 3);
  store<u64>(p, load<u64>(p) + n);
}

/** Add to a 32-bit statistics register; they saturate at all ones (§13.7). */
// @ts-ignore: decorator
@inline export function stat(d: E1k, off: u32, n: u32 = 1): void {
  const p = d.regs + <usize>off;
  const v = load<u32>(p);
  store<u32>(p, v + n < v ? 0xffffffff : v + n);
}

/** Add to a 64-bit statistics pair (low register at `off`, high at off + 4). */
// @ts-ignore: decorator
@inline export function stat64(d: E1k, off: u32, n: u32): void {
  const p = d.regs + <usize>off;
  store<u64>(p, load<u64>(p) + <u64>n);
}

// ---- Reset -----------------------------------------------------------------------

/**
 * MAC reset (CTRL.RST, §13.4.1; and power-on): every MAC register to its
 * initial value, the statistics cleared, RAR0 loaded from the EEPROM's MAC
 * (§5.6.1), the receive FIFO (backlog) and any transmit in progress dropped.
 * PCI configuration, the PHY and the EEPROM are not touched.
 */
export function macReset(d: E1k): void {
  memory.fill(d.regs, 0, <usize>E1K_MMIO_BYTES);
  setReg(d, R_CTRL, CTRL_FD | CTRL_ASDE | CTRL_SLU | CTRL_SPEED_1000);
  setReg(d, R_EECD, EECD_PRES | (1 << 4)); // flash writes disabled (FWE = 01b)
  setReg(d, R_LEDCTL, 0x07068302);
  setReg(d, R_PBA, 0x00100030);          // 48 KiB receive, 16 KiB transmit
  setReg(d, R_VET, 0x8100);
  setReg(d, R_RXCSUM, RXCSUM_IPOFL | RXCSUM_TUOFL);
  setReg(d, R_TXDCTL, 0);
  setReg(d, R_RXDCTL, 0x00010000);
  const m = d.mac;
  setReg(d, R_RAL0, <u32>m);
  setReg(d, R_RAL0 + 4, <u32>(m >> 32) | RAH_AV);
  rxfInit(d.filter, RAR_ENTRIES);
  rxfExactSet(d.filter, 0, m, true);
  d.filterChanged = 1;
  memory.fill(d.ctxCsum, 0, 2 * <usize>CTX_BYTES);
  if (d.backlogFrames != 0) count(d, E1kCounter.RX_DROPPED, d.backlogFrames);
  d.backlogHead = 0; d.backlogTail = 0; d.backlogFrames = 0; d.backlogUsed = 0; d.rxUnjudged = 0;
  d.txSegDone = 0; d.txStalled = 0;
  d.icr = 0; d.ims = 0; d.throttled = 0; d.rxDmtBelow = 0;
  d.rxRingOk = 0; d.txRingOk = 0;
  d.ioAddr = 0;
  d.eeBitsIn = 0; d.eeShift = 0; d.eeReading = 0; d.eeOutBit = -1; d.eeWord = 0; d.eeLast = 0;
  d.itrAt = 0;
  d.rxPktAt = E1K_NO_DEADLINE; d.rxAbsAt = E1K_NO_DEADLINE;
  d.txPktAt = E1K_NO_DEADLINE; d.txAbsAt = E1K_NO_DEADLINE;
}

/** Offsets of the MTA, VFTA and RAR arrays (for loops that walk them). */
export const MTA_END: u32 = R_MTA + MTA_WORDS * 4;
export const VFTA_END: u32 = R_VFTA + VFTA_WORDS * 4;
export const RAR_END: u32 = R_RAL0 + RAR_ENTRIES * 8;
export const STATS_BEGIN: u32 = R_STATS;
export const STATS_END: u32 = R_STATS_END;
