// SMBIOS tables: read back by our own parser (entry point checksum and
// fields, every structure's length and string set, unique handles, the end
// marker) for 1, 255, 256 and 1024 CPUs in several topologies, including the
// ones past the 2.x limits (a table over 64 KiB; core and thread counts over
// 255 in the 3.0 words), and decoded by Debian's dmidecode from a dump file.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { buildSmbiosTables, type SmbiosTables, type SmbiosOptions } from "../../src/index.js";
import { haveTool } from "../support/firmware-tools.js";

const haveDmidecode = haveTool("dmidecode", "dmidecode");
const GIB = 1n << 30n;

interface Struct { type: number; length: number; handle: number; bytes: Uint8Array; strings: string[] }

/** Parse an SMBIOS 3.0 entry point and its table (DSP0134 3.0.0 §5.2.2, §6.1). */
function parseSmbios(t: SmbiosTables): { version: string; structs: Struct[] } {
  const ep = t.entryPoint.bytes;
  const d = new DataView(ep.buffer, ep.byteOffset, ep.byteLength);
  if (String.fromCharCode(...ep.subarray(0, 5)) !== "_SM3_") throw new Error("no _SM3_ anchor");
  if (ep[6] !== 0x18 || ep.length !== 0x18) throw new Error("entry point length");
  if (ep.reduce((a, x) => (a + x) & 0xff, 0) !== 0) throw new Error("entry point checksum");
  if (ep[0x0a] !== 1) throw new Error("entry point revision");
  const max = d.getUint32(0x0c, true), addr = d.getBigUint64(0x10, true);
  if (addr !== t.table.address) throw new Error("table address");
  const tb = t.table.bytes;
  if (max !== tb.length) throw new Error(`table maximum size ${max}, table ${tb.length}`);
  const structs: Struct[] = [];
  let o = 0;
  while (o < tb.length) {
    if (o + 4 > tb.length) throw new Error(`structure header at ${o} runs past the table`);
    const type = tb[o], length = tb[o + 1], handle = tb[o + 2] | (tb[o + 3] << 8);
    if (length < 4 || o + length > tb.length) throw new Error(`structure at ${o}: formatted length ${length}`);
    let e = o + length;
    const strings: string[] = [];
    // The string set ends with two NULs; a structure without strings has exactly two.
    if (tb[e] === 0 && tb[e + 1] === 0) e += 2;
    else {
      for (;;) {
        const z = tb.indexOf(0, e);
        if (z < 0) throw new Error(`structure at ${o}: unterminated string`);
        strings.push(new TextDecoder().decode(tb.subarray(e, z)));
        e = z + 1;
        if (tb[e] === 0) { e++; break; }
      }
    }
    const bytes = tb.subarray(o, o + length);
    structs.push({ type, length, handle, bytes, strings });
    o = e;
    if (type === 127) break;
  }
  if (o !== tb.length) throw new Error(`${tb.length - o} bytes after the end-of-table structure`);
  if (structs.at(-1)?.type !== 127) throw new Error("no end-of-table structure");
  if (new Set(structs.map((s) => s.handle)).size !== structs.length) throw new Error("duplicate handles");
  return { version: `${ep[7]}.${ep[8]}.${ep[9]}`, structs };
}

const w16 = (s: Struct, o: number) => s.bytes[o] | (s.bytes[o + 1] << 8);
const build = (sockets: number, cores = 1, threads = 1, extra: Partial<SmbiosOptions> = {}) =>
  buildSmbiosTables({ base: 0xf0000, tableAddress: 0x7ff0000, processors: { sockets, coresPerSocket: cores, threadsPerCore: threads }, memory: [{ start: 0, bytes: 2n * GIB }], ...extra });

describe("SMBIOS tables, read back by our parser", () => {
  const topologies: Array<[string, number, number, number]> = [
    ["1 CPU", 1, 1, 1], ["255 CPUs, one socket each", 255, 1, 1], ["256 CPUs, one socket each", 256, 1, 1],
    ["1024 CPUs, one socket each", 1024, 1, 1], ["255 cores in one socket", 1, 255, 1], ["256 cores in one socket", 1, 256, 1],
    ["1024 CPUs in one socket", 1, 1024, 1], ["1024 CPUs as 4 sockets × 128 cores × 2 threads", 4, 128, 2],
  ];
  for (const [what, sockets, cores, threads] of topologies) {
    it(`${what}: one type 4 per socket; counts in the byte fields up to 255, in the 3.0 words from 256`, () => {
      const { version, structs } = parseSmbios(build(sockets, cores, threads));
      expect(version).toBe("3.0.0");
      const byType = (t: number) => structs.filter((s) => s.type === t);
      expect([0, 1, 16, 32, 127].map((t) => byType(t).length)).toEqual([1, 1, 1, 1, 1]);
      const cpus = byType(4);
      expect(cpus.length).toBe(sockets);
      const threadsPerSocket = cores * threads;
      for (const c of cpus) {
        expect(c.length).toBe(0x30);
        expect([c.bytes[0x23], c.bytes[0x24], c.bytes[0x25]]).toEqual([cores < 256 ? cores : 0xff, cores < 256 ? cores : 0xff, threadsPerSocket < 256 ? threadsPerSocket : 0xff]);
        expect([w16(c, 0x2a), w16(c, 0x2c), w16(c, 0x2e)]).toEqual([cores, cores, threadsPerSocket]);
      }
      expect(cpus.map((c) => c.strings[c.bytes[4] - 1])).toEqual(cpus.map((_, i) => `CPU ${i}`));
      // Memory: 2 GiB in one device, one mapped range, both pointing at the array.
      const [array] = byType(16);
      expect(byType(17).map((m) => w16(m, 0x0c))).toEqual([2048]);
      expect(byType(17).every((m) => w16(m, 4) === array.handle) && byType(19).every((m) => w16(m, 0x0c) === array.handle)).toBe(true);
    });
  }

  it("1024 sockets: a structure table past the 64 KiB a 2.x entry point can describe", () => {
    const t = build(1024);
    expect(t.table.bytes.length).toBeGreaterThan(0xffff);
    expect(parseSmbios(t).structs.filter((s) => s.type === 4).length).toBe(1024);
  });

  it("memory past 4 GiB: split into devices of at most 16 GiB; ranges in KiB fields up to 4 TiB, in the 64-bit fields past it", () => {
    const t = build(1, 1, 1, { memory: [{ start: 0, bytes: 3n * GIB }, { start: 4n * GIB, bytes: 63n * GIB }] });
    const { structs } = parseSmbios(t);
    expect(structs.filter((s) => s.type === 17).map((m) => w16(m, 0x0c))).toEqual([16384, 16384, 16384, 16384, 2048]);
    const [array] = structs.filter((s) => s.type === 16);
    const dv = (s: Struct) => new DataView(s.bytes.buffer, s.bytes.byteOffset, s.bytes.byteLength);
    expect([dv(array).getUint32(7, true), w16(array, 0x0d)]).toEqual([66 * 1024 * 1024, 5]); // KiB, devices
    const ranges = structs.filter((s) => s.type === 19);
    expect([dv(ranges[0]).getUint32(4, true), dv(ranges[0]).getUint32(8, true)]).toEqual([0, 3 * 1024 * 1024 - 1]);
    expect([dv(ranges[1]).getUint32(4, true), dv(ranges[1]).getUint32(8, true)]).toEqual([4 * 1024 * 1024, 67 * 1024 * 1024 - 1]);
    // Past the 4 TiB the 32-bit KiB fields reach, the range is in the extended fields (start and end 0xFFFFFFFF).
    const far = parseSmbios(build(1, 1, 1, { memory: [{ start: 0, bytes: GIB }, { start: 5n << 40n, bytes: GIB }] })).structs.filter((s) => s.type === 19);
    expect([dv(far[1]).getUint32(4, true), dv(far[1]).getUint32(8, true)]).toEqual([0xffffffff, 0xffffffff]);
    expect([dv(far[1]).getBigUint64(0x0f, true), dv(far[1]).getBigUint64(0x17, true)]).toEqual([5n << 40n, (5n << 40n) + GIB - 1n]);
    // RAM that is not a whole number of MiB: a small device in KiB (Size bit 15).
    const odd = parseSmbios(buildSmbiosTables({ base: 0, processors: { sockets: 1 }, memory: [{ start: 0, bytes: 640 * 1024 }] })).structs.filter((s) => s.type === 17);
    expect(odd.map((m) => w16(m, 0x0c))).toEqual([0x8000 | 640]);
  });

  it("refuses what the format cannot hold", () => {
    expect(() => build(1, 65536)).toThrow(RangeError);
    expect(() => build(1, 300, 300)).toThrow(/65535/);
    expect(() => build(0)).toThrow(RangeError);
    expect(() => buildSmbiosTables({ base: 8, processors: { sockets: 1 }, memory: [{ start: 0, bytes: GIB }] })).toThrow(/aligned/);
    expect(() => buildSmbiosTables({ base: 0, processors: { sockets: 1 }, memory: [] })).toThrow(RangeError);
    expect(() => buildSmbiosTables({ base: 0, processors: { sockets: 1 }, memory: [{ start: 0, bytes: GIB }], system: { manufacturer: "caf\u00e9" } })).toThrow(/ASCII/);
  });
});

describe.runIf(haveDmidecode)("SMBIOS tables, decoded by dmidecode", () => {
  let dir = "";
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), "vmdev-smbios-")); });
  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  /** dmidecode's dump format: the entry point at offset 0 with its table address 32, the table at 32. */
  function decode(name: string, sockets: number, cores: number, threads: number): string {
    const t = buildSmbiosTables({ base: 0, tableAddress: 32, processors: { sockets, coresPerSocket: cores, threadsPerCore: threads }, memory: [{ start: 0, bytes: 2n * GIB }] });
    const file = join(dir, `${name}.bin`);
    writeFileSync(file, t.image!.bytes);
    const r = spawnSync("dmidecode", ["--from-dump", file], { encoding: "utf8", maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    return `${r.stdout}\n${r.stderr}`;
  }
  const complaints = (out: string) => out.split("\n").filter((l) => /out of spec|truncated|invalid|wrong|checksum|bad |unknown type|<BAD/i.test(l));

  for (const [name, sockets, cores, threads, want] of [
    ["one-cpu", 1, 1, 1, { cpus: 1, core: "1", thread: "1" }],
    ["1024-sockets", 1024, 1, 1, { cpus: 1024, core: "1", thread: "1" }],
    ["1024-cores", 1, 1024, 1, { cpus: 1, core: "1024", thread: "1024" }],
    ["4x128x2", 4, 128, 2, { cpus: 4, core: "128", thread: "256" }],
    ["255-cores", 1, 255, 1, { cpus: 1, core: "255", thread: "255" }],
  ] as const) {
    it(`${name}: SMBIOS 3.0.0, ${want.cpus} Processor Information structures with Core Count ${want.core} and Thread Count ${want.thread}, no complaints`, () => {
      const out = decode(name, sockets, cores, threads);
      expect(out).toContain("SMBIOS 3.0.0 present.");
      expect(complaints(out)).toEqual([]);
      expect((out.match(/^Processor Information$/gm) ?? []).length).toBe(want.cpus);
      expect((out.match(new RegExp(`^\\tCore Count: ${want.core}$`, "gm")) ?? []).length).toBe(want.cpus);
      expect((out.match(new RegExp(`^\\tThread Count: ${want.thread}$`, "gm")) ?? []).length).toBe(want.cpus);
      for (const s of ["BIOS Information", "System Information", "Physical Memory Array", "Memory Device", "Memory Array Mapped Address", "System Boot Information", "End Of Table"]) expect(out).toContain(s);
      expect(out).toContain("System is a virtual machine");
      expect(out).toContain("Range Size: 2 GB");
    });
  }
});
