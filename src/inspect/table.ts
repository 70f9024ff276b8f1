// The inspector's decoder table: the core's and each device room's decoder
// (src/devices/<dev>/inspect.ts), as the machine's registry composes device
// factories. A device room adds its line here; an embedder's own device
// registers into a table of its own (`defaultDecoders().register(...)`).

import { apicDecoder } from "../devices/apic/inspect.js";
import { e1000Decoder } from "../devices/e1000/inspect.js";
import { ioapicDecoder } from "../devices/ioapic/inspect.js";
import { memtestDecoder } from "../devices/memtest/inspect.js";
import { ne2kDecoder } from "../devices/ne2k/inspect.js";
import { virtioNetDecoder } from "../devices/virtio-net/inspect.js";
import { v86MachineDecoder } from "../adapters/v86/inspect.js";
import { pciBridgeDecoder, sriovDecoder } from "../platform/pci/inspect.js";
import { guestClockDecoder, guestMemoryDecoder } from "./core.js";
import { DecoderTable } from "./inspect.js";

/** A table with every decoder vmdev ships. */
export function defaultDecoders(): DecoderTable {
  return new DecoderTable()
    .register(guestMemoryDecoder)
    .register(guestClockDecoder)
    .register(virtioNetDecoder)
    .register(e1000Decoder)
    .register(ne2kDecoder)
    .register(apicDecoder)
    .register(ioapicDecoder)
    .register(memtestDecoder)
    .register(v86MachineDecoder)
    .register(pciBridgeDecoder)
    .register(sriovDecoder);
}
