// Changes the host makes to a virtio-net device outside any guest request:
// the MAC address (virtio 1.2 §5.1.4: config-space `mac`, with a new
// config generation and a configuration change notification, §4.1.4.3,
// §2.5.1), the VLAN filter table, the offered MTU, and frames the host sends
// on the device's behalf into its network (the RARP an announce makes for a
// guest that cannot announce itself). The host runs them on a quiesced
// device (src/net/exclusive.ts); each one checks everything before it
// changes anything, so it either applies whole or returns a Status.

import { Status } from "../core/status";
import { S_DRIVER_OK } from "../virtio/defs";
import { VDev, devHold, devLeave, devSignalConfig } from "../virtio/device";
import { MIN_MTU, MAX_TX_FRAME } from "./defs";
import { netOf, cfgBuf, PEER_SWITCH, PEER_RING, TX_OUT_BYTES } from "./device";
import { filterSetMac, RF_VLAN } from "./filter";
import { netReceive } from "./rx";
import { switchForward } from "../net/switch";
import { portId } from "../net/ports";
import { DeviceKind } from "../core/defs";

/**
 * Set the device's MAC (wire order in the low 48 bits of `mac`): the
 * config-space `mac`, the receive filter's primary address and the address
 * a reset returns to. A driver past DRIVER_OK gets a configuration change
 * notification (§2.5.1: the generation changes, so a driver re-reading
 * the config sees a consistent new address).
 */
export function netHostSetMac(d: VDev, mac: u64): i32 {
  if ((mac >> 48) != 0 || (mac & 1) != 0 || mac == 0) return Status.ERR_INVALID_ARG;
  const n = netOf(d);
  n.mac = mac; n.origMac = mac;
  store<u64>(cfgBuf, mac);
  filterSetMac(n.filter, cfgBuf);
  d.configGen++;
  if ((d.status & S_DRIVER_OK) != 0) devSignalConfig(d);
  return Status.OK;
}

/**
 * Replace the VLAN filter table with the 4096-bit map of 512 bytes at `src`
 * (bit v of byte v >> 3 set: VLAN id v passes). The table is the one the
 * driver's VLAN_ADD / VLAN_DEL edit; it filters only when CTRL_VLAN was
 * negotiated (§5.1.6.5.3) and a device reset clears it.
 */
export function netHostSetVlanTable(d: VDev, src: usize): i32 {
  memory.copy(netOf(d).filter + RF_VLAN, src, 512);
  return Status.OK;
}

/**
 * Change the offered MTU. A driver reads `mtu` while it initialises the
 * device (§5.1.5, with VIRTIO_NET_F_MTU) and sizes its receive buffers by
 * it (§5.1.6.3.1), so the value may change only while the device is reset
 * (status 0): ERR_BAD_STATE otherwise. It cannot exceed the MTU the device
 * was created with (the backlog's slots are sized by it): ERR_INVALID_ARG.
 */
export function netHostSetMtu(d: VDev, mtu: u32): i32 {
  const n = netOf(d);
  if (mtu < MIN_MTU || mtu + 18 + 4 > n.slotBytes) return Status.ERR_INVALID_ARG;
  if (d.status != 0) return Status.ERR_BAD_STATE;
  n.mtu = mtu;
  n.maxFrame = mtu + 18;
  return Status.OK;
}

/**
 * Send the `len`-byte frame at `frame` into the device's network as if its
 * guest had sent it: to its switch (which learns the source), its link
 * peer, or the host outbox. ERR_FULL when the outbox has no room,
 * ERR_UNSUPPORTED in ring mode (the ring belongs to the backend).
 */
export function netHostSend(d: VDev, frame: usize, len: u32): i32 {
  const n = netOf(d);
  if (len < 14 || len > MAX_TX_FRAME) return Status.ERR_INVALID_ARG;
  if (n.peer & PEER_RING) return Status.ERR_UNSUPPORTED;
  if (n.peer & PEER_SWITCH) return switchForward(<i32>(n.peer & 0xff), portId(DeviceKind.VIRTIO_NET, d.handle), frame, len) ? Status.OK : Status.ERR_BAD_HANDLE;
  if (n.peer != 0) {
    // The peer may be going away on another thread: hold it for the delivery.
    const p = devHold(<i32>n.peer);
    if (p != 0) { netReceive(changetype<VDev>(p), frame, len); devLeave(changetype<VDev>(p)); }
    return Status.OK;
  }
  if (TX_OUT_BYTES - n.txOutLen < len + 4) return Status.ERR_FULL;
  const o = n.txOut + n.txOutLen;
  store<u32>(o, len);
  memory.copy(o + 4, frame, len);
  n.txOutLen += (len + 4 + 3) & ~3;
  n.txOutFrames++;
  return Status.OK;
}
