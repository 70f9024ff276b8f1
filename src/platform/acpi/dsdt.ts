// The DSDT's AML: what a guest needs from the namespace to use the MADT's
// processors and the IOAPIC's PCI lines.
//
//   Scope (\_SB) {
//     Device (C000) { Name (_HID, "ACPI0007") Name (_UID, 0) }   // one per processor
//     ...
//     Device (PCI0) {
//       Name (_HID, EisaId ("PNP0A03")) Name (_UID, 0)
//       Name (_PRT, Package () { Package () { 0x0000FFFF, 0, Zero, 16 }, ... })
//     }
//   }
//
// Processors are Device (ACPI0007) objects (ACPI 6.x §8.4; the Processor
// opcode is deprecated), named C000..CFFF by index, each _UID equal to the
// ACPI Processor UID of its MADT structure — how an OS pairs the namespace
// object with a Local APIC or, past 254, a Local x2APIC entry (§5.2.12.12).
// The _PRT (§6.2.13) names a GSI for every (slot, INTx pin) directly (Source
// = 0), which an OS treats as level-triggered, active low and shareable.

import { device, integer, name, pkg, scope, string, eisaId, terms, type Aml } from "./aml.js";

/** Most processors the C000..CFFF names cover. */
export const MAX_DSDT_PROCESSORS = 4096;

/** One processor's namespace object. */
export function processorDevice(index: number, uid: number): Aml {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_DSDT_PROCESSORS) throw new RangeError(`processor index ${index} is outside 0..${MAX_DSDT_PROCESSORS - 1}`);
  const seg = "C" + index.toString(16).toUpperCase().padStart(3, "0");
  return device(seg, [name("_HID", string("ACPI0007")), name("_UID", integer(uid))]);
}

/** _PRT entries: slot 0..slots-1, pins INTA..INTD, each to `gsi(slot, pin)`. */
export function pciRoutingTable(slots: number, gsi: (slot: number, pin: number) => number): Aml {
  const entries: Aml[] = [];
  for (let slot = 0; slot < slots; slot++) {
    for (let pin = 0; pin < 4; pin++) {
      // Address: device number in the high word, 0xFFFF (any function) in the low word.
      entries.push(pkg([integer(((slot << 16) | 0xffff) >>> 0), integer(pin), integer(0), integer(gsi(slot, pin))]));
    }
  }
  return name("_PRT", pkg(entries));
}

/** The DSDT body: processors under \_SB, and the PCI root bridge with its routing table. */
export function dsdtAml(processorUids: readonly number[], pciSlots: number, gsi: (slot: number, pin: number) => number): Aml {
  if (pciSlots < 0 || pciSlots > 32 || !Number.isInteger(pciSlots)) throw new RangeError(`PCI slots ${pciSlots} outside 0..32`);
  const body: Aml[] = processorUids.map((uid, i) => processorDevice(i, uid));
  if (pciSlots > 0) {
    body.push(device("PCI0", [name("_HID", eisaId("PNP0A03")), name("_UID", integer(0)), pciRoutingTable(pciSlots, gsi)]));
  }
  // At the root of the table, so the relative name is \_SB itself (what the ASL compiler emits for Scope (\_SB)).
  return terms([scope("_SB", body)]);
}
