// ACPI tables for a machine's topology, as bytes an embedder's firmware (or a
// loader that has none) copies into guest memory: RSDP → XSDT (and RSDT) →
// FADT → FACS, DSDT; MADT. Off the hot path: built once per machine.
//
// Layout from `base` (16-byte aligned), each table 8-byte aligned and the FACS
// 64-byte aligned (§5.2.10):
//   RSDP (unless `rsdpAddress` puts it elsewhere, e.g. the BIOS area the OS
//   scans, 0xE0000–0xFFFFF), FACS, DSDT, FADT, MADT, XSDT, RSDT.
// `image` is that whole range as one buffer; `tables` lists each table with
// its address. The RSDT is written only when every table lies below 4 GiB.
//
// What the tables say (ACPI 6.3):
//  * MADT: Local APIC entries for APIC IDs below 255, Local x2APIC entries
//    for 255 and up, the IOAPICs, ISA IRQ 0 on GSI 2 and the SCI as level /
//    active high, the LINT1 NMI of every processor.
//  * FADT: not hardware-reduced; the SCI, PM1a event/control blocks and PM
//    timer at the I/O ports the embedder emulates; no SMI command port (the
//    hardware is in ACPI mode from reset); C2/C3 not supported; physical
//    APIC destination mode forced past 8 processors.
//  * DSDT: the processors as ACPI0007 devices with _UID = their MADT UID; the
//    PCI root bridge with a _PRT naming the GSI of each slot's INTA..INTD
//    (default: the machine's swizzle, pciIntxGsi).

import { pciIntxGsi } from "../../machine/interrupts.js";
import { IOAPIC_DEFAULT_BASE } from "../../devices/ioapic/defs.js";
import {
  DEFAULT_OEM, INTI, rsdp, xsdt, rsdt, facs, fadt, madt, definitionBlock, type AcpiOem, type MadtProcessor, type MadtIoApic, type MadtOverride,
} from "./tables.js";
import { dsdtAml, MAX_DSDT_PROCESSORS } from "./dsdt.js";

/** One processor: its (x2)APIC ID and ACPI Processor UID (default: its index). */
export interface AcpiProcessor { apicId: number; uid?: number; enabled?: boolean }

/** What to describe and where to put it. */
export interface AcpiOptions {
  /** Guest-physical address of the first byte of the image (16-byte aligned). */
  base: number | bigint;
  /** Where the RSDP goes, if not at `base` (16-byte aligned). */
  rsdpAddress?: number | bigint;
  /** A processor count (APIC IDs 0..n-1, UIDs equal) or the processors themselves. */
  cpus: number | readonly AcpiProcessor[];
  /** IOAPICs (default: one, ID 0, at 0xFEC00000, GSIs 0..23). */
  ioapics?: readonly MadtIoApic[];
  /** Local APIC address (default 0xFEE00000). */
  localApicAddress?: number;
  /** A dual 8259 is present (MADT PCAT_COMPAT; default true). */
  pcatCompat?: boolean;
  /** ISA interrupt source overrides (default: IRQ 0 → GSI 2 conforming, SCI IRQ → same GSI level/active high). */
  overrides?: readonly MadtOverride[];
  /** SCI interrupt (ISA IRQ, default 9). */
  sciInterrupt?: number;
  /** I/O ports of the fixed ACPI hardware (defaults 0x600 PM1a event, 0x604 PM1a control, 0x608 PM timer, no GPE0). */
  pm?: { pm1aEventBlock?: number; pm1aControlBlock?: number; pmTimerBlock?: number; gpe0Block?: number; gpe0BlockLength?: number; timer32?: boolean };
  /** Reset register (an I/O port and value, e.g. 0xCF9 and 6); default none. */
  reset?: { port: number; value: number };
  /** IAPC_BOOT_ARCH (§5.2.9.3): default LEGACY_DEVICES | 8042. */
  bootArch?: number;
  /** PCI slots the _PRT covers (default 32; 0 leaves out the PCI root bridge). */
  pciSlots?: number;
  /** GSI of INTx `pin` of `slot` (default pciIntxGsi: 16 + ((slot + pin) mod 4)). */
  pciGsi?: (slot: number, pin: number) => number;
  oem?: Partial<AcpiOem>;
}

/** A placed table. */
export interface PlacedTable { signature: string; address: bigint; bytes: Uint8Array }

/** The tables and their layout. */
export interface AcpiTables {
  /** The RSDP: point the OS here (EFI configuration table, or the BIOS area). */
  rsdp: PlacedTable;
  /** Every other table, in layout order. */
  tables: PlacedTable[];
  /** Everything placed from `base` (the RSDP included when it lies there) as one buffer. */
  image: { address: bigint; bytes: Uint8Array };
}

/** IAPC_BOOT_ARCH bits (§5.2.9.3). */
export const BOOT_ARCH = { legacyDevices: 1, i8042: 2, vgaNotPresent: 4, msiNotSupported: 8, aspmControls: 16, cmosRtcNotPresent: 32 } as const;
/** FADT flags used here (§5.2.9, Table 5-35). */
export const FADT_FLAGS = { wbinvd: 1 << 0, procC1: 1 << 2, pwrButton: 1 << 4, slpButton: 1 << 5, tmrValExt: 1 << 8, resetRegSup: 1 << 10, forceApicPhysical: 1 << 19 } as const;

const align = (a: bigint, n: bigint) => (a + n - 1n) & ~(n - 1n);

function processors(cpus: AcpiOptions["cpus"]): Required<AcpiProcessor>[] {
  if (typeof cpus === "number" && (!Number.isInteger(cpus) || cpus < 1)) throw new RangeError(`cpus ${cpus} is not a positive count`);
  const list: readonly AcpiProcessor[] = typeof cpus === "number" ? Array.from({ length: cpus }, (_, i) => ({ apicId: i })) : cpus;
  if (list.length === 0 || list.length > MAX_DSDT_PROCESSORS) throw new RangeError(`${list.length} processors: want 1..${MAX_DSDT_PROCESSORS}`);
  const out = list.map((c, i) => ({ apicId: c.apicId, uid: c.uid ?? i, enabled: c.enabled ?? true }));
  const ids = new Set<number>(), uids = new Set<number>();
  for (const c of out) {
    if (!Number.isInteger(c.apicId) || c.apicId < 0 || c.apicId > 0xfffffffe) throw new RangeError(`APIC ID ${c.apicId} outside 0..0xFFFFFFFE`);
    if (!Number.isInteger(c.uid) || c.uid < 0 || c.uid > 0xfffffffe) throw new RangeError(`processor UID ${c.uid} outside 0..0xFFFFFFFE`);
    // A Local APIC structure holds an 8-bit UID, and 0xFF means "all processors" in the NMI structure.
    if (c.apicId < 255 && c.uid > 254) throw new RangeError(`APIC ID ${c.apicId} needs a Local APIC entry, whose UID (${c.uid}) must be below 255`);
    if (ids.has(c.apicId)) throw new RangeError(`APIC ID ${c.apicId} listed twice`);
    if (uids.has(c.uid)) throw new RangeError(`processor UID ${c.uid} listed twice`);
    ids.add(c.apicId); uids.add(c.uid);
  }
  return out;
}

/** Build the ACPI tables described by `o`. Throws RangeError for a topology the tables cannot express. */
export function buildAcpiTables(o: AcpiOptions): AcpiTables {
  const base = BigInt(o.base);
  if (base < 0n || base % 16n !== 0n) throw new RangeError(`ACPI base 0x${base.toString(16)} is not 16-byte aligned`);
  const oem: AcpiOem = { ...DEFAULT_OEM, ...o.oem };
  const cpus = processors(o.cpus);
  const ioapics = o.ioapics ?? [{ id: 0, address: IOAPIC_DEFAULT_BASE, gsiBase: 0 }];
  const sci = o.sciInterrupt ?? 9;
  const overrides = o.overrides ?? [
    { irq: 0, gsi: 2, flags: INTI.conforms },
    { irq: sci, gsi: sci, flags: INTI.level | INTI.activeHigh },
  ];
  for (const s of overrides) if (s.irq < 0 || s.irq > 15) throw new RangeError(`interrupt source override of IRQ ${s.irq}: only ISA IRQs 0..15 are overridden`);
  const pm = o.pm ?? {};
  const madtBytes = madt(o.localApicAddress ?? 0xfee00000, o.pcatCompat ?? true, cpus as MadtProcessor[], ioapics, overrides, oem);
  const dsdtBytes = definitionBlock("DSDT", dsdtAml(cpus.map((c) => c.uid), o.pciSlots ?? 32, o.pciGsi ?? pciIntxGsi), oem);
  const facsBytes = facs();

  // Addresses first (the FADT and XSDT point at tables placed after them).
  let at = base;
  const rsdpAt = o.rsdpAddress === undefined ? base : BigInt(o.rsdpAddress);
  if (rsdpAt % 16n !== 0n) throw new RangeError(`RSDP address 0x${rsdpAt.toString(16)} is not 16-byte aligned`);
  if (o.rsdpAddress === undefined) at += 36n;
  const place = (len: number, alignment = 8n) => { const a = align(at, alignment); at = a + BigInt(len); return a; };
  const facsAt = place(64, 64n);
  const dsdtAt = place(dsdtBytes.length);
  const fadtAt = place(276);
  const madtAt = place(madtBytes.length);
  const flags = FADT_FLAGS.wbinvd | FADT_FLAGS.procC1 | FADT_FLAGS.pwrButton | FADT_FLAGS.slpButton |
    (pm.timer32 ? FADT_FLAGS.tmrValExt : 0) | (cpus.length > 8 ? FADT_FLAGS.forceApicPhysical : 0);
  const fadtBytes = fadt(facsAt, dsdtAt, {
    sciInterrupt: sci,
    pm1aEventBlock: pm.pm1aEventBlock ?? 0x600, pm1aControlBlock: pm.pm1aControlBlock ?? 0x604, pmTimerBlock: pm.pmTimerBlock ?? 0x608,
    gpe0Block: pm.gpe0Block ?? 0, gpe0BlockLength: pm.gpe0BlockLength ?? 0,
    reset: o.reset ?? null, bootArch: o.bootArch ?? (BOOT_ARCH.legacyDevices | BOOT_ARCH.i8042), flags,
  }, oem);
  const pointed = [fadtAt, madtAt];
  const xsdtBytes = xsdt(pointed, oem);
  const xsdtAt = place(xsdtBytes.length);
  // The RSDT holds 32-bit addresses: written only when it and what it points at lie below 4 GiB.
  const rsdtLen = 36 + 4 * pointed.length;
  const below4g = (a: bigint, len: number) => a + BigInt(len) <= 0x1_0000_0000n;
  const withRsdt = below4g(fadtAt, 276) && below4g(madtAt, madtBytes.length) && below4g(align(at, 8n), rsdtLen);
  const rsdtBytes = withRsdt ? rsdt(pointed.map(Number), oem) : null;
  const rsdtAt = rsdtBytes ? place(rsdtBytes.length) : 0n;
  const rsdpBytes = rsdp(Number(rsdtAt), xsdtAt, oem.oemId);

  const tables: PlacedTable[] = [
    { signature: "FACS", address: facsAt, bytes: facsBytes },
    { signature: "DSDT", address: dsdtAt, bytes: dsdtBytes },
    { signature: "FACP", address: fadtAt, bytes: fadtBytes },
    { signature: "APIC", address: madtAt, bytes: madtBytes },
    { signature: "XSDT", address: xsdtAt, bytes: xsdtBytes },
    ...(rsdtBytes ? [{ signature: "RSDT", address: rsdtAt, bytes: rsdtBytes }] : []),
  ];
  const end = tables.reduce((e, t) => (t.address + BigInt(t.bytes.length) > e ? t.address + BigInt(t.bytes.length) : e), base);
  const image = new Uint8Array(Number(end - base));
  const rsdpPlaced = { signature: "RSD PTR ", address: rsdpAt, bytes: rsdpBytes };
  for (const t of o.rsdpAddress === undefined ? [rsdpPlaced, ...tables] : tables) image.set(t.bytes, Number(t.address - base));
  return { rsdp: rsdpPlaced, tables, image: { address: base, bytes: image } };
}
