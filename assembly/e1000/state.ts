// Saved state of an 82540EM: registers as (offset, value) pairs (the offset
// is the register's name in the manual, so fields never shift meaning), the
// EEPROM image and its Microwire state, the PHY, interrupt and timer state
// (deadlines in guest time), the offload contexts and segmentation progress,
// the link, the I/O window's IOADDR, PCI configuration, the receive backlog
// and the host outbox. Restore treats the blob as hostile: every field is
// validated before anything changes, then applied; the units look at their
// rings once afterwards. Device counters are diagnostics of this instance
// and are not carried.

import { Status } from "../core/status";
import {
  DeviceKind, envBegin, envPutU32, envPutBytes, envField, envFinish, envOpen, envVersion, envFind, envFoundLen,
  envFindExact, envGetU32, envU32,
} from "../core/state";
import { ioPtr, ioSize } from "../core/vm";
import { regionAlloc, regionCost } from "../core/layout";
import { E1k, CFG_BYTES, reg, setReg, macReset, STATS_BEGIN, STATS_END } from "./device";
import { E1K_MMIO_BYTES, E1K_MAX_RX_FRAME } from "./defs";
import {
  E1K_TX_OUT_BYTES, E1K_MAX_TX_FRAME, EEPROM_WORDS, EEPROM_SUM, PHY_REGS, ICR_VALID, R_STATUS, R_ICR, R_ICS, R_IMS,
  R_IMC, R_RXCW, R_PBA,
} from "./regs";
import { isRegister, storeMask } from "./gate";
import { eepromSum } from "./eeprom";
import { cfgImageOk } from "./pci";
import { phyRefresh } from "./phy";
import { ringsRecheck } from "./rings";
import { backlogRestore, backlogRecordAt, backlogAfter } from "./rx";
import { irqUpdate } from "./irq";
import { filterRebuild } from "./filter";

const VERSION: u32 = 1;
const T_REGS: u32 = 1;
const T_EEPROM: u32 = 2;
const T_EE_STATE: u32 = 3;
const T_PHY: u32 = 4;
const T_PHY_LATCH: u32 = 5;
const T_IRQ: u32 = 6;
const T_TIMES: u32 = 7;
const T_TX: u32 = 8;
const T_LINK: u32 = 9;
const T_IOADDR: u32 = 10;
const T_PCI: u32 = 11;
const T_BACKLOG: u32 = 12;
const T_OUTBOX: u32 = 13;
/** Frames at the backlog's tail the filter judges on delivery (E1k.rxUnjudged); absent when none. */
const T_UNJUDGED: u32 = 14;

/** Registers whose value is computed or lives in the device struct, not the register file. */
function computed(off: u32): bool {
  return off == R_STATUS || off == R_ICR || off == R_ICS || off == R_IMS || off == R_IMC || off == R_RXCW;
}

function saved(off: u32): bool { return isRegister(off) && !computed(off); }

/** Bytes a saved blob of this device can need. */
export function e1kStateBound(d: E1k): u32 {
  return 65536 + CFG_BYTES + d.backlogCap + d.backlogMaxFrames * 8 + E1K_TX_OUT_BYTES;
}

// The saved register offsets, in order: listed once per instance (a walk of BAR0).
let savedList: usize = 0;
let savedCount: u32 = 0;
const SAVED_MAX: u32 = 2048;

function savedRegisters(): bool {
  if (savedList != 0) return true;
  const p = regionAlloc(<u64>SAVED_MAX * 4, 16);
  if (p == 0) return false;
  let n: u32 = 0;
  // Bounded by the 32768 dwords of BAR0 and the list's size.
  for (let off: u32 = 0; off < E1K_MMIO_BYTES && n < SAVED_MAX; off += 4) if (saved(off)) { store<u32>(p + (<usize>n << 2), off); n++; }
  savedCount = n;
  savedList = p;
  return true;
}

/** Linear memory the first save of this instance carves for the register list. */
export function savedListCost(): u64 { return regionCost(<u64>SAVED_MAX * 4, 16); }

export function e1kSave(d: E1k): i32 {
  if (e1kStateBound(d) > ioSize()) return -Status.ERR_NO_MEMORY;
  if (!savedRegisters()) return -Status.ERR_NO_MEMORY;
  envBegin(ioPtr(), ioSize(), DeviceKind.E1000, VERSION);
  const pr = envField(T_REGS, savedCount * 8);
  if (pr != 0) {
    for (let i: u32 = 0; i < savedCount; i++) {
      const off = load<u32>(savedList + (<usize>i << 2));
      store<u32>(pr + (<usize>i << 3), off);
      store<u32>(pr + (<usize>i << 3), reg(d, off), 4);
    }
  }
  envPutBytes(T_EEPROM, d.eeprom, EEPROM_WORDS * 2);
  const ee = envField(T_EE_STATE, 24);
  if (ee != 0) {
    store<u32>(ee, d.eeBitsIn); store<u32>(ee, d.eeShift, 4); store<u32>(ee, d.eeReading, 8);
    store<i32>(ee, d.eeOutBit, 12); store<u32>(ee, d.eeWord, 16); store<u32>(ee, d.eeLast, 20);
  }
  envPutBytes(T_PHY, d.phy, PHY_REGS * 2);
  envPutU32(T_PHY_LATCH, d.phyLatchLow);
  const iq = envField(T_IRQ, 20);
  if (iq != 0) {
    store<u32>(iq, d.icr); store<u32>(iq, d.ims, 4); store<u32>(iq, d.line, 8);
    store<u32>(iq, d.throttled, 12); store<u32>(iq, d.rxDmtBelow, 16);
  }
  const tm = envField(T_TIMES, 48);
  if (tm != 0) {
    store<u64>(tm, d.lastNow); store<u64>(tm, d.itrAt, 8); store<u64>(tm, d.rxPktAt, 16);
    store<u64>(tm, d.rxAbsAt, 24); store<u64>(tm, d.txPktAt, 32); store<u64>(tm, d.txAbsAt, 40);
  }
  const tx = envField(T_TX, 40);
  if (tx != 0) {
    memory.copy(tx, d.ctxCsum, 16);
    memory.copy(tx + 16, d.ctxTso, 16);
    store<u32>(tx, d.txSegDone, 32);
    store<u32>(tx, d.txStalled, 36);
  }
  envPutU32(T_LINK, d.hostLink);
  envPutU32(T_IOADDR, d.ioAddr);
  envPutBytes(T_PCI, d.cfg, CFG_BYTES);
  // Backlog frames in order, each as u32 length + bytes. Bounded by the frame count.
  let bytes: u32 = 0;
  let at = d.backlogHead;
  for (let i: u32 = 0; i < d.backlogFrames; i++) {
    at = backlogRecordAt(d, at);
    bytes += 4 + load<u32>(d.backlog + at);
    at = backlogAfter(d, at);
  }
  const pb = envField(T_BACKLOG, bytes);
  if (pb != 0) {
    let o: usize = 0;
    at = d.backlogHead;
    for (let i: u32 = 0; i < d.backlogFrames; i++) {
      at = backlogRecordAt(d, at);
      const len = load<u32>(d.backlog + at);
      store<u32>(pb + o, len);
      memory.copy(pb + o + 4, d.backlog + at + 4, len);
      o += 4 + len;
      at = backlogAfter(d, at);
    }
  }
  envPutBytes(T_OUTBOX, d.txOut, d.txOutLen);
  if (d.rxUnjudged != 0) envPutU32(T_UNJUDGED, d.rxUnjudged);
  return envFinish();
}

export function e1kRestore(d: E1k, len: u32): i32 {
  if (len > ioSize()) return Status.ERR_STATE_LENGTH;
  const s = envOpen(ioPtr(), len, DeviceKind.E1000);
  if (s != Status.OK) return s;
  if (envVersion() != VERSION) return Status.ERR_STATE_VERSION;
  // ---- Phase 1: validate everything. ----
  const pr = envFind(T_REGS);
  const rlen = envFoundLen();
  if (pr == 0 || (rlen & 7) != 0) return Status.ERR_STATE_INVALID;
  const pairs = rlen >> 3;
  if (pairs > E1K_MMIO_BYTES / 4) return Status.ERR_STATE_INVALID;
  // Bounded by the pair count (≤ 32768); offsets must increase, so none repeats.
  let prev: i64 = -1;
  for (let i: u32 = 0; i < pairs; i++) {
    const off = load<u32>(pr + (<usize>i << 3));
    const v = load<u32>(pr + (<usize>i << 3), 4);
    if (<i64>off <= prev || !saved(off)) return Status.ERR_STATE_INVALID;
    prev = <i64>off;
    const m = off >= STATS_BEGIN && off < STATS_END ? 0xffffffff : storeMask(off);
    if ((v & ~m) != 0) return Status.ERR_STATE_INVALID;
    if (off == R_PBA && ((v & 0xffff) > 64 || (v >> 16) != 64 - (v & 0xffff))) return Status.ERR_STATE_INVALID;
  }
  const ee = envFindExact(T_EEPROM, EEPROM_WORDS * 2);
  if (ee == 0 || eepromSum(ee) != EEPROM_SUM || (load<u8>(ee) & 1) != 0) return Status.ERR_STATE_INVALID;
  const es = envFindExact(T_EE_STATE, 24);
  if (es == 0 || load<u32>(es) > 9 || load<u32>(es, 4) > 0x1ff || load<u32>(es, 8) > 1 ||
      load<i32>(es, 12) < -1 || load<i32>(es, 12) >= <i32>EEPROM_WORDS * 16 || load<u32>(es, 16) >= EEPROM_WORDS ||
      (load<u32>(es, 20) & ~<u32>0x7f) != 0) return Status.ERR_STATE_INVALID;
  const ph = envFindExact(T_PHY, PHY_REGS * 2);
  if (ph == 0) return Status.ERR_STATE_INVALID;
  const pl = envFindExact(T_PHY_LATCH, 4);
  if (pl == 0 || load<u32>(pl) > 1) return Status.ERR_STATE_INVALID;
  const iq = envFindExact(T_IRQ, 20);
  if (iq == 0 || (load<u32>(iq) & ~ICR_VALID) != 0 || (load<u32>(iq, 4) & ~ICR_VALID) != 0 || load<u32>(iq, 8) > 1 ||
      load<u32>(iq, 12) > 1 || load<u32>(iq, 16) > 1) return Status.ERR_STATE_INVALID;
  // A raised line needs an enabled cause.
  if (load<u32>(iq, 8) != 0 && (load<u32>(iq) & load<u32>(iq, 4)) == 0) return Status.ERR_STATE_INVALID;
  const tm = envFindExact(T_TIMES, 48);
  if (tm == 0) return Status.ERR_STATE_INVALID;
  const tx = envFindExact(T_TX, 40);
  if (tx == 0 || load<u32>(tx, 32) > (1 << 20) || load<u32>(tx, 36) > 1) return Status.ERR_STATE_INVALID;
  const lk = envFindExact(T_LINK, 4);
  if (lk == 0 || load<u32>(lk) > 1) return Status.ERR_STATE_INVALID;
  const ia = envFindExact(T_IOADDR, 4);
  if (ia == 0 || load<u32>(ia) > 0x1ffff) return Status.ERR_STATE_INVALID;
  const pc = envFindExact(T_PCI, CFG_BYTES);
  if (pc == 0 || !cfgImageOk(pc)) return Status.ERR_STATE_INVALID;
  const pb = envFind(T_BACKLOG);
  const blen = envFoundLen();
  if (pb == 0) return Status.ERR_STATE_INVALID;
  // The frames must fit this device's backlog as laid out from empty. Bounded: each step takes ≥ 4 bytes.
  let o: u32 = 0, frames: u32 = 0, ring: u64 = 0;
  while (o < blen) {
    if (blen - o < 4) return Status.ERR_STATE_INVALID;
    const l = load<u32>(pb + o);
    if (l < 60 || l > E1K_MAX_RX_FRAME || l > blen - o - 4) return Status.ERR_STATE_INVALID;
    ring += 4 + ((<u64>l + 3) & ~<u64>3);
    frames++;
    if (frames > d.backlogMaxFrames || ring > <u64>d.backlogCap) return Status.ERR_STATE_INVALID;
    o += 4 + l;
  }
  const ob = envFind(T_OUTBOX);
  const olen = envFoundLen();
  if (ob == 0 || olen > E1K_TX_OUT_BYTES || (olen & 3) != 0) return Status.ERR_STATE_INVALID;
  let oframes: u32 = 0;
  o = 0;
  while (o < olen) {
    const l = load<u32>(ob + o);
    if (l == 0 || l > E1K_MAX_TX_FRAME || ((l + 3) & ~<u32>3) > olen - o - 4) return Status.ERR_STATE_INVALID;
    o += 4 + ((l + 3) & ~<u32>3);
    oframes++;
  }
  let unjudged: u32 = 0;
  if (envFind(T_UNJUDGED) != 0) {
    if (!envGetU32(T_UNJUDGED) || envU32() > frames) return Status.ERR_STATE_INVALID;
    unjudged = envU32();
  }
  // ---- Phase 2: apply. ----
  d.backlogFrames = 0; // the blob's frames replace the FIFO: nothing is dropped
  macReset(d);
  for (let i: u32 = 0; i < pairs; i++) setReg(d, load<u32>(pr + (<usize>i << 3)), load<u32>(pr + (<usize>i << 3), 4));
  memory.copy(d.eeprom, ee, EEPROM_WORDS * 2);
  d.mac = <u64>load<u16>(ee) | (<u64>load<u16>(ee, 2) << 16) | (<u64>load<u16>(ee, 4) << 32);
  d.eeBitsIn = load<u32>(es); d.eeShift = load<u32>(es, 4); d.eeReading = load<u32>(es, 8);
  d.eeOutBit = load<i32>(es, 12); d.eeWord = load<u32>(es, 16); d.eeLast = load<u32>(es, 20);
  memory.copy(d.phy, ph, PHY_REGS * 2);
  d.phyLatchLow = load<u32>(pl);
  d.icr = load<u32>(iq); d.ims = load<u32>(iq, 4); d.line = load<u32>(iq, 8);
  d.throttled = load<u32>(iq, 12); d.rxDmtBelow = load<u32>(iq, 16);
  d.lastNow = load<u64>(tm); d.itrAt = load<u64>(tm, 8); d.rxPktAt = load<u64>(tm, 16);
  d.rxAbsAt = load<u64>(tm, 24); d.txPktAt = load<u64>(tm, 32); d.txAbsAt = load<u64>(tm, 40);
  memory.copy(d.ctxCsum, tx, 16);
  memory.copy(d.ctxTso, tx + 16, 16);
  d.txSegDone = load<u32>(tx, 32);
  d.txStalled = load<u32>(tx, 36);
  d.hostLink = load<u32>(lk);
  d.ioAddr = load<u32>(ia);
  memory.copy(d.cfg, pc, CFG_BYTES);
  o = 0;
  while (o < blen) {
    const l = load<u32>(pb + o);
    backlogRestore(d, pb + o + 4, l);
    o += 4 + l;
  }
  memory.copy(d.txOut, ob, olen);
  d.txOutLen = olen;
  d.txOutFrames = oframes;
  d.rxUnjudged = unjudged;
  // Restored quiesced until e1k_resume (see the note below): host frames wait in the backlog.
  d.quiesced = 1;
  filterRebuild(d);
  phyRefresh(d);
  ringsRecheck(d);
  // Neither ring is processed here: a restored device must not write guest
  // RAM before the host resumes the VM (a migration destination verifies RAM
  // after restore, and the source may still take the VM back). Doorbells
  // lost with the source are made up by the host's resume (e1k_resume).
  irqUpdate(d, d.lastNow);
  return Status.OK;
}
