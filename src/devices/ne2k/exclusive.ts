// The NE2000 as an exclusive-operation target (src/net/exclusive.ts).
//
// - mac: PAR0-5 (the address the receiver matches) and the station address
//   PROM a driver reads at probe (DP8390D "Physical Address Registers").
// - the VLAN filter: the DP8390 has none: refused with ERR_UNSUPPORTED.
// - mtu: none either (frames up to 1514 bytes): ERR_UNSUPPORTED.
// The chip cannot announce itself: the host sends the RARP to onTransmit.

import { Status } from "../../status.js";
import type { ExclusiveNic } from "../../net/exclusive.js";
import type { Ne2k } from "./device.js";

/** The NE2000 `dev` as an ExclusiveNic. */
export function ne2kExclusive(dev: Ne2k): ExclusiveNic {
  const e = dev.core.exports;
  return {
    name: dev.name,
    quiesce: () => dev.quiesce(),
    resume: () => dev.resume(),
    backlogLength: () => dev.backlogLength,
    rxDropped: () => dev.counters().rxDropped,
    saveState: () => dev.saveState(),
    restoreState: (blob) => dev.restoreState(blob),
    busy: () => 0,
    guestAnnounce: () => false,
    sendAs: (frame) => { const cb = dev.onTransmit; if (!cb) return Status.ERR_BAD_STATE; cb(frame); return Status.OK; },
    applyMac: (mac) => e.ne2k_set_mac(dev.handle, (mac[0] << 8) | mac[1], ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0),
    vlanTable: { refused: "the DP8390 has no VLAN filter", status: Status.ERR_UNSUPPORTED },
    mtu: { refused: "the DP8390 has no MTU setting (frames up to 1514 bytes)", status: Status.ERR_UNSUPPORTED },
  };
}
