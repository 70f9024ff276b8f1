// The table of virtio device types behind the transports. A device type
// (virtio 1.2 §5: net is 1) registers its callbacks once per instance, before
// it creates its first device, and creates its devices through dispCreate;
// the transports (pci.ts, mmio.ts) reach a device only through this table,
// so the generic layer imports no device. The table is in shared memory (its
// address in the control block), so an instance attached to the VM (a worker)
// reaches the devices the creating instance registered; each instance runs a
// type's `prepare` (its per-instance scratch) before its first call on a
// device of that type (dispEnter).

import { Status } from "../core/status";
import { regionAlloc, regionCost, controlBlock, CB_VIRTIO_TYPES } from "../core/layout";
import { S_FEATURES_OK, TRANSPORT_PCI } from "./defs";
import { VDev, devCreate, devResetCore, devWriteStatus, devEnter, devLeave } from "./device";

/** A driver notification for queue `qi` (< numQueues). */
export type NotifyFn = (d: VDev, qi: u32) => void;
export type DeviceFn = (d: VDev) => void;
/** Make this instance's scratch for devices like `d` (its type and transport); false without memory. */
export type PrepareFn = (d: VDev) => bool;
/** Whether the features the driver acked are a combination the device accepts (§3.1.1 step 5). */
export type FeaturesOkFn = (d: VDev) => bool;
/** Device-specific configuration access; the transport checked off + width ≤ configBytes. */
export type ConfigReadFn = (d: VDev, off: u32, width: u32) => u32;
export type ConfigWriteFn = (d: VDev, off: u32, width: u32, v: u32) => void;

/** What a device type supplies to the transports. */
// @ts-ignore: decorator
@unmanaged export class DeviceType {
  notify: NotifyFn;
  /** The device-type part of a reset (§2.4); the core's registers are reset before it. */
  reset: DeviceFn;
  featuresOk: FeaturesOkFn;
  /** FEATURES_OK was accepted. */
  featuresAccepted: DeviceFn;
  configRead: ConfigReadFn;
  configWrite: ConfigWriteFn;
  /** Bytes of device-specific configuration space. */
  configBytes: u32;
  /** PCI class code of the function (base class << 16 | sub-class << 8 | programming interface). */
  pciClass: u32;
  /** Run once per instance and transport before its first call on a device of this type. */
  prepare: PrepareFn;
  registered: u32;
}

/** Device types (§5) are numbered below this. */
const MAX_TYPES: u32 = 64;
const TYPE_BYTES: usize = (offsetof<DeviceType>() + 7) & ~<usize>7;
let types: usize = 0;
/** Types this instance has prepared, per transport (bit per type): PCI, MMIO. */
let preparedPci: u64 = 0;
let preparedMmio: u64 = 0;

/** The shared table, made by the first instance that registers a type. */
function typesTable(make: bool): usize {
  if (types != 0) return types;
  const cell = controlBlock() + CB_VIRTIO_TYPES;
  let t = <usize>atomic.load<u32>(cell);
  if (t == 0 && make) {
    const p = regionAlloc(<u64>MAX_TYPES * TYPE_BYTES, 8);
    if (p == 0) return 0;
    const won = atomic.cmpxchg<u32>(cell, 0, <u32>p);
    // A racing instance published first: use its table (this region stays unused).
    t = won == 0 ? p : <usize>won;
  }
  types = t;
  return t;
}

// @ts-ignore: decorator
@inline function typeAt(type: u32): DeviceType { return changetype<DeviceType>(types + <usize>type * TYPE_BYTES); }

/**
 * The table entry of device type `type`, for the type to fill in (every
 * field) before its first dispCreate; the table is made on first use. null
 * without memory or for a type outside the table.
 */
export function dispRegister(type: u32): DeviceType | null {
  if (type == 0 || type >= MAX_TYPES || typesTable(true) == 0) return null;
  const t = typeAt(type);
  t.registered = 1;
  return t;
}

/** The most linear memory the table takes (on first dispRegister). */
export function dispCost(): u64 { return regionCost(<u64>MAX_TYPES * TYPE_BYTES, 8); }

/** devCreate for a registered device type; -ERR_INVALID_ARG for a type that is not. */
export function dispCreate(type: u32, transport: u32, numQueues: u32, maxQueueSize: u32, offered: u64, implBytes: u64): i32 {
  if (typesTable(false) == 0 || type == 0 || type >= MAX_TYPES || typeAt(type).registered == 0) return -Status.ERR_INVALID_ARG;
  return devCreate(type, transport, numQueues, maxQueueSize, offered, implBytes);
}

// Devices exist only for registered types (dispCreate), so the entries below are filled in.

/**
 * devEnter for an entry point that may run on any instance: the device with
 * a reference taken, its type prepared on this instance; null (counted as a
 * bad handle by devEnter) otherwise, or when the type's scratch cannot be had.
 */
export function dispEnter(h: i32, type: u32): VDev | null {
  const d = devEnter(h, type);
  if (d == null) return null;
  const done = d.transport == TRANSPORT_PCI ? preparedPci : preparedMmio;
  if ((done & (<u64>1 << d.type)) == 0 && !dispPrepare(d)) { devLeave(d); return null; }
  return d;
}

function dispPrepare(d: VDev): bool {
  if (types == 0 && typesTable(false) == 0) return false;
  const f = typeAt(d.type).prepare;
  if (!f(d)) return false;
  if (d.transport == TRANSPORT_PCI) preparedPci |= <u64>1 << d.type;
  else preparedMmio |= <u64>1 << d.type;
  return true;
}

export function dispNotify(d: VDev, qi: u32): void {
  const f = typeAt(d.type).notify;
  f(d, qi);
}

/** Full device reset (§2.4): transport registers, queues and device-type state. */
export function dispReset(d: VDev): void {
  devResetCore(d);
  const f = typeAt(d.type).reset;
  f(d);
}

/** Bytes of device-specific configuration space. */
export function dispConfigBytes(d: VDev): u32 { return typeAt(d.type).configBytes; }

export function dispConfigRead(d: VDev, off: u32, width: u32): u32 {
  const f = typeAt(d.type).configRead;
  return f(d, off, width);
}

export function dispConfigWrite(d: VDev, off: u32, width: u32, v: u32): void {
  const f = typeAt(d.type).configWrite;
  f(d, off, width, v);
}

export function dispPciClass(d: VDev): u32 { return typeAt(d.type).pciClass; }

/** Device status write: 0 resets; FEATURES_OK is checked by the transport core and the device type. */
export function dispWriteStatus(d: VDev, v: u32): void {
  const t = typeAt(d.type);
  const before = d.status;
  const ok = t.featuresOk;
  if (devWriteStatus(d, v, ok(d))) { dispReset(d); return; }
  if ((before & S_FEATURES_OK) == 0 && (d.status & S_FEATURES_OK) != 0) {
    const accepted = t.featuresAccepted;
    accepted(d);
  }
}
