// SMBIOS tables (DMTF DSP0134 3.0.0) for a machine's topology: the 64-bit
// entry point (anchor "_SM3_", §5.2.2) and a structure table of types 0
// (BIOS), 1 (system), 4 (one per processor socket), 16 (memory array), 17
// (memory devices, at most 16 GiB each), 19 (mapped address ranges), 32
// (boot information) and 127 (end of table).
//
// The limits a 2.x table runs into, and how this one avoids them:
//  * the 32-bit entry point's table length is 16 bits (64 KiB) — one type 4
//    per socket for 1024 sockets does not fit; the 3.0 entry point has a
//    32-bit maximum size and a 64-bit address, and no structure count;
//  * Core Count, Core Enabled and Thread Count are bytes — from 256 up they
//    read 0xFF and the 2.6/3.0 words Core Count 2, Core Enabled 2 and Thread
//    Count 2 (offsets 2Ah, 2Ch, 2Eh) hold the count (below 256 both hold it);
//  * handles are 16 bits: structures are numbered from 0 and the table is
//    refused long before 0xFEFF.
//
// Off the hot path: built once per machine. Strings are ASCII; an empty string
// is "no string" (index 0).

const enc = new TextEncoder();

/** The BIOS (type 0) fields. */
export interface SmbiosBios { vendor?: string; version?: string; releaseDate?: string; major?: number; minor?: number }
/** The system (type 1) fields; `uuid` as 8-4-4-4-12 hex. */
export interface SmbiosSystem { manufacturer?: string; product?: string; version?: string; serial?: string; uuid?: string; sku?: string; family?: string }
/** Processor topology and identity (type 4). */
export interface SmbiosProcessors {
  sockets: number;
  coresPerSocket?: number;
  threadsPerCore?: number;
  manufacturer?: string;
  version?: string;
  /** CPUID leaf 1 EAX (signature) and EDX (features): the Processor ID field. */
  cpuidSignature?: number;
  cpuidFeatures?: number;
  maxSpeedMhz?: number;
  currentSpeedMhz?: number;
}
/** A range of guest-physical RAM. */
export interface SmbiosRange { start: bigint | number; bytes: bigint | number }

/** What the tables describe and where the structure table goes. */
export interface SmbiosOptions {
  /** Guest-physical address of the entry point (16-byte aligned); the table follows it at +0x20 unless `tableAddress` is given. */
  base: bigint | number;
  tableAddress?: bigint | number;
  bios?: SmbiosBios;
  system?: SmbiosSystem;
  processors: SmbiosProcessors;
  /** Guest RAM: its ranges in the address map (e.g. below the PCI hole and above 4 GiB). */
  memory: readonly SmbiosRange[];
}

/** The built tables. */
export interface SmbiosTables {
  entryPoint: { address: bigint; bytes: Uint8Array };
  table: { address: bigint; bytes: Uint8Array };
  /** Entry point and table as one buffer from `base` (when the table follows the entry point). */
  image: { address: bigint; bytes: Uint8Array } | null;
  /** Number of structures, end-of-table included. */
  structures: number;
}

/** Largest memory device (type 17) the table describes; bigger RAM is split, as DIMMs would be. */
export const MAX_DIMM_BYTES = 16n << 30n;
const MIB = 1n << 20n;
const KIB = 1n << 10n;

/** One structure: its formatted area and its strings. */
class Structure {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  private readonly strings: string[] = [];
  constructor(type: number, length: number, handle: number) {
    this.bytes = new Uint8Array(length);
    this.view = new DataView(this.bytes.buffer);
    this.bytes[0] = type; this.bytes[1] = length;
    this.view.setUint16(2, handle, true);
  }
  u8(o: number, v: number): void { this.bytes[o] = v; }
  u16(o: number, v: number): void { this.view.setUint16(o, v, true); }
  u32(o: number, v: number): void { this.view.setUint32(o, v >>> 0, true); }
  u64(o: number, v: bigint): void { this.view.setBigUint64(o, v, true); }
  /** A string field: its index in this structure's string set (0 for none). */
  str(o: number, s: string | undefined): void {
    if (!s) { this.bytes[o] = 0; return; }
    if (!/^[\x20-\x7e]+$/.test(s)) throw new RangeError(`SMBIOS strings are printable ASCII: '${s}'`);
    this.strings.push(s);
    if (this.strings.length > 255) throw new RangeError("more than 255 strings in one SMBIOS structure");
    this.bytes[o] = this.strings.length;
  }
  /** Formatted area, then the strings, then the double NUL (§6.1.3). */
  encode(): Uint8Array {
    const set = this.strings.length ? enc.encode(this.strings.join("\0") + "\0\0") : Uint8Array.of(0, 0);
    const out = new Uint8Array(this.bytes.length + set.length);
    out.set(this.bytes); out.set(set, this.bytes.length);
    return out;
  }
}

/** The byte and word of a count field pair (Core Count / Core Count 2, §7.5.6–§7.5.8). */
export function countFields(n: number): { byte: number; word: number } {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`SMBIOS count ${n} is outside 0..65535`);
  return { byte: n > 255 ? 0xff : n, word: n };
}

/** SMBIOS UUID bytes (§7.2.1): the first three fields little-endian, the rest as written. */
export function uuidBytes(uuid: string): Uint8Array {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(uuid);
  if (!m) throw new RangeError(`'${uuid}' is not a UUID`);
  const hex = (s: string) => Array.from({ length: s.length / 2 }, (_, i) => parseInt(s.slice(2 * i, 2 * i + 2), 16));
  return Uint8Array.from([...hex(m[1]).reverse(), ...hex(m[2]).reverse(), ...hex(m[3]).reverse(), ...hex(m[4]), ...hex(m[5])]);
}

/** The 64-bit entry point (§5.2.2): 24 bytes, checksum over all of them. */
export function entryPoint3(tableAddress: bigint, tableMaxSize: number): Uint8Array {
  const b = new Uint8Array(0x18);
  const v = new DataView(b.buffer);
  b.set(enc.encode("_SM3_"), 0);
  b[6] = 0x18; b[7] = 3; b[8] = 0; b[9] = 0; // length, 3.0.0
  b[0x0a] = 1; // entry point revision: 3.0
  v.setUint32(0x0c, tableMaxSize >>> 0, true);
  v.setBigUint64(0x10, tableAddress, true);
  let sum = 0;
  for (const x of b) sum = (sum + x) & 0xff;
  b[5] = (0x100 - sum) & 0xff;
  return b;
}

/** Build the entry point and structure table. Throws RangeError for values the format cannot hold. */
export function buildSmbiosTables(o: SmbiosOptions): SmbiosTables {
  const base = BigInt(o.base);
  if (base < 0n || base % 16n !== 0n) throw new RangeError(`SMBIOS entry point address 0x${base.toString(16)} is not 16-byte aligned`);
  const tableAddress = o.tableAddress === undefined ? base + 0x20n : BigInt(o.tableAddress);
  const p = o.processors;
  const cores = p.coresPerSocket ?? 1, threads = p.threadsPerCore ?? 1;
  if (!Number.isInteger(p.sockets) || p.sockets < 1 || !Number.isInteger(cores) || cores < 1 || !Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`processor topology ${p.sockets} sockets × ${cores} cores × ${threads} threads is not positive whole numbers`);
  }
  const ranges = o.memory.map((r) => ({ start: BigInt(r.start), bytes: BigInt(r.bytes) }));
  if (ranges.length === 0 || ranges.some((r) => r.bytes <= 0n || r.start < 0n || r.start % KIB !== 0n || r.bytes % KIB !== 0n)) {
    throw new RangeError("SMBIOS memory ranges must be non-empty, 1 KiB aligned and sized");
  }
  const ram = ranges.reduce((a, r) => a + r.bytes, 0n);

  const out: Structure[] = [];
  let handle = 0;
  const next = (type: number, length: number) => {
    if (handle >= 0xfeff) throw new RangeError("SMBIOS handles exhausted (0xFEFF structures)");
    const s = new Structure(type, length, handle++);
    out.push(s);
    return s;
  };

  // Type 0, BIOS Information (§7.1), 2.4+ length.
  const b = o.bios ?? {};
  const t0 = next(0, 0x18);
  t0.str(0x04, b.vendor ?? "vmdev");
  t0.str(0x05, b.version ?? "0.1");
  t0.u16(0x06, 0xe800);
  t0.str(0x08, b.releaseDate ?? "01/01/2024");
  t0.u8(0x09, 0); // ROM size: 64 KiB
  t0.u64(0x0a, 1n << 3n); // characteristics: "not supported"
  t0.u8(0x12, 0);
  t0.u8(0x13, 1 << 4); // extension byte 2, bit 4: the table describes a virtual machine
  t0.u8(0x14, b.major ?? 0); t0.u8(0x15, b.minor ?? 1);
  t0.u8(0x16, 0xff); t0.u8(0x17, 0xff); // no embedded controller firmware

  // Type 1, System Information (§7.2).
  const s = o.system ?? {};
  const t1 = next(1, 0x1b);
  t1.str(0x04, s.manufacturer ?? "vmdev");
  t1.str(0x05, s.product ?? "vmdev virtual machine");
  t1.str(0x06, s.version);
  t1.str(0x07, s.serial);
  if (s.uuid) t1.bytes.set(uuidBytes(s.uuid), 0x08);
  t1.u8(0x18, 0x06); // wake-up type: power switch
  t1.str(0x19, s.sku);
  t1.str(0x1a, s.family);

  // Type 4, Processor Information (§7.5), 3.0 length: one per socket.
  const coreCount = countFields(cores), threadCount = countFields(cores * threads);
  for (let i = 0; i < p.sockets; i++) {
    const t4 = next(4, 0x30);
    t4.str(0x04, `CPU ${i}`);
    t4.u8(0x05, 0x03); // central processor
    t4.u8(0x06, 0xfe); // family: see Processor Family 2
    t4.str(0x07, p.manufacturer ?? "vmdev");
    t4.u32(0x08, p.cpuidSignature ?? 0); t4.u32(0x0c, p.cpuidFeatures ?? 0);
    t4.str(0x10, p.version ?? "vmdev virtual CPU");
    t4.u8(0x11, 0);
    t4.u16(0x12, 0);
    t4.u16(0x14, p.maxSpeedMhz ?? 2000);
    t4.u16(0x16, p.currentSpeedMhz ?? p.maxSpeedMhz ?? 2000);
    t4.u8(0x18, 0x41); // socket populated, CPU enabled
    t4.u8(0x19, 0x01); // upgrade: other
    t4.u16(0x1a, 0xffff); t4.u16(0x1c, 0xffff); t4.u16(0x1e, 0xffff); // no cache structures
    t4.u8(0x23, coreCount.byte); t4.u8(0x24, coreCount.byte); t4.u8(0x25, threadCount.byte);
    // Characteristics: 64-bit capable, plus multi-core / hardware thread when they apply.
    t4.u16(0x26, (1 << 2) | (cores > 1 ? 1 << 3 : 0) | (threads > 1 ? 1 << 4 : 0));
    t4.u16(0x28, 0x01); // Processor Family 2: other
    t4.u16(0x2a, coreCount.word); t4.u16(0x2c, coreCount.word); t4.u16(0x2e, threadCount.word);
  }

  // Type 16, Physical Memory Array (§7.17), 2.7+ length.
  const dimms: bigint[] = [];
  for (let left = ram; left > 0n; left -= left > MAX_DIMM_BYTES ? MAX_DIMM_BYTES : left) dimms.push(left > MAX_DIMM_BYTES ? MAX_DIMM_BYTES : left);
  if (dimms.length > 0xffff) throw new RangeError("more memory devices than a memory array can count");
  const t16 = next(16, 0x17);
  t16.u8(0x04, 0x03); t16.u8(0x05, 0x03); t16.u8(0x06, 0x03); // system board, system memory, no error correction
  const ramKb = ram / KIB;
  if (ramKb < 0x8000_0000n) { t16.u32(0x07, Number(ramKb)); t16.u64(0x0f, 0n); }
  else { t16.u32(0x07, 0x8000_0000); t16.u64(0x0f, ram); }
  t16.u16(0x0b, 0xfffe);
  t16.u16(0x0d, dimms.length);
  const arrayHandle = t16.view.getUint16(2, true);

  // Type 17, Memory Device (§7.18), 2.8+ length.
  dimms.forEach((size, i) => {
    const t17 = next(17, 0x28);
    t17.u16(0x04, arrayHandle);
    t17.u16(0x06, 0xfffe);
    t17.u16(0x08, 64); t17.u16(0x0a, 64);
    const mb = size / MIB;
    if (size % MIB !== 0n) {
      // Sizes that are not whole MiB are given in KiB (bit 15), which the 15-bit field allows below 32 MiB.
      if (size / KIB >= 0x8000n) throw new RangeError(`memory device of ${size} bytes: over 32 MiB it must be a whole number of MiB`);
      t17.u16(0x0c, 0x8000 | Number(size / KIB));
    } else t17.u16(0x0c, Number(mb)); // at most 16384 (MAX_DIMM_BYTES): Extended Size is never needed
    t17.u8(0x0e, 0x09); // DIMM
    t17.str(0x10, `DIMM ${i}`);
    t17.u8(0x12, 0x07); // RAM
    t17.u16(0x13, 1 << 1); // type detail: other
    t17.str(0x17, "vmdev");
  });

  // Type 19, Memory Array Mapped Address (§7.20): one per RAM range.
  for (const r of ranges) {
    const t19 = next(19, 0x1f);
    const startKb = r.start / KIB, endKb = (r.start + r.bytes) / KIB - 1n;
    if (endKb < 0xffff_ffffn) { t19.u32(0x04, Number(startKb)); t19.u32(0x08, Number(endKb)); }
    else { t19.u32(0x04, 0xffff_ffff); t19.u32(0x08, 0xffff_ffff); t19.u64(0x0f, r.start); t19.u64(0x17, r.start + r.bytes - 1n); }
    t19.u16(0x0c, arrayHandle);
    t19.u8(0x0e, 1); // partition width: one device per row
  }

  // Type 32, System Boot Information (§7.33): no errors detected.
  next(32, 0x0b);
  // Type 127, End-of-Table (§7.46).
  next(127, 4);

  const parts = out.map((x) => x.encode());
  const table = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  let off = 0;
  for (const x of parts) { table.set(x, off); off += x.length; }
  const ep = entryPoint3(tableAddress, table.length);
  let image: SmbiosTables["image"] = null;
  if (tableAddress >= base + BigInt(ep.length)) {
    const gap = Number(tableAddress - base);
    if (gap <= 0x1000) {
      const bytes = new Uint8Array(gap + table.length);
      bytes.set(ep, 0); bytes.set(table, gap);
      image = { address: base, bytes };
    }
  }
  return { entryPoint: { address: base, bytes: ep }, table: { address: tableAddress, bytes: table }, image, structures: out.length };
}
