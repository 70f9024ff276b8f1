// Saved state of a virtio-net device: the virtio core and queues
// (virtio/state.ts) plus MAC, link status, queue pairs, the receive filter and
// the backlog frames. Saving first gives back chains fetched but not used
// (none are outstanding between calls, but the rule is kept explicit), so the
// destination sees them again. Restore validates everything, then applies.

import { Status } from "../core/status";
import { DeviceKind, envBegin, envPutU32, envPutU64, envPutBytes, envField, envFinish, envOpen, envVersion, envGetU32, envGetU64, envU32, envU64, envFind, envFoundLen, envFindExact } from "../core/state";
import { ioPtr, ioSize } from "../core/vm";
import { VDev, devQueue } from "../virtio/device";
import { queueRewind } from "../virtio/queue";
import { devSaveState, devCheckState, devApplyState, T_ACKED, T_STATUS } from "../virtio/state";
import { NET_S_LINK_UP, NET_S_ANNOUNCE, NET_F_CTRL_VLAN } from "./defs";
import { NetDev, netOf, netFeaturesAcceptable } from "./device";
import { S_FEATURES_OK, bit } from "../virtio/defs";
import { FILTER_BYTES, FILTER_MAC_ENTRIES, RF_FLAGS, RF_UC_COUNT, RF_MC_COUNT, RF_UC_OVERFLOW, RF_MC_OVERFLOW, RF_VLAN_ON } from "./filter";

const NET_STATE_VERSION: u32 = 1;
const T_MAC: u32 = 30;
const T_NET_STATUS: u32 = 32;
const T_CUR_PAIRS: u32 = 33;
const T_MAX_PAIRS: u32 = 34;
const T_MTU: u32 = 35;
const T_FILTER: u32 = 36;
const T_BACKLOG: u32 = 37;
/** Frames at the backlog's tail the filter judges on delivery (NetDev.rxUnjudged); absent when none. */
const T_UNJUDGED: u32 = 38;

/** Bytes a saved blob of this device can need (the host sizes the I/O buffer with it). */
export function netStateBound(d: VDev): u32 {
  const n = netOf(d);
  return 8192 + d.numQueues * 64 + <u32>FILTER_BYTES + n.backlogCap * (n.maxFrame + 4);
}

export function netSave(d: VDev): i32 {
  const n = netOf(d);
  if (netStateBound(d) > ioSize()) return -Status.ERR_NO_MEMORY;
  for (let i: u32 = 0; i < d.numQueues; i++) {
    const q = devQueue(d, i);
    if (q.inflight != 0) queueRewind(q, q.inflight);
  }
  envBegin(ioPtr(), ioSize(), DeviceKind.VIRTIO_NET, NET_STATE_VERSION);
  devSaveState(d);
  envPutU64(T_MAC, n.mac);
  envPutU32(T_NET_STATUS, n.netStatus);
  envPutU32(T_CUR_PAIRS, n.curPairs);
  envPutU32(T_MAX_PAIRS, n.maxPairs);
  envPutU32(T_MTU, n.mtu);
  envPutBytes(T_FILTER, n.filter, <u32>FILTER_BYTES);
  let bytes: u32 = 0;
  for (let i: u32 = 0; i < n.backlogCount; i++) bytes += 4 + load<u32>(slot(n, i));
  const p = envField(T_BACKLOG, bytes);
  if (p != 0) {
    let o: usize = 0;
    for (let i: u32 = 0; i < n.backlogCount; i++) {
      const s = slot(n, i);
      const len = load<u32>(s);
      store<u32>(p + o, len);
      memory.copy(p + o + 4, s + 4, len);
      o += 4 + len;
    }
  }
  if (n.rxUnjudged != 0) envPutU32(T_UNJUDGED, n.rxUnjudged);
  return envFinish();
}

function slot(n: NetDev, i: u32): usize {
  let k = n.backlogHead + i;
  if (k >= n.backlogCap) k -= n.backlogCap;
  return n.backlog + <usize>k * n.slotBytes;
}

export function netRestore(d: VDev, len: u32): i32 {
  const n = netOf(d);
  if (len > ioSize()) return Status.ERR_STATE_LENGTH;
  const s = envOpen(ioPtr(), len, DeviceKind.VIRTIO_NET);
  if (s != Status.OK) return s;
  if (envVersion() != NET_STATE_VERSION) return Status.ERR_STATE_VERSION;
  // Phase 1: validate everything.
  const c = devCheckState(d);
  if (c != Status.OK) return c;
  // The net feature rules hold for what the source accepted (§5.1.3.1), and the VLAN filter is on exactly when CTRL_VLAN was.
  envGetU64(T_ACKED); const acked = envU64(); envGetU32(T_STATUS); const st = envU32();
  if ((st & S_FEATURES_OK) != 0 && !netFeaturesAcceptable(acked)) return Status.ERR_STATE_INVALID;
  if (!envGetU64(T_MAC) || (envU64() >> 48) != 0 || (envU64() & 1) != 0) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_NET_STATUS) || (envU32() & ~(NET_S_LINK_UP | NET_S_ANNOUNCE)) != 0) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_MAX_PAIRS) || envU32() != n.maxPairs) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_CUR_PAIRS) || envU32() < 1 || envU32() > n.maxPairs) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_MTU) || envU32() != n.mtu) return Status.ERR_STATE_INVALID;
  const f = envFindExact(T_FILTER, <u32>FILTER_BYTES);
  if (f == 0) return Status.ERR_STATE_INVALID;
  if (load<u32>(f + RF_FLAGS) > 63 || load<u32>(f + RF_UC_COUNT) > FILTER_MAC_ENTRIES || load<u32>(f + RF_MC_COUNT) > FILTER_MAC_ENTRIES ||
      load<u32>(f + RF_UC_OVERFLOW) > 1 || load<u32>(f + RF_MC_OVERFLOW) > 1 || load<u32>(f + RF_VLAN_ON) > 1) return Status.ERR_STATE_INVALID;
  if ((st & S_FEATURES_OK) != 0 && (load<u32>(f + RF_VLAN_ON) != 0) != ((acked & bit(NET_F_CTRL_VLAN)) != 0)) return Status.ERR_STATE_INVALID;
  const b = envFind(T_BACKLOG);
  if (b == 0) return Status.ERR_STATE_INVALID;
  const blen = envFoundLen();
  let o: u32 = 0;
  let frames: u32 = 0;
  // Bounded: each step consumes ≥ 4 bytes of the field.
  while (o < blen) {
    if (blen - o < 4) return Status.ERR_STATE_INVALID;
    const l = load<u32>(b + o);
    if (l < 14 || l > n.maxFrame || l > blen - o - 4) return Status.ERR_STATE_INVALID;
    o += 4 + l;
    frames++;
    if (frames > n.backlogCap) return Status.ERR_STATE_INVALID;
  }
  let unjudged: u32 = 0;
  if (envFind(T_UNJUDGED) != 0) {
    if (!envGetU32(T_UNJUDGED) || envU32() > frames) return Status.ERR_STATE_INVALID;
    unjudged = envU32();
  }
  // Phase 2: apply.
  devApplyState(d);
  envGetU64(T_MAC); n.mac = envU64();
  envGetU32(T_NET_STATUS); n.netStatus = envU32();
  envGetU32(T_CUR_PAIRS); n.curPairs = envU32();
  memory.copy(n.filter, f, FILTER_BYTES);
  n.filterChanged = 1;
  n.backlogHead = 0; n.backlogCount = 0;
  o = 0;
  while (o < blen) {
    const l = load<u32>(b + o);
    const s = n.backlog + <usize>n.backlogCount * n.slotBytes;
    store<u32>(s, l);
    memory.copy(s + 4, b + o + 4, l);
    n.backlogCount++;
    o += 4 + l;
  }
  n.rxUnjudged = unjudged;
  n.txStalled = 0;
  // Restored quiesced, until the host's resume (netResume, which also makes
  // up the kicks lost with the source): a restored device must not write
  // guest RAM before the VM runs (a migration destination verifies RAM after
  // restore, and the source may still take the VM back), so no queue is
  // processed here and a host frame arriving meanwhile waits in the backlog
  // (bounded; judged by the filter on delivery; RX_HELD).
  n.quiesced = 1;
  return Status.OK;
}
