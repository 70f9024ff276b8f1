// The 82540EM as a port of the generic virtual switch (net/switch.ts): the
// switch hands frames to the receive path (rx.ts: the filter, the backlog and
// the ring, as for a host frame), and tx.ts sends into the switch instead of
// the host outbox while the device is a port. A frame from the switch
// arrives outside any access of this device's own, so it is received at the
// last guest time the device saw (its moderation timers count from there).

import { Status } from "../core/status";
import { DeviceKind } from "../core/defs";
import { portKindRegister } from "../net/ports";
import { E1k, e1kGet } from "./device";
import { LC_E1000, lcHold, lcLeave } from "../core/lifecycle";
import { E1K_MAX_DEVICES } from "./regs";
import { rxReceive } from "./rx";
import { irqUpdate } from "./irq";

function portDeliver(h: u32, frame: usize, len: u32): void {
  // The port may be going away on another thread: hold it for the delivery.
  const p = lcHold(LC_E1000, <i32>h, E1K_MAX_DEVICES);
  if (p == 0) return;
  const d = changetype<E1k>(p);
  rxReceive(d, frame, len, d.lastNow);
  irqUpdate(d, d.lastNow);
  lcLeave(LC_E1000, <i32>h);
}

function portCheck(h: u32): i32 { return e1kGet(<i32>h) != 0 ? Status.OK : Status.ERR_BAD_HANDLE; }

// The switch keeps which switch each port is on (net/fdb.ts swOf): nothing to record here.
function portBind(h: u32, sw: i32): void {}

/** Register the 82540EM as a kind of switch port (once per instance; repeats are harmless). */
export function e1kSwitchRegister(): void { portKindRegister(DeviceKind.E1000, portDeliver, portCheck, portBind); }
