// virtio-net's backend in ring mode: the device bound to a backend port
// (assembly/rings/port.ts) sends what its guest transmits into the port's
// egress ring from its TX path (NetDev.peer = PEER_RING | port) and receives
// the backend's frames from the ingress ring when the host calls
// vnet_port_sync, instead of one host call and one copy per frame. In copy
// mode (NetDev.peer = 0) it uses the host outbox and vnet_receive as without
// a port. Switching never touches the device's link status (§5.1.4 status
// stays as it was: the guest sees no link change). Exports: vnet_port_* in
// exports.ts.

import { Status } from "../core/status";
import { VDev } from "../virtio/device";
import { rtGet, rtKind, rtRef } from "../rings/table";
import { RING_KIND_PORT, RING_MAX_OBJECTS } from "../rings/defs";
import {
  portDev, portSetDev, portMode, portPhase, portIngress, portEgressReady, portEnterRing, portBeginCopy, portPollCopy,
  PORT_RING, PORT_LEAVING,
} from "../rings/port";
import { netOf, PEER_RING } from "./device";
import { netReceive } from "./rx";
import { netTxRestart } from "./tx";
import { netDev } from "./link";

/** Ingress frames one vnet_port_sync hands the device at most. */
const SYNC_BUDGET: u32 = 256;

/**
 * Ingress sink: one backend frame for the guest. A frame the device could
 * only drop (its backlog is full) stays in the ring instead: back-pressure
 * to the backend, nothing lost. Invalid frames are counted and dropped by
 * netReceive as on every path.
 */
function ingressSink(ctx: usize, frame: usize, len: u32): bool {
  const d = changetype<VDev>(ctx);
  const n = netOf(d);
  if (n.backlogCount >= n.backlogCap) return false;
  netReceive(d, frame, len);
  return true;
}

/** The device bound to port `ph` and the port, or an error. */
function bound(h: i32, ph: i32): usize {
  const p = rtGet(ph, RING_KIND_PORT);
  return p != 0 && portDev(p) == <u32>h ? p : 0;
}

/** A port still bound to destroyed device `h` lets it go. */
export function netPortRelease(h: i32): void {
  // Bounded by the table size.
  for (let i: i32 = 1; i <= <i32>RING_MAX_OBJECTS; i++) {
    if (rtKind(i) != RING_KIND_PORT) continue;
    const p = rtGet(i, RING_KIND_PORT);
    if (p != 0 && portDev(p) == <u32>h) { portSetDev(p, 0); rtRef(i, -1); }
  }
  const d = netDev(h);
  if (d != null && (netOf(d).peer & PEER_RING) != 0) netOf(d).peer = 0;
}

/**
 * Bind device `h` to port `ph` (in copy mode; the device linked to nothing).
 * ERR_BAD_STATE if the port has a device or the device a link, a switch or a port.
 */
export function netPortAttach(h: i32, ph: i32): i32 {
  const d = netDev(h);
  const p = rtGet(ph, RING_KIND_PORT);
  if (d == null || p == 0) return Status.ERR_BAD_HANDLE;
  if (portDev(p) != 0 || netOf(d).peer != 0 || portMode(p) != 0) return Status.ERR_BAD_STATE;
  // Bounded by the table size: one port per device.
  for (let i: i32 = 1; i <= <i32>RING_MAX_OBJECTS; i++) {
    if (rtKind(i) == RING_KIND_PORT && portDev(rtGet(i, RING_KIND_PORT)) == <u32>h) return Status.ERR_BAD_STATE;
  }
  portSetDev(p, <u32>h);
  rtRef(ph, 1);
  return Status.OK;
}

/** Unbind (the port must be in copy mode: switch first). */
export function netPortDetach(h: i32, ph: i32): i32 {
  const p = bound(h, ph);
  if (p == 0) return Status.ERR_BAD_HANDLE;
  if (portMode(p) == PORT_RING) return Status.ERR_BAD_STATE;
  portSetDev(p, 0);
  rtRef(ph, -1);
  return Status.OK;
}

/**
 * Switch the bound device's backend: to ring mode (1) or copy mode (0).
 * To ring mode: the host has delivered every frame the device put in its
 * outbox (ERR_MORE otherwise: flush first), and from now on the device
 * sends into the egress ring. To copy mode: starts leaving (see port.ts) and
 * returns ERR_MORE until netPortSync finishes it, or OK when the rings
 * were already drained. The caller runs it where no other thread drives the
 * device.
 */
export function netPortMode(h: i32, ph: i32, mode: u32): i32 {
  const d = netDev(h);
  const p = bound(h, ph);
  if (d == null || p == 0) return Status.ERR_BAD_HANDLE;
  const n = netOf(d);
  if (mode == PORT_RING) {
    // Linked or on a switch since it was bound (in copy mode): it leaves that first.
    if (n.peer != 0 && n.peer != (PEER_RING | <u32>ph)) return Status.ERR_BAD_STATE;
    if (n.txOutFrames != 0) return Status.ERR_MORE;
    const s = portEnterRing(p);
    if (s != Status.OK) return s;
    n.peer = PEER_RING | <u32>ph;
    netTxRestart(d);
    return Status.OK;
  }
  if (mode != 0) return Status.ERR_INVALID_ARG;
  const s = portBeginCopy(p);
  if (s != Status.OK) return s;
  return finishCopy(d, p);
}

/** Leaving ring mode: once the rings are drained, the device sends to the host outbox again. */
function finishCopy(d: VDev, p: usize): i32 {
  const s = portPollCopy(p, ingressSink, changetype<usize>(d));
  if (s != Status.OK) return s < 0 ? -s : s;
  netOf(d).peer = 0;
  netTxRestart(d);
  return Status.OK;
}

/**
 * The device side of the port, called by the host whenever the backend may
 * have moved (after a notification, or in its poll loop): hand the device the
 * ingress frames (at most SYNC_BUDGET), restart TX that waited for egress
 * slots, and while leaving ring mode finish the switch once drained.
 * Returns ingress slots consumed (≥ 0), or -Status (-ERR_CORRUPT: the backend
 * wrote an impossible head or cur; the ring was reset and counted).
 */
export function netPortSync(h: i32, ph: i32): i32 {
  const d = netDev(h);
  const p = bound(h, ph);
  if (d == null || p == 0) return -Status.ERR_BAD_HANDLE;
  if (portMode(p) != PORT_RING) return 0;
  if (portPhase(p) == PORT_LEAVING) {
    const s = finishCopy(d, p);
    return s == Status.OK || s == Status.ERR_MORE ? 0 : -s;
  }
  const k = portIngress(p, ingressSink, changetype<usize>(d), SYNC_BUDGET);
  if (netOf(d).txStalled != 0 && portEgressReady(p)) netTxRestart(d);
  return k;
}
