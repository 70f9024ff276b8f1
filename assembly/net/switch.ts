// In-wasm links between virtio-net devices: a transmitted frame goes straight
// into the peer's receive path (filter, buffers, backlog) without leaving the
// module. A device linked to itself is a loopback.

import { Status } from "../core/status";
import { devGet } from "../virtio/device";
import { VDev } from "../virtio/device";
import { netOf } from "./device";
import { DEVICE_NET } from "../virtio/defs";

function netDev(h: i32): VDev | null {
  const p = devGet(h);
  if (p == 0) return null;
  const d = changetype<VDev>(p);
  return d.type == DEVICE_NET ? d : null;
}

/** Link `a` and `b` both ways (a == b: loopback). Either may be relinked later. */
export function switchConnect(a: i32, b: i32): i32 {
  const da = netDev(a), db = netDev(b);
  if (da == null || db == null) return Status.ERR_BAD_HANDLE;
  switchDisconnect(a);
  switchDisconnect(b);
  netOf(da).peer = <u32>b;
  netOf(db).peer = <u32>a;
  return Status.OK;
}

/** Unlink `a` (and its peer); frames go to the host again. */
export function switchDisconnect(a: i32): i32 {
  const da = netDev(a);
  if (da == null) return Status.ERR_BAD_HANDLE;
  const p = netOf(da).peer;
  if (p != 0) { const dp = netDev(<i32>p); if (dp != null && netOf(dp).peer == <u32>a) netOf(dp).peer = 0; }
  netOf(da).peer = 0;
  return Status.OK;
}
