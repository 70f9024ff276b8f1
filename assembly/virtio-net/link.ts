// In-wasm connections between virtio-net devices: a point-to-point link (a
// transmitted frame goes straight into the peer's receive path; a device
// linked to itself is a loopback) or a port of the generic virtual switch
// (net/switch.ts, whose ports may be any NIC model: virtio-net registers its
// kind here; tx.ts sends through either). Frames never leave the module. A
// device in ring mode sends to its backend port (ring-port.ts) and is
// refused both until it leaves ring mode.

import { Status } from "../core/status";
import { DeviceKind } from "../core/defs";
import { devGet, devHold, devLeave, VDev } from "../virtio/device";
import { netOf, PEER_SWITCH, PEER_RING } from "./device";
import { DEVICE_NET } from "./defs";
import { netReceive } from "./rx";
import { portKindRegister, portId } from "../net/ports";
import { swRemovePort } from "../net/fdb";
import { nswCreate, nswAttach, nswDestroy } from "../net/switch";

/** Device `h` if it is a virtio-net device, else null. */
export function netDev(h: i32): VDev | null {
  const p = devGet(h);
  if (p == 0) return null;
  const d = changetype<VDev>(p);
  return d.type == DEVICE_NET ? d : null;
}

/** Link `a` and `b` both ways (a == b: loopback). Any earlier link or switch port is dropped first. */
export function switchConnect(a: i32, b: i32): i32 {
  const da = netDev(a), db = netDev(b);
  if (da == null || db == null) return Status.ERR_BAD_HANDLE;
  if ((netOf(da).peer | netOf(db).peer) & PEER_RING) return Status.ERR_BAD_STATE;
  switchDisconnect(a);
  switchDisconnect(b);
  netOf(da).peer = <u32>b;
  netOf(db).peer = <u32>a;
  return Status.OK;
}

/** Unlink `a` (and its link peer) or take it off its switch; frames go to the host again. */
export function switchDisconnect(a: i32): i32 {
  const da = netDev(a);
  if (da == null) return Status.ERR_BAD_HANDLE;
  const p = netOf(da).peer;
  if (p & PEER_RING) return Status.ERR_BAD_STATE;
  if (p & PEER_SWITCH) swRemovePort(<i32>(p & 0xff), portId(DeviceKind.VIRTIO_NET, <u32>a));
  else if (p != 0) { const dp = netDev(<i32>p); if (dp != null && netOf(dp).peer == <u32>a) netOf(dp).peer = 0; }
  netOf(da).peer = 0;
  return Status.OK;
}

// ---- As a port of the generic switch -------------------------------------------

/** A switch's copy of a frame: into the receive path of device `h`. */
function portDeliver(h: u32, frame: usize, len: u32): void {
  // The port may be going away on another thread: hold it for the delivery.
  const p = devHold(<i32>h);
  if (p == 0) return;
  const d = changetype<VDev>(p);
  if (d.type == DEVICE_NET) netReceive(d, frame, len);
  devLeave(d);
}

function portCheck(h: u32): i32 {
  const d = netDev(<i32>h);
  if (d == null) return Status.ERR_BAD_HANDLE;
  return (netOf(d).peer & PEER_RING) != 0 ? Status.ERR_BAD_STATE : Status.OK;
}

function portBind(h: u32, sw: i32): void {
  const d = netDev(<i32>h);
  if (d == null) return;
  // Becoming a port (or leaving one): a point-to-point link goes first.
  const p = netOf(d).peer;
  if (p != 0 && (p & (PEER_SWITCH | PEER_RING)) == 0) switchDisconnect(<i32>h);
  if ((netOf(d).peer & PEER_RING) == 0) netOf(d).peer = sw != 0 ? PEER_SWITCH | <u32>sw : 0;
}

/** Register virtio-net as a kind of switch port (once per instance; repeats are harmless). */
export function netSwitchRegister(): void { portKindRegister(DeviceKind.VIRTIO_NET, portDeliver, portCheck, portBind); }

/** A new learning switch: its id, or -ERR_NO_MEMORY when all are in use. */
export function switchCreate(): i32 { return nswCreate(); }

/** Make device `h` a port of switch `sw`. */
export function switchAttach(sw: i32, h: i32): i32 {
  if (h <= 0) return Status.ERR_BAD_HANDLE;
  return nswAttach(sw, DeviceKind.VIRTIO_NET, <u32>h);
}

/** Destroy switch `sw`: every port's frames go to the host again. */
export function switchDestroy(sw: i32): i32 { return nswDestroy(sw); }
