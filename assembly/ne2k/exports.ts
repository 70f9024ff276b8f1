// Exports of the NE2000 (DP8390 / RTL8029AS) model: numbers in, numbers out.
// Devices are named by handles (1..7); frames cross by offsets into the
// calling instance's I/O buffer. See src/devices/ne2k/device.ts for the typed API.
// Every entry point holds its device with one reference (dev / out:
// core/lifecycle.ts), so ne2k_destroy on one thread never frees a device
// under a call on another; a call on a destroyed handle returns
// ERR_BAD_HANDLE (or the documented value for a missing device).

import { Status } from "../core/status";
import { ioPtr, ioRangeOk } from "../core/vm";
import { gmReady } from "../core/guestmem";
import { BUS_PCI, BUS_ISA, MAX_BACKLOG, NE_DATA, NE_RESET, RUN_MAX, HOST_FLAG_FILTER } from "./defs";
import { Ne2k, ne2kGet, ne2kEnter, ne2kLeave, ne2kInFlight, ne2kCreate, ne2kDestroy, ne2kCost, powerOn, lineLevel, countN, writeProm, updateLine } from "./device";
import { portRead, portWrite, dataRunLength, runRead, runCommit, runMove } from "./model";
import { rxFromHost, rxDrain } from "./rx";
import { ne2kTxDrained, ne2kTxResume } from "./tx";
import { pciConfigRead, pciConfigWrite, pciIoEnabled } from "./pci";
import { ne2kSave, ne2kRestore, ne2kStateBound } from "./state";
import { Ne2kCounter } from "./defs";
import { rxfExactGet, rxfExactSet, rxfHash64Read } from "../net/filter";
import { nswDetach } from "../net/switch";
import { DeviceKind } from "../core/defs";
import { ne2kSwitchRegister } from "./port";
import { faReceiveWindow } from "../rings/batch";

/** Device `h` with a reference taken (paired with out / ne2kLeave), or null; a read-ahead the host left outstanding counts as all taken (ne2k_run_read). */
// @ts-ignore: decorator
@inline function dev(h: i32): Ne2k | null {
  const d = ne2kEnter(h);
  if (d != null) d.specN = 0;
  return d;
}
/** Drop the reference dev took, passing `v` through. */
// @ts-ignore: decorator
@inline function out<T>(d: Ne2k, v: T): T { ne2kLeave(d); return v; }

// @ts-ignore: decorator
@inline function ones(width: u32): u32 { return width >= 4 ? 0xffffffff : (1 << (width << 3)) - 1; }

/**
 * Create an NE2000. bus: 0 = PCI (RTL8029AS, 10ec:8029, BAR0 I/O), 1 = ISA
 * (the host decodes the 32 ports at the base it chose). MAC as two
 * big-endian numbers (bytes 0-1 in macHi, 2-5 in macLo), unicast. backlog:
 * frames held while the receive ring is full (1..4096). Returns a handle or
 * -Status, taking nothing on failure: ERR_FULL when all handles are in use,
 * ERR_NO_MEMORY without memory (about 17 KiB + 1.5 KiB per backlog frame).
 */
export function ne2k_create(bus: u32, macHi: u32, macLo: u32, backlog: u32): i32 {
  if (!gmReady()) return -Status.ERR_NOT_READY;
  if ((bus != BUS_PCI && bus != BUS_ISA) || macHi > 0xffff || ((macHi >> 8) & 1) != 0) return -Status.ERR_INVALID_ARG;
  if (backlog < 1 || backlog > MAX_BACKLOG) return -Status.ERR_INVALID_ARG;
  const h = ne2kCreate(bus, macHi, macLo, backlog);
  if (h > 0) ne2kSwitchRegister();
  return h;
}

/** Bytes of linear memory an ne2k_create with this backlog can take, or -Status for one it refuses. */
export function ne2k_memory_bytes(backlog: u32): i64 {
  if (backlog < 1 || backlog > MAX_BACKLOG) return -Status.ERR_INVALID_ARG;
  return <i64>ne2kCost(backlog);
}

/** Destroy device `h`; its handle and memory are free for the next create. */
/**
 * Destroy device `h`: it closes (every later call on `h` is refused); once
 * no call holds it its handle and memory are free for the next create. OK
 * when freed; ERR_MORE while calls on other threads still hold it
 * (ne2k_in_flight > 0): call ne2k_destroy again after they drained (the next
 * ne2k_create also frees it).
 */
export function ne2k_destroy(h: i32): i32 {
  if (ne2kGet(h) != 0) nswDetach(DeviceKind.NE2000, <u32>h);
  return ne2kDestroy(h);
}

/** Calls in progress on device `h` on any thread, while it is open or destroyed but not yet freed; -ERR_BAD_HANDLE for a handle naming no device. */
export function ne2k_in_flight(h: i32): i32 { const n = ne2kInFlight(h); return n < 0 ? -Status.ERR_BAD_HANDLE : n; }

/** Power-on reset of the board (PCI configuration included); frames waiting in the backlog are dropped and counted. */
export function ne2k_reset(h: i32): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  countN(d, Ne2kCounter.RX_DROPPED, d.backlogCount);
  powerOn(d);
  d.quiesced = 0;
  return out(d, Status.OK);
}

/** Port read of `width` (1, 2, 4) at `off` (0..31) of the board's window (ISA, or a PCI host that decoded BAR0 itself). */
export function ne2k_io_read(h: i32, off: u32, width: u32): u32 {
  const d = dev(h); if (d == null) return ones(width);
  return out(d, portRead(d, off, width));
}
/** Port write of `width` (1, 2, 4) at `off` (0..31) of the board's window (ISA, or a PCI host that decoded BAR0 itself). */
export function ne2k_io_write(h: i32, off: u32, width: u32, v: u32): void {
  const d = dev(h); if (d == null) return;
  portWrite(d, off, width, v);
  ne2kLeave(d);
}

/**
 * The leading accesses of a string at the data port that form a run
 * (model.ts dataRunLength), moved in one go; how many (0: none, or their
 * values are not the byte stream). The rest go access by access.
 */
function dataRun(d: Ne2k, off: u32, width: u32, count: u32, p: usize, write: bool): u32 {
  if (off < NE_DATA || off + width > NE_RESET) return 0;
  const n = dataRunLength(d, width, write, count);
  return n != 0 && runMove(d, width, n, p, write) ? n : 0;
}

/**
 * String I/O (x86 `rep ins`): `count` reads of `width` at `off`, stored
 * little-endian from `ioOff` of the I/O buffer. Returns a Status.
 */
export function ne2k_io_read_string(h: i32, off: u32, width: u32, count: u32, ioOff: u32): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  return out(d, readString(d, off, width, count, ioOff));
}

function readString(d: Ne2k, off: u32, width: u32, count: u32, ioOff: u32): i32 {
  if ((width != 1 && width != 2 && width != 4) || !ioRangeOk(ioOff, <u64>count * width)) return Status.ERR_INVALID_ARG;
  let p = ioPtr() + ioOff;
  let i = dataRun(d, off, width, count, p, false);
  p += <usize>i * width;
  // Bounded by count, which the I/O buffer's size bounds.
  for (; i < count; i++) {
    const v = portRead(d, off, width);
    if (width == 1) store<u8>(p, <u8>v); else if (width == 2) store<u16>(p, <u16>v); else store<u32>(p, v);
    p += width;
  }
  return Status.OK;
}

/** String I/O (x86 `rep outs`): `count` writes of `width` at `off` from `ioOff` of the I/O buffer. */
export function ne2k_io_write_string(h: i32, off: u32, width: u32, count: u32, ioOff: u32): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  return out(d, writeString(d, off, width, count, ioOff));
}

function writeString(d: Ne2k, off: u32, width: u32, count: u32, ioOff: u32): i32 {
  if ((width != 1 && width != 2 && width != 4) || !ioRangeOk(ioOff, <u64>count * width)) return Status.ERR_INVALID_ARG;
  let p = ioPtr() + ioOff;
  let i = dataRun(d, off, width, count, p, true);
  p += <usize>i * width;
  for (; i < count; i++) {
    const v = width == 1 ? <u32>load<u8>(p) : width == 2 ? <u32>load<u16>(p) : load<u32>(p);
    portWrite(d, off, width, v);
    p += width;
  }
  return Status.OK;
}

/**
 * Read ahead a run of data-port reads (a guest's `rep insl` arriving one
 * access at a time): up to `max` (at most RUN_MAX) reads of `width` at a data-port offset,
 * stored little-endian from `ioOff`, but only those that move bytes of RAM or
 * the PROM and leave the remote byte count above 0, so that they change
 * nothing but the DMA address and count. Returns how many (0: serve the read
 * normally). The host serves the guest's next data-port reads of that width
 * from them and, before any other call for this device, says how many the
 * guest took with ne2k_run_commit; any other call first takes them all as taken.
 * viaBar: the accesses come through PCI BAR0 (refused while I/O space is
 * disabled) rather than the board's window (ne2k_io_read).
 */
export function ne2k_run_read(h: i32, viaBar: u32, off: u32, width: u32, max: u32, ioOff: u32): i32 {
  const d = dev(h); if (d == null) return -Status.ERR_BAD_HANDLE;
  if (off < NE_DATA || off + width > NE_RESET || (width != 1 && width != 2 && width != 4) || !ioRangeOk(ioOff, <u64>max * width)) return out(d, -Status.ERR_INVALID_ARG);
  if (viaBar != 0 && (d.bus != BUS_PCI || !pciIoEnabled(d))) return out(d, 0);
  return out(d, <i32>runRead(d, width, min<u32>(max, RUN_MAX), ioPtr() + ioOff));
}

/** The guest took `consumed` of the values ne2k_run_read returned: the DMA is left where those reads put it. */
export function ne2k_run_commit(h: i32, consumed: u32): i32 {
  const d = ne2kEnter(h); if (d == null) return Status.ERR_BAD_HANDLE;
  runCommit(d, consumed);
  return out(d, Status.OK);
}

/**
 * Data-port writes of `width` (at most `max`, and at most RUN_MAX) the host may hold and hand over
 * later in one ne2k_io_write_string: those that only write RAM and leave the
 * remote byte count above 0 (nothing else changes until the count ends).
 * viaBar as for ne2k_run_read.
 */
export function ne2k_run_write_budget(h: i32, viaBar: u32, width: u32, max: u32): i32 {
  const d = dev(h); if (d == null) return -Status.ERR_BAD_HANDLE;
  if (width != 1 && width != 2 && width != 4) return out(d, -Status.ERR_INVALID_ARG);
  if (viaBar != 0 && (d.bus != BUS_PCI || !pciIoEnabled(d))) return out(d, 0);
  return out(d, <i32>dataRunLength(d, width, true, min<u32>(max, RUN_MAX)));
}

/** PCI configuration read (PCI boards; all ones on ISA). */
export function ne2k_cfg_read(h: i32, off: u32, width: u32): u32 {
  const d = dev(h); if (d == null) return ones(width);
  return out(d, d.bus != BUS_PCI ? ones(width) : pciConfigRead(d, off, width));
}
/** PCI configuration write of `width` bytes at `off`. */
export function ne2k_cfg_write(h: i32, off: u32, width: u32, v: u32): void {
  const d = dev(h); if (d == null) return;
  if (d.bus == BUS_PCI) pciConfigWrite(d, off, width, v);
  ne2kLeave(d);
}

/** Access to PCI BAR `bar` (only BAR0 exists); refused while the command register disables I/O space. */
export function ne2k_bar_read(h: i32, bar: u32, off: u32, width: u32): u32 {
  const d = dev(h); if (d == null) return ones(width);
  return out(d, barRead(d, bar, off, width));
}

function barRead(d: Ne2k, bar: u32, off: u32, width: u32): u32 {
  if (d.bus != BUS_PCI) return ones(width);
  if (bar != 0) { countN(d, Ne2kCounter.BAD_ACCESS, 1); return ones(width); }
  if (!pciIoEnabled(d)) { countN(d, Ne2kCounter.IO_DISABLED, 1); return ones(width); }
  return portRead(d, off, width);
}
/** BAR `bar` (0: the 32 I/O ports) write of `width` bytes at `off`. */
export function ne2k_bar_write(h: i32, bar: u32, off: u32, width: u32, v: u32): void {
  const d = dev(h); if (d == null) return;
  barWrite(d, bar, off, width, v);
  ne2kLeave(d);
}

function barWrite(d: Ne2k, bar: u32, off: u32, width: u32, v: u32): void {
  if (d.bus != BUS_PCI) return;
  if (bar != 0) { countN(d, Ne2kCounter.BAD_ACCESS, 1); return; }
  if (!pciIoEnabled(d)) { countN(d, Ne2kCounter.IO_DISABLED, 1); return; }
  portWrite(d, off, width, v);
}

/**
 * Host → guest frames, many per call, each with the Status ne2k_receive would
 * have returned: the frame array of `len` bytes at `ioOff` goes through the
 * receive path in order, frame i's Status written as a byte at I/O offset
 * `stOff + i` (rings/batch.ts faReceiveWindow; `flags` FA_STOP_AT_REFUSAL
 * ends the call after the first frame not taken with OK). Returns the frames
 * handed over, or -Status (nothing taken).
 */
export function ne2k_receive_frames(h: i32, ioOff: u32, len: u32, stOff: u32, flags: u32): i32 {
  const d = dev(h); if (d == null) return -Status.ERR_BAD_HANDLE;
  return out(d, faReceiveWindow(ioOff, len, stOff, flags, receiveOne, changetype<usize>(d)));
}
function receiveOne(ctx: usize, frame: usize, len: u32): i32 { return rxFromHost(changetype<Ne2k>(ctx), frame, len); }

/**
 * Host → guest frame of `len` bytes at `ioOff` in the I/O buffer. OK when
 * stored in the ring, held in the backlog, filtered, or not received (NIC
 * stopped or in loopback: see counters); ERR_FULL when lost (ring and backlog
 * full, or longer than the programmed ring); ERR_INVALID_ARG outside 14..1518 bytes.
 */
export function ne2k_receive(h: i32, ioOff: u32, len: u32): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  if (!ioRangeOk(ioOff, len)) return out(d, Status.ERR_INVALID_ARG);
  return out(d, rxFromHost(d, ioPtr() + ioOff, len));
}

/** Frames the guest transmitted, waiting for the host: count; at most OUTBOX_FRAMES; frame i is at ne2k_tx_ptr + i × SLOT_BYTES (u32 length, then the bytes). */
export function ne2k_tx_frames(h: i32): i32 { const d = dev(h); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>d.outFrames); }
/** Address of the frames waiting for the host (see ne2k_tx_frames), 0 for a bad handle. */
export function ne2k_tx_ptr(h: i32): usize { const d = dev(h); return d == null ? 0 : out(d, d.outbox); }
/** The host took the outbox frames: a transmission that waited for room completes now. */
export function ne2k_tx_done(h: i32): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  ne2kTxDrained(d);
  return out(d, Status.OK);
}

/**
 * Address of a u32 the device keeps up to date with what the host must look
 * at after a call (HOST_FLAG_* of defs.ts): frames in the outbox, the
 * interrupt line level, the receive filter changed. A host checks it after each access with a memory read instead of a
 * call. 0 for an
 * unknown handle; valid until the device is destroyed.
 */
export function ne2k_host_flags_ptr(h: i32): usize { const d = dev(h); return d == null ? 0 : out(d, changetype<usize>(d)); }
/** Take the HOST_FLAG_FILTER bit: 1 when the receive filter changed since the last take (then cleared), 0 if not, -Status for a bad handle. */
export function ne2k_filter_take(h: i32): i32 {
  const d = dev(h); if (d == null) return -Status.ERR_BAD_HANDLE;
  const v = d.filterChanged;
  d.filterChanged = 0;
  d.hostFlags &= ~HOST_FLAG_FILTER;
  return out(d, <i32>v);
}
/** Level of the interrupt line (PCI INTA#, or the ISA IRQ): 1 asserted. */
export function ne2k_intx(h: i32): i32 { const d = ne2kEnter(h); return d == null ? 0 : out(d, lineLevel(d) ? 1 : 0); }

/** Address of the device's u64 counters (NE2K_COUNTERS of them, named by defs.ts Ne2kCounter). */
export function ne2k_counters_ptr(h: i32): usize { const d = dev(h); return d == null ? 0 : out(d, d.counters); }
/** Frames waiting in the receive backlog. */
export function ne2k_backlog(h: i32): i32 { const d = dev(h); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>d.backlogCount); }

/** Save the device as an envelope at the start of the I/O buffer; returns its length or -Status. */
export function ne2k_save(h: i32): i32 { const d = dev(h); return d == null ? -Status.ERR_BAD_HANDLE : out(d, ne2kSave(d)); }
/** I/O buffer bytes a save of this device can need. */
export function ne2k_state_bound(h: i32): i32 { const d = dev(h); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>ne2kStateBound(d)); }
/** Restore from `len` bytes at the start of the I/O buffer; the device is untouched on error. */
export function ne2k_restore(h: i32, len: u32): i32 { const d = dev(h); return d == null ? Status.ERR_BAD_HANDLE : out(d, ne2kRestore(d, len)); }

/**
 * The receive filter as programmed, read without touching the register page
 * (host diagnostics): which 0 = RCR, 1 = MAR0-3, 2 = MAR4-7 (MAR0 in the low
 * byte), 3 = PAR0-3, 4 = PAR4-5. All ones for an unknown handle or `which`.
 */
export function ne2k_filter_state(h: i32, which: u32): u32 {
  const d = dev(h); if (d == null) return 0xffffffff;
  return out(d, filterState(d, which));
}

function filterState(d: Ne2k, which: u32): u32 {
  if (which == 0) return d.rcr;
  if (which == 1 || which == 2) {
    let v: u32 = 0;
    for (let i: u32 = 0; i < 4; i++) v |= rxfHash64Read(d.filt, (which - 1) * 4 + i) << (i << 3);
    return v;
  }
  if (which == 3) return <u32>rxfExactGet(d.filt, 0);
  if (which == 4) return <u32>(rxfExactGet(d.filt, 0) >> 32) & 0xffff;
  return 0xffffffff;
}

/**
 * Stop the receive ring and the transmitter for the host: received frames
 * wait in the backlog (judged by the filter when they enter the ring), a
 * CR.TXP waits with TXP set. Guest register accesses still work. A Status.
 */
export function ne2k_quiesce(h: i32): i32 { const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE; d.quiesced = 1; return out(d, Status.OK); }

/** Undo ne2k_quiesce: a waiting transmission goes, backlog frames enter the ring while it has room. A Status. */
export function ne2k_resume(h: i32): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  d.quiesced = 0;
  ne2kTxResume(d);
  rxDrain(d);
  updateLine(d);
  return out(d, Status.OK);
}

/**
 * Host-initiated MAC change (macHi bytes 0-1, macLo 2-5, big-endian
 * numbers; unicast): the station address PROM a driver reads at probe and
 * PAR0-5, the physical address the receiver matches (DP8390D "Physical
 * Address Registers"). ERR_INVALID_ARG for a group or zero address. Run it quiesced.
 */
export function ne2k_set_mac(h: i32, macHi: u32, macLo: u32): i32 {
  const d = dev(h); if (d == null) return Status.ERR_BAD_HANDLE;
  if (macHi > 0xffff || ((macHi >> 8) & 1) != 0 || (macHi | macLo) == 0) return out(d, Status.ERR_INVALID_ARG);
  d.macHi = macHi; d.macLo = macLo;
  writeProm(d);
  rxfExactSet(d.filt, 0, (<u64>bswap<u16>(<u16>macHi)) | (<u64>bswap<u32>(macLo) << 16), true);
  return out(d, Status.OK);
}
