// Saved state of an NE2000: every register, the on-card RAM, the PCI
// configuration registers, the frames waiting in the receive backlog and in
// the host outbox (transmitted, not yet taken), and the board's identity
// (bus kind, PROM MAC), which must match the device restored into. The
// device's counters are telemetry of this instance and are not saved.
//
// Restore treats the blob as hostile: every field is checked against the
// register's width and the model's invariants first, then applied; on any
// error the device is untouched.

import { Status } from "../core/status";
import {
  DeviceKind, envBegin, envPutU32, envPutU64, envPutBytes, envField, envFinish, envOpen, envVersion, envGetU32, envGetU64,
  envU32, envU64, envFind, envFoundLen, envFindExact,
} from "../core/state";
import { ioPtr, ioSize } from "../core/vm";
import {
  RAM_BYTES, SLOT_BYTES, OUTBOX_FRAMES, MIN_FRAME, MAX_FRAME, ETH_HEADER, BAR0_SIZE, CR_STP, CR_STA, CR_TXP,
  CR_RD_READ, CR_RD_WRITE, RCR_MASK, TCR_MASK, DCR_MASK, IMR_MASK, RSR_PRX, RSR_PHY,
} from "./defs";
import { Ne2k, updateLine } from "./device";
import { rxfExactGet, rxfExactSet, rxfHash64Read, rxfHash64Write } from "../net/filter";

const STATE_VERSION: u32 = 1;
// Identity.
const T_BUS: u32 = 1;
const T_MAC: u32 = 2;
// 8-bit registers (tags 10..), 16-bit ones (40..), other state (60..).
const T_CR: u32 = 10, T_ISR: u32 = 11, T_IMR: u32 = 12, T_DCR: u32 = 13, T_RCR: u32 = 14, T_TCR: u32 = 15;
const T_TSR: u32 = 16, T_RSR: u32 = 17, T_PSTART: u32 = 18, T_PSTOP: u32 = 19, T_BNRY: u32 = 20, T_CURR: u32 = 21;
const T_TPSR: u32 = 22, T_RNPP: u32 = 23, T_LNPP: u32 = 24, T_CNTR0: u32 = 25, T_CNTR1: u32 = 26, T_CNTR2: u32 = 27;
const T_9346CR: u32 = 28, T_CONFIG2: u32 = 29, T_CONFIG3: u32 = 30, T_PCI_INTLINE: u32 = 31;
const T_TBCR: u32 = 40, T_RSAR: u32 = 41, T_RBCR: u32 = 42, T_CRDA: u32 = 43, T_RCNT: u32 = 44, T_CLDA: u32 = 45, T_AC: u32 = 46;
const T_DMA_MODE: u32 = 60, T_TX_PENDING: u32 = 61, T_PCI_CMD: u32 = 62, T_BAR0: u32 = 63;
const T_PAR: u32 = 64, T_MAR: u32 = 65, T_RAM: u32 = 66, T_BACKLOG: u32 = 67, T_OUTBOX: u32 = 68;

// Static tables of the tags holding 8-bit and 16-bit registers (checked against their width on restore).
const U8_TAGS = memory.data<u32>([T_ISR, T_TSR, T_RSR, T_PSTART, T_PSTOP, T_BNRY, T_CURR, T_TPSR, T_RNPP, T_LNPP,
  T_CNTR0, T_CNTR1, T_CNTR2, T_CONFIG2, T_CONFIG3, T_PCI_INTLINE]);
const U8_TAG_COUNT: usize = 16;
const U16_TAGS = memory.data<u32>([T_TBCR, T_RSAR, T_RBCR, T_CRDA, T_RCNT, T_CLDA, T_AC]);
const U16_TAG_COUNT: usize = 7;

/** Bytes a blob of this device can need (the host sizes the I/O buffer with it). */
export function ne2kStateBound(d: Ne2k): u32 {
  return 4096 + RAM_BYTES + (d.backlogCap + OUTBOX_FRAMES) * (MAX_FRAME + 8);
}

function slotAt(d: Ne2k, i: u32): usize {
  let k = d.backlogHead + i;
  if (k >= d.backlogCap) k -= d.backlogCap;
  return d.backlog + <usize>k * SLOT_BYTES;
}

export function ne2kSave(d: Ne2k): i32 {
  if (ne2kStateBound(d) > ioSize()) return -Status.ERR_NO_MEMORY;
  envBegin(ioPtr(), ioSize(), DeviceKind.NE2000, STATE_VERSION);
  envPutU32(T_BUS, d.bus);
  envPutU64(T_MAC, (<u64>d.macHi << 32) | d.macLo);
  envPutU32(T_CR, d.cr); envPutU32(T_ISR, d.isr); envPutU32(T_IMR, d.imr); envPutU32(T_DCR, d.dcr);
  envPutU32(T_RCR, d.rcr); envPutU32(T_TCR, d.tcr); envPutU32(T_TSR, d.tsr); envPutU32(T_RSR, d.rsr);
  envPutU32(T_PSTART, d.pstart); envPutU32(T_PSTOP, d.pstop); envPutU32(T_BNRY, d.bnry); envPutU32(T_CURR, d.curr);
  envPutU32(T_TPSR, d.tpsr); envPutU32(T_RNPP, d.rnpp); envPutU32(T_LNPP, d.lnpp);
  envPutU32(T_CNTR0, d.cntr0); envPutU32(T_CNTR1, d.cntr1); envPutU32(T_CNTR2, d.cntr2);
  envPutU32(T_9346CR, d.cr9346); envPutU32(T_CONFIG2, d.config2); envPutU32(T_CONFIG3, d.config3); envPutU32(T_PCI_INTLINE, d.pciIntLine);
  envPutU32(T_TBCR, d.tbcr); envPutU32(T_RSAR, d.rsar); envPutU32(T_RBCR, d.rbcr); envPutU32(T_CRDA, d.crda);
  envPutU32(T_RCNT, d.rcnt); envPutU32(T_CLDA, d.clda); envPutU32(T_AC, d.ac);
  envPutU32(T_DMA_MODE, d.dmaMode); envPutU32(T_TX_PENDING, d.txPending); envPutU32(T_PCI_CMD, d.pciCmd); envPutU32(T_BAR0, d.bar0);
  envPutU64(T_PAR, rxfExactGet(d.filt, 0) & 0xffff_ffff_ffff);
  let mar: u64 = 0;
  for (let i: u32 = 0; i < 8; i++) mar |= <u64>rxfHash64Read(d.filt, i) << (<u64>i << 3);
  envPutU64(T_MAR, mar);
  envPutBytes(T_RAM, d.ram, RAM_BYTES);
  putFrames(T_BACKLOG, d, d.backlogCount, true);
  putFrames(T_OUTBOX, d, d.outFrames, false);
  return envFinish();
}

/** Frames as (u32 length, u32 status, bytes) records; the outbox has no status (0). */
function putFrames(tag: u32, d: Ne2k, n: u32, backlog: bool): void {
  let bytes: u32 = 0;
  for (let i: u32 = 0; i < n; i++) bytes += 8 + load<u32>(backlog ? slotAt(d, i) : d.outbox + <usize>i * SLOT_BYTES);
  const p = envField(tag, bytes);
  if (p == 0) return;
  let o: usize = 0;
  for (let i: u32 = 0; i < n; i++) {
    const s = backlog ? slotAt(d, i) : d.outbox + <usize>i * SLOT_BYTES;
    const len = load<u32>(s);
    store<u32>(p + o, len);
    store<u32>(p + o, backlog ? load<u32>(s, 4) : 0, 4);
    memory.copy(p + o + 8, s + (backlog ? 8 : 4), len);
    o += 8 + len;
  }
}

/** Check a frames field; the count or -1 if malformed. */
function checkFrames(p: usize, len: u32, maxFrames: u32, minLen: u32, backlog: bool): i32 {
  let o: u32 = 0, n: u32 = 0;
  // Bounded: each record consumes ≥ 8 bytes of the field.
  while (o < len) {
    if (len - o < 8) return -1;
    const l = load<u32>(p + o), st = load<u32>(p + o, 4);
    if (l < minLen || l > MAX_FRAME || l > len - o - 8) return -1;
    // A backlog frame's status is its filter verdict, or 0: held while quiesced, judged on delivery.
    if (backlog ? st != 0 && ((st & RSR_PRX) == 0 || (st & ~(RSR_PRX | RSR_PHY)) != 0) : st != 0) return -1;
    o += 8 + l;
    if (++n > maxFrames) return -1;
  }
  return <i32>n;
}

// @ts-ignore: decorator
@inline function u8Field(tag: u32): bool { return envGetU32(tag) && envU32() <= 0xff; }
// @ts-ignore: decorator
@inline function u16Field(tag: u32): bool { return envGetU32(tag) && envU32() <= 0xffff; }

export function ne2kRestore(d: Ne2k, len: u32): i32 {
  if (len > ioSize()) return Status.ERR_STATE_LENGTH;
  const s = envOpen(ioPtr(), len, DeviceKind.NE2000);
  if (s != Status.OK) return s;
  if (envVersion() != STATE_VERSION) return Status.ERR_STATE_VERSION;
  // Phase 1: validate everything.
  if (!envGetU32(T_BUS) || envU32() != d.bus) return Status.ERR_STATE_INVALID;
  if (!envGetU64(T_MAC) || envU64() != ((<u64>d.macHi << 32) | d.macLo)) return Status.ERR_STATE_INVALID;
  for (let i: usize = 0; i < U8_TAG_COUNT; i++) if (!u8Field(load<u32>(U8_TAGS + (i << 2)))) return Status.ERR_STATE_INVALID;
  for (let i: usize = 0; i < U16_TAG_COUNT; i++) if (!u16Field(load<u32>(U16_TAGS + (i << 2)))) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_IMR) || (envU32() & ~IMR_MASK) != 0) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_DCR) || (envU32() & ~DCR_MASK) != 0) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_RCR) || (envU32() & ~RCR_MASK) != 0) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_TCR) || (envU32() & ~TCR_MASK) != 0) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_9346CR) || (envU32() & ~<u32>0xcf) != 0) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_TX_PENDING) || envU32() > 1) return Status.ERR_STATE_INVALID;
  const txPending = envU32();
  // CR: exactly one of STP/STA (the run state), TXP exactly while a transmission waits.
  if (!envGetU32(T_CR) || envU32() > 0xff) return Status.ERR_STATE_INVALID;
  const cr = envU32();
  if ((cr & (CR_STP | CR_STA)) != CR_STP && (cr & (CR_STP | CR_STA)) != CR_STA) return Status.ERR_STATE_INVALID;
  if (((cr & CR_TXP) != 0) != (txPending != 0)) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_DMA_MODE)) return Status.ERR_STATE_INVALID;
  const mode = envU32();
  if (mode != 0 && mode != CR_RD_READ && mode != CR_RD_WRITE) return Status.ERR_STATE_INVALID;
  envGetU32(T_RCNT);
  if (mode != 0 && envU32() == 0) return Status.ERR_STATE_INVALID; // a transfer in progress has bytes left
  if (!envGetU32(T_PCI_CMD) || (envU32() & ~<u32>0x401) != 0) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_BAR0) || (envU32() & (BAR0_SIZE - 1)) != 1) return Status.ERR_STATE_INVALID;
  if (!envGetU64(T_PAR) || (envU64() >> 48) != 0) return Status.ERR_STATE_INVALID;
  if (!envGetU64(T_MAR)) return Status.ERR_STATE_INVALID;
  const ram = envFindExact(T_RAM, RAM_BYTES);
  if (ram == 0) return Status.ERR_STATE_INVALID;
  const bl = envFind(T_BACKLOG);
  if (bl == 0) return Status.ERR_STATE_INVALID;
  const blLen = envFoundLen();
  const blN = checkFrames(bl, blLen, d.backlogCap, MIN_FRAME, true);
  if (blN < 0) return Status.ERR_STATE_INVALID;
  const ob = envFind(T_OUTBOX);
  if (ob == 0) return Status.ERR_STATE_INVALID;
  const obLen = envFoundLen();
  const obN = checkFrames(ob, obLen, OUTBOX_FRAMES, ETH_HEADER, false);
  if (obN < 0) return Status.ERR_STATE_INVALID;
  if (txPending != 0 && <u32>obN < OUTBOX_FRAMES) return Status.ERR_STATE_INVALID; // a transmission only waits for a full outbox

  // Phase 2: apply.
  d.cr = cr; d.txPending = txPending; d.dmaMode = mode;
  envGetU32(T_ISR); d.isr = envU32(); envGetU32(T_IMR); d.imr = envU32(); envGetU32(T_DCR); d.dcr = envU32();
  envGetU32(T_RCR); d.rcr = envU32(); envGetU32(T_TCR); d.tcr = envU32(); envGetU32(T_TSR); d.tsr = envU32();
  envGetU32(T_RSR); d.rsr = envU32(); envGetU32(T_PSTART); d.pstart = envU32(); envGetU32(T_PSTOP); d.pstop = envU32();
  envGetU32(T_BNRY); d.bnry = envU32(); envGetU32(T_CURR); d.curr = envU32(); envGetU32(T_TPSR); d.tpsr = envU32();
  envGetU32(T_RNPP); d.rnpp = envU32(); envGetU32(T_LNPP); d.lnpp = envU32();
  envGetU32(T_CNTR0); d.cntr0 = envU32(); envGetU32(T_CNTR1); d.cntr1 = envU32(); envGetU32(T_CNTR2); d.cntr2 = envU32();
  envGetU32(T_9346CR); d.cr9346 = envU32(); envGetU32(T_CONFIG2); d.config2 = envU32(); envGetU32(T_CONFIG3); d.config3 = envU32();
  envGetU32(T_PCI_INTLINE); d.pciIntLine = envU32();
  envGetU32(T_TBCR); d.tbcr = envU32(); envGetU32(T_RSAR); d.rsar = envU32(); envGetU32(T_RBCR); d.rbcr = envU32();
  envGetU32(T_CRDA); d.crda = envU32(); envGetU32(T_RCNT); d.rcnt = envU32(); envGetU32(T_CLDA); d.clda = envU32();
  envGetU32(T_AC); d.ac = envU32();
  envGetU32(T_PCI_CMD); d.pciCmd = envU32(); envGetU32(T_BAR0); d.bar0 = envU32();
  envGetU64(T_PAR); rxfExactSet(d.filt, 0, envU64(), true);
  envGetU64(T_MAR); const mar = envU64();
  for (let i: u32 = 0; i < 8; i++) rxfHash64Write(d.filt, i, <u32>(mar >> (<u64>i << 3)) & 0xff);
  memory.copy(d.ram, ram, RAM_BYTES);
  d.backlogHead = 0; d.backlogCount = 0;
  let o: usize = 0;
  for (let i = 0; i < blN; i++) {
    const l = load<u32>(bl + o);
    const slot = d.backlog + <usize>i * SLOT_BYTES;
    store<u32>(slot, l);
    store<u32>(slot, load<u32>(bl + o, 4), 4);
    memory.copy(slot + 8, bl + o + 8, l);
    o += 8 + l;
  }
  d.backlogCount = <u32>blN;
  o = 0;
  for (let i = 0; i < obN; i++) {
    const l = load<u32>(ob + o);
    const slot = d.outbox + <usize>i * SLOT_BYTES;
    store<u32>(slot, l);
    memory.copy(slot + 4, ob + o + 8, l);
    o += 8 + l;
  }
  d.outFrames = <u32>obN;
  // The line follows the restored registers; the host re-drives it and reconciles the filter.
  d.line = 0;
  d.filterChanged = 1;
  updateLine(d);
  // Restored quiesced until ne2k_resume: the card's RAM and registers stay as
  // saved (host frames wait in the backlog, no transmission starts, no new
  // interrupt) until the VM runs, so the state the source sent is the state
  // the guest resumes with.
  d.quiesced = 1;
  return Status.OK;
}
