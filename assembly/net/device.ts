// virtio-net (virtio 1.2 §5.1): transmit, receive with mergeable buffers and a
// bounded backlog, the control queue, receive steering over queue pairs,
// announce. The transport (virtio-pci / virtio-mmio) reaches this file through
// virtio/dispatch.ts; frames leave through the peer link (switch.ts) or the
// host outbox the TypeScript glue drains, and enter through netReceive.

import { Status } from "../core/status";
import { regionAlloc, regionCost } from "../core/layout";
import { gmCopyIn, gmCopyOut, gmStore8 } from "../core/guestmem";
import { F_VERSION_1, F_EVENT_IDX, F_INDIRECT_DESC, S_DRIVER_OK, bit, MAX_QUEUE_SIZE } from "../virtio/defs";
import { VCounter } from "../virtio/defs";
import {
  DEVICE_NET, NET_F_MTU, NET_F_MAC, NET_F_MRG_RXBUF, NET_F_STATUS, NET_F_CTRL_VQ, NET_F_CTRL_RX, NET_F_CTRL_VLAN, NET_F_CTRL_RX_EXTRA,
  NET_F_GUEST_ANNOUNCE, NET_F_MQ, NET_F_CTRL_MAC_ADDR, NET_S_LINK_UP, NET_S_ANNOUNCE, NET_HDR, NET_CONFIG_BYTES, MAX_TX_FRAME, NetCounter,
} from "../virtio-net/defs";
import {
  VDev, devGet, devQueue, devHas, devLive, devNeedsReset, devSignalQueue, devSignalConfig, count,
} from "../virtio/device";
import { Queue, queuePending, queuePeekHead, queueAdvance, queueRewind, queuePushUsed, queuePublish, queueNeedsInterrupt } from "../virtio/queue";
import { chainWalk, chainReadable, chainWritable, sgList, SG_ENTRY } from "../virtio/chain";
import {
  FILTER_BYTES, filterReset, filterSetMac, filterAccept, filterSetFlag, filterSetTable, filterVlan, filterSetVlanFiltering,
  RXF_PROMISC, RXF_ALLMULTI, RXF_ALLUNI, RXF_NOMULTI, RXF_NOUNI, RXF_NOBCAST,
} from "./filter";
import { swValid, swPort, swLearn, swLookup, macAt, MAX_PORTS } from "./fdb";

/** NetDev.peer flag: the device is a port of an in-wasm switch. */
export const PEER_SWITCH: u32 = 0x100;
const ETH_HDR_MAX: u32 = 18; // destination, source, one 802.1Q tag, ethertype
const TX_OUT_BYTES: u32 = 256 * 1024;

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
  /** Where transmitted frames go: 0 the host outbox, a device handle (link), or PEER_SWITCH | switch id. */
  peer: u32;
  quiesced: u32;
  maxFrame: u32;
}

// Shared scratch (one instance processes one chain at a time), one region made
// by the instance's first create.
let frameBuf: usize = 0;   // TX frame / ctrl payload, MAX_TX_FRAME + NET_HDR bytes
let hdrBuf: usize = 0;     // 16 bytes: the virtio_net_hdr being written
let usedList: usize = 0;   // (head, len) pairs of the frame being received
let cfgBuf: usize = 0;     // rendered device config (16 bytes)
let deferList: usize = 0;  // handles of devices with deferred RX publishes (16 × u32)

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
  n.backlogCount = 0; n.backlogHead = 0;
  n.txStalled = 0;
  store<u64>(cfgBuf, n.mac);
  filterSetMac(n.filter, cfgBuf);
  filterReset(n.filter, false);
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

// ---- Notifications -------------------------------------------------------------

/** A driver notification for queue `qi` (already < numQueues). */
export function netNotify(d: VDev, qi: u32): void {
  count(d, VCounter.KICKS);
  const n = netOf(d);
  if (!devLive(d) || n.quiesced != 0) { count(d, NetCounter.KICKS_IGNORED); return; }
  if (devHas(d, F_CTRL_VQ_BIT) && qi == netCtrlQueue(d)) { netCtrl(d); return; }
  if (qi >= 2 * n.maxPairs) { count(d, NetCounter.KICKS_IGNORED); return; }
  if (qi & 1) netTx(d, qi);
  else netDrainBacklog(d);
}
const F_CTRL_VQ_BIT: u32 = NET_F_CTRL_VQ;

/** Process every queue the device could have missed a kick for (after restore or resume). */
export function netKickAll(d: VDev): void {
  const n = netOf(d);
  if (!devLive(d) || n.quiesced != 0) return;
  netDrainBacklog(d);
  for (let p: u32 = 0; p < n.maxPairs; p++) if (devQueue(d, 2 * p + 1).ready) netTx(d, 2 * p + 1);
  if (devHas(d, NET_F_CTRL_VQ)) { const c = netCtrlQueue(d); if (c < d.numQueues && devQueue(d, c).ready) netCtrl(d); }
}

function fatal(d: VDev, which: i32): void {
  count(d, which);
  devNeedsReset(d);
}

function finish(d: VDev, qi: u32): void {
  const q = devQueue(d, qi);
  queuePublish(q);
  if (q.published == 0) return;
  if (queueNeedsInterrupt(q)) devSignalQueue(d, qi);
  else count(d, VCounter.IRQ_SUPPRESSED);
}

// ---- Transmit (§5.1.6.2) ------------------------------------------------------

/** Copy the readable part of the walked chain, minus the header, to frameBuf. Returns bytes copied. */
function gatherTx(segs: u32, total: u32): u32 {
  const sg = sgList();
  let skip = NET_HDR;
  let out: u32 = 0;
  // Bounded by the chain's segment count; lengths sum to `total` (checked by the walk).
  for (let i: u32 = 0; i < segs; i++) {
    const s = sg + <usize>i * SG_ENTRY;
    let addr = load<u64>(s);
    let len = load<u32>(s, 8);
    if (skip >= len) { skip -= len; continue; }
    addr += skip; len -= skip; skip = 0;
    gmCopyOut(addr, frameBuf + out, len);
    out += len;
  }
  return out;
}

export function netTx(d: VDev, qi: u32): void {
  const q = devQueue(d, qi);
  if (!q.ready) return;
  const n = netOf(d);
  const pair = qi >> 1;
  n.txStalled &= ~(1 << pair);
  const pd = n.peer != 0 && (n.peer & PEER_SWITCH) == 0 ? devGet(<i32>n.peer) : 0;
  const outer = !deferring;
  if (outer && n.peer != 0) deferring = true;
  netTxBatch(d, qi, q, n, pair, pd);
  if (outer && deferring) flushDeferred();
  finish(d, qi);
}

function netTxBatch(d: VDev, qi: u32, q: Queue, n: NetDev, pair: u32, pd: usize): void {
  // Two rounds: with EVENT_IDX the driver may add chains while we publish avail_event.
  for (let round = 0; round < 2; round++) {
    const pending = queuePending(q);
    if (pending < 0) { fatal(d, VCounter.AVAIL_JUMP); return; }
    if (pending == 0) break;
    // Bounded: at most queue-size chains per round.
    for (let i = 0; i < pending; i++) {
      const head = queuePeekHead(q);
      if (head >= q.size) { fatal(d, VCounter.BAD_HEAD); return; }
      const segs = chainWalk(q, head);
      if (segs < 0 || chainWritable != 0 || chainReadable < NET_HDR || chainReadable - NET_HDR > MAX_TX_FRAME) {
        queueAdvance(q);
        queuePushUsed(q, head, 0);
        count(d, NetCounter.TX_MALFORMED);
        continue;
      }
      const flen = chainReadable - NET_HDR;
      if (n.peer == 0 && (TX_OUT_BYTES - n.txOutLen) < flen + 4) {
        // Host outbox full: leave the chain available until the host drains (back-pressure).
        n.txStalled |= 1 << pair;
        count(d, NetCounter.TX_STALLS);
        return;
      }
      queueAdvance(q);
      gatherTx(<u32>segs, chainReadable);
      queuePushUsed(q, head, 0);
      count(d, NetCounter.TX_FRAMES);
      count(d, NetCounter.TX_BYTES, flen);
      if (n.peer & PEER_SWITCH) {
        switchForward(d, <i32>(n.peer & 0xff), frameBuf, flen);
      } else if (n.peer != 0) {
        if (pd != 0) netReceive(changetype<VDev>(pd), frameBuf, flen);
      } else {
        const o = n.txOut + n.txOutLen;
        store<u32>(o, flen);
        memory.copy(o + 4, frameBuf, flen);
        n.txOutLen += (flen + 4 + 3) & ~3;
        n.txOutFrames++;
      }
    }
    queuePublish(q);
  }
}

/** Host drained the outbox: clear it and restart stalled TX queues. */
export function netTxDrained(d: VDev): void {
  const n = netOf(d);
  n.txOutLen = 0; n.txOutFrames = 0;
  const stalled = n.txStalled;
  if (stalled == 0 || !devLive(d) || n.quiesced != 0) return;
  for (let p: u32 = 0; p < n.maxPairs; p++) if (stalled & (1 << p)) netTx(d, 2 * p + 1);
}

// ---- Receive (§5.1.6.3, §5.1.6.4) ------------------------------------------------

/** Receive queue pair for a frame (§5.1.6.5.5 automatic steering: same flow, same pair). */
function steer(n: NetDev, frame: usize, len: u32): u32 {
  if (n.curPairs <= 1) return 0;
  let h = load<u32>(frame) ^ load<u32>(frame, 4) ^ load<u32>(frame, 8);
  // IPv4: fold in the addresses so flows between the same two MACs spread.
  if (len >= 34 && load<u16>(frame, 12) == 0x0008) h ^= load<u32>(frame, 26) ^ load<u32>(frame, 30);
  h ^= h >> 16; h *= 0x45d9f3b; h ^= h >> 16;
  return h % n.curPairs;
}

let nbLo: u64 = 0;
let nbHi: u64 = 0;

/** Write bytes [pos, pos+len) of the stream header‖frame into guest `gpa`; note where num_buffers lands. */
function writeStream(gpa: u64, pos: u32, len: u32, frame: usize): void {
  if (pos < NET_HDR) {
    const k = min<u32>(len, NET_HDR - pos);
    if (pos <= 10 && pos + k > 10) nbLo = gpa + (10 - pos);
    if (pos <= 11 && pos + k > 11) nbHi = gpa + (11 - pos);
    gmCopyIn(gpa, hdrBuf + pos, k);
    gpa += k; pos += k; len -= k;
  }
  if (len != 0) gmCopyIn(gpa, frame + (pos - NET_HDR), len);
}

// While a TX batch feeds linked devices, their RX queues publish once at the
// end of the batch instead of once per frame (same order, fewer release stores
// and interrupt decisions). Devices touched are listed by handle (≤ 15 exist).
let deferring = false;
let deferCount: u32 = 0;

function rxDone(d: VDev, qi: u32): void {
  if (deferring) {
    if (d.rxDefer == 0) {
      if (deferCount >= 16) { finish(d, qi); return; }
      store<u32>(deferList + (<usize>deferCount << 2), d.handle);
      deferCount++;
    }
    d.rxDefer |= 1 << qi;
    return;
  }
  finish(d, qi);
}

function flushDeferred(): void {
  deferring = false;
  // Bounded: at most 16 devices, each with ≤ 17 queues.
  for (let i: u32 = 0; i < deferCount; i++) {
    const p = devGet(<i32>load<u32>(deferList + (<usize>i << 2)));
    if (p == 0) continue;
    const d = changetype<VDev>(p);
    const m = d.rxDefer;
    d.rxDefer = 0;
    for (let qi: u32 = 0; qi < d.numQueues; qi++) if (m & (1 << qi)) finish(d, qi);
  }
  deferCount = 0;
}

/** Forward a transmitted frame through switch `sw` (learning; unknown and group destinations flood). */
function switchForward(d: VDev, sw: i32, frame: usize, len: u32): void {
  if (!swValid(sw) || len < 14) { count(d, NetCounter.TX_SWITCH_DROPPED); return; }
  const src = macAt(frame + 6);
  if ((src & 1) == 0) swLearn(sw, src, d.handle);
  if ((load<u8>(frame) & 1) == 0) {
    const to = swLookup(sw, macAt(frame));
    if (to != 0) {
      // Known destination: one port (never back out of the port it came in on).
      const p = to != d.handle ? devGet(<i32>to) : 0;
      if (p != 0) netReceive(changetype<VDev>(p), frame, len);
      return;
    }
  }
  for (let i: u32 = 0; i < MAX_PORTS; i++) {
    const h = swPort(sw, i);
    if (h == 0 || h == d.handle) continue;
    const p = devGet(<i32>h);
    if (p != 0) netReceive(changetype<VDev>(p), frame, len);
  }
}

/**
 * Place one frame in the receive queue of its pair. Returns 1 when delivered,
 * 0 when the queue has too few buffers (nothing consumed), -1 when the device
 * is broken, -2 when the driver's buffers can never hold the frame (dropped).
 */
function deliver(d: VDev, frame: usize, len: u32): i32 {
  const n = netOf(d);
  if (!devLive(d) || n.quiesced != 0) return 0;
  const qi = steer(n, frame, len) * 2;
  const q = devQueue(d, qi);
  if (!q.ready) return 0;
  let pending = queuePending(q);
  if (pending < 0) { fatal(d, VCounter.AVAIL_JUMP); return -1; }
  const mrg = devHas(d, NET_F_MRG_RXBUF);
  const ringFull = <u32>pending == q.size;
  const total = NET_HDR + len;
  memory.fill(hdrBuf, 0, 16);
  store<u16>(hdrBuf, 1, 10); // num_buffers, little-endian; stays 1 without MRG_RXBUF (§5.1.6.4)
  let written: u32 = 0;
  let bufs: u32 = 0;   // chains holding this frame so far (entries in usedList)
  let junk = false;    // used entries pushed for malformed chains
  // Bounded: each iteration consumes one available chain, at most `pending` (≤ queue size).
  while (written < total) {
    if (pending == 0) {
      queueRewind(q, bufs);
      if (junk) rxDone(d, qi);
      // A full ring of buffers that still cannot hold the frame never will: drop it.
      if (!junk && bufs != 0 && ringFull) { count(d, NetCounter.RX_SHORT_BUFFER); return -2; }
      count(d, NetCounter.RX_NO_BUFFER);
      return 0;
    }
    const head = queuePeekHead(q);
    if (head >= q.size) { queueRewind(q, bufs); fatal(d, VCounter.BAD_HEAD); finish(d, qi); return -1; }
    queueAdvance(q);
    pending--;
    const segs = chainWalk(q, head);
    if (!mrg && segs >= 0 && chainReadable == 0 && chainWritable >= 1 && chainWritable < total) {
      // §5.1.6.3.1: without MRG_RXBUF one buffer holds a whole frame and this one is too
      // small. Truncating is not allowed, and returning the buffer empty would let a
      // refilling driver spin on it, so the buffer stays and the frame is dropped (counted).
      queueRewind(q, 1);
      count(d, NetCounter.RX_SHORT_BUFFER);
      if (junk) rxDone(d, qi);
      return -2;
    }
    // With MRG_RXBUF every buffer must hold at least the header (§5.1.6.3.1).
    const needFirst: u32 = bufs == 0 ? NET_HDR : 1;
    if (segs < 0 || chainReadable != 0 || chainWritable < needFirst) {
      // Malformed: complete it and the chains taken for this frame with length 0 and
      // start the frame again on the next chains (never truncate).
      count(d, NetCounter.RX_MALFORMED);
      for (let i: u32 = 0; i < bufs; i++) queuePushUsed(q, load<u32>(usedList + <usize>i * 8), 0);
      queuePushUsed(q, head, 0);
      bufs = 0; written = 0; junk = true;
      continue;
    }
    // Scatter into the chain's writable segments (the walk checked every range).
    const sg = sgList();
    const start = written;
    for (let i: u32 = 0; i < <u32>segs && written < total; i++) {
      const s = sg + <usize>i * SG_ENTRY;
      const k = min<u32>(load<u32>(s, 8), total - written);
      writeStream(load<u64>(s), written, k, frame);
      written += k;
    }
    store<u32>(usedList + <usize>bufs * 8, head);
    store<u32>(usedList + <usize>bufs * 8, written - start, 4);
    bufs++;
  }
  if (mrg && bufs != 1) { gmStore8(nbLo, bufs & 0xff); gmStore8(nbHi, bufs >> 8); }
  for (let i: u32 = 0; i < bufs; i++) queuePushUsed(q, load<u32>(usedList + <usize>i * 8), load<u32>(usedList + <usize>i * 8, 4));
  count(d, NetCounter.RX_FRAMES);
  count(d, NetCounter.RX_BYTES, len);
  rxDone(d, qi);
  return 1;
}

function backlogPush(d: VDev, frame: usize, len: u32): bool {
  const n = netOf(d);
  if (n.backlogCount >= n.backlogCap) { count(d, NetCounter.RX_DROPPED); return false; }
  let slot = n.backlogHead + n.backlogCount;
  if (slot >= n.backlogCap) slot -= n.backlogCap;
  const p = n.backlog + <usize>slot * n.slotBytes;
  store<u32>(p, len);
  memory.copy(p + 4, frame, len); // len ≤ maxFrame = slotBytes - 4 (checked by netReceive)
  n.backlogCount++;
  count(d, NetCounter.RX_BACKLOGGED);
  return true;
}

/** Deliver backlogged frames in order while buffers last. */
export function netDrainBacklog(d: VDev): void {
  const n = netOf(d);
  // Bounded by the backlog size.
  while (n.backlogCount != 0) {
    const p = n.backlog + <usize>n.backlogHead * n.slotBytes;
    const r = deliver(d, p + 4, load<u32>(p));
    if (r == -2) count(d, NetCounter.RX_DROPPED);
    else if (r != 1) return;
    n.backlogHead++;
    if (n.backlogHead == n.backlogCap) n.backlogHead = 0;
    n.backlogCount--;
    count(d, NetCounter.BACKLOG_DRAINED);
  }
}

/**
 * A frame for the guest (host → device or peer → device), `len` bytes at
 * `frame` in linear memory. OK: delivered, backlogged or filtered (counted);
 * ERR_FULL: dropped (counted): the backlog is full, or the driver's buffers
 * can never hold the frame (rxShortBuffer);
 * ERR_INVALID_ARG: shorter than an Ethernet header or longer than MTU + 18.
 */
export function netReceive(d: VDev, frame: usize, len: u32): i32 {
  const n = netOf(d);
  if (len < 14 || len > n.maxFrame) { count(d, NetCounter.RX_INVALID); return Status.ERR_INVALID_ARG; }
  if (!filterAccept(n.filter, frame, len)) { count(d, NetCounter.RX_FILTERED); return Status.OK; }
  if (n.backlogCount != 0) netDrainBacklog(d);
  if (n.backlogCount == 0) {
    const r = deliver(d, frame, len);
    if (r == 1) return Status.OK;
    if (r == -2) { count(d, NetCounter.RX_DROPPED); return Status.ERR_FULL; }
  }
  return backlogPush(d, frame, len) ? Status.OK : Status.ERR_FULL;
}

// ---- Announce (§5.1.6.5.4) ----------------------------------------------------

/** Ask the driver to announce (after migration or a MAC change). */
export function netAnnounce(d: VDev): i32 {
  if (!devHas(d, NET_F_GUEST_ANNOUNCE) || (d.status & S_DRIVER_OK) == 0) return Status.ERR_BAD_STATE;
  const n = netOf(d);
  n.netStatus |= NET_S_ANNOUNCE;
  d.configGen++;
  count(d, NetCounter.ANNOUNCES);
  devSignalConfig(d);
  return Status.OK;
}

// ---- Control queue (§5.1.6.5) -----------------------------------------------------

const CTRL_RX: u32 = 0;
const CTRL_MAC: u32 = 1;
const CTRL_VLAN: u32 = 2;
const CTRL_ANNOUNCE: u32 = 3;
const CTRL_MQ: u32 = 4;
export const NET_OK: u32 = 0;
export const NET_ERR: u32 = 1;
const CTRL_MAX: u32 = 65536;

function ctrlRx(d: VDev, cmd: u32, data: usize, len: u32): u32 {
  if (cmd <= 1 ? !devHas(d, NET_F_CTRL_RX) : (cmd > 5 || !devHas(d, NET_F_CTRL_RX_EXTRA))) return NET_ERR;
  // One byte: zero disables, any other value enables (the Linux/QEMU ABI of these commands).
  if (len != 1) return NET_ERR;
  const on = <u32>load<u8>(data);
  let flag = RXF_PROMISC;
  if (cmd == 1) flag = RXF_ALLMULTI;
  else if (cmd == 2) flag = RXF_ALLUNI;
  else if (cmd == 3) flag = RXF_NOMULTI;
  else if (cmd == 4) flag = RXF_NOUNI;
  else if (cmd == 5) flag = RXF_NOBCAST;
  filterSetFlag(netOf(d).filter, flag, on != 0);
  return NET_OK;
}

function ctrlMac(d: VDev, cmd: u32, data: usize, len: u32): u32 {
  const n = netOf(d);
  if (cmd == 0) {
    // VIRTIO_NET_CTRL_MAC_TABLE_SET: le32 n, n×6 unicast; le32 m, m×6 multicast; exact length.
    if (!devHas(d, NET_F_CTRL_RX) || len < 8) return NET_ERR;
    const uc = load<u32>(data);
    if (<u64>uc * 6 + 8 > <u64>len) return NET_ERR;
    const mcOff = 4 + uc * 6;
    const mc = load<u32>(data + mcOff);
    if (<u64>mcOff + 4 + <u64>mc * 6 != <u64>len) return NET_ERR;
    filterSetTable(n.filter, false, data + 4, uc);
    filterSetTable(n.filter, true, data + mcOff + 4, mc);
    return NET_OK;
  }
  if (cmd == 1) {
    // VIRTIO_NET_CTRL_MAC_ADDR_SET: 6 bytes, unicast.
    if (!devHas(d, NET_F_CTRL_MAC_ADDR) || len != 6 || (load<u8>(data) & 1) != 0) return NET_ERR;
    n.mac = (<u64>load<u32>(data)) | (<u64>load<u16>(data, 4) << 32);
    filterSetMac(n.filter, data);
    d.configGen++;
    return NET_OK;
  }
  return NET_ERR;
}

function ctrlExec(d: VDev, cls: u32, cmd: u32, data: usize, len: u32): u32 {
  if (cls == CTRL_RX) return ctrlRx(d, cmd, data, len);
  if (cls == CTRL_MAC) return ctrlMac(d, cmd, data, len);
  const n = netOf(d);
  if (cls == CTRL_VLAN) {
    if (!devHas(d, NET_F_CTRL_VLAN) || cmd > 1 || len != 2) return NET_ERR;
    const vid = <u32>load<u16>(data);
    if (vid >= 4096) return NET_ERR;
    filterVlan(n.filter, vid, cmd == 0);
    return NET_OK;
  }
  if (cls == CTRL_ANNOUNCE) {
    if (!devHas(d, NET_F_GUEST_ANNOUNCE) || cmd != 0 || len != 0) return NET_ERR;
    if (n.netStatus & NET_S_ANNOUNCE) { n.netStatus &= ~NET_S_ANNOUNCE; d.configGen++; }
    return NET_OK;
  }
  if (cls == CTRL_MQ) {
    // VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET: 1 ≤ pairs ≤ max_virtqueue_pairs (§5.1.6.5.5).
    if (!devHas(d, NET_F_MQ) || cmd != 0 || len != 2) return NET_ERR;
    const p = <u32>load<u16>(data);
    if (p < 1 || p > n.maxPairs) return NET_ERR;
    n.curPairs = p;
    return NET_OK;
  }
  return NET_ERR;
}

function netCtrl(d: VDev): void {
  const qi = netCtrlQueue(d);
  if (qi >= d.numQueues) return;
  const q = devQueue(d, qi);
  if (!q.ready) return;
  const pending = queuePending(q);
  if (pending < 0) { fatal(d, VCounter.AVAIL_JUMP); return; }
  const sg = sgList();
  // Bounded: at most queue-size chains.
  for (let i = 0; i < pending; i++) {
    const head = queuePeekHead(q);
    if (head >= q.size) { fatal(d, VCounter.BAD_HEAD); break; }
    queueAdvance(q);
    const segs = chainWalk(q, head);
    // §5.1.6.5: u8 class, u8 command, data (readable); u8 ack (writable).
    if (segs < 0 || chainReadable < 2 || chainReadable > CTRL_MAX || chainWritable < 1) {
      queuePushUsed(q, head, 0);
      count(d, NetCounter.CTRL_MALFORMED);
      continue;
    }
    let out: u32 = 0;
    let ackAddr: u64 = 0;
    let haveAck = false;
    for (let s: u32 = 0; s < <u32>segs; s++) {
      const e = sg + <usize>s * SG_ENTRY;
      const l = load<u32>(e, 8);
      if (load<u32>(e, 12) != 0) { if (!haveAck && l != 0) { ackAddr = load<u64>(e); haveAck = true; } continue; }
      gmCopyOut(load<u64>(e), frameBuf + out, l);
      out += l;
    }
    const ack = ctrlExec(d, <u32>load<u8>(frameBuf), <u32>load<u8>(frameBuf, 1), frameBuf + 2, out - 2);
    count(d, ack == NET_OK ? NetCounter.CTRL_OK : NetCounter.CTRL_ERR);
    gmStore8(ackAddr, ack);
    queuePushUsed(q, head, 1);
  }
  finish(d, qi);
}

/** Stop processing and give back fetched-but-unused chains (Firecracker prepare_save). */
export function netQuiesce(d: VDev): void {
  netOf(d).quiesced = 1;
  for (let i: u32 = 0; i < d.numQueues; i++) {
    const q = devQueue(d, i);
    if (q.inflight != 0) queueRewind(q, q.inflight);
  }
}

export function netResume(d: VDev): void {
  netOf(d).quiesced = 0;
  netKickAll(d);
}

/** The most linear memory netScratch carves (once per instance). */
export function netScratchCost(): u64 { return regionCost(SCRATCH_BYTES, 16); }
