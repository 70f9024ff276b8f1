// The virtio-net device's event counters, by name: the generic virtio ones
// (assembly/virtio/device.ts VCounter) then virtio-net's own
// (assembly/net/device.ts NetCounter), as u64 words at vnet_counters_ptr.

/** Index → name of the device's counters (assembly/virtio/device.ts VCounter, assembly/net/device.ts NetCounter). */
export const VIRTIO_NET_COUNTERS: Readonly<Record<string, number>> = {
  badAccess: 0, queueRejected: 1, featuresRejected: 2, needsReset: 3, irqRaised: 4, irqSuppressed: 5,
  irqMasked: 6, kicks: 7, availJump: 8, badHead: 9, irqNoVector: 10, badRegisterValue: 11, ringInHole: 12,
  txFrames: 16, txBytes: 17, rxFrames: 18, rxBytes: 19, rxFiltered: 20, rxBacklogged: 21, rxDropped: 22,
  txMalformed: 23, rxMalformed: 24, ctrlMalformed: 25, ctrlOk: 26, ctrlErr: 27, rxInvalid: 28,
  rxShortBuffer: 29, announces: 30, txStalls: 31, rxNoBuffer: 32, kicksIgnored: 33, backlogDrained: 34, txSwitchDropped: 35,
};
