// In-wasm connections between virtio-net devices: a point-to-point link (a
// transmitted frame goes straight into the peer's receive path; a device
// linked to itself is a loopback) or a port of a learning switch (net/fdb.ts
// holds its tables, net/switch.ts forwards; tx.ts sends through either).
// Frames never leave the module.

import { Status } from "../core/status";
import { devGet, VDev } from "../virtio/device";
import { netOf, PEER_SWITCH } from "./device";
import { DEVICE_NET } from "./defs";
import { swCreate, swDestroy, swValid, swPort, swAddPort, swRemovePort, MAX_PORTS } from "../net/fdb";

function netDev(h: i32): VDev | null {
  const p = devGet(h);
  if (p == 0) return null;
  const d = changetype<VDev>(p);
  return d.type == DEVICE_NET ? d : null;
}

/** Link `a` and `b` both ways (a == b: loopback). Any earlier link or switch port is dropped first. */
export function switchConnect(a: i32, b: i32): i32 {
  const da = netDev(a), db = netDev(b);
  if (da == null || db == null) return Status.ERR_BAD_HANDLE;
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
  if (p & PEER_SWITCH) swRemovePort(<i32>(p & 0xff), <u32>a);
  else if (p != 0) { const dp = netDev(<i32>p); if (dp != null && netOf(dp).peer == <u32>a) netOf(dp).peer = 0; }
  netOf(da).peer = 0;
  return Status.OK;
}

/** A new learning switch: its id, or -ERR_NO_MEMORY when all are in use. */
export function switchCreate(): i32 {
  const id = swCreate();
  return id == 0 ? -Status.ERR_NO_MEMORY : id;
}

/** Make device `h` a port of switch `sw`. */
export function switchAttach(sw: i32, h: i32): i32 {
  const d = netDev(h);
  if (d == null || !swValid(sw)) return Status.ERR_BAD_HANDLE;
  switchDisconnect(h);
  if (!swAddPort(sw, <u32>h)) return Status.ERR_FULL;
  netOf(d).peer = PEER_SWITCH | <u32>sw;
  return Status.OK;
}

/** Destroy switch `sw`: every port's frames go to the host again. */
export function switchDestroy(sw: i32): i32 {
  if (!swValid(sw)) return Status.ERR_BAD_HANDLE;
  // Bounded by MAX_PORTS.
  for (let i: u32 = 0; i < MAX_PORTS; i++) {
    const d = netDev(<i32>swPort(sw, i));
    if (d != null && netOf(d).peer == (PEER_SWITCH | <u32>sw)) netOf(d).peer = 0;
  }
  swDestroy(sw);
  return Status.OK;
}
