// The firmware tables of a Machine's topology: its vCPUs (APIC ID = vCPU
// index), its IOAPIC (ID from `ioapic.id`, window at 0xFEC00000, GSIs 0..23,
// PCI INTx on the router's swizzle) and its guest RAM (one range from 0).

import type { Machine } from "../machine/machine.js";
import { valueOf } from "../config/schema.js";
import { IoApicDevice } from "../devices/ioapic/machine.js";
import { IOAPIC_DEFAULT_BASE } from "../devices/ioapic/defs.js";
import { buildAcpiTables, type AcpiOptions, type AcpiTables } from "./acpi/acpi.js";
import { buildSmbiosTables, type SmbiosOptions, type SmbiosTables } from "./smbios/smbios.js";

/** Where the tables go and what the machine does not say about itself. */
export interface MachineFirmwareOptions {
  acpi: Omit<AcpiOptions, "cpus" | "ioapics">;
  smbios: Omit<SmbiosOptions, "processors" | "memory"> & { processors?: Partial<SmbiosOptions["processors"]> };
}

/** ACPI and SMBIOS tables for `m`; SMBIOS topology defaults to one socket per vCPU. */
export function machineFirmwareTables(m: Machine, o: MachineFirmwareOptions): { acpi: AcpiTables; smbios: SmbiosTables } {
  const cpus = Number(valueOf(m.config, "cpus"));
  const io = [...m.devicesByNode.values()].find((d): d is IoApicDevice => d instanceof IoApicDevice);
  const acpi = buildAcpiTables({
    ...o.acpi, cpus,
    ioapics: io ? [{ id: io.ioapic.id, address: IOAPIC_DEFAULT_BASE, gsiBase: io.ioapic.gsiBase }] : [],
  });
  const p = o.smbios.processors ?? {};
  const smbios = buildSmbiosTables({
    ...o.smbios,
    processors: { ...p, sockets: p.sockets ?? cpus / ((p.coresPerSocket ?? 1) * (p.threadsPerCore ?? 1)) },
    memory: [{ start: 0, bytes: m.core.guest.size }],
  });
  return { acpi, smbios };
}
