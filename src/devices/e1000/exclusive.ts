// The 82540EM as an exclusive-operation target (src/net/exclusive.ts).
//
// - mac: RAR[0] (with AV) and the EEPROM's words 00h-02h with the checksum
//   fixed (8254x manual §5.6.1: a driver that reloads the EEPROM, or a
//   reset that reloads RAR[0] from it, sees the new address).
// - the VLAN filter: the VFTA (§13.5.1); it filters when the driver set
//   RCTL.VFE.
// - mtu: the chip has none (the driver's RCTL.LPE decides long frames):
//   refused with ERR_UNSUPPORTED.
// The chip cannot announce itself: the host sends the RARP to onTransmit.

import { Status } from "../../status.js";
import { deviceBasics, type ExclusiveNic } from "../../net/exclusive.js";
import { macWords } from "../../net/mac.js";
import type { E1000 } from "./device.js";

/** The e1000 `dev` as an ExclusiveNic. */
export function e1000Exclusive(dev: E1000): ExclusiveNic {
  const e = dev.core.exports;
  return {
    ...deviceBasics(dev),
    // Calls in progress on the device on any thread (its wasm reference count).
    busy: () => dev.inFlight,
    guestAnnounce: () => false,
    // Into its switch while it is a port, else to onTransmit.
    sendAs: (frame) => dev.sendAsGuest(frame),
    applyMac: (mac) => e.e1k_set_mac(dev.handle, ...macWords(mac)),
    vlanTable: (map) => dev.core.ioBuffer.use("net filter table", 0, map.length, (w) => { w.bytes().set(map); return e.e1k_set_vfta(dev.handle, w.offset); }),
    mtu: { refused: "the 82540EM has no MTU setting: the driver's RCTL.LPE decides long frames", status: Status.ERR_UNSUPPORTED },
  };
}
