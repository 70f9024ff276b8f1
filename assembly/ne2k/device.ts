// NE2000 devices: handles, the one memory block each lives in, power-on and
// board reset, and the interrupt line. The register model is model.ts, the
// receive path rx.ts, transmit tx.ts, PCI configuration space pci.ts.
//
// One block per device (core/layout.ts blockAlloc), so a create gets all of
// it or takes nothing and destroy gives all of it back:
//   Ne2k | counters (NE2K_COUNTERS × u64) | receive filter state (net/filter.ts FS_BYTES)
//   | PROM (32) | RAM (16 KiB) | outbox (OUTBOX_FRAMES slots) | backlog (cap slots)
// PAR0-5 is exact entry 0 of the filter state and MAR0-7 its 64-bit hash.
// A slot is a u32 length followed by the frame (SLOT_BYTES in all).

import { Status } from "../core/status";
import { FS_BYTES, rxfInit, rxfExactSet } from "../net/filter";
import { blockAlloc, blockCost, blockFree, counterAdd, Counter } from "../core/layout";
import {
  LC_NE2K, lcEnter, lcLeave, lcPeek, lcReserve, lcSet, lcAbort, lcOpen, lcClose, lcDetach, lcRefs, lcClosing, lcPoison, lcTableCost,
} from "../core/lifecycle";
import {
  MAX_NE2K, NE2K_COUNTERS, PROM_BYTES, RAM_BYTES, SLOT_BYTES, OUTBOX_FRAMES, BUS_PCI, BUS_ISA, MAX_BACKLOG,
  CR_STP, CR_RD_ABORT, ISR_RST, IMR_MASK, DCR_LAS, HOST_FLAG_TX, HOST_FLAG_LINE, HOST_FLAG_FILTER, Ne2kCounter,
} from "./defs";

// @ts-ignore: decorator
@unmanaged export class Ne2k {
  /** What the host must look at after a call (bit 0 outbox frames, bit 2 the line): read by the TS glue from memory. */
  hostFlags: u32;
  handle: u32;
  bus: u32;
  blockBytes: u32;
  /** Configured MAC (what the PROM holds): bytes 0-1 in macHi, 2-5 in macLo (big-endian). */
  macHi: u32;
  macLo: u32;
  // DP8390 registers.
  cr: u32;
  isr: u32;
  imr: u32;
  dcr: u32;
  rcr: u32;
  tcr: u32;
  tsr: u32;
  rsr: u32;
  pstart: u32;
  pstop: u32;
  bnry: u32;
  curr: u32;
  tpsr: u32;
  tbcr: u32;
  rsar: u32;
  rbcr: u32;
  /** Current remote DMA address and the bytes it still has to move. */
  crda: u32;
  rcnt: u32;
  /** 0 idle, CR_RD_READ or CR_RD_WRITE while a remote DMA is in progress. */
  dmaMode: u32;
  /** Page-2 diagnostics: current local DMA address, next packet pointers, address counter. */
  clda: u32;
  rnpp: u32;
  lnpp: u32;
  ac: u32;
  cntr0: u32;
  cntr1: u32;
  cntr2: u32;
  /** RTL8029AS page 3. */
  cr9346: u32;
  config2: u32;
  config3: u32;
  /** A transmission is waiting for room in the host outbox. */
  txPending: u32;
  /** Level of the interrupt line last computed (ISR & IMR, INTx enable). */
  line: u32;
  /** PCI command register (I/O enable, INTx disable), interrupt line byte, BAR0. */
  pciCmd: u32;
  pciIntLine: u32;
  bar0: u32;
  /** An outstanding read-ahead (model.ts runRead): reads done, their width, and the DMA before them. */
  specN: u32;
  specWidth: u32;
  specCrda: u32;
  specRcnt: u32;
  backlogCap: u32;
  backlogHead: u32;
  backlogCount: u32;
  outFrames: u32;
  /** The host quiesced the device: received frames wait in the backlog unjudged, the ring is not written. */
  quiesced: u32;
  /** The receive filter changed since the host last took it (HOST_FLAG_FILTER, ne2k_filter_take). */
  filterChanged: u32;
  counters: usize;
  /** The receive filter state (net/filter.ts): PAR0-5 as exact entry 0, MAR0-7 as the hash. */
  filt: usize;
  prom: usize;
  ram: usize;
  outbox: usize;
  backlog: usize;
}

const DEV_ALIGN: u32 = 16;

/** Device `h` (being created or open) or 0; no reference taken (the owner's create and destroy). */
export function ne2kGet(h: i32): usize { return lcPeek(LC_NE2K, h, MAX_NE2K); }

/** Device `h` for an entry point with a reference taken (core/lifecycle.ts; paired with ne2kLeave), or null, counted as a bad handle. */
// @ts-ignore: decorator
@inline export function ne2kEnter(h: i32): Ne2k | null { return changetype<Ne2k | null>(lcEnter(LC_NE2K, h, MAX_NE2K)); }

/** Drop the reference ne2kEnter took. */
// @ts-ignore: decorator
@inline export function ne2kLeave(d: Ne2k): void { lcLeave(LC_NE2K, <i32>d.handle); }

/** Calls in progress on device `h` (any thread), -1 for a handle naming no device. */
export function ne2kInFlight(h: i32): i32 { return lcRefs(LC_NE2K, h, MAX_NE2K); }

// @ts-ignore: decorator
@inline function align16(n: u64): u64 { return (n + 15) & ~<u64>15; }

function layoutBytes(backlog: u32): u64 {
  const b = align16(offsetof<Ne2k>()) + <u64>NE2K_COUNTERS * 8 + <u64>FS_BYTES + PROM_BYTES + RAM_BYTES;
  return b + <u64>(OUTBOX_FRAMES + backlog) * SLOT_BYTES;
}

/** The most linear memory ne2kCreate takes (its handle table on first use included). */
export function ne2kCost(backlog: u32): u64 {
  return lcTableCost() + blockCost(layoutBytes(backlog), DEV_ALIGN);
}

/** Make a device; returns its handle or -Status with nothing taken. The caller validated the arguments. */
export function ne2kCreate(bus: u32, macHi: u32, macLo: u32, backlog: u32): i32 {
  if ((bus != BUS_PCI && bus != BUS_ISA) || backlog < 1 || backlog > MAX_BACKLOG) return -Status.ERR_INVALID_ARG;
  ne2kReap();
  const h = lcReserve(LC_NE2K, MAX_NE2K);
  if (h < 0) return h;
  const total = layoutBytes(backlog);
  const p = blockAlloc(total, DEV_ALIGN);
  if (p == 0) { lcAbort(LC_NE2K, h); return -Status.ERR_NO_MEMORY; }
  // A reused block holds old bytes: clear all but the backlog and outbox slots (their lengths say what is valid).
  let o = <usize>align16(offsetof<Ne2k>());
  memory.fill(p, 0, o + <usize>NE2K_COUNTERS * 8 + FS_BYTES + PROM_BYTES + RAM_BYTES);
  const d = changetype<Ne2k>(p);
  d.handle = <u32>h; d.bus = bus; d.blockBytes = <u32>total;
  d.macHi = macHi; d.macLo = macLo; d.backlogCap = backlog;
  d.counters = p + o; o += <usize>NE2K_COUNTERS * 8;
  d.filt = p + o; o += FS_BYTES; // 16-byte aligned: the struct and counters are multiples of 16
  d.prom = p + o; o += PROM_BYTES;
  d.ram = p + o; o += RAM_BYTES;
  d.outbox = p + o; o += <usize>OUTBOX_FRAMES * SLOT_BYTES;
  d.backlog = p + o;
  writeProm(d);
  powerOn(d);
  lcSet(LC_NE2K, h, p);
  lcOpen(LC_NE2K, h);
  return h;
}

/**
 * Destroy device `h`: close it (later calls refused), then free its handle
 * and block once no call holds it. OK, ERR_BAD_HANDLE, or ERR_MORE (calls in
 * progress on other threads: call again once drained; the next create
 * frees it too).
 */
export function ne2kDestroy(h: i32): i32 {
  if (lcClose(LC_NE2K, h, MAX_NE2K) == 0) { counterAdd(Counter.BAD_HANDLE, 1); return Status.ERR_BAD_HANDLE; }
  return ne2kDetach(h);
}

function ne2kDetach(h: i32): i32 {
  const p = lcDetach(LC_NE2K, h);
  if (p == 0) return Status.ERR_MORE;
  const bytes = changetype<Ne2k>(p).blockBytes;
  lcPoison(p, bytes);
  blockFree(p, bytes, DEV_ALIGN);
  return Status.OK;
}

/** Free every destroyed device whose calls have drained. */
function ne2kReap(): void {
  // Bounded by MAX_NE2K.
  for (let h: i32 = 1; h < MAX_NE2K; h++) if (lcClosing(LC_NE2K, h, MAX_NE2K)) ne2kDetach(h);
}

/**
 * The station address PROM as a word-wide NE2000 presents it: 16 bytes
 * (MAC, 8 reserved, 0x57 0x57 at 14-15 for "word-wide board"), each
 * duplicated into both byte lanes. A byte-mode read of address i returns
 * PROM byte i >> 1; a word read of address 2i returns PROM byte i twice.
 */
export function writeProm(d: Ne2k): void {
  for (let i: u32 = 0; i < 6; i++) {
    const b = i < 2 ? (d.macHi >> (8 * (1 - i))) & 0xff : (d.macLo >> (8 * (5 - i))) & 0xff;
    store<u8>(d.prom + (i << 1), <u8>b);
    store<u8>(d.prom + (i << 1) + 1, <u8>b);
  }
  for (let i: u32 = 28; i < 32; i++) store<u8>(d.prom + i, 0x57);
}

/** MAC byte `i` (0..5) of the configured address. */
export function macByte(d: Ne2k, i: u32): u32 {
  return i < 2 ? (d.macHi >> (8 * (1 - i))) & 0xff : (d.macLo >> (8 * (5 - i))) & 0xff;
}

export function count(d: Ne2k, c: i32): void {
  const p = d.counters + (<usize>c << 3);
  store<u64>(p, load<u64>(p) + 1);
}

export function countN(d: Ne2k, c: i32, n: u64): void {
  const p = d.counters + (<usize>c << 3);
  store<u64>(p, load<u64>(p) + n);
}

/**
 * The DP8390's reset state (data sheet "Initialization Procedures": the
 * RESET input clears CR.TXP/STA and sets CR.RD2/STP, sets ISR.RST, clears
 * IMR, sets DCR.LAS and clears TCR.LB). Everything else keeps its value,
 * as on the chip; the board's reset also clears the remote DMA, the
 * frames waiting in the backlog and a transmission waiting for the host.
 */
export function boardReset(d: Ne2k): void {
  countN(d, Ne2kCounter.RX_DROPPED, d.backlogCount);
  count(d, Ne2kCounter.RESETS);
  resetState(d);
}

function resetState(d: Ne2k): void {
  d.cr = CR_STP | CR_RD_ABORT;
  d.isr = ISR_RST;
  d.imr = 0;
  d.dcr |= DCR_LAS;
  d.tcr &= ~<u32>0x06;
  d.dmaMode = 0; d.rcnt = 0; d.specN = 0;
  d.txPending = 0;
  d.backlogHead = 0; d.backlogCount = 0;
  updateLine(d);
}

/** Power-on: the registers the reset leaves alone start at zero; PCI config space at its reset values. */
export function powerOn(d: Ne2k): void {
  d.cr = 0; d.isr = 0; d.imr = 0; d.dcr = 0; d.rcr = 0; d.tcr = 0; d.tsr = 0; d.rsr = 0;
  d.pstart = 0; d.pstop = 0; d.bnry = 0; d.curr = 0; d.tpsr = 0; d.tbcr = 0; d.rsar = 0; d.rbcr = 0;
  d.crda = 0; d.clda = 0; d.rnpp = 0; d.lnpp = 0; d.ac = 0;
  d.cntr0 = 0; d.cntr1 = 0; d.cntr2 = 0; d.cr9346 = 0; d.config2 = 0; d.config3 = 0;
  d.outFrames = 0;
  rxfInit(d.filt, 1);
  rxfExactSet(d.filt, 0, 0, true);
  d.pciCmd = 0; d.pciIntLine = 0; d.bar0 = 1;
  memory.fill(d.ram, 0, RAM_BYTES);
  d.line = 0;
  d.filterChanged = 1;
  resetState(d);
}

/** The interrupt line: ISR & IMR (RST is not maskable and raises none), off while PCI INTx is disabled. */
export function lineLevel(d: Ne2k): bool {
  if ((d.isr & d.imr & IMR_MASK) == 0) return false;
  return d.bus != BUS_PCI || (d.pciCmd & 0x400) == 0;
}

/** Recompute the line (counting rising edges) and the host flags. */
export function updateLine(d: Ne2k): void {
  const l: u32 = lineLevel(d) ? 1 : 0;
  if (l != 0 && d.line == 0) count(d, Ne2kCounter.IRQ_RAISED);
  d.line = l;
  d.hostFlags = (d.outFrames != 0 ? HOST_FLAG_TX : 0) | (l != 0 ? HOST_FLAG_LINE : 0) | (d.filterChanged != 0 ? HOST_FLAG_FILTER : 0);
}

/** The guest changed what the receive filter takes: tell the host (ne2k_filter_take). */
export function filterChanged(d: Ne2k): void {
  d.filterChanged = 1;
  d.hostFlags |= HOST_FLAG_FILTER;
}
