// The virtio-net device's event counters, by name: the transport's
// (assembly/virtio/defs.ts VCounter) then virtio-net's own
// (assembly/virtio-net/defs.ts NetCounter), as u64 words at vnet_counters_ptr.

import { camelTable } from "../../tables.js";
import { VirtioDefs, VirtioNetDefs } from "../../generated/constants.js";

/** Name → index of the device's counters: the transport's (assembly/virtio/defs.ts VCounter), then virtio-net's (assembly/virtio-net/defs.ts NetCounter). */
export const VIRTIO_NET_COUNTERS: Readonly<Record<string, number>> = { ...camelTable(VirtioDefs.VCounter), ...camelTable(VirtioNetDefs.NetCounter) };
