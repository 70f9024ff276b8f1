// The one place that knows which device type sits behind a transport.
// Transports call these; each device type supplies its notify, reset,
// feature checks and device-specific configuration space.

import { S_FEATURES_OK } from "./defs";
import { VDev, devResetCore, devWriteStatus } from "./device";
import { DEVICE_NET, NET_CONFIG_BYTES } from "../virtio-net/defs";
import { netNotify, netReset, netFeaturesOk, netFeaturesAccepted, netConfigRead, netConfigWrite } from "../net/device";

export function dispNotify(d: VDev, qi: u32): void {
  if (d.type == DEVICE_NET) netNotify(d, qi);
}

/** Full device reset (§2.4): transport registers, queues and device-type state. */
export function dispReset(d: VDev): void {
  devResetCore(d);
  if (d.type == DEVICE_NET) netReset(d);
}

/** Bytes of device-specific configuration space. */
export function dispConfigBytes(d: VDev): u32 {
  return d.type == DEVICE_NET ? NET_CONFIG_BYTES : 0;
}

export function dispConfigRead(d: VDev, off: u32, width: u32): u32 {
  return d.type == DEVICE_NET ? netConfigRead(d, off, width) : 0;
}

export function dispConfigWrite(d: VDev, off: u32, width: u32, v: u32): void {
  if (d.type == DEVICE_NET) netConfigWrite(d, off, width, v);
}

/** Device status write: 0 resets; FEATURES_OK is checked by the transport core and the device type. */
export function dispWriteStatus(d: VDev, v: u32): void {
  const before = d.status;
  const acceptable = d.type == DEVICE_NET ? netFeaturesOk(d) : true;
  if (devWriteStatus(d, v, acceptable)) { dispReset(d); return; }
  if ((before & S_FEATURES_OK) == 0 && (d.status & S_FEATURES_OK) != 0) {
    if (d.type == DEVICE_NET) netFeaturesAccepted(d);
  }
}
