// Saved state of the transport-independent device core and its queues.
// Each queue is one named field (tag QUEUE_TAG + index) holding a fixed
// little-endian record; scalars are fields of their own. Restore is two
// phases: devCheckState validates every field against this device (nothing
// changes), devApplyState then copies.

import { Status } from "../core/status";
import { envPutU32, envPutU64, envPutBytes, envFindExact, envGetU32, envGetU64, envU32, envU64 } from "../core/state";
import { NO_VECTOR, S_ACKNOWLEDGE, S_DRIVER, S_DRIVER_OK, S_FEATURES_OK, S_NEEDS_RESET, S_FAILED, F_VERSION_1, F_EVENT_IDX, F_INDIRECT_DESC, bit } from "./defs";
import { VDev, devQueue } from "./device";
import { MSIX_BYTES, MSIX_PBA, msixSanitize } from "./msix";
import { Queue, queueValidate, queueSizeValid, QF_EVENT_IDX, QF_INDIRECT } from "./queue";
import { pciWritableMask } from "./pci";

const T_OFFERED: u32 = 1;
export const T_ACKED: u32 = 2;
export const T_STATUS: u32 = 3;
const T_DEV_FEAT_SEL: u32 = 4;
const T_DRV_FEAT_SEL: u32 = 5;
const T_QUEUE_SEL: u32 = 6;
const T_CONFIG_VECTOR: u32 = 7;
const T_ISR: u32 = 8;
const T_CONFIG_GEN: u32 = 9;
const T_NUM_QUEUES: u32 = 10;
const T_TRANSPORT: u32 = 11;
const T_PCI_CONFIG: u32 = 20;
const T_MSIX: u32 = 21;
const QUEUE_TAG: u32 = 100;

// Queue record: size, ready, msixVector, flags (u32); desc, avail, used (u64);
// lastAvail, usedIdx, signalled, signalledValid (u32).
const QREC: u32 = 56;

export function devSaveState(d: VDev): void {
  envPutU64(T_OFFERED, d.offered);
  envPutU64(T_ACKED, d.acked);
  envPutU32(T_STATUS, d.status);
  envPutU32(T_DEV_FEAT_SEL, d.devFeatSel);
  envPutU32(T_DRV_FEAT_SEL, d.drvFeatSel);
  envPutU32(T_QUEUE_SEL, d.queueSel);
  envPutU32(T_CONFIG_VECTOR, d.configVector);
  envPutU32(T_ISR, d.isr);
  envPutU32(T_CONFIG_GEN, d.configGen);
  envPutU32(T_NUM_QUEUES, d.numQueues);
  envPutU32(T_TRANSPORT, d.transport);
  if (d.cfg != 0) {
    envPutBytes(T_PCI_CONFIG, d.cfg, 256);
    envPutBytes(T_MSIX, d.msix, MSIX_BYTES);
  }
  for (let i: u32 = 0; i < d.numQueues; i++) {
    const q = devQueue(d, i);
    const p = envFieldFor(QUEUE_TAG + i);
    if (p == 0) return;
    store<u32>(p, q.size); store<u32>(p, q.ready, 4); store<u32>(p, q.msixVector, 8); store<u32>(p, q.flags, 12);
    store<u64>(p, q.desc, 16); store<u64>(p, q.avail, 24); store<u64>(p, q.used, 32);
    store<u32>(p, q.lastAvail, 40); store<u32>(p, q.usedIdx, 44); store<u32>(p, q.signalled, 48); store<u32>(p, q.signalledValid, 52);
  }
}

import { envField } from "../core/state";
function envFieldFor(tag: u32): usize { return envField(tag, QREC); }

function vecOk(d: VDev, v: u32): bool { return v == NO_VECTOR || v < d.msixCount; }

/** Validate the core fields of an opened blob for device `d`. Nothing changes. */
export function devCheckState(d: VDev): i32 {
  if (!envGetU64(T_OFFERED) || envU64() != d.offered) return Status.ERR_STATE_INVALID;
  if (!envGetU64(T_ACKED)) return Status.ERR_STATE_INVALID;
  const acked = envU64();
  // Features acked ⊆ offered (§2.2).
  if ((acked & ~d.offered) != 0) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_STATUS)) return Status.ERR_STATE_INVALID;
  const st = envU32();
  if ((st & ~(S_ACKNOWLEDGE | S_DRIVER | S_DRIVER_OK | S_FEATURES_OK | S_NEEDS_RESET | S_FAILED)) != 0) return Status.ERR_STATE_INVALID;
  if ((st & S_FEATURES_OK) != 0 && (acked & bit(F_VERSION_1)) == 0) return Status.ERR_STATE_INVALID;
  if ((st & S_DRIVER_OK) != 0 && (st & S_FEATURES_OK) == 0) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_DEV_FEAT_SEL) || !envGetU32(T_DRV_FEAT_SEL) || !envGetU32(T_QUEUE_SEL)) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_CONFIG_VECTOR) || !vecOk(d, envU32())) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_ISR) || envU32() > 3) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_CONFIG_GEN)) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_NUM_QUEUES) || envU32() != d.numQueues) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_TRANSPORT) || envU32() != d.transport) return Status.ERR_STATE_INVALID;
  if (d.cfg != 0) {
    if (envFindExact(T_PCI_CONFIG, 256) == 0) return Status.ERR_STATE_INVALID;
    const m = envFindExact(T_MSIX, MSIX_BYTES);
    if (m == 0) return Status.ERR_STATE_INVALID;
    const pba = load<u32>(m + MSIX_PBA);
    if (d.msixCount < 32 && (pba >> d.msixCount) != 0) return Status.ERR_STATE_INVALID;
  }
  let allowed: u32 = 0;
  if (acked & bit(F_EVENT_IDX)) allowed |= QF_EVENT_IDX;
  if (acked & bit(F_INDIRECT_DESC)) allowed |= QF_INDIRECT;
  for (let i: u32 = 0; i < d.numQueues; i++) {
    const p = envFindExact(QUEUE_TAG + i, QREC);
    if (p == 0) return Status.ERR_STATE_INVALID;
    const size = load<u32>(p), ready = load<u32>(p, 4), vec = load<u32>(p, 8), flags = load<u32>(p, 12);
    if (!queueSizeValid(size, d.maxQueueSize) || ready > 1 || !vecOk(d, vec)) return Status.ERR_STATE_INVALID;
    if (load<u32>(p, 40) > 0xffff || load<u32>(p, 44) > 0xffff || load<u32>(p, 48) > 0xffff || load<u32>(p, 52) > 1) return Status.ERR_STATE_INVALID;
    if (ready) {
      if (flags != allowed || (st & S_FEATURES_OK) == 0) return Status.ERR_STATE_INVALID;
      if (queueValidate(size, d.maxQueueSize, load<u64>(p, 16), load<u64>(p, 24), load<u64>(p, 32)) != Status.OK) return Status.ERR_STATE_INVALID;
      // The device never has more than a queue's worth of chains outstanding (§2.7.13.3).
      if (((load<u32>(p, 40) - load<u32>(p, 44)) & 0xffff) > size) return Status.ERR_STATE_INVALID;
    } else if (flags != 0) return Status.ERR_STATE_INVALID;
  }
  return Status.OK;
}

/** Copy the core fields of a blob devCheckState accepted. */
export function devApplyState(d: VDev): void {
  envGetU64(T_ACKED); d.acked = envU64();
  envGetU32(T_STATUS); d.status = envU32();
  envGetU32(T_DEV_FEAT_SEL); d.devFeatSel = envU32();
  envGetU32(T_DRV_FEAT_SEL); d.drvFeatSel = envU32();
  envGetU32(T_QUEUE_SEL); d.queueSel = envU32();
  envGetU32(T_CONFIG_VECTOR); d.configVector = envU32();
  envGetU32(T_ISR); d.isr = envU32();
  envGetU32(T_CONFIG_GEN); d.configGen = envU32();
  d.irqFire = 0;
  if (d.cfg != 0) {
    // Only the writable bits of configuration space come from the blob; the
    // read-only identity and capabilities stay this build's.
    const src = envFindExact(T_PCI_CONFIG, 256);
    const wm = pciWritableMask();
    for (let i: usize = 0; i < 256; i++) {
      const m = <u32>load<u8>(wm + i);
      if (m == 0) continue;
      store<u8>(d.cfg + i, <u8>((<u32>load<u8>(d.cfg + i) & ~m) | (<u32>load<u8>(src + i) & m)));
    }
    const m = envFindExact(T_MSIX, MSIX_BYTES);
    memory.copy(d.msix, m, MSIX_BYTES);
    msixSanitize(d.msix);
  }
  for (let i: u32 = 0; i < d.numQueues; i++) {
    const p = envFindExact(QUEUE_TAG + i, QREC);
    const q: Queue = devQueue(d, i);
    q.size = load<u32>(p); q.ready = load<u32>(p, 4); q.msixVector = load<u32>(p, 8); q.flags = load<u32>(p, 12);
    q.desc = load<u64>(p, 16); q.avail = load<u64>(p, 24); q.used = load<u64>(p, 32);
    q.lastAvail = load<u32>(p, 40); q.usedIdx = load<u32>(p, 44); q.signalled = load<u32>(p, 48); q.signalledValid = load<u32>(p, 52);
    q.inflight = 0; q.unpublished = 0; q.published = 0;
  }
}
