// Exports of virtio-net: numbers in, numbers out. Devices are named by
// handles (1..15, shared with every virtio device: the transport registers
// are virtio/exports.ts); frames cross by offsets into the calling
// instance's I/O buffer. Every entry point holds its device with one
// reference (dev / out: core/lifecycle.ts), so vnet_destroy on one thread never
// frees a device under a call on another; a call on a destroyed handle
// returns ERR_BAD_HANDLE (or the documented value for a missing device).

import { Status } from "../core/status";
import { ioPtr, ioRangeOk } from "../core/vm";
import { gmReady } from "../core/guestmem";
import { TRANSPORT_PCI, TRANSPORT_MMIO, MAX_QUEUE_SIZE } from "../virtio/defs";
import {
  DEVICE_NET, MAX_PAIRS, MIN_MTU, MAX_MTU, MAX_BACKLOG, MAX_TX_FRAME, PENDING_TX, PENDING_MSIX, PENDING_INTX, PENDING_FILTER,
  RXF_MC_OVERFLOW, RXF_UC_OVERFLOW,
} from "./defs";
import { RF_FLAGS, RF_MC, RF_MC_COUNT, RF_MC_OVERFLOW, RF_UC, RF_UC_COUNT, RF_UC_OVERFLOW } from "./filter";
import { VDev, devGet, devOpen, devClose, devDetach, devInFlight, devIntxLevel, devLeave, devOut } from "../virtio/device";
import { dispReset, dispCreate, dispEnter } from "../virtio/dispatch";
import { sgReserve } from "../virtio/chain";
import { pciReserve, pciInit, pciResetConfig } from "../virtio/pci";
import { netInit, netScratch, netStateBytes, netOffered, netOf } from "./device";
import { netRegister, netQuiesce, netResume } from "./notify";
import { netReceive } from "./rx";
import { netTxDrained } from "./tx";
import { netAnnounce } from "./ctrl";
import { switchConnect, switchDisconnect, switchCreate, switchAttach, switchDestroy, netSwitchRegister } from "./link";
import { netPortAttach, netPortDetach, netPortMode, netPortSync, netPortRelease } from "./ring-port";
import { faCount, faEach, faReceiveWindow } from "../rings/batch";
import { netSave, netRestore, netStateBound } from "./state";
import { netMemoryBytes } from "./sizing";
import { netHostSetMac, netHostSetVlanTable, netHostSetMtu, netHostSend } from "./host-ctl";

/** Device `h` with a reference taken (paired with out / devLeave), or null. */
// @ts-ignore: decorator
@inline function dev(h: i32, type: u32): VDev | null { return dispEnter(h, type); }
/** Drop the reference dev took, passing `v` through. */
// @ts-ignore: decorator
@inline function out<T>(d: VDev, v: T): T { return devOut(d, v); }

/**
 * Create a virtio-net device. transport: 1 = PCI, 2 = MMIO. MAC as two
 * big-endian numbers (bytes 0..1 in macHi, 2..5 in macLo). Returns a handle
 * (≥ 1) or -Status; a create that fails takes nothing (no handle, no memory
 * beyond the instance's scratch, made once): ERR_FULL when all 15 handles are
 * in use, ERR_NO_MEMORY when the device's memory (mostly the backlog: about
 * (mtu + 22) × backlog bytes) cannot be had.
 */
export function vnet_create(transport: u32, macHi: u32, macLo: u32, pairs: u32, mtu: u32, queueSize: u32, backlog: u32): i32 {
  if (!gmReady()) return -Status.ERR_NOT_READY;
  if (transport != TRANSPORT_PCI && transport != TRANSPORT_MMIO) return -Status.ERR_INVALID_ARG;
  if (pairs < 1 || pairs > MAX_PAIRS || mtu < MIN_MTU || mtu > MAX_MTU || macHi > 0xffff) return -Status.ERR_INVALID_ARG;
  if (queueSize == 0 || queueSize > MAX_QUEUE_SIZE || (queueSize & (queueSize - 1)) != 0) return -Status.ERR_INVALID_ARG;
  if (backlog < 1 || backlog > MAX_BACKLOG) return -Status.ERR_INVALID_ARG;
  if ((macHi >> 8) & 1) return -Status.ERR_INVALID_ARG; // multicast bit
  // Everything that can fail comes before the handle exists.
  if (!netRegister() || !netScratch() || !sgReserve() || (transport == TRANSPORT_PCI && !pciReserve())) return -Status.ERR_NO_MEMORY;
  const h = dispCreate(DEVICE_NET, transport, 2 * pairs + 1, queueSize, netOffered(pairs), netStateBytes(mtu, backlog));
  if (h < 0) return h;
  netSwitchRegister();
  const d = changetype<VDev>(devGet(h));
  netInit(d, macHi, macLo, pairs, mtu, backlog);
  if (transport == TRANSPORT_PCI) pciInit(d);
  devOpen(h);
  return h;
}

/**
 * Destroy device `h`, in order: it leaves its link, switch or backend port (a
 * link peer sends to the host again); it closes (every later call on `h`
 * is refused) and stops; once no call holds it its handle and memory are free
 * for the next create. OK when freed; ERR_MORE while calls on other threads
 * still hold it (vnet_in_flight > 0): call vnet_destroy again after they
 * drained (the next vnet_create also frees it). The handle is invalid from
 * the first call on; a later create may return the same number.
 */
export function vnet_destroy(h: i32): i32 {
  const d = devGet(h);
  if (d != 0 && changetype<VDev>(d).type == DEVICE_NET) {
    netPortRelease(h);
    switchDisconnect(h);
  }
  const c = devClose(h, DEVICE_NET);
  if (c == 0) return Status.ERR_BAD_HANDLE;
  if (c == 1) netOf(changetype<VDev>(d)).quiesced = 1;
  return devDetach(h);
}

/**
 * Calls in progress on device `h` on any thread (the references entry
 * points hold), counted while it is open or closing; -ERR_BAD_HANDLE for a
 * handle naming no device. A destroyed device is freed when this reads 0.
 */
export function vnet_in_flight(h: i32): i32 { const n = devInFlight(h); return n < 0 ? -Status.ERR_BAD_HANDLE : n; }

/** Power-on reset of the whole function (PCI config space included). */
export function vnet_reset(h: i32): i32 {
  const d = dev(h, DEVICE_NET); if (d == null) return Status.ERR_BAD_HANDLE;
  dispReset(d);
  if (d.cfg != 0) pciResetConfig(d);
  netOf(d).quiesced = 0;
  return out(d, Status.OK);
}

/** Host → guest frame of `len` bytes at `ioOff` in the I/O buffer. */
export function vnet_receive(h: i32, ioOff: u32, len: u32): i32 {
  const d = dev(h, DEVICE_NET); if (d == null) return Status.ERR_BAD_HANDLE;
  if (!ioRangeOk(ioOff, len)) return out(d, Status.ERR_INVALID_ARG);
  return out(d, netReceive(d, ioPtr() + ioOff, len));
}

/**
 * Host → guest frames, many per call: a frame array (assembly/rings/batch.ts:
 * u32 length, bytes, padded to 4) of `len` bytes at `ioOff`. The window is
 * checked whole first (ERR_INVALID_ARG, nothing delivered, if a record runs
 * past it or is longer than a frame can be); then each frame goes through
 * vnet_receive (delivered, backlogged, filtered or dropped, and counted).
 * Returns the number of frames handed over, or -Status.
 */
export function vnet_receive_batch(h: i32, ioOff: u32, len: u32): i32 {
  const d = dev(h, DEVICE_NET); if (d == null) return -Status.ERR_BAD_HANDLE;
  if (!ioRangeOk(ioOff, len)) return out(d, -Status.ERR_INVALID_ARG);
  const p = ioPtr() + ioOff;
  const n = faCount(p, len, MAX_TX_FRAME);
  if (n < 0) return out(d, -Status.ERR_INVALID_ARG);
  return out(d, <i32>faEach(p, <u32>n, receiveSink, changetype<usize>(d)));
}
function receiveSink(ctx: usize, frame: usize, len: u32): bool { netReceive(changetype<VDev>(ctx), frame, len); return true; }

/**
 * Host → guest frames, many per call, each with the Status vnet_receive
 * would have returned: the frame array of `len` bytes at `ioOff` goes through
 * the receive path in order and frame i's Status is written as a byte at I/O
 * offset `stOff + i` (rings/batch.ts faReceiveWindow; `flags`
 * FA_STOP_AT_REFUSAL ends the call after the first frame not taken with OK).
 * Returns the frames handed over, or -Status (nothing taken).
 */
export function vnet_receive_frames(h: i32, ioOff: u32, len: u32, stOff: u32, flags: u32): i32 {
  const d = dev(h, DEVICE_NET); if (d == null) return -Status.ERR_BAD_HANDLE;
  return out(d, faReceiveWindow(ioOff, len, stOff, flags, receiveOne, changetype<usize>(d)));
}
function receiveOne(ctx: usize, frame: usize, len: u32): i32 { return netReceive(changetype<VDev>(ctx), frame, len); }

/** Frames waiting for the host: count (laid out as u32 len, bytes, padded to 4, from vnet_tx_ptr). */
export function vnet_tx_frames(h: i32): i32 { const d = dev(h, DEVICE_NET); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>netOf(d).txOutFrames); }
/** Address of the host outbox of device `h` (vnet_tx_frames records), 0 for a bad handle. */
export function vnet_tx_ptr(h: i32): usize { const d = dev(h, DEVICE_NET); return d == null ? 0 : out(d, netOf(d).txOut); }
/** Bytes of the host outbox in use (the frame array at vnet_tx_ptr). */
export function vnet_tx_bytes(h: i32): i32 { const d = dev(h, DEVICE_NET); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>netOf(d).txOutLen); }
/** The host took the frames: clear the outbox and restart TX queues that stalled on it. */
export function vnet_tx_done(h: i32): i32 {
  const d = dev(h, DEVICE_NET); if (d == null) return Status.ERR_BAD_HANDLE;
  netTxDrained(d);
  return out(d, Status.OK);
}

/** Ask the driver to announce itself (VIRTIO_NET_S_ANNOUNCE, after a migration); a Status. */
export function vnet_announce(h: i32): i32 { const d = dev(h, DEVICE_NET); return d == null ? Status.ERR_BAD_HANDLE : out(d, netAnnounce(d)); }
/** Stop processing and give back chains fetched but not used (before a save); a Status. */
export function vnet_quiesce(h: i32): i32 { const d = dev(h, DEVICE_NET); if (d == null) return Status.ERR_BAD_HANDLE; netQuiesce(d); return out(d, Status.OK); }
/** Process again after vnet_quiesce; a Status. */
export function vnet_resume(h: i32): i32 { const d = dev(h, DEVICE_NET); if (d == null) return Status.ERR_BAD_HANDLE; netResume(d); return out(d, Status.OK); }
/**
 * Host-initiated MAC change: config-space mac, the receive filter's primary
 * address and the address a reset returns to (macHi bytes 0..1, macLo 2..5,
 * big-endian numbers); a new config generation and, past DRIVER_OK, a config
 * interrupt. ERR_INVALID_ARG for a group or zero address. Run it quiesced.
 */
export function vnet_set_mac(h: i32, macHi: u32, macLo: u32): i32 {
  const d = dev(h, DEVICE_NET); if (d == null) return Status.ERR_BAD_HANDLE;
  if (macHi > 0xffff) return out(d, Status.ERR_INVALID_ARG);
  return out(d, netHostSetMac(d, (<u64>bswap<u16>(<u16>macHi)) | (<u64>bswap<u32>(macLo) << 16)));
}
/** Replace the VLAN filter table with the 512-byte bitmap at `ioOff` in the I/O buffer (bit v: VLAN id v passes); a Status. */
export function vnet_set_vlan_table(h: i32, ioOff: u32): i32 {
  const d = dev(h, DEVICE_NET); if (d == null) return Status.ERR_BAD_HANDLE;
  if (!ioRangeOk(ioOff, 512)) return out(d, Status.ERR_INVALID_ARG);
  return out(d, netHostSetVlanTable(d, ioPtr() + ioOff));
}
/** Change the offered MTU: only while the device is reset (ERR_BAD_STATE once a driver began), at most the MTU it was created with. */
export function vnet_set_mtu(h: i32, mtu: u32): i32 { const d = dev(h, DEVICE_NET); return d == null ? Status.ERR_BAD_HANDLE : out(d, netHostSetMtu(d, mtu)); }
/** Send `len` bytes at `ioOff` into the device's network (switch, link peer or host outbox) as if its guest had; a Status. */
export function vnet_send(h: i32, ioOff: u32, len: u32): i32 {
  const d = dev(h, DEVICE_NET); if (d == null) return Status.ERR_BAD_HANDLE;
  if (!ioRangeOk(ioOff, len)) return out(d, Status.ERR_INVALID_ARG);
  return out(d, netHostSend(d, ioPtr() + ioOff, len));
}
/** Link devices `a` and `b` both ways inside the wasm (a == b: loopback), dropping earlier links or switch ports; a Status. */
export function vnet_connect(a: i32, b: i32): i32 { return switchConnect(a, b); }
/** Take device `a` off its link or switch: it sends to the host outbox again; a Status. */
export function vnet_disconnect(a: i32): i32 { return switchDisconnect(a); }
/** A new in-wasm learning switch (id ≥ 1) or -Status. */
export function vnet_switch_create(): i32 { return switchCreate(); }
/** Attach device `h` as a port of switch `sw` (vnet_disconnect detaches it). */
export function vnet_switch_attach(sw: i32, h: i32): i32 { return switchAttach(sw, h); }
/** Destroy switch `sw`: its ports send to the host again; the id is free for the next vnet_switch_create. */
export function vnet_switch_destroy(sw: i32): i32 { return switchDestroy(sw); }

/**
 * Bind device `h` to backend port `port` (ring library: port_create over an
 * RX ring for egress and a TX ring for ingress), in copy mode. ERR_BAD_STATE
 * when the port has a device, or the device a link, a switch or a port.
 */
export function vnet_port_attach(h: i32, port: i32): i32 { return netPortAttach(h, port); }
/** Unbind; the port must be in copy mode (ERR_BAD_STATE otherwise). */
export function vnet_port_detach(h: i32, port: i32): i32 { return netPortDetach(h, port); }
/**
 * Switch the backend of device `h`: to ring mode (1: immediate; ERR_MORE if
 * the host outbox still holds copy-mode frames — deliver them first) or to
 * copy mode (0: OK when done, ERR_MORE while the backend still holds egress
 * frames or ingress frames wait; vnet_port_sync finishes it). The link
 * status does not change. No other thread may drive the device meanwhile.
 */
export function vnet_port_mode(h: i32, port: i32, mode: u32): i32 { return netPortMode(h, port, mode); }
/** Serve the port: ingress frames into the device, TX restarted when egress slots came back, a switch to copy mode finished once drained. Returns ingress slots consumed or -Status. */
export function vnet_port_sync(h: i32, port: i32): i32 {
  const d = dev(h, DEVICE_NET); if (d == null) return -Status.ERR_BAD_HANDLE;
  return out(d, netPortSync(h, port));
}

/** Address of the device's u64 counters (DEV_COUNTERS of them: VCounter, then NetCounter). */
export function vnet_counters_ptr(h: i32): usize { const d = dev(h, 0); return d == null ? 0 : out(d, d.counters); }
/** Device status register (bit 0x40 = DEVICE_NEEDS_RESET). */
export function vnet_status(h: i32): i32 { const d = dev(h, 0); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>d.status); }
/** Frames waiting in the receive backlog. */
export function vnet_backlog(h: i32): i32 { const d = dev(h, DEVICE_NET); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>netOf(d).backlogCount); }

/**
 * What the host must look at after a call, in one number: PENDING_TX (frames
 * in the host outbox), PENDING_MSIX (MSI-X vectors to deliver), PENDING_INTX
 * (the INTx / MMIO line level), PENDING_FILTER (the receive filter changed:
 * vnet_filter_take). 0 for an unknown handle.
 */
export function vnet_pending(h: i32): u32 {
  const d = dev(h, 0); if (d == null) return 0;
  let v: u32 = 0;
  if (d.type == DEVICE_NET && netOf(d).txOutFrames != 0) v |= PENDING_TX;
  if (d.irqFire != 0) v |= PENDING_MSIX;
  if (devIntxLevel(d)) v |= PENDING_INTX;
  if (d.type == DEVICE_NET && netOf(d).filterChanged != 0) v |= PENDING_FILTER;
  return out(d, v);
}

/** Take the PENDING_FILTER bit: 1 when the receive filter changed since the last take (then cleared), 0 if not, -Status for a bad handle. */
export function vnet_filter_take(h: i32): i32 {
  const d = dev(h, DEVICE_NET); if (d == null) return -Status.ERR_BAD_HANDLE;
  const n = netOf(d);
  const v = n.filterChanged;
  n.filterChanged = 0;
  return out(d, <i32>v);
}

/** The receive modes (RXF_* bits of defs.ts, RXF_MC_OVERFLOW / RXF_UC_OVERFLOW when a table overflowed), or -Status. */
export function vnet_rx_mode(h: i32): i32 {
  const d = dev(h, DEVICE_NET); if (d == null) return -Status.ERR_BAD_HANDLE;
  const f = netOf(d).filter;
  let v = load<u32>(f + RF_FLAGS);
  if (load<u32>(f + RF_MC_OVERFLOW) != 0) v |= RXF_MC_OVERFLOW;
  if (load<u32>(f + RF_UC_OVERFLOW) != 0) v |= RXF_UC_OVERFLOW;
  return out(d, <i32>v);
}

/** Entries in the unicast table (MAC_TABLE_SET; 0 after an overflow), or -Status. */
export function vnet_uc_count(h: i32): i32 { const d = dev(h, DEVICE_NET); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>load<u32>(netOf(d).filter + RF_UC_COUNT)); }
/** Address of the unicast table: vnet_uc_count entries of 6 bytes (wire order), valid until the next call into the device; 0 for a bad handle. */
export function vnet_uc_ptr(h: i32): usize { const d = dev(h, DEVICE_NET); return d == null ? 0 : out(d, netOf(d).filter + RF_UC); }
/** Entries in the multicast table (MAC_TABLE_SET; 0 after an overflow), or -Status. */
export function vnet_mc_count(h: i32): i32 { const d = dev(h, DEVICE_NET); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>load<u32>(netOf(d).filter + RF_MC_COUNT)); }
/** Address of the multicast table: vnet_mc_count entries of 6 bytes (wire order), valid until the next call into the device; 0 for a bad handle. */
export function vnet_mc_ptr(h: i32): usize { const d = dev(h, DEVICE_NET); return d == null ? 0 : out(d, netOf(d).filter + RF_MC); }

/** MSI-X vectors to deliver now (bit per vector), cleared by the read. */
export function vnet_irq_take(h: i32): u32 {
  const d = dev(h, 0); if (d == null) return 0;
  const v = d.irqFire; d.irqFire = 0;
  return out(d, v);
}
/** Level of the INTx (PCI without MSI-X) or MMIO interrupt line: 1 asserted. */
export function vnet_intx(h: i32): i32 { const d = dev(h, 0); return d == null ? 0 : out(d, devIntxLevel(d) ? 1 : 0); }

/** Save device + queues as an envelope at the start of the I/O buffer; returns its length or -Status. */
export function vnet_save(h: i32): i32 { const d = dev(h, DEVICE_NET); return d == null ? -Status.ERR_BAD_HANDLE : out(d, netSave(d)); }
/** I/O buffer bytes a save of this device can need. */
export function vnet_state_bound(h: i32): i32 { const d = dev(h, DEVICE_NET); return d == null ? -Status.ERR_BAD_HANDLE : out(d, <i32>netStateBound(d)); }
/** Restore from `len` bytes at the start of the I/O buffer; the device is untouched on error. */
export function vnet_restore(h: i32, len: u32): i32 { const d = dev(h, DEVICE_NET); return d == null ? Status.ERR_BAD_HANDLE : out(d, netRestore(d, len)); }

/**
 * Bytes of linear memory a vnet_create with these parameters can take over
 * the device's life (see sizing.ts), or -Status for parameters
 * vnet_create refuses. Compare with vm_memory_free() before creating.
 */
export function vnet_memory_bytes(transport: u32, pairs: u32, mtu: u32, queueSize: u32, backlog: u32): i64 {
  return netMemoryBytes(transport, pairs, mtu, queueSize, backlog);
}
