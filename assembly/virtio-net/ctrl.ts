// virtio-net control queue (virtio 1.2 §5.1.6.5): receive modes, MAC tables
// and address, VLAN filter, announce, queue pairs; and the announce request
// (§5.1.6.5.4) the host makes after a migration.

import { Status } from "../core/status";
import { gmCopyOut, gmStore8 } from "../core/guestmem";
import { S_DRIVER_OK, VCounter } from "../virtio/defs";
import {
  NET_F_CTRL_RX, NET_F_CTRL_VLAN, NET_F_CTRL_RX_EXTRA, NET_F_GUEST_ANNOUNCE, NET_F_MQ, NET_F_CTRL_MAC_ADDR, NET_S_ANNOUNCE, NetCounter,
} from "./defs";
import { VDev, devQueue, devHas, devSignalConfig, count } from "../virtio/device";
import { queuePending, queuePeekHead, queueAdvance, queuePushUsed } from "../virtio/queue";
import { chainWalk, chainReadable, chainWritable, sgList, SG_ENTRY } from "../virtio/chain";
import {
  filterSetMac, filterSetFlag, filterSetTable, filterVlan,
  RXF_PROMISC, RXF_ALLMULTI, RXF_ALLUNI, RXF_NOMULTI, RXF_NOUNI, RXF_NOBCAST,
} from "./filter";
import { netOf, netCtrlQueue, fatal, finish, frameBuf } from "./device";

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
  const n = netOf(d);
  filterSetFlag(n.filter, flag, on != 0);
  n.filterChanged = 1;
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
    n.filterChanged = 1;
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

/** Process the control queue's available chains (§5.1.6.5: class, command, data; one ack byte). */
export function netCtrl(d: VDev): void {
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

