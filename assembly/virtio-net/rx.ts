// virtio-net receive (virtio 1.2 §5.1.6.3, §5.1.6.4): a frame from the host
// or a linked device through the receive filter into the receive queue of its
// queue pair, with mergeable buffers, and a bounded backlog while the driver
// has no buffers.

import { Status } from "../core/status";
import { gmCopyIn, gmStore8 } from "../core/guestmem";
import { VCounter } from "../virtio/defs";
import { NET_F_MRG_RXBUF, NET_HDR, NetCounter } from "./defs";
import { VDev, devQueue, devHas, devLive, count } from "../virtio/device";
import { queuePending, queuePeekHead, queueAdvance, queueRewind, queuePushUsed } from "../virtio/queue";
import { chainWalk, chainReadable, chainWritable, sgList, SG_ENTRY } from "../virtio/chain";
import { filterAccept } from "./filter";
import { NetDev, netOf, fatal, finish, hdrBuf, usedList } from "./device";
import { rxDone } from "./batch";

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

/**
 * Deliver backlogged frames in order while buffers last. A frame held while
 * the device was quiesced (the unjudged tail, n.rxUnjudged) is judged by the
 * filter as it stands now, so a filter changed during the hold decides it.
 */
export function netDrainBacklog(d: VDev): void {
  const n = netOf(d);
  // Bounded by the backlog size.
  while (n.backlogCount != 0) {
    const p = n.backlog + <usize>n.backlogHead * n.slotBytes;
    const unjudged = n.backlogCount <= n.rxUnjudged;
    if (unjudged && !devLive(d)) return;
    if (unjudged && n.quiesced == 0 && !filterAccept(n.filter, p + 4, load<u32>(p))) {
      count(d, NetCounter.RX_FILTERED);
    } else {
      const r = deliver(d, p + 4, load<u32>(p));
      if (r == -2) count(d, NetCounter.RX_DROPPED);
      else if (r != 1) return;
      count(d, NetCounter.BACKLOG_DRAINED);
    }
    if (unjudged) n.rxUnjudged--;
    n.backlogHead++;
    if (n.backlogHead == n.backlogCap) n.backlogHead = 0;
    n.backlogCount--;
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
  if (n.quiesced != 0 || n.rxUnjudged != 0) {
    // Held: the filter may change before the receive path starts again, so the frame is judged on delivery.
    if (!backlogPush(d, frame, len)) return Status.ERR_FULL;
    n.rxUnjudged++;
    if (n.quiesced != 0) count(d, NetCounter.RX_HELD);
    else netDrainBacklog(d);
    return Status.OK;
  }
  if (!filterAccept(n.filter, frame, len)) { count(d, NetCounter.RX_FILTERED); return Status.OK; }
  if (n.backlogCount != 0) netDrainBacklog(d);
  if (n.backlogCount == 0) {
    const r = deliver(d, frame, len);
    if (r == 1) return Status.OK;
    if (r == -2) { count(d, NetCounter.RX_DROPPED); return Status.ERR_FULL; }
  }
  return backlogPush(d, frame, len) ? Status.OK : Status.ERR_FULL;
}

