// The transport-independent part of a virtio device (virtio 1.2 §2, §3):
// feature negotiation, the device status state machine, the queue registers
// and interrupt signalling. virtio-pci (pci.ts) and virtio-mmio (mmio.ts) are
// thin register maps over these functions; device types plug in through
// dispatch.ts. Devices are named by small handles; each lives in one block
// (core/layout.ts blockAlloc) holding the core, its queues, counters, PCI
// space and the device type's state, so a create either gets all of it or
// takes nothing, and devDetach gives all of it back. The handle table and
// its reference counts are core/lifecycle.ts: every entry point holds its
// device with devEnter / devLeave.

import { blockAlloc, blockCost, blockFree, counterAdd, Counter } from "../core/layout";
import {
  LC_VIRTIO, lcEnter, lcHold, lcLeave, lcPeek, lcReserve, lcSet, lcAbort, lcOpen, lcClose, lcDetach, lcRefs, lcClosing, lcPoison, lcTableCost,
} from "../core/lifecycle";
import { gmLayoutGen } from "../core/guestmem";
import { Status } from "../core/status";
import {
  S_ACKNOWLEDGE, S_DRIVER, S_DRIVER_OK, S_FEATURES_OK, S_NEEDS_RESET, S_FAILED,
  F_VERSION_1, F_EVENT_IDX, F_INDIRECT_DESC, NO_VECTOR, TRANSPORT_PCI, bit,
  MAX_DEVICES, MAX_QUEUES, DEV_COUNTERS, VCounter,
} from "./defs";
import { MSIX_BYTES, msixEnabled, msixSignal, msixTakeDeliverable } from "./msix";
import { Queue, QUEUE_BYTES, queueReset, queueValidate, queueStart, queueSizeValid, QF_EVENT_IDX, QF_INDIRECT } from "./queue";

const DEV_ALIGN: u32 = 64;

// @ts-ignore: decorator
@unmanaged export class VDev {
  type: u32;
  transport: u32;
  status: u32;
  numQueues: u32;
  offered: u64;
  acked: u64;
  devFeatSel: u32;
  drvFeatSel: u32;
  queueSel: u32;
  configVector: u32;
  /** ISR bits: 1 = used buffer, 2 = configuration change (§4.1.4.5, §4.2.2). */
  isr: u32;
  configGen: u32;
  msixCount: u32;
  /** MSI-X vectors waiting for the host to deliver (bit per vector). */
  irqFire: u32;
  queues: usize;
  /** PCI configuration space (256 bytes) or 0. */
  cfg: usize;
  /** MSI-X table (16 bytes per vector) and pending-bit array (u32). */
  msix: usize;
  counters: usize;
  /** Device-type state (e.g. NetDev). */
  impl: usize;
  handle: u32;
  maxQueueSize: u32;
  /** gmLayoutGen() the enabled rings were last checked against. */
  layoutGen: u32;
  /** Size of the device's block (it starts at the VDev). */
  blockBytes: u32;
}

/** Device for handle `h` (being created or open), or 0: no reference taken (host-side paths: create, links, destroy). */
export function devGet(h: i32): usize { return lcPeek(LC_VIRTIO, h, MAX_DEVICES); }

/**
 * Device `h` of device type `type` (0: any type) for an entry point, with a
 * reference taken (core/lifecycle.ts), or null, counted as a bad handle:
 * unknown, closing or of another type. Every non-null result is paired with
 * one devLeave.
 */
// @ts-ignore: decorator
@inline export function devEnter(h: i32, type: u32): VDev | null {
  const p = lcEnter(LC_VIRTIO, h, MAX_DEVICES);
  if (p == 0) return null;
  const d = changetype<VDev>(p);
  if (type != 0 && d.type != type) { devLeave(d); counterAdd(Counter.BAD_HANDLE, 1); return null; }
  return d;
}

/** A device reaching virtio device `h` (a link peer, a switch port): its address with a reference (release with devLeave), or 0 if it is not open. Not counted. */
export function devHold(h: i32): usize { return lcHold(LC_VIRTIO, h, MAX_DEVICES); }

/** Drop the reference devEnter took. */
// @ts-ignore: decorator
@inline export function devLeave(d: VDev): void { lcLeave(LC_VIRTIO, <i32>d.handle); }

/** devLeave, passing `v` through: `return devOut(d, work(d))`. */
// @ts-ignore: decorator
@inline export function devOut<T>(d: VDev, v: T): T { devLeave(d); return v; }

/** Calls in progress on device `h`, -1 for a handle naming no device. */
export function devInFlight(h: i32): i32 { return lcRefs(LC_VIRTIO, h, MAX_DEVICES); }

// @ts-ignore: decorator
@inline function align16(n: u64): u64 { return (n + 15) & ~<u64>15; }

/**
 * Make a device with `numQueues` queues and `implBytes` of device-type state
 * (at d.impl, contents undefined: the type initialises it). Returns its
 * handle, or -Status with nothing taken: ERR_FULL when every handle is in
 * use, ERR_NO_MEMORY when the block cannot be had.
 */
export function devCreate(type: u32, transport: u32, numQueues: u32, maxQueueSize: u32, offered: u64, implBytes: u64): i32 {
  if (numQueues == 0 || numQueues > MAX_QUEUES) return -Status.ERR_INVALID_ARG;
  devReap();
  const h = lcReserve(LC_VIRTIO, MAX_DEVICES);
  if (h < 0) return h;
  const qOff = align16(offsetof<VDev>());
  const ctrOff = qOff + align16(<u64>QUEUE_BYTES * numQueues);
  const cfgOff = ctrOff + <u64>DEV_COUNTERS * 8, msixOff = cfgOff + 256;
  const implOff = devImplOffset(transport, numQueues);
  if (implBytes > 0xFFFF_0000 - implOff) { lcAbort(LC_VIRTIO, h); return -Status.ERR_NO_MEMORY; }
  const total = implOff + implBytes;
  const p = blockAlloc(total, DEV_ALIGN);
  if (p == 0) { lcAbort(LC_VIRTIO, h); return -Status.ERR_NO_MEMORY; }
  memory.fill(p, 0, <usize>implOff);
  const d = changetype<VDev>(p);
  d.type = type; d.transport = transport; d.numQueues = numQueues; d.offered = offered;
  d.queues = p + <usize>qOff; d.counters = p + <usize>ctrOff; d.handle = <u32>h; d.maxQueueSize = maxQueueSize;
  d.impl = p + <usize>implOff; d.blockBytes = <u32>total;
  d.msixCount = numQueues + 1;
  if (transport == TRANSPORT_PCI) { d.cfg = p + <usize>cfgOff; d.msix = p + <usize>msixOff; }
  d.layoutGen = gmLayoutGen();
  devResetCore(d);
  lcSet(LC_VIRTIO, h, p);
  return h;
}

/** Open device `h` (devCreate left it attaching while its type builds it): entry points admit calls from now on. */
export function devOpen(h: i32): void { lcOpen(LC_VIRTIO, h); }

/** Offset of the device-type state in a device's block: the core, its queues, counters and (PCI) config space and MSI-X table come first. */
function devImplOffset(transport: u32, numQueues: u32): u64 {
  const ctrOff = align16(offsetof<VDev>()) + align16(<u64>QUEUE_BYTES * numQueues);
  let implOff = ctrOff + <u64>DEV_COUNTERS * 8;
  if (transport == TRANSPORT_PCI) implOff += 256 + align16(<u64>MSIX_BYTES);
  return implOff;
}

/** The most linear memory devCreate takes for a device of `numQueues` queues and `implBytes` of type state (the handle table included, on first use). */
export function devCost(transport: u32, numQueues: u32, implBytes: u64): u64 {
  return lcTableCost() + blockCost(devImplOffset(transport, numQueues) + implBytes, DEV_ALIGN);
}

/**
 * Close device `h` of type `type`: new calls are refused. 1 if this call
 * closed it (the type detaches it from links and ports now), 2 if it was
 * closing already, 0 (counted as a bad handle) if `h` names no such device.
 */
export function devClose(h: i32, type: u32): i32 {
  const p = devGet(h);
  if (p != 0 && changetype<VDev>(p).type != type) { counterAdd(Counter.BAD_HANDLE, 1); return 0; }
  const c = lcClose(LC_VIRTIO, h, MAX_DEVICES);
  if (c == 0) counterAdd(Counter.BAD_HANDLE, 1);
  return c;
}

/** Free closed device `h` once no call holds it: OK (handle and block free), or ERR_MORE while calls are in progress. */
export function devDetach(h: i32): i32 {
  const p = lcDetach(LC_VIRTIO, h);
  if (p == 0) return Status.ERR_MORE;
  const bytes = changetype<VDev>(p).blockBytes;
  lcPoison(p, bytes);
  blockFree(p, bytes, DEV_ALIGN);
  return Status.OK;
}

/** Free every closed device whose calls have drained (a destroy that returned ERR_MORE and was not called again). */
function devReap(): void {
  // Bounded by MAX_DEVICES.
  for (let h: i32 = 1; h < MAX_DEVICES; h++) if (lcClosing(LC_VIRTIO, h, MAX_DEVICES)) devDetach(h);
}

// @ts-ignore: decorator
@inline export function devQueue(d: VDev, i: u32): Queue {
  return changetype<Queue>(d.queues + <usize>i * QUEUE_BYTES);
}

// @ts-ignore: decorator
@inline export function count(d: VDev, index: i32, n: u64 = 1): void {
  const p = d.counters + (<usize>index << 3);
  store<u64>(p, load<u64>(p) + n);
}

/** Reset what the driver programmed (§2.4): status, features, queues, ISR. Device-type state is reset by dispatch. */
export function devResetCore(d: VDev): void {
  d.status = 0; d.acked = 0; d.devFeatSel = 0; d.drvFeatSel = 0; d.queueSel = 0;
  d.configVector = NO_VECTOR; d.isr = 0; d.irqFire = 0;
  for (let i: u32 = 0; i < d.numQueues; i++) queueReset(devQueue(d, i), d.maxQueueSize);
  // The MSI-X table and PBA are PCI function state: a virtio reset keeps them (pci.ts resets them with the function).
}

/**
 * True once the device may touch guest memory: DRIVER_OK, not broken, and on
 * PCI bus mastering enabled (PCI 3.0 §6.2.2: without it a function issues no
 * DMA and no MSI).
 */
// @ts-ignore: decorator
@inline export function devLive(d: VDev): bool {
  return (d.status & (S_DRIVER_OK | S_NEEDS_RESET | S_FAILED)) == S_DRIVER_OK && devBusMaster(d) &&
    (d.layoutGen == gmLayoutGen() || devLayoutRecheck(d));
}

/**
 * The holes changed since the rings were validated (a gm_add_hole, a layout
 * restore, from any instance): validate every enabled queue again (§2.7
 * ranges). A ring that now lies in a hole must not be written through the
 * unchecked ring accessors, so the device stops and needs reset (§2.1.2).
 */
export function devLayoutRecheck(d: VDev): bool {
  const gen = gmLayoutGen();
  // Bounded by numQueues ≤ MAX_QUEUES.
  for (let i: u32 = 0; i < d.numQueues; i++) {
    const q = devQueue(d, i);
    if (q.ready != 0 && queueValidate(q.size, q.maxSize, q.desc, q.avail, q.used) != Status.OK) {
      count(d, VCounter.RING_IN_HOLE);
      devNeedsReset(d);
      return false;
    }
  }
  d.layoutGen = gen;
  return true;
}

/** PCI command register bit 2 (bus master); always true off PCI. */
// @ts-ignore: decorator
@inline export function devBusMaster(d: VDev): bool {
  return d.cfg == 0 || (<u32>load<u16>(d.cfg + PCI_COMMAND) & PCI_CMD_BUS_MASTER) != 0;
}

// @ts-ignore: decorator
@inline export function devHas(d: VDev, f: u32): bool { return (d.acked & bit(f)) != 0; }

/** Features word `sel` (0 = bits 0..31, 1 = bits 32..63). */
export function devFeatureWord(d: VDev, sel: u32): u32 {
  if (sel == 0) return <u32>d.offered;
  if (sel == 1) return <u32>(d.offered >> 32);
  return 0;
}

/** Driver features write (§3.1.1 step 5): only before FEATURES_OK, only offered bits kept for the check. */
export function devWriteDriverFeatures(d: VDev, sel: u32, v: u32): void {
  if ((d.status & S_FEATURES_OK) != 0 || sel > 1) { count(d, VCounter.BAD_REGISTER_VALUE); return; }
  if (sel == 0) d.acked = (d.acked & 0xffffffff00000000) | <u64>v;
  else d.acked = (d.acked & 0xffffffff) | (<u64>v << 32);
}

export function devDriverFeatureWord(d: VDev, sel: u32): u32 {
  if (sel == 0) return <u32>d.acked;
  if (sel == 1) return <u32>(d.acked >> 32);
  return 0;
}

/** Mark the device broken (§2.1.2): NEEDS_RESET plus a configuration interrupt. */
export function devNeedsReset(d: VDev): void {
  if (d.status & S_NEEDS_RESET) return;
  d.status |= S_NEEDS_RESET;
  count(d, VCounter.NEEDS_RESET);
  devSignalConfig(d);
}

/** Queue interrupt for queue `qi` (the caller checked suppression). */
export function devSignalQueue(d: VDev, qi: u32): void {
  count(d, VCounter.IRQ_RAISED);
  devRaise(d, 1, devQueue(d, qi).msixVector);
}

/** Configuration-change interrupt (§2.4.2, §4.1.5.3). */
export function devSignalConfig(d: VDev): void {
  count(d, VCounter.IRQ_RAISED);
  devRaise(d, 2, d.configVector);
}

// PCI config-space locations the interrupt path reads (pci.ts builds them).
export const PCI_COMMAND: usize = 0x04;
export const PCI_CMD_INTX_DISABLE: u32 = 1 << 10;
export const PCI_CMD_MEMORY: u32 = 1 << 1;
export const PCI_CMD_BUS_MASTER: u32 = 1 << 2;

/** MSI-X enabled on this PCI function. */
// @ts-ignore: decorator
@inline export function devMsixEnabled(d: VDev): bool { return msixEnabled(d.cfg); }

function devRaise(d: VDev, isrBit: u32, vector: u32): void {
  if (devMsixEnabled(d)) {
    // §4.1.5.1.2: with MSI-X the ISR is unused; NO_VECTOR means no interrupt.
    if (vector == NO_VECTOR || vector >= d.msixCount) { count(d, VCounter.IRQ_NO_VECTOR); return; }
    if (msixSignal(d.cfg, d.msix, vector, devBusMaster(d))) d.irqFire |= 1 << vector;
    else count(d, VCounter.IRQ_MASKED);
    return;
  }
  d.isr |= isrBit;
}

/** After an unmask (vector, function mask, bus mastering): deliver vectors that became pending while masked. */
export function devMsixUnmasked(d: VDev): void {
  if (!devMsixEnabled(d)) return;
  d.irqFire |= msixTakeDeliverable(d.cfg, d.msix, d.msixCount, devBusMaster(d));
}

/** INTx / MMIO interrupt line level: ISR non-zero (and, on PCI, INTx not disabled and MSI-X off). */
export function devIntxLevel(d: VDev): bool {
  if (d.isr == 0) return false;
  if (d.cfg != 0) {
    if (devMsixEnabled(d)) return false;
    if ((<u32>load<u16>(d.cfg + PCI_COMMAND) & PCI_CMD_INTX_DISABLE) != 0) return false;
  }
  return true;
}

// ---- Queue registers ---------------------------------------------------------

/** Selected queue, or null when queue_select names no queue. */
export function devSelected(d: VDev): Queue | null {
  if (d.queueSel >= d.numQueues) return null;
  return devQueue(d, d.queueSel);
}

/** Whether a queue register write is allowed now: queue exists, not yet enabled, status not FAILED. */
export function devQueueWritable(d: VDev): Queue | null {
  const q = devSelected(d);
  if (q == null || q.ready != 0) { count(d, VCounter.BAD_REGISTER_VALUE); return null; }
  return q;
}

/** queue_size write: a power of two ≤ the maximum, else ignored and counted. */
export function devWriteQueueSize(d: VDev, v: u32): void {
  const q = devQueueWritable(d);
  if (q == null) return;
  if (!queueSizeValid(v, q.maxSize)) { count(d, VCounter.BAD_REGISTER_VALUE); return; }
  q.size = v;
}

/**
 * queue_enable / QueueReady = 1: validate size, alignment and ranges once
 * (§2.7); a queue that fails is not enabled and the device needs reset.
 */
export function devEnableQueue(d: VDev): void {
  const q = devQueueWritable(d);
  if (q == null) return;
  if ((d.status & S_FEATURES_OK) == 0 || queueValidate(q.size, q.maxSize, q.desc, q.avail, q.used) != Status.OK) {
    count(d, VCounter.QUEUE_REJECTED);
    devNeedsReset(d);
    return;
  }
  let f: u32 = 0;
  if (devHas(d, F_EVENT_IDX)) f |= QF_EVENT_IDX;
  if (devHas(d, F_INDIRECT_DESC)) f |= QF_INDIRECT;
  queueStart(q, f);
}

/** Status write (§2.1, §3.1.1). 0 resets; bits cannot be cleared otherwise; FEATURES_OK is checked. */
export function devWriteStatus(d: VDev, v: u32, featuresAcceptable: bool): bool {
  v &= 0xff;
  if (v == 0) return true; // caller performs the full reset
  const keep = d.status & (S_NEEDS_RESET);
  let nv = (v | d.status) & (S_ACKNOWLEDGE | S_DRIVER | S_DRIVER_OK | S_FEATURES_OK | S_FAILED);
  if ((nv & S_FEATURES_OK) != 0 && (d.status & S_FEATURES_OK) == 0) {
    // §3.1.1 step 6: the device leaves FEATURES_OK clear when it rejects the subset.
    const subset = (d.acked & ~d.offered) == 0;
    if (!subset || (d.acked & bit(F_VERSION_1)) == 0 || !featuresAcceptable) {
      count(d, VCounter.FEATURES_REJECTED);
      nv &= ~S_FEATURES_OK;
    }
  }
  // DRIVER_OK only after FEATURES_OK (§3.1.1 step 8).
  if ((nv & S_DRIVER_OK) != 0 && (nv & S_FEATURES_OK) == 0) { nv &= ~S_DRIVER_OK; count(d, VCounter.BAD_REGISTER_VALUE); }
  d.status = nv | keep;
  return false;
}
