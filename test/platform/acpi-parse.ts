// An ACPI table reader written from the ACPI 6.3 specification, independent of
// the generator: it starts at the RSDP in a guest-physical memory image,
// checks every checksum and length, follows the XSDT/RSDT and the FADT's
// pointers, and decodes the MADT's entries and the processor objects of the
// DSDT. Any inconsistency throws, naming it.

/** Guest memory as (address → bytes) the tables were placed in. */
export interface Mem { read(addr: bigint, len: number): Uint8Array }

export function memOf(chunks: Array<{ address: bigint; bytes: Uint8Array }>): Mem {
  return {
    read(addr, len) {
      for (const c of chunks) {
        const off = addr - c.address;
        if (off >= 0n && off + BigInt(len) <= BigInt(c.bytes.length)) return c.bytes.subarray(Number(off), Number(off) + len);
      }
      throw new Error(`no table bytes at 0x${addr.toString(16)}+${len}`);
    },
  };
}

const sum = (b: Uint8Array) => b.reduce((a, x) => (a + x) & 0xff, 0);
const str = (b: Uint8Array, o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));
const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

export interface Table { signature: string; address: bigint; bytes: Uint8Array; revision: number }

/** A table at `addr`: its header's length read first, then the whole table checksummed (§5.2.6). */
export function tableAt(mem: Mem, addr: bigint, expect?: string): Table {
  const h = mem.read(addr, 36);
  const signature = str(h, 0, 4), length = dv(h).getUint32(4, true);
  if (expect && signature !== expect) throw new Error(`table at 0x${addr.toString(16)} is ${signature}, want ${expect}`);
  if (length < 36) throw new Error(`${signature}: length ${length} is shorter than the header`);
  const bytes = mem.read(addr, length);
  if (sum(bytes) !== 0) throw new Error(`${signature}: checksum does not sum to zero`);
  return { signature, address: addr, bytes, revision: h[8] };
}

export interface MadtEntry { type: number; length: number; bytes: Uint8Array }
export interface ParsedAcpi {
  rsdp: { revision: number; rsdt: number; xsdt: bigint };
  xsdt: bigint[];
  rsdt: number[] | null;
  tables: Map<string, Table>;
  fadt: { facs: bigint; dsdt: bigint; sci: number; flags: number; pm1aEvt: number; pm1aCnt: number; pmTmr: number };
  madt: { localApicAddress: number; flags: number; entries: MadtEntry[] };
  /** From the MADT: processors by type (0 = Local APIC, 9 = Local x2APIC) with APIC ID and UID. */
  processors: Array<{ type: number; apicId: number; uid: number; enabled: boolean }>;
  ioapics: Array<{ id: number; address: number; gsiBase: number }>;
  overrides: Array<{ irq: number; gsi: number; flags: number }>;
  nmis: Array<{ type: number; uid: number; lint: number }>;
  /** From the DSDT: _UID of every Device whose _HID is "ACPI0007". */
  dsdtProcessorUids: number[];
}

/** Parse the tables reachable from the RSDP at `rsdpAddr`. */
export function parseAcpi(mem: Mem, rsdpAddr: bigint): ParsedAcpi {
  const r = mem.read(rsdpAddr, 36);
  if (str(r, 0, 8) !== "RSD PTR ") throw new Error("no RSDP signature");
  if (sum(r.subarray(0, 20)) !== 0) throw new Error("RSDP checksum (first 20 bytes)");
  if (r[15] < 2) throw new Error(`RSDP revision ${r[15]}: want 2 (XSDT)`);
  if (dv(r).getUint32(20, true) !== 36) throw new Error("RSDP length");
  if (sum(r) !== 0) throw new Error("RSDP extended checksum");
  const rsdp = { revision: r[15], rsdt: dv(r).getUint32(16, true), xsdt: dv(r).getBigUint64(24, true) };
  const tables = new Map<string, Table>();
  const xs = tableAt(mem, rsdp.xsdt, "XSDT");
  if ((xs.bytes.length - 36) % 8) throw new Error("XSDT length is not a whole number of entries");
  const xsdt = Array.from({ length: (xs.bytes.length - 36) / 8 }, (_, i) => dv(xs.bytes).getBigUint64(36 + 8 * i, true));
  let rsdt: number[] | null = null;
  if (rsdp.rsdt) {
    const rs = tableAt(mem, BigInt(rsdp.rsdt), "RSDT");
    rsdt = Array.from({ length: (rs.bytes.length - 36) / 4 }, (_, i) => dv(rs.bytes).getUint32(36 + 4 * i, true));
    if (rsdt.join() !== xsdt.map(Number).join()) throw new Error("RSDT and XSDT disagree");
  }
  for (const a of xsdt) {
    const t = tableAt(mem, a);
    if (tables.has(t.signature)) throw new Error(`two ${t.signature} tables`);
    tables.set(t.signature, t);
  }
  const f = tables.get("FACP");
  if (!f) throw new Error("no FADT");
  if (f.bytes.length !== 276 || f.revision !== 6) throw new Error(`FADT length ${f.bytes.length}, revision ${f.revision}`);
  const fd = dv(f.bytes);
  const facs32 = fd.getUint32(36, true), dsdt32 = fd.getUint32(40, true), xfacs = fd.getBigUint64(132, true), xdsdt = fd.getBigUint64(140, true);
  if (facs32 && BigInt(facs32) !== xfacs) throw new Error("FADT FACS and X_FIRMWARE_CTRL disagree");
  if (dsdt32 && BigInt(dsdt32) !== xdsdt) throw new Error("FADT DSDT and X_DSDT disagree");
  const fadt = { facs: xfacs, dsdt: xdsdt, sci: fd.getUint16(46, true), flags: fd.getUint32(112, true), pm1aEvt: fd.getUint32(56, true), pm1aCnt: fd.getUint32(64, true), pmTmr: fd.getUint32(76, true) };
  // X_ PM blocks agree with the 32-bit ones (GAS address at +4).
  for (const [o32, oX] of [[56, 148], [64, 172], [76, 208]]) {
    if (BigInt(fd.getUint32(o32, true)) !== fd.getBigUint64(oX + 4, true)) throw new Error(`FADT block at ${o32} and its X_ GAS disagree`);
  }
  const facs = mem.read(xfacs, 64);
  if (str(facs, 0, 4) !== "FACS" || dv(facs).getUint32(4, true) !== 64) throw new Error("FACS header");
  if (xfacs % 64n) throw new Error("FACS not 64-byte aligned");
  const dsdt = tableAt(mem, xdsdt, "DSDT");
  tables.set("DSDT", dsdt);

  const m = tables.get("APIC");
  if (!m) throw new Error("no MADT");
  const md = dv(m.bytes);
  const entries: MadtEntry[] = [];
  for (let o = 44; o < m.bytes.length;) {
    const type = m.bytes[o], length = m.bytes[o + 1];
    if (length < 2 || o + length > m.bytes.length) throw new Error(`MADT entry at ${o}: length ${length} runs past the table`);
    entries.push({ type, length, bytes: m.bytes.subarray(o, o + length) });
    o += length;
  }
  const want: Record<number, number> = { 0: 8, 1: 12, 2: 10, 4: 6, 9: 16, 10: 12 };
  for (const e of entries) if (want[e.type] !== undefined && e.length !== want[e.type]) throw new Error(`MADT type ${e.type} of length ${e.length}`);
  const processors = entries.filter((e) => e.type === 0 || e.type === 9).map((e) => {
    const d = dv(e.bytes);
    return e.type === 0
      ? { type: 0, apicId: e.bytes[3], uid: e.bytes[2], enabled: (d.getUint32(4, true) & 1) === 1 }
      : { type: 9, apicId: d.getUint32(4, true), uid: d.getUint32(12, true), enabled: (d.getUint32(8, true) & 1) === 1 };
  });
  const ioapics = entries.filter((e) => e.type === 1).map((e) => ({ id: e.bytes[2], address: dv(e.bytes).getUint32(4, true), gsiBase: dv(e.bytes).getUint32(8, true) }));
  const overrides = entries.filter((e) => e.type === 2).map((e) => ({ irq: e.bytes[3], gsi: dv(e.bytes).getUint32(4, true), flags: dv(e.bytes).getUint16(8, true) }));
  const nmis = entries.filter((e) => e.type === 4 || e.type === 10).map((e) => e.type === 4
    ? { type: 4, uid: e.bytes[2], lint: e.bytes[5] }
    : { type: 10, uid: dv(e.bytes).getUint32(4, true), lint: e.bytes[8] });
  return {
    rsdp, xsdt, rsdt, tables, fadt,
    madt: { localApicAddress: md.getUint32(36, true), flags: md.getUint32(40, true), entries },
    processors, ioapics, overrides, nmis,
    dsdtProcessorUids: processorUids(dsdt.bytes.subarray(36)),
  };
}

/**
 * The _UID of each Name (_HID, "ACPI0007") in an AML byte stream: the
 * pattern NameOp "_HID" StringPrefix "ACPI0007" NUL, then NameOp "_UID" and an
 * integer (ACPI 6.3 §20.2.3: Zero, One, Byte/Word/DWord/QWord prefixes).
 */
function processorUids(aml: Uint8Array): number[] {
  const hid = [0x08, ..."_HID".split("").map((c) => c.charCodeAt(0)), 0x0d, ..."ACPI0007".split("").map((c) => c.charCodeAt(0)), 0];
  const uid = [0x08, ..."_UID".split("").map((c) => c.charCodeAt(0))];
  const at = (i: number, p: number[]) => p.every((x, k) => aml[i + k] === x);
  const out: number[] = [];
  for (let i = 0; i + hid.length < aml.length; i++) {
    if (!at(i, hid)) continue;
    const j = i + hid.length;
    if (!at(j, uid)) throw new Error(`processor object at AML offset ${i} has no _UID after its _HID`);
    const k = j + uid.length, op = aml[k];
    const le = (n: number) => { let v = 0; for (let b = n - 1; b >= 0; b--) v = v * 256 + aml[k + 1 + b]; return v; };
    out.push(op === 0x00 ? 0 : op === 0x01 ? 1 : op === 0x0a ? le(1) : op === 0x0b ? le(2) : op === 0x0c ? le(4) : op === 0x0e ? le(8) : NaN);
  }
  return out;
}
