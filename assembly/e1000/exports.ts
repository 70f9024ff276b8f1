// Exports of the 82540EM model: numbers in, numbers out. Devices are named
// by handles (1..15, their own namespace); frames cross by offsets into the
// calling instance's I/O buffer; guest time `now` (ns) comes with every call
// that can move a timer. See src/devices/e1000/device.ts for the typed API.
// Every entry point holds its device with one reference (dev / out:
// core/lifecycle.ts), so e1k_destroy on one thread never frees a device
// under a call on another; a call on a destroyed handle returns
// ERR_BAD_HANDLE (or the documented value for a missing device).

import { Status } from "../core/status";
import { counterAdd, Counter } from "../core/layout";
import { ioPtr, ioRangeOk } from "../core/vm";
import { gmReady } from "../core/guestmem";
import {
  E1K_MIN_BACKLOG_FRAMES, E1K_MAX_BACKLOG_FRAMES, E1K_MIN_BACKLOG_BYTES, E1K_MAX_BACKLOG_BYTES, E1K_MMIO_BYTES,
  PENDING_TX, PENDING_INTX, PENDING_FILTER, E1K_RAR_ENTRIES,
} from "./defs";
import { ICR_LSC, PHY_REGS } from "./regs";
import { E1k, e1kGet, e1kEnter, e1kLeave, e1kInFlight, e1kCreate, e1kOpen, e1kDestroy, e1kScratch, e1kScratchCost, e1kCost } from "./device";
import { crcTablesReady } from "../net/filter";
import { filterMcMode, filterRarGroup, filterRarUnicast } from "./filter";
import { regionCost } from "../core/layout";
import { barRead, barWrite, powerOn, regPeek, tick } from "./gate";
import { cfgRead, cfgWrite, pciReset, intxDisabled } from "./pci";
import { eepromBuild } from "./eeprom";
import { phyReg, phyRefresh } from "./phy";
import { irqCause, irqNextDeadline, irqUpdate } from "./irq";
import { rxReceive, rxDrain } from "./rx";
import { txKick, txDrained } from "./tx";
import { ringsRecheck } from "./rings";
import { faReceiveWindow } from "../rings/batch";
import { e1kSave, e1kRestore, e1kStateBound, savedListCost } from "./state";
import { nswDetach } from "../net/switch";
import { DeviceKind } from "../core/defs";
import { e1kSwitchRegister } from "./port";
import { e1kHostSetMac, e1kHostSetVfta } from "./host-ctl";
import { VFTA_WORDS } from "./regs";

/** Device `h` with a reference taken (paired with out / e1kLeave), or null (counted as a bad handle). */
// @ts-ignore: decorator
@inline function dev(h: i32): E1k | null { return e1kEnter(h); }
/** Drop the reference dev took, passing `v` through. */
// @ts-ignore: decorator
@inline function out<T>(d: E1k, v: T): T { e1kLeave(d); return v; }

function argsOk(macHi: u32, backlogFrames: u32, backlogBytes: u32): bool {
  return macHi <= 0xffff && ((macHi >> 8) & 1) == 0 &&
    backlogFrames >= E1K_MIN_BACKLOG_FRAMES && backlogFrames <= E1K_MAX_BACKLOG_FRAMES &&
    backlogBytes >= E1K_MIN_BACKLOG_BYTES && backlogBytes <= E1K_MAX_BACKLOG_BYTES && (backlogBytes & 3) == 0;
}

/**
 * Create an 82540EM. MAC as two big-endian numbers (bytes 0..1 in macHi,
 * 2..5 in macLo; unicast). The receive backlog holds up to `backlogFrames`
 * frames in `backlogBytes` bytes (a multiple of 4). Returns a handle (≥ 1)
 * or -Status; a create that fails takes nothing but the instance's scratch
 * (made once): ERR_FULL when all 15 handles are in use, ERR_NO_MEMORY.
 */
export function e1k_create(macHi: u32, macLo: u32, backlogFrames: u32, backlogBytes: u32): i32 {
  if (!gmReady()) return -Status.ERR_NOT_READY;
  if (!argsOk(macHi, backlogFrames, backlogBytes)) return -Status.ERR_INVALID_ARG;
  if (!e1kScratch() || !crcTablesReady()) return -Status.ERR_NO_MEMORY;
  const h = e1kCreate(macHi, macLo, backlogFrames, backlogBytes);
  if (h < 0) return h;
  e1kSwitchRegister();
  const d = changetype<E1k>(e1kGet(h));
  eepromBuild(d);
  pciReset(d);
  powerOn(d);
  e1kOpen(h);
  return h;
}

/** Bytes of linear memory an e1k_create with these arguments can take in an instance that has none yet, or -Status. */
export function e1k_memory_bytes(backlogFrames: u32, backlogBytes: u32): i64 {
  if (!argsOk(0, backlogFrames, backlogBytes)) return -Status.ERR_INVALID_ARG;
  // The engine's CRC tables: 8 KiB, 64-byte aligned, once per instance (net/filter.ts crcTablesReady).
  return <i64>(e1kCost(backlogBytes) + e1kScratchCost() + regionCost(8 * 1024, 64) + savedListCost());
}

/**
 * Destroy device `h`: it closes (every later call on `h` is refused) and
 * stops; once no call holds it its handle and memory are free for the next
 * create. OK when freed; ERR_MORE while calls on other threads still hold it
 * (e1k_in_flight > 0): call e1k_destroy again after they drained (the next
 * e1k_create also frees it).
 */
export function e1k_destroy(h: i32): i32 {
  if (e1kGet(h) != 0) nswDetach(DeviceKind.E1000, <u32>h);
  const s = e1kDestroy(h);
  if (s == Status.ERR_BAD_HANDLE) counterAdd(Counter.BAD_HANDLE, 1);
  return s;
}

/** Calls in progress on device `h` on any thread, while it is open or destroyed but not yet freed; -ERR_BAD_HANDLE for a handle naming no device. */
export function e1k_in_flight(h: i32): i32 { const n = e1kInFlight(h); return n < 0 ? -Status.ERR_BAD_HANDLE : n; }

/** Power-on reset of the function, PCI configuration included (the host's link setting is kept). */
export function e1k_reset(h: i32): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  pciReset(d);
  powerOn(d);
  return out(d, Status.OK);
}

/** PCI configuration read of `width` bytes at `off`; all ones for a bad handle. */
export function e1k_cfg_read(h: i32, off: u32, width: u32): u32 {
  const d = dev(h); if (d == null) return 0xffffffff;
  return out(d, cfgRead(d, off, width, d.line != 0));
}

/** PCI configuration write; the units look at their rings again (bus mastering may have come on). */
export function e1k_cfg_write(h: i32, off: u32, width: u32, v: u32, now: u64): void {
  const d = dev(h); if (d == null) return;
  now = tick(d, now);
  cfgWrite(d, off, width, v);
  // Bus mastering may just have come on: the units look at their rings again.
  ringsRecheck(d);
  txKick(d, now);
  rxDrain(d, now);
  irqUpdate(d, now);
  e1kLeave(d);
}

/** BAR `bar` (0 registers, 1 I/O window) read of `width` bytes at `off`. */
export function e1k_bar_read(h: i32, bar: u32, off: u32, width: u32, now: u64): u32 {
  const d = dev(h); if (d == null) return 0xffffffff;
  return out(d, barRead(d, bar, off, width, now));
}

/** BAR `bar` (0 registers, 1 I/O window) write of `width` bytes at `off` at guest time `now`. */
export function e1k_bar_write(h: i32, bar: u32, off: u32, width: u32, v: u32, now: u64): void {
  const d = dev(h); if (d == null) return;
  barWrite(d, bar, off, width, v, now);
  e1kLeave(d);
}

/** Register value at BAR0 offset `off` without read effects (diagnostics, tests). */
export function e1k_reg_peek(h: i32, off: u32): u32 {
  const d = dev(h); if (d == null) return 0;
  if ((off & 3) != 0 || off >= E1K_MMIO_BYTES) return out(d, 0);
  return out(d, regPeek(d, off));
}

/** PHY register `r` (0..31) without read effects. */
export function e1k_phy_peek(h: i32, r: u32): u32 {
  const d = dev(h); if (d == null) return 0;
  return out(d, r >= PHY_REGS ? 0 : phyReg(d, r));
}

/**
 * Host → guest frames, many per call, each with the Status e1k_receive would
 * have returned: the frame array of `len` bytes at `ioOff` goes through the
 * receive path in order, frame i's Status written as a byte at I/O offset
 * `stOff + i` (rings/batch.ts faReceiveWindow; `flags` FA_STOP_AT_REFUSAL
 * ends the call after the first frame not taken with OK); the interrupt
 * state is updated once, after the last. Returns the frames handed over, or
 * -Status (nothing taken).
 */
export function e1k_receive_frames(h: i32, ioOff: u32, len: u32, stOff: u32, flags: u32, now: u64): i32 {
  const d = dev(h); if (d == null) return -Status.ERR_BAD_HANDLE;
  rxNow = tick(d, now);
  const n = faReceiveWindow(ioOff, len, stOff, flags, receiveOne, changetype<usize>(d));
  irqUpdate(d, rxNow);
  return out(d, n);
}
let rxNow: u64 = 0;
function receiveOne(ctx: usize, frame: usize, len: u32): i32 { return rxReceive(changetype<E1k>(ctx), frame, len, rxNow); }

/**
 * Host → guest frame of `len` bytes at `ioOff` in the I/O buffer (no FCS).
 * OK: stored, backlogged or dropped as the hardware would (counted);
 * ERR_FULL: dropped, backlog full or the ring can never hold it;
 * ERR_INVALID_ARG: shorter than 14 or longer than 16384 bytes.
 */
export function e1k_receive(h: i32, ioOff: u32, len: u32, now: u64): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  if (!ioRangeOk(ioOff, len)) return out(d, Status.ERR_INVALID_ARG);
  now = tick(d, now);
  const s = rxReceive(d, ioPtr() + ioOff, len, now);
  irqUpdate(d, now);
  return out(d, s);
}

/** Frames waiting for the host (laid out as u32 length, bytes, padded to 4, from e1k_tx_ptr). */
export function e1k_tx_frames(h: i32): i32 { const d = dev(h); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>d.txOutFrames); }
/** Address of the frames waiting for the host (see e1k_tx_frames), 0 for a bad handle. */
export function e1k_tx_ptr(h: i32): usize { const d = dev(h); return d == null ? 0 : out(d, d.txOut); }
/** The host took the frames: clear the outbox and restart a transmit ring that stopped on it. */
export function e1k_tx_done(h: i32, now: u64): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  now = tick(d, now);
  txDrained(d, now);
  irqUpdate(d, now);
  return out(d, Status.OK);
}

/** Fire the timers due at guest time `now` (the host calls this at e1k_next_deadline). */
export function e1k_advance(h: i32, now: u64): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  tick(d, now);
  return out(d, Status.OK);
}

/** Earliest guest time the device wants e1k_advance, or all ones for none. */
export function e1k_next_deadline(h: i32): u64 {
  const d = dev(h); if (d == null) return 0xffff_ffff_ffff_ffff;
  return out(d, irqNextDeadline(d));
}

/** Plug (1) or unplug (0) the cable: the link follows, with a link-status-change interrupt. */
export function e1k_set_link(h: i32, up: u32, now: u64): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  if (up > 1) return out(d, Status.ERR_INVALID_ARG);
  now = tick(d, now);
  d.hostLink = up;
  if (phyRefresh(d)) {
    irqCause(d, ICR_LSC, now);
    if (up != 0) { txKick(d, now); rxDrain(d, now); }
  }
  irqUpdate(d, now);
  return out(d, Status.OK);
}

/** What the host must look at after a call (PENDING_TX, PENDING_INTX, PENDING_FILTER); 0 for an unknown handle. */
export function e1k_pending(h: i32): u32 {
  const d = dev(h); if (d == null) return 0;
  let v: u32 = 0;
  if (d.txOutFrames != 0) v |= PENDING_TX;
  if (d.line != 0 && !intxDisabled(d)) v |= PENDING_INTX;
  if (d.filterChanged != 0) v |= PENDING_FILTER;
  return out(d, v);
}

/** Multicast filter mode (MC_MODE_* of defs.ts: RCTL.UPE, RCTL.MPE, any MTA bit set), or -Status. */
export function e1k_mc_mode(h: i32): i32 { const d = dev(h); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>filterMcMode(d)); }

/** Receive address `i` (0..15) as a 48-bit number (first byte in the low bits) when it is valid (AV, destination) and a group address; -1 otherwise or for a bad handle or index. */
export function e1k_rar_group(h: i32, i: u32): i64 {
  const d = dev(h); if (d == null) return -1;
  return out(d, i >= E1K_RAR_ENTRIES ? -1 : filterRarGroup(d, i));
}

/** Receive address `i` (0..15) as a 48-bit number (first byte in the low bits) when it is valid (AV, destination) and unicast; -1 otherwise or for a bad handle or index. */
export function e1k_rar_unicast(h: i32, i: u32): i64 {
  const d = dev(h); if (d == null) return -1;
  return out(d, i >= E1K_RAR_ENTRIES ? -1 : filterRarUnicast(d, i));
}

/** Take the PENDING_FILTER bit: 1 when the receive filter changed since the last take (then cleared), 0 if not, -Status for a bad handle. */
export function e1k_filter_take(h: i32): i32 {
  const d = dev(h); if (d == null) return -Status.ERR_BAD_HANDLE;
  const v = d.filterChanged;
  d.filterChanged = 0;
  return out(d, <i32>v);
}

/** INTA# level: 1 asserted (the PCI command's INTx disable forces it low). */
export function e1k_intx(h: i32): i32 { const d = dev(h); return d == null ? 0 : out(d, d.line != 0 && !intxDisabled(d) ? 1 : 0); }

/** Address of the device's u64 counters (E1K_COUNTERS of them, named by defs.ts E1kCounter). */
export function e1k_counters_ptr(h: i32): usize { const d = dev(h); return d == null ? 0 : out(d, d.counters); }
/** Frames waiting in the receive backlog. */
export function e1k_backlog(h: i32): i32 { const d = dev(h); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>d.backlogFrames); }

/** Stop DMA (host frames wait in the backlog, the transmit ring is not read). Call before e1k_save. */
export function e1k_quiesce(h: i32): i32 { const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE; d.quiesced = 1; return out(d, Status.OK); }
/** Undo e1k_quiesce and look at both rings once. */
export function e1k_resume(h: i32, now: u64): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  now = tick(d, now);
  d.quiesced = 0;
  txKick(d, now);
  rxDrain(d, now);
  irqUpdate(d, now);
  return out(d, Status.OK);
}

/** Save the device as an envelope at the start of the I/O buffer; its length or -Status. */
export function e1k_save(h: i32): i32 { const d = dev(h); return d == null ? -Status.ERR_BAD_HANDLE : out(d, e1kSave(d)); }
/** I/O buffer bytes a save of this device can need. */
export function e1k_state_bound(h: i32): i32 { const d = dev(h); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>e1kStateBound(d)); }
/** Restore from `len` bytes at the start of the I/O buffer; the device is untouched on error. */
export function e1k_restore(h: i32, len: u32): i32 { const d = dev(h); return d == null ? Status.ERR_BAD_HANDLE : out(d, e1kRestore(d, len)); }

/**
 * Host-initiated MAC change (macHi bytes 0..1, macLo 2..5, big-endian
 * numbers; unicast): RAR[0] with AV set, and EEPROM words 00h-02h with the
 * checksum word fixed (§5.6.1), so a driver that reloads or resets reads
 * the new address. ERR_INVALID_ARG for a group or zero address. Run it quiesced.
 */
export function e1k_set_mac(h: i32, macHi: u32, macLo: u32): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  if (macHi > 0xffff || ((macHi >> 8) & 1) != 0 || (macHi | macLo) == 0) return out(d, Status.ERR_INVALID_ARG);
  e1kHostSetMac(d, (<u64>bswap<u16>(<u16>macHi)) | (<u64>bswap<u32>(macLo) << 16));
  return out(d, Status.OK);
}

/** Replace the VLAN filter table (VFTA, 128 words, §13.5.1) with the 512 bytes at `ioOff` (bit v: VLAN id v passes; RCTL.VFE decides whether it filters); a Status. */
export function e1k_set_vfta(h: i32, ioOff: u32): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  if (!ioRangeOk(ioOff, VFTA_WORDS * 4)) return out(d, Status.ERR_INVALID_ARG);
  e1kHostSetVfta(d, ioPtr() + ioOff);
  return out(d, Status.OK);
}
