// virtio-net transmit (virtio 1.2 §5.1.6.2): chains from the transmit queues
// to the peer link, a switch (net/switch.ts), the egress ring of a backend
// port (ring-port.ts), or the host outbox the TypeScript glue drains;
// back-pressure when the outbox or the egress ring is full.

import { gmCopyOut } from "../core/guestmem";
import { VCounter } from "../virtio/defs";
import { NET_HDR, MAX_TX_FRAME, NetCounter } from "./defs";
import { VDev, devHold, devLeave, devQueue, devLive, count } from "../virtio/device";
import { Queue, queuePending, queuePeekHead, queueAdvance, queuePushUsed, queuePublish } from "../virtio/queue";
import { chainWalk, chainReadable, chainWritable, sgList, SG_ENTRY } from "../virtio/chain";
import { switchForward } from "../net/switch";
import { portId } from "../net/ports";
import { DeviceKind } from "../core/defs";
import { rtGet } from "../rings/table";
import { RING_KIND_PORT } from "../rings/defs";
import { portEgressRoom, portEgressPut } from "../rings/port";
import { NetDev, netOf, fatal, finish, frameBuf, PEER_SWITCH, PEER_RING, TX_OUT_BYTES } from "./device";
import { batchOpen, flushDeferred } from "./batch";
import { netReceive } from "./rx";

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
  // A link peer is held for the batch: a destroy on another thread waits for it.
  const pd = n.peer != 0 && (n.peer & (PEER_SWITCH | PEER_RING)) == 0 ? devHold(<i32>n.peer) : 0;
  const port = (n.peer & PEER_RING) != 0 ? rtGet(<i32>(n.peer & 0xff), RING_KIND_PORT) : 0;
  const outer = n.peer != 0 && batchOpen();
  netTxBatch(d, qi, q, n, pair, pd, port);
  if (outer) flushDeferred();
  if (pd != 0) devLeave(changetype<VDev>(pd));
  finish(d, qi);
}

function netTxBatch(d: VDev, qi: u32, q: Queue, n: NetDev, pair: u32, pd: usize, port: usize): void {
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
      if ((n.peer & PEER_RING) != 0 && (port == 0 || !portEgressRoom(port))) {
        // No free egress slot (or leaving ring mode): the chain waits, as for a full outbox.
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
        if (!switchForward(<i32>(n.peer & 0xff), portId(DeviceKind.VIRTIO_NET, d.handle), frameBuf, flen)) count(d, NetCounter.TX_SWITCH_DROPPED);
      } else if (n.peer & PEER_RING) {
        portEgressPut(port, frameBuf, flen);
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
  netTxRestart(d);
}

/** Restart the TX queues that stopped for want of outbox room or egress slots. */
export function netTxRestart(d: VDev): void {
  const n = netOf(d);
  const stalled = n.txStalled;
  if (stalled == 0 || !devLive(d) || n.quiesced != 0) return;
  for (let p: u32 = 0; p < n.maxPairs; p++) if (stalled & (1 << p)) netTx(d, 2 * p + 1);
}
