// Where a driver notification goes (virtio 1.2 §5.1.2: receiveq_i = 2i,
// transmitq_i = 2i+1, controlq = 2N), the kick-all after a restore or resume,
// quiesce, and the registration that lets the virtio transports reach
// virtio-net (virtio/dispatch.ts).

import { VCounter, TRANSPORT_PCI } from "../virtio/defs";
import { DEVICE_NET, NET_F_CTRL_VQ, NET_CONFIG_BYTES, NetCounter } from "./defs";
import { VDev, devQueue, devHas, devLive, count } from "../virtio/device";
import { queueRewind } from "../virtio/queue";
import { dispRegister } from "../virtio/dispatch";
import { netOf, netCtrlQueue, netReset, netFeaturesOk, netFeaturesAccepted, netConfigRead, netConfigWrite, netScratch } from "./device";
import { sgReserve } from "../virtio/chain";
import { pciReserve } from "../virtio/pci";
import { netTx } from "./tx";
import { netDrainBacklog } from "./rx";
import { netCtrl } from "./ctrl";

/** PCI class code: network controller, Ethernet. */
const NET_PCI_CLASS: u32 = 0x020000;

/** Register virtio-net with the virtio transports (before this instance's first create). False without memory. */
export function netRegister(): bool {
  const t = dispRegister(DEVICE_NET);
  if (t == null) return false;
  t.notify = netNotify; t.reset = netReset;
  t.featuresOk = netFeaturesOk; t.featuresAccepted = netFeaturesAccepted;
  t.configRead = netConfigRead; t.configWrite = netConfigWrite;
  t.configBytes = NET_CONFIG_BYTES; t.pciClass = NET_PCI_CLASS;
  t.prepare = netPrepare;
  return true;
}

/** This instance's scratch for virtio-net work on devices like `d` (an instance attached to the VM makes it on its first call). */
export function netPrepare(d: VDev): bool { return netScratch() && sgReserve() && (d.transport != TRANSPORT_PCI || pciReserve()); }

/** A driver notification for queue `qi` (already < numQueues). */
export function netNotify(d: VDev, qi: u32): void {
  count(d, VCounter.KICKS);
  const n = netOf(d);
  if (!devLive(d) || n.quiesced != 0) { count(d, NetCounter.KICKS_IGNORED); return; }
  if (devHas(d, NET_F_CTRL_VQ) && qi == netCtrlQueue(d)) { netCtrl(d); return; }
  if (qi >= 2 * n.maxPairs) { count(d, NetCounter.KICKS_IGNORED); return; }
  if (qi & 1) netTx(d, qi);
  else netDrainBacklog(d);
}

/** Process every queue the device could have missed a kick for (after restore or resume). */
export function netKickAll(d: VDev): void {
  const n = netOf(d);
  if (!devLive(d) || n.quiesced != 0) return;
  netDrainBacklog(d);
  for (let p: u32 = 0; p < n.maxPairs; p++) if (devQueue(d, 2 * p + 1).ready) netTx(d, 2 * p + 1);
  if (devHas(d, NET_F_CTRL_VQ)) { const c = netCtrlQueue(d); if (c < d.numQueues && devQueue(d, c).ready) netCtrl(d); }
}

/** Stop processing and give back fetched-but-unused chains (Firecracker prepare_save). */
export function netQuiesce(d: VDev): void {
  netOf(d).quiesced = 1;
  for (let i: u32 = 0; i < d.numQueues; i++) {
    const q = devQueue(d, i);
    if (q.inflight != 0) queueRewind(q, q.inflight);
  }
}

export function netResume(d: VDev): void {
  netOf(d).quiesced = 0;
  netKickAll(d);
}

