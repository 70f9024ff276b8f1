// What a virtio-net device costs in linear memory, so a host can check that
// the devices of a machine fit before it creates any of them (and refuse the
// configuration naming the key, instead of failing halfway with
// ERR_NO_MEMORY). Each module that carves memory for the device states its
// own cost next to its allocations; test/net/sizing.test.ts pins the sum
// against what a device really takes.

import { Status } from "../core/status";
import { TRANSPORT_PCI, TRANSPORT_MMIO, MAX_QUEUE_SIZE } from "../virtio/defs";
import { devCost } from "../virtio/device";
import { pciCost } from "../virtio/pci";
import { sgCost } from "../virtio/chain";
import { dispCost } from "../virtio/dispatch";
import { MAX_PAIRS, MIN_MTU, MAX_MTU, MAX_BACKLOG } from "./defs";
import { netScratchCost, netStateBytes } from "./device";
import { swCost } from "../net/fdb";

/**
 * Bytes of linear memory a virtio-net device with these parameters can take
 * over its life, in an instance that has none yet: the device and its
 * transport, the per-instance scratch and tables its first use carves (switch
 * tables included), with worst-case alignment. -Status when vnet_create would
 * refuse the parameters.
 */
export function netMemoryBytes(transport: u32, pairs: u32, mtu: u32, queueSize: u32, backlog: u32): i64 {
  if (transport != TRANSPORT_PCI && transport != TRANSPORT_MMIO) return -Status.ERR_INVALID_ARG;
  if (pairs < 1 || pairs > MAX_PAIRS || mtu < MIN_MTU || mtu > MAX_MTU) return -Status.ERR_INVALID_ARG;
  if (queueSize == 0 || queueSize > MAX_QUEUE_SIZE || (queueSize & (queueSize - 1)) != 0) return -Status.ERR_INVALID_ARG;
  if (backlog < 1 || backlog > MAX_BACKLOG) return -Status.ERR_INVALID_ARG;
  let b = devCost(transport, 2 * pairs + 1, netStateBytes(mtu, backlog)) + dispCost() + netScratchCost() + sgCost() + swCost();
  if (transport == TRANSPORT_PCI) b += pciCost();
  return <i64>b;
}
