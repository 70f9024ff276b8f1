// Inspector decoder of an IOAPIC saved state (assembly/ioapic/state.ts): ID,
// IOREGSEL, pin levels and each redirection entry decoded (82093AA datasheet
// §3.2.4: vector, delivery mode, destination mode, polarity, remote IRR,
// trigger, mask, destination).

import { CoreDefs, IoapicDefs } from "../../generated/constants.js";
import { DecodeError, hex, part, type Fields } from "../../inspect/fields.js";
import type { DeviceDecoder } from "../../inspect/types.js";

/** Tags of assembly/ioapic/state.ts. */
export const IoapicTag = { VERSION: 1, GSI_BASE: 2, PINS: 3, ID: 4, IOREGSEL: 5, RTE: 6, LEVEL: 7 } as const;
const DELIVERY = ["fixed", "lowest-priority", "SMI", "reserved(3)", "NMI", "INIT", "reserved(6)", "ExtINT"];

function fieldName(tag: number): string | undefined {
  const e = Object.entries(IoapicTag).find(([, v]) => v === tag);
  return e ? e[0].toLowerCase() : undefined;
}

function rtes(f: Fields, gsiBase: number | undefined) {
  const b = f.bytes(IoapicTag.RTE);
  if (b.length % 8 !== 0 || b.length > 256 * 8) throw new DecodeError(`redirection table of ${b.length} bytes is not 1..256 entries of 8`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Array.from({ length: b.length / 8 }, (_, pin) => {
    const lo = dv.getUint32(pin * 8, true), hi = dv.getUint32(pin * 8 + 4, true);
    return {
      pin, ...(gsiBase !== undefined ? { gsi: gsiBase + pin } : {}),
      value: hex((BigInt(hi) << 32n) | BigInt(lo), 16),
      vector: lo & IoapicDefs.RTE_VECTOR_MASK,
      deliveryMode: DELIVERY[(lo >>> IoapicDefs.RTE_DM_SHIFT) & 7],
      destinationMode: (lo & IoapicDefs.RTE_DEST_LOGICAL) ? "logical" : "physical",
      deliveryStatus: (lo & IoapicDefs.RTE_DELIVERY_STATUS) ? "send-pending" : "idle",
      polarity: (lo & IoapicDefs.RTE_POLARITY_LOW) ? "low" : "high",
      remoteIrr: (lo & IoapicDefs.RTE_REMOTE_IRR) !== 0,
      trigger: (lo & IoapicDefs.RTE_LEVEL) ? "level" : "edge",
      masked: (lo & IoapicDefs.RTE_MASKED) !== 0,
      destination: hi >>> 24,
    };
  });
}

function decode(f: Fields) {
  const gsiBase = part(() => f.u32(IoapicTag.GSI_BASE));
  return {
    version: part(() => hex(f.u32(IoapicTag.VERSION), 2)),
    gsiBase,
    pins: part(() => f.u32(IoapicTag.PINS)),
    id: part(() => f.u32(IoapicTag.ID)),
    ioregsel: part(() => hex(f.u32(IoapicTag.IOREGSEL), 2)),
    // Electrical levels of the pins: an active-low entry is asserted when its line is low.
    highPins: part(() => { const l = f.u32(IoapicTag.LEVEL); return Array.from({ length: 32 }, (_, i) => i).filter((i) => (l >>> i) & 1); }),
    redirection: part(() => rtes(f, typeof gsiBase === "number" ? gsiBase : undefined)),
  };
}

/** The IOAPIC decoder for the inspector's table. */
export const ioapicDecoder: DeviceDecoder = { kind: CoreDefs.DeviceKind.IOAPIC, name: "ioapic", fieldName, decode: (f) => decode(f) };
