// The NE2000 as an exclusive-operation target (src/net/exclusive.ts).
//
// - mac: PAR0-5 (the address the receiver matches) and the station address
//   PROM a driver reads at probe (DP8390D "Physical Address Registers").
// - the VLAN filter: the DP8390 has none: refused with ERR_UNSUPPORTED.
// - mtu: none either (frames up to 1514 bytes): ERR_UNSUPPORTED.
// The chip cannot announce itself: the host sends the RARP to onTransmit.

import { Status } from "../../status.js";
import { deviceBasics, type ExclusiveNic } from "../../net/exclusive.js";
import { macWords } from "../../net/mac.js";
import type { Ne2k } from "./device.js";

/** The NE2000 `dev` as an ExclusiveNic. */
export function ne2kExclusive(dev: Ne2k): ExclusiveNic {
  const e = dev.core.exports;
  return {
    ...deviceBasics(dev),
    // Calls in progress on the device on any thread (its wasm reference count).
    busy: () => dev.inFlight,
    guestAnnounce: () => false,
    // Into its switch while it is a port, else to onTransmit.
    sendAs: (frame) => dev.sendAsGuest(frame),
    applyMac: (mac) => e.ne2k_set_mac(dev.handle, ...macWords(mac)),
    vlanTable: { refused: "the DP8390 has no VLAN filter", status: Status.ERR_UNSUPPORTED },
    mtu: { refused: "the DP8390 has no MTU setting (frames up to 1514 bytes)", status: Status.ERR_UNSUPPORTED },
  };
}
