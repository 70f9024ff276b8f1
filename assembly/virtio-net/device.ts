// The virtio-net device (virtio 1.2 §5.1): its state in the device's block
// (NetDev, the receive filter, the host outbox, the receive backlog), the
// features it offers and accepts, its configuration space and reset. The
// jobs are beside it: transmit (tx.ts), receive (rx.ts), deferred receive
// publishes (batch.ts), the control queue (ctrl.ts), the receive filter
// (filter.ts), links and switch ports (link.ts), the backend port in ring
// mode (ring-port.ts), and notify.ts, where each driver notification goes
// and how the transports reach the device.

import { regionAlloc, regionCost } from "../core/layout";
import { F_VERSION_1, F_EVENT_IDX, F_INDIRECT_DESC, bit, MAX_QUEUE_SIZE, VCounter } from "../virtio/defs";
import {
  NET_F_MTU, NET_F_MAC, NET_F_MRG_RXBUF, NET_F_STATUS, NET_F_CTRL_VQ, NET_F_CTRL_RX, NET_F_CTRL_VLAN, NET_F_CTRL_RX_EXTRA,
  NET_F_GUEST_ANNOUNCE, NET_F_MQ, NET_F_CTRL_MAC_ADDR, NET_S_LINK_UP, MAX_TX_FRAME, NetCounter,
} from "./defs";
import { VDev, devQueue, devHas, devNeedsReset, devSignalQueue, count } from "../virtio/device";
import { queuePublish, queueNeedsInterrupt } from "../virtio/queue";
import { FILTER_BYTES, filterReset, filterSetMac, filterSetVlanFiltering } from "./filter";

/** NetDev.peer flag: the device is a port of an in-wasm switch. */
export const PEER_SWITCH: u32 = 0x100;
/** NetDev.peer flag: frames go to the egress ring of backend port (peer & 0xff) (ring-port.ts, assembly/rings/port.ts). */
export const PEER_RING: u32 = 0x200;
const ETH_HDR_MAX: u32 = 18; // destination, source, one 802.1Q tag, ethertype
/** Bytes of the host outbox (frames as u32 length, bytes, padded to 4). */
export const TX_OUT_BYTES: u32 = 256 * 1024;

// @ts-ignore: decorator
@unmanaged export class NetDev {
  maxPairs: u32;
  curPairs: u32;
  mtu: u32;
  netStatus: u32;
  /** Configured MAC (what reset returns to) and the current one, 6 bytes each in 8. */
  origMac: u64;
  mac: u64;
  filter: usize;
  backlog: usize;
  backlogCap: u32;
  backlogHead: u32;
  backlogCount: u32;
  slotBytes: u32;
  txOut: usize;
  txOutLen: u32;
  txOutFrames: u32;
  /** Bit per TX queue pair that stopped because the host outbox was full. */
  txStalled: u32;
  /** Where transmitted frames go: 0 the host outbox, a device handle (link), PEER_SWITCH | switch id, or PEER_RING | port handle. */
  peer: u32;
  quiesced: u32;
  maxFrame: u32;
  /** Receive queues whose publish is deferred to the end of a linked TX batch (bit per queue). */
  rxDefer: u32;
  /**
   * Frames at the tail of the backlog not yet judged by the receive filter:
   * they arrived while the device was quiesced (an exclusive operation may
   * change the filter before they are delivered), or behind such frames.
   */
  rxUnjudged: u32;
  /** The receive filter changed since the host last took it (PENDING_FILTER, vnet_filter_take). */
  filterChanged: u32;
}

// Shared scratch (one instance processes one chain at a time), one region made
// by the instance's first create.
export let frameBuf: usize = 0;  // TX frame / ctrl payload, MAX_TX_FRAME + NET_HDR bytes
export let hdrBuf: usize = 0;     // 16 bytes: the virtio_net_hdr being written
export let usedList: usize = 0;   // (head, len) pairs of the frame being received
export let cfgBuf: usize = 0;     // rendered device config (16 bytes)
export let deferList: usize = 0;  // handles of devices with deferred RX publishes (16 × u32)

const FRAME_BUF: u64 = <u64>MAX_TX_FRAME + 64;
const USED_LIST: u64 = <u64>MAX_QUEUE_SIZE * 8;
const SCRATCH_BYTES: u64 = FRAME_BUF + USED_LIST + 16 + 16 + 64;

/** Make this instance's scratch (once). Returns false without memory, with nothing taken. */
export function netScratch(): bool {
  if (frameBuf != 0) return true;
  const p = regionAlloc(SCRATCH_BYTES, 16);
  if (p == 0) return false;
  frameBuf = p;
  usedList = p + <usize>FRAME_BUF;
  hdrBuf = usedList + <usize>USED_LIST;
  cfgBuf = hdrBuf + 16;
  deferList = cfgBuf + 16;
  return true;
}

// @ts-ignore: decorator
@inline export function netOf(d: VDev): NetDev { return changetype<NetDev>(d.impl); }

/** Features the device offers (§5.1.3). */
export function netOffered(pairs: u32): u64 {
  let f = bit(F_VERSION_1) | bit(F_EVENT_IDX) | bit(F_INDIRECT_DESC) |
    bit(NET_F_MTU) | bit(NET_F_MAC) | bit(NET_F_MRG_RXBUF) | bit(NET_F_STATUS) | bit(NET_F_CTRL_VQ) |
    bit(NET_F_CTRL_RX) | bit(NET_F_CTRL_VLAN) | bit(NET_F_CTRL_RX_EXTRA) | bit(NET_F_GUEST_ANNOUNCE) |
    bit(NET_F_CTRL_MAC_ADDR);
  if (pairs > 1) f |= bit(NET_F_MQ);
  return f;
}

/** Receive backlog slot: u32 length and a frame of up to MTU + ETH_HDR_MAX bytes, 16-byte aligned. */
// @ts-ignore: decorator
@inline function slotBytesFor(mtu: u32): u32 { return (mtu + ETH_HDR_MAX + 4 + 15) & ~15; }

// Net state inside the device's block: NetDev, filter, host outbox, backlog.
const NET_FILTER: u64 = (<u64>offsetof<NetDev>() + 15) & ~<u64>15;
const NET_TX_OUT: u64 = NET_FILTER + ((<u64>FILTER_BYTES + 15) & ~<u64>15);
const NET_BACKLOG: u64 = NET_TX_OUT + <u64>TX_OUT_BYTES;

/** Bytes of net state (devCreate's implBytes) for `mtu` and a backlog of `backlog` frames. */
export function netStateBytes(mtu: u32, backlog: u32): u64 {
  return NET_BACKLOG + <u64>slotBytesFor(mtu) * backlog + 16;
}

/** Lay out and reset the net state of `d`, whose d.impl holds netStateBytes(mtu, backlog) bytes; netScratch succeeded first. */
export function netInit(d: VDev, macHi: u32, macLo: u32, pairs: u32, mtu: u32, backlog: u32): void {
  const p = d.impl;
  memory.fill(p, 0, <usize>NET_TX_OUT); // NetDev and filter; the outbox and the backlog are written before they are read
  const n = changetype<NetDev>(p);
  n.maxPairs = pairs; n.mtu = mtu;
  n.maxFrame = mtu + ETH_HDR_MAX;
  // MAC in wire order: macHi holds bytes 0..1, macLo bytes 2..5 (big-endian numbers).
  const m = (<u64>bswap<u16>(<u16>macHi)) | (<u64>bswap<u32>(macLo) << 16);
  n.origMac = m; n.mac = m;
  n.filter = p + <usize>NET_FILTER;
  n.txOut = p + <usize>NET_TX_OUT;
  n.slotBytes = slotBytesFor(mtu);
  n.backlogCap = backlog;
  n.backlog = p + <usize>NET_BACKLOG;
  netReset(d);
}

/** Queue layout (§5.1.2): receiveq_i = 2i, transmitq_i = 2i+1, controlq = 2N (N = max pairs with MQ, else 1). */
export function netCtrlQueue(d: VDev): u32 {
  return devHas(d, NET_F_MQ) ? 2 * netOf(d).maxPairs : 2;
}

export function netReset(d: VDev): void {
  const n = netOf(d);
  n.mac = n.origMac;
  n.curPairs = 1;
  n.netStatus = NET_S_LINK_UP;
  if (n.backlogCount != 0) count(d, NetCounter.RX_DROPPED, n.backlogCount);
  n.backlogCount = 0; n.backlogHead = 0; n.rxUnjudged = 0;
  n.txStalled = 0;
  store<u64>(cfgBuf, n.mac);
  filterSetMac(n.filter, cfgBuf);
  filterReset(n.filter, false);
  n.filterChanged = 1;
}

/** Feature combinations the device accepts at FEATURES_OK (§5.1.3.1: the control-queue features need CTRL_VQ). */
export function netFeaturesOk(d: VDev): bool { return netFeaturesAcceptable(d.acked); }

export function netFeaturesAcceptable(acked: u64): bool {
  const needCtrl = bit(NET_F_CTRL_RX) | bit(NET_F_CTRL_VLAN) | bit(NET_F_GUEST_ANNOUNCE) | bit(NET_F_MQ) |
    bit(NET_F_CTRL_MAC_ADDR) | bit(NET_F_CTRL_RX_EXTRA);
  if ((acked & needCtrl) != 0 && (acked & bit(NET_F_CTRL_VQ)) == 0) return false;
  if ((acked & bit(NET_F_CTRL_RX_EXTRA)) != 0 && (acked & bit(NET_F_CTRL_RX)) == 0) return false;
  return true;
}

/** Called when FEATURES_OK is accepted: the VLAN filter applies only if CTRL_VLAN was negotiated (§5.1.6.5.3). */
export function netFeaturesAccepted(d: VDev): void {
  filterSetVlanFiltering(netOf(d).filter, devHas(d, NET_F_CTRL_VLAN));
}

// ---- Device configuration (§5.1.4) -------------------------------------------

export function netConfigRead(d: VDev, off: u32, width: u32): u32 {
  const n = netOf(d);
  store<u64>(cfgBuf, n.mac);
  store<u16>(cfgBuf, <u16>n.netStatus, 6);
  store<u16>(cfgBuf, <u16>n.maxPairs, 8);
  store<u16>(cfgBuf, <u16>n.mtu, 10);
  store<u32>(cfgBuf, 0, 12);
  // Caller checked off + width ≤ NET_CONFIG_BYTES.
  if (width == 1) return <u32>load<u8>(cfgBuf + off);
  if (width == 2) return <u32>load<u16>(cfgBuf + off);
  return load<u32>(cfgBuf + off);
}

/** Config writes: the MAC is driver-writable only for legacy devices (§5.1.4.1); modern drivers use CTRL_MAC_ADDR. */
export function netConfigWrite(d: VDev, off: u32, width: u32, v: u32): void {
  count(d, VCounter.BAD_ACCESS);
}

/** Count `which` and mark the device broken (§2.1.2: DEVICE_NEEDS_RESET). */
export function fatal(d: VDev, which: i32): void {
  count(d, which);
  devNeedsReset(d);
}

/** Publish queue `qi`'s used entries and raise its interrupt unless the driver suppressed it (§2.7.7.2). */
export function finish(d: VDev, qi: u32): void {
  const q = devQueue(d, qi);
  queuePublish(q);
  if (q.published == 0) return;
  if (queueNeedsInterrupt(q)) devSignalQueue(d, qi);
  else count(d, VCounter.IRQ_SUPPRESSED);
}

/** The most linear memory netScratch carves (once per instance). */
export function netScratchCost(): u64 { return regionCost(SCRATCH_BYTES, 16); }
