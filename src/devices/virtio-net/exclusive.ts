// virtio-net as an exclusive-operation target (src/net/exclusive.ts): the
// host-side changes of assembly/virtio-net/host-ctl.ts on the quiesced
// device.
//
// What may change live (virtio 1.2 §5.1.4):
// - mac: yes. Config-space `mac`, the receive filter's primary address and
//   the reset address change together; the config generation moves and a
//   driver past DRIVER_OK gets a configuration change notification.
// - the VLAN filter: yes; it is the table VLAN_ADD / VLAN_DEL edit, applied
//   when the driver negotiated CTRL_VLAN (§5.1.6.5.3).
// - mtu: only while the device is reset (status 0). A driver reads it while
//   it initialises the device and sizes its receive buffers by it
//   (§5.1.6.3.1); afterwards the change is refused with ERR_BAD_STATE, and
//   above the MTU the device was created with (its backlog slots) with
//   ERR_INVALID_ARG.
// The announce is the driver's (GUEST_ANNOUNCE, §5.1.6.5.4) when it
// negotiated it, else a RARP sent into the device's switch, link or host
// outbox on its behalf.

import { Status } from "../../status.js";
import { VirtioNetDefs } from "../../generated/constants.js";
import { deviceBasics, type ExclusiveNic } from "../../net/exclusive.js";
import { macWords } from "../../net/mac.js";
import type { VirtioNet } from "./device.js";

/** The virtio-net device `dev` as an ExclusiveNic. */
export function virtioNetExclusive(dev: VirtioNet): ExclusiveNic {
  const e = dev.core.exports;
  const withBytes = (name: "net frame" | "net filter table", bytes: Uint8Array, fn: (off: number) => number): number => {
    if (bytes.length > e.io_size()) return Status.ERR_INVALID_ARG;
    return dev.core.ioBuffer.use(name, 0, bytes.length, (w) => { w.bytes().set(bytes); return fn(w.offset); });
  };
  return {
    ...deviceBasics(dev),
    // Calls in progress on any thread (the wasm reference count), and the host delivering what the device produced.
    busy: () => dev.inFlight + (dev.delivering ? 1 : 0),
    guestAnnounce: () => dev.announce() === Status.OK,
    sendAs: (frame) => {
      const s = withBytes("net frame", frame, (off) => e.vnet_send(dev.handle, off, frame.length));
      dev.flush();
      return s;
    },
    applyMac: (mac) => e.vnet_set_mac(dev.handle, ...macWords(mac)),
    vlanTable: (map) => withBytes("net filter table", map, (off) => e.vnet_set_vlan_table(dev.handle, off)),
    mtu: {
      check: (mtu) => {
        if (!Number.isInteger(mtu) || mtu < VirtioNetDefs.MIN_MTU || mtu > dev.createdMtu) return { status: Status.ERR_INVALID_ARG, reason: `mtu must be ${VirtioNetDefs.MIN_MTU}..${dev.createdMtu} (the MTU the device was created with)` };
        if (dev.status !== 0) return { status: Status.ERR_BAD_STATE, reason: "mtu is read by the driver while it initialises the device (virtio 1.2 §5.1.5): it may change only while the device is reset" };
        return null;
      },
      apply: (mtu) => e.vnet_set_mtu(dev.handle, mtu),
    },
  };
}
