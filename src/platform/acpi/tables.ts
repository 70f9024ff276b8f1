// ACPI table encoders (ACPI 6.3, §5.2): RSDP, RSDT, XSDT, FADT, FACS, MADT
// and the DSDT (its AML from dsdt.ts). Each takes the values it encodes and
// returns the table's bytes with its checksum computed; acpi.ts decides what
// goes where. Multi-byte fields are little-endian.

/** OEM identification written into every table header (§5.2.6). */
export interface AcpiOem {
  /** 6 characters. */
  oemId: string;
  /** 8 characters. */
  oemTableId: string;
  oemRevision: number;
  /** 4 characters. */
  creatorId: string;
  creatorRevision: number;
}

export const DEFAULT_OEM: AcpiOem = { oemId: "VMDEV ", oemTableId: "VMDEVPLT", oemRevision: 1, creatorId: "VMDV", creatorRevision: 1 };

/** Fixed-width ASCII field, space padded; longer text is refused. */
function ascii(b: Uint8Array, off: number, s: string, len: number): void {
  if (s.length > len || !/^[\x20-\x7e]*$/.test(s)) throw new RangeError(`ACPI ID '${s}' is not printable ASCII of at most ${len} characters`);
  for (let i = 0; i < len; i++) b[off + i] = i < s.length ? s.charCodeAt(i) : 0x20;
}

/** Make bytes [from, to) of `b` sum to 0 mod 256 by setting byte `at`. */
export function setChecksum(b: Uint8Array, at: number, from = 0, to = b.length): void {
  b[at] = 0;
  let sum = 0;
  for (let i = from; i < to; i++) sum = (sum + b[i]) & 0xff;
  b[at] = (0x100 - sum) & 0xff;
}

/** A table of `length` bytes with its 36-byte header filled (§5.2.6); call `finish` after the body. */
export function header(signature: string, length: number, revision: number, oem: AcpiOem): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  ascii(bytes, 0, signature, 4);
  view.setUint32(4, length, true);
  bytes[8] = revision;
  ascii(bytes, 10, oem.oemId, 6);
  ascii(bytes, 16, oem.oemTableId, 8);
  view.setUint32(24, oem.oemRevision >>> 0, true);
  ascii(bytes, 28, oem.creatorId, 4);
  view.setUint32(32, oem.creatorRevision >>> 0, true);
  return { bytes, view };
}

/** Set a table's checksum (header byte 9). */
export function finish(bytes: Uint8Array): Uint8Array { setChecksum(bytes, 9); return bytes; }

/** RSDP revision 2 (§5.2.5.3): 36 bytes, checksum over the first 20, extended checksum over all. */
export function rsdp(rsdtAddress: number, xsdtAddress: bigint, oemId: string): Uint8Array {
  const b = new Uint8Array(36);
  const v = new DataView(b.buffer);
  ascii(b, 0, "RSD PTR ", 8);
  ascii(b, 9, oemId, 6);
  b[15] = 2;
  v.setUint32(16, rsdtAddress >>> 0, true);
  v.setUint32(20, 36, true);
  v.setBigUint64(24, xsdtAddress, true);
  setChecksum(b, 8, 0, 20);
  setChecksum(b, 32, 0, 36);
  return b;
}

/** XSDT (§5.2.8): 64-bit addresses of the other tables. */
export function xsdt(entries: readonly bigint[], oem: AcpiOem): Uint8Array {
  const { bytes, view } = header("XSDT", 36 + 8 * entries.length, 1, oem);
  entries.forEach((a, i) => view.setBigUint64(36 + 8 * i, a, true));
  return finish(bytes);
}

/** RSDT (§5.2.7): 32-bit addresses of the other tables, for OSes older than ACPI 2.0. */
export function rsdt(entries: readonly number[], oem: AcpiOem): Uint8Array {
  const { bytes, view } = header("RSDT", 36 + 4 * entries.length, 1, oem);
  entries.forEach((a, i) => view.setUint32(36 + 4 * i, a >>> 0, true));
  return finish(bytes);
}

/** FACS (§5.2.10): 64 bytes, no checksum, 64-byte aligned by the caller. */
export function facs(): Uint8Array {
  const b = new Uint8Array(64);
  const v = new DataView(b.buffer);
  ascii(b, 0, "FACS", 4);
  v.setUint32(4, 64, true);
  b[32] = 2; // version
  return b;
}

/** The I/O ports of the fixed hardware the embedder provides (PM1a event/control blocks, PM timer), and the SCI. */
export interface FadtHardware {
  sciInterrupt: number;
  pm1aEventBlock: number;
  pm1aControlBlock: number;
  pmTimerBlock: number;
  /** GPE0 block port and length in bytes (0: none). */
  gpe0Block: number;
  gpe0BlockLength: number;
  /** RESET_REG as an I/O port and the value to write (null: no reset register). */
  reset: { port: number; value: number } | null;
  /** IAPC_BOOT_ARCH flags (§5.2.9.3). */
  bootArch: number;
  /** FADT flags (§5.2.9, Table 5-35), without RESET_REG_SUP (set from `reset`). */
  flags: number;
}

/** Generic Address Structure of a System I/O block (§5.2.3.2). */
function gasIo(view: DataView, off: number, port: number, bytes: number, accessSize: number): void {
  if (port === 0) return;
  view.setUint8(off, 1);
  view.setUint8(off + 1, bytes * 8);
  view.setUint8(off + 2, 0);
  view.setUint8(off + 3, accessSize);
  view.setBigUint64(off + 4, BigInt(port), true);
}

/** FADT revision 6, minor 3 (§5.2.9): 276 bytes; FACS and DSDT named in both the 32-bit and 64-bit fields. */
export function fadt(facsAddress: bigint, dsdtAddress: bigint, hw: FadtHardware, oem: AcpiOem): Uint8Array {
  const { bytes, view } = header("FACP", 276, 6, oem);
  const low = (a: bigint) => (a <= 0xffff_ffffn ? Number(a) : 0);
  view.setUint32(36, low(facsAddress), true);
  view.setUint32(40, low(dsdtAddress), true);
  bytes[45] = 0; // Preferred_PM_Profile: unspecified
  view.setUint16(46, hw.sciInterrupt, true);
  // SMI_CMD, ACPI_ENABLE, ACPI_DISABLE = 0: the hardware is always in ACPI mode (no SMM handshake).
  view.setUint32(56, hw.pm1aEventBlock, true);
  view.setUint32(64, hw.pm1aControlBlock, true);
  view.setUint32(76, hw.pmTimerBlock, true);
  view.setUint32(80, hw.gpe0Block, true);
  bytes[88] = 4; // PM1_EVT_LEN
  bytes[89] = 2; // PM1_CNT_LEN
  bytes[91] = 4; // PM_TMR_LEN
  bytes[92] = hw.gpe0Block ? hw.gpe0BlockLength : 0;
  view.setUint16(96, 0x65, true);  // P_LVL2_LAT > 100: C2 not supported
  view.setUint16(98, 0x3e9, true); // P_LVL3_LAT > 1000: C3 not supported
  view.setUint16(109, hw.bootArch, true);
  view.setUint32(112, (hw.flags | (hw.reset ? 1 << 10 : 0)) >>> 0, true);
  if (hw.reset) { gasIo(view, 116, hw.reset.port, 1, 1); bytes[128] = hw.reset.value; }
  bytes[131] = 3; // FADT minor version (ACPI 6.3)
  view.setBigUint64(132, facsAddress, true);
  view.setBigUint64(140, dsdtAddress, true);
  gasIo(view, 148, hw.pm1aEventBlock, 4, 2);
  gasIo(view, 172, hw.pm1aControlBlock, 2, 2);
  gasIo(view, 208, hw.pmTimerBlock, 4, 3);
  if (hw.gpe0Block) gasIo(view, 220, hw.gpe0Block, hw.gpe0BlockLength, 1);
  return finish(bytes);
}

/** Processor Local APIC (type 0) and x2APIC (type 9) fields. */
export interface MadtProcessor { uid: number; apicId: number; enabled: boolean }
export interface MadtIoApic { id: number; address: number; gsiBase: number }
/** Interrupt Source Override (type 2): ISA `irq` signals `gsi`; `flags` are MPS INTI flags (§5.2.12.5, Table 5-50). */
export interface MadtOverride { irq: number; gsi: number; flags: number }

/** MPS INTI flags (Table 5-50): polarity bits 1:0, trigger mode bits 3:2. */
export const INTI = { conforms: 0, activeHigh: 1, activeLow: 3, edge: 1 << 2, level: 3 << 2 } as const;

/**
 * MADT revision 5 (§5.2.12): local APIC address, PCAT_COMPAT, then one
 * Processor Local APIC structure per processor with an APIC ID below 255 and
 * one Processor Local x2APIC structure per processor at 255 or above
 * (§5.2.12.12 requires exactly this split), the IOAPICs, the interrupt source
 * overrides, and the LINT1 NMI of all processors as a Local APIC NMI (UID
 * 0xFF) and, when there are x2APIC structures, a Local x2APIC NMI (UID
 * 0xFFFFFFFF).
 */
export function madt(localApicAddress: number, pcatCompat: boolean, cpus: readonly MadtProcessor[], ioapics: readonly MadtIoApic[], overrides: readonly MadtOverride[], oem: AcpiOem): Uint8Array {
  const xapic = cpus.filter((c) => c.apicId < 255), x2apic = cpus.filter((c) => c.apicId >= 255);
  const length = 44 + 8 * xapic.length + 16 * x2apic.length + 12 * ioapics.length + 10 * overrides.length + 6 + (x2apic.length ? 12 : 0);
  const { bytes, view } = header("APIC", length, 5, oem);
  view.setUint32(36, localApicAddress >>> 0, true);
  view.setUint32(40, pcatCompat ? 1 : 0, true);
  let o = 44;
  for (const c of xapic) {
    bytes[o] = 0; bytes[o + 1] = 8; bytes[o + 2] = c.uid; bytes[o + 3] = c.apicId;
    view.setUint32(o + 4, c.enabled ? 1 : 0, true);
    o += 8;
  }
  for (const c of x2apic) {
    bytes[o] = 9; bytes[o + 1] = 16;
    view.setUint32(o + 4, c.apicId >>> 0, true);
    view.setUint32(o + 8, c.enabled ? 1 : 0, true);
    view.setUint32(o + 12, c.uid >>> 0, true);
    o += 16;
  }
  for (const io of ioapics) {
    bytes[o] = 1; bytes[o + 1] = 12; bytes[o + 2] = io.id;
    view.setUint32(o + 4, io.address >>> 0, true);
    view.setUint32(o + 8, io.gsiBase >>> 0, true);
    o += 12;
  }
  for (const s of overrides) {
    bytes[o] = 2; bytes[o + 1] = 10; bytes[o + 2] = 0; bytes[o + 3] = s.irq;
    view.setUint32(o + 4, s.gsi >>> 0, true);
    view.setUint16(o + 8, s.flags, true);
    o += 10;
  }
  // LINT1 is the NMI input of every processor (the PC convention, §5.2.12.7).
  bytes[o] = 4; bytes[o + 1] = 6; bytes[o + 2] = 0xff; view.setUint16(o + 3, 0, true); bytes[o + 5] = 1;
  o += 6;
  if (x2apic.length) {
    bytes[o] = 0x0a; bytes[o + 1] = 12; view.setUint16(o + 2, 0, true); view.setUint32(o + 4, 0xffffffff, true); bytes[o + 8] = 1;
    o += 12;
  }
  if (o !== length) throw new Error(`MADT layout: wrote ${o} of ${length} bytes`);
  return finish(bytes);
}

/** A definition block (DSDT/SSDT) around an AML term list (§5.2.11); revision 2: 64-bit integers. */
export function definitionBlock(signature: "DSDT" | "SSDT", aml: Uint8Array, oem: AcpiOem): Uint8Array {
  const { bytes } = header(signature, 36 + aml.length, 2, oem);
  bytes.set(aml, 36);
  return finish(bytes);
}
