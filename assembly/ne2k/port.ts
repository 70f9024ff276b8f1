// The NE2000 as a port of the generic virtual switch (net/switch.ts): the
// switch hands frames to the receive path (rx.ts: the DP8390 address filter,
// the ring and the backlog, as for a host frame), and tx.ts sends into the
// switch instead of the host outbox while the device is a port.

import { Status } from "../core/status";
import { DeviceKind } from "../core/defs";
import { portKindRegister } from "../net/ports";
import { Ne2k, ne2kGet } from "./device";
import { LC_NE2K, lcHold, lcLeave } from "../core/lifecycle";
import { MAX_NE2K } from "./defs";
import { rxFromHost } from "./rx";

function portDeliver(h: u32, frame: usize, len: u32): void {
  // The port may be going away on another thread: hold it for the delivery.
  const p = lcHold(LC_NE2K, <i32>h, MAX_NE2K);
  if (p == 0) return;
  rxFromHost(changetype<Ne2k>(p), frame, len);
  lcLeave(LC_NE2K, <i32>h);
}

function portCheck(h: u32): i32 { return ne2kGet(<i32>h) != 0 ? Status.OK : Status.ERR_BAD_HANDLE; }

// The switch keeps which switch each port is on (net/fdb.ts swOf): nothing to record here.
function portBind(h: u32, sw: i32): void {}

/** Register the NE2000 as a kind of switch port (once per instance; repeats are harmless). */
export function ne2kSwitchRegister(): void { portKindRegister(DeviceKind.NE2000, portDeliver, portCheck, portBind); }
