// A NIC's backend port over a pair of netmap rings (netmap.ts): egress, an
// NMR_RX ring the device fills with what its guest transmits, and ingress, an
// NMR_TX ring the backend fills with frames for the guest. The backend runs on
// any thread or in another wasm instance given the memory; the device side
// (the NIC's TX path and its port sync) runs in one context at a time, as
// every netmap ring's device side does.
//
// Modes: in PORT_COPY the NIC exchanges frames with the host's callbacks and
// the rings are frozen (netmap's NMR_F_FROZEN, visible to the backend); in
// PORT_RING through the rings. The switch keeps the link up and loses,
// duplicates or reorders nothing (netmap's ring-initialization RFC, "enter
// and leave netmap mode without taking the link down"):
//  - copy → ring: the caller has handed the copy-mode consumer every frame the
//    NIC produced in copy mode (the NIC's host outbox is empty); from then on
//    new frames go to the egress ring. Immediate.
//  - ring → copy: PORT_LEAVING first. The device gives the egress ring no new
//    frame (its TX waits, back-pressure), ingress frames the backend already
//    sent are still delivered, and neither ring hands the backend new slots.
//    portPollCopy completes the switch once the backend has taken every egress
//    frame and given its slots back (nmUserHeld == 0) and no frame waits in
//    the ingress ring: only then may the NIC's frames go to the host again,
//    behind every frame the backend received. Frames a backend sends on the
//    frozen ingress ring afterwards wait there for the next ring mode.
// Ring → copy while leaving is a no-op; copy → ring while leaving cancels the
// leave (the rings thaw; nothing moved to the host yet).
//
// What the port does not do: stop other threads that drive the device. The
// caller runs the switch where nothing else uses the device or the port's
// device side (the VM's exclusive operations serialize it with the vCPUs,
// migration and reset).

import { Status } from "../core/status";
import { blockAlloc, blockFree } from "../core/layout";
import { PORT_COPY, PORT_RING, PORT_RUNNING, PORT_LEAVING, PORT_COUNTERS, PortCounter, NmrCounter } from "./defs";
import { FrameSink, nmRxBegin, nmRxPut, nmRxEnd, nmTxsync, nmFreeze, nmUserHeld, nmKField, nmCounters, nmSlots } from "./netmap";

// @ts-ignore: decorator
@unmanaged class Port {
  egress: usize;
  ingress: usize;
  egressH: u32;
  ingressH: u32;
  /** The device bound to the port (its handle), 0 if none. */
  dev: u32;
  mode: u32;
  phase: u32;
  /** Egress slots the device may fill before it must look at the ring again. */
  space: u32;
}

const OFF_COUNTERS: usize = 64;
export const PORT_BYTES: u64 = <u64>OFF_COUNTERS + (<u64>PORT_COUNTERS << 3);

// @ts-ignore: decorator
@inline function pt(p: usize): Port { return changetype<Port>(p); }
// @ts-ignore: decorator
@inline function bump(p: usize, c: i32, by: u64 = 1): void { const a = p + OFF_COUNTERS + (<usize>c << 3); store<u64>(a, load<u64>(a) + by); }

/** A port in copy mode over `egress` (an NMR_RX ring) and `ingress` (an NMR_TX ring; the caller checked both). 0 without memory. */
export function portCreate(egress: usize, egressH: u32, ingress: usize, ingressH: u32): usize {
  const p = blockAlloc(PORT_BYTES, 64);
  if (p == 0) return 0;
  memory.fill(p, 0, <usize>PORT_BYTES);
  const t = pt(p);
  t.egress = egress; t.egressH = egressH; t.ingress = ingress; t.ingressH = ingressH;
  t.mode = PORT_COPY; t.phase = PORT_RUNNING;
  nmFreeze(egress, true);
  nmFreeze(ingress, true);
  return p;
}

export function portDestroy(p: usize): void { blockFree(p, PORT_BYTES, 64); }
export function portEgressHandle(p: usize): u32 { return pt(p).egressH; }
export function portIngressHandle(p: usize): u32 { return pt(p).ingressH; }
export function portMode(p: usize): u32 { return pt(p).mode; }
export function portPhase(p: usize): u32 { return pt(p).phase; }
export function portDev(p: usize): u32 { return pt(p).dev; }
export function portSetDev(p: usize, h: u32): void { pt(p).dev = h; }
export function portCounters(p: usize): usize { return p + OFF_COUNTERS; }

/** Device TX: may the next frame go into the egress ring? False in copy mode, while leaving, or when the backend holds every slot (counted). */
export function portEgressRoom(p: usize): bool {
  const t = pt(p);
  if (t.mode != PORT_RING || t.phase != PORT_RUNNING) return false;
  if (t.space != 0) return true;
  const n = nmRxBegin(t.egress);
  if (n < 0) { bump(p, PortCounter.RING_CORRUPT); return false; }
  t.space = <u32>n;
  if (n == 0) { bump(p, PortCounter.EGRESS_STALLS); return false; }
  return true;
}

/** Device TX: put a frame in the egress ring and publish it (portEgressRoom said yes). A frame above the buffer size is dropped and counted by the ring. */
export function portEgressPut(p: usize, frame: usize, len: u32): void {
  const t = pt(p);
  if (!nmRxPut(t.egress, frame, len)) return;
  t.space--;
  nmRxEnd(t.egress);
  bump(p, PortCounter.EGRESS_FRAMES);
}

/** Is there a free egress slot now (for restarting a TX path that waited)? */
export function portEgressReady(p: usize): bool {
  const t = pt(p);
  if (t.mode != PORT_RING || t.phase != PORT_RUNNING) return false;
  if (t.space == 0) {
    const n = nmRxBegin(t.egress);
    if (n < 0) { bump(p, PortCounter.RING_CORRUPT); return false; }
    t.space = <u32>n;
  }
  return t.space != 0;
}

/** Hand the device (`sink`) what waits in the ingress ring, at most `max` slots. Returns slots consumed or -Status. */
function ingress(p: usize, sink: FrameSink, ctx: usize, max: u32): i32 {
  const t = pt(p);
  const fc = nmCounters(t.ingress) + (<usize>NmrCounter.FRAMES << 3);
  const before = load<u64>(fc);
  const n = nmTxsync(t.ingress, sink, ctx, max);
  if (n < 0) { bump(p, PortCounter.RING_CORRUPT); return n; }
  bump(p, PortCounter.INGRESS_FRAMES, load<u64>(fc) - before);
  // hwcur short of the head the backend gave, with budget left: the sink refused a frame.
  if (<u32>n < max && nmKField(t.ingress, 0) != nmKField(t.ingress, 2)) bump(p, PortCounter.INGRESS_HELD);
  return n;
}

/** Device side, ring mode or leaving: deliver ingress frames. Returns slots consumed (0 in copy mode) or -Status. */
export function portIngress(p: usize, sink: FrameSink, ctx: usize, max: u32): i32 {
  return pt(p).mode == PORT_RING ? ingress(p, sink, ctx, max) : 0;
}

/** Enter ring mode, or cancel a leave. ERR_ALREADY when already running in ring mode. */
export function portEnterRing(p: usize): i32 {
  const t = pt(p);
  if (t.mode == PORT_RING && t.phase == PORT_RUNNING) return Status.ERR_ALREADY;
  if (t.mode == PORT_COPY) bump(p, PortCounter.TO_RING);
  t.mode = PORT_RING;
  t.phase = PORT_RUNNING;
  t.space = 0;
  nmFreeze(t.egress, false);
  nmFreeze(t.ingress, false);
  return Status.OK;
}

/** Start leaving ring mode (see the file comment). ERR_ALREADY in copy mode; OK if already leaving. */
export function portBeginCopy(p: usize): i32 {
  const t = pt(p);
  if (t.mode == PORT_COPY) return Status.ERR_ALREADY;
  if (t.phase == PORT_LEAVING) return Status.OK;
  t.phase = PORT_LEAVING;
  t.space = 0;
  nmFreeze(t.egress, true);
  nmFreeze(t.ingress, true);
  return Status.OK;
}

/**
 * Leaving ring mode: deliver what waits in the ingress ring, take back the
 * egress slots the backend released; once it holds none and no ingress frame
 * waits, the port is in copy mode. Returns OK (in copy mode now or before),
 * ERR_MORE (still draining: call again after the backend has run), or
 * -Status from a ring the backend corrupted (still leaving).
 */
export function portPollCopy(p: usize, sink: FrameSink, ctx: usize): i32 {
  const t = pt(p);
  if (t.mode == PORT_COPY) return Status.OK;
  if (t.phase != PORT_LEAVING) return Status.ERR_BAD_STATE;
  const k = ingress(p, sink, ctx, nmSlots(t.ingress));
  if (k < 0) return k;
  const b = nmRxBegin(t.egress); // frozen: takes released slots back, hands out none
  if (b < 0) { bump(p, PortCounter.RING_CORRUPT); return b; }
  if (nmUserHeld(t.egress) != 0 || nmKField(t.ingress, 0) != nmKField(t.ingress, 2)) {
    bump(p, PortCounter.DRAIN_POLLS);
    return Status.ERR_MORE;
  }
  t.mode = PORT_COPY;
  t.phase = PORT_RUNNING;
  bump(p, PortCounter.TO_COPY);
  return Status.OK;
}

export { PORT_COPY, PORT_RING, PORT_RUNNING, PORT_LEAVING };
