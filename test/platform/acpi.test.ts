// ACPI tables: read back by our own parser (every checksum, length and
// pointer; MADT and DSDT entry counts) for 1, 255, 256 and 1024 CPUs, and
// checked by Debian's acpica-tools: `iasl -d` disassembles every table
// without an error or warning, and compiling the disassembly gives back the
// same bytes (the RSDP, which `iasl -d` does not take, is compiled from its
// data-table source and compared).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { buildAcpiTables, pciIntxGsi, type AcpiTables } from "../../src/index.js";
import { parseAcpi, memOf } from "./acpi-parse.js";
import { haveTool } from "../support/firmware-tools.js";

const haveIasl = haveTool("iasl", "acpica-tools");
const BASE = 0x7fe0000n;
const RSDP_AT = 0xf0000n;
const build = (cpus: number, o: Partial<Parameters<typeof buildAcpiTables>[0]> = {}) => buildAcpiTables({ base: BASE, rsdpAddress: RSDP_AT, cpus, ...o });
const parse = (t: AcpiTables) => parseAcpi(memOf([t.image, t.rsdp]), t.rsdp.address);

describe("ACPI tables, read back by our parser", () => {
  for (const n of [1, 255, 256, 1024]) {
    it(`${n} CPUs: checksums, lengths and pointers hold; ${Math.min(n, 255)} Local APIC and ${Math.max(0, n - 255)} Local x2APIC entries; one ACPI0007 object per CPU with the MADT's UID`, () => {
      const t = build(n);
      const p = parse(t);
      expect([...p.tables.keys()].sort()).toEqual(["APIC", "DSDT", "FACP"]);
      expect(p.rsdt).not.toBeNull();
      const local = p.processors.filter((c) => c.type === 0), x2 = p.processors.filter((c) => c.type === 9);
      expect(local.length).toBe(Math.min(n, 255));
      expect(x2.length).toBe(Math.max(0, n - 255));
      // §5.2.12.12: IDs below 255 in Local APIC entries, 255 and up in x2APIC entries.
      expect(local.every((c) => c.apicId < 255) && x2.every((c) => c.apicId >= 255)).toBe(true);
      expect(p.processors.map((c) => c.apicId)).toEqual([...Array(n).keys()]);
      expect(p.processors.every((c) => c.enabled)).toBe(true);
      expect(new Set(p.processors.map((c) => c.uid)).size).toBe(n);
      expect(p.dsdtProcessorUids).toEqual(p.processors.map((c) => c.uid));
      expect(p.ioapics).toEqual([{ id: 0, address: 0xfec00000, gsiBase: 0 }]);
      expect(p.overrides).toEqual([{ irq: 0, gsi: 2, flags: 0 }, { irq: 9, gsi: 9, flags: 0x0d }]);
      expect(p.nmis).toEqual(n > 255 ? [{ type: 4, uid: 0xff, lint: 1 }, { type: 10, uid: 0xffffffff, lint: 1 }] : [{ type: 4, uid: 0xff, lint: 1 }]);
      expect(p.madt).toMatchObject({ localApicAddress: 0xfee00000, flags: 1 });
      expect(p.fadt).toMatchObject({ sci: 9, pm1aEvt: 0x600, pm1aCnt: 0x604, pmTmr: 0x608 });
      expect((p.fadt.flags >>> 19) & 1).toBe(n > 8 ? 1 : 0); // physical destination mode past 8 CPUs
    });
  }

  it("layout: every table inside the image at its address, none overlapping, FACS 64-byte aligned; RSDP where asked", () => {
    for (const t of [build(1024), buildAcpiTables({ base: 0x100000, cpus: 4 })]) {
      const spans = t.tables.map((x) => [x.address, x.address + BigInt(x.bytes.length)] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
      for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
      for (const x of t.tables) {
        const off = Number(x.address - t.image.address);
        expect(t.image.bytes.subarray(off, off + x.bytes.length)).toEqual(x.bytes);
        if (x.signature === "FACS") expect(x.address % 64n).toBe(0n);
      }
    }
    const inline = buildAcpiTables({ base: 0x100000, cpus: 4 });
    expect(inline.rsdp.address).toBe(0x100000n);
    expect(inline.image.bytes.subarray(0, 8)).toEqual(new TextEncoder().encode("RSD PTR "));
    expect(parse(inline).processors.length).toBe(4);
  });

  it("tables above 4 GiB: no RSDT, 64-bit pointers only", () => {
    const t = buildAcpiTables({ base: 0x1_0000_0000n, rsdpAddress: RSDP_AT, cpus: 2 });
    const p = parse(t);
    expect(p.rsdp.rsdt).toBe(0);
    expect(p.rsdt).toBeNull();
    expect(t.tables.map((x) => x.signature)).not.toContain("RSDT");
    expect(new DataView(p.tables.get("FACP")!.bytes.buffer, p.tables.get("FACP")!.bytes.byteOffset).getUint32(40, true)).toBe(0);
    expect(p.fadt.dsdt).toBeGreaterThan(0xffff_ffffn);
  });

  it("the _PRT routes each slot's INTA..INTD to the machine's swizzle", () => {
    const dsdt = build(1).tables.find((x) => x.signature === "DSDT")!.bytes;
    // Slot 5, INTC: Package (4) { 0x0005FFFF, 2, Zero, 16 + ((5 + 2) mod 4) = 19 }.
    const needle = Uint8Array.of(0x12, 0x0c, 0x04, 0x0c, 0xff, 0xff, 0x05, 0x00, 0x0a, 0x02, 0x00, 0x0a, pciIntxGsi(5, 2));
    const hay = Buffer.from(dsdt);
    expect(hay.indexOf(Buffer.from(needle))).toBeGreaterThan(0);
    expect(pciIntxGsi(5, 2)).toBe(19);
  });

  it("refuses what the tables cannot say: duplicate IDs, an 8-bit UID past 254, too many CPUs, a misaligned base, a non-ISA override", () => {
    expect(() => buildAcpiTables({ base: 0, cpus: [{ apicId: 1 }, { apicId: 1 }] })).toThrow(/APIC ID 1 listed twice/);
    expect(() => buildAcpiTables({ base: 0, cpus: [{ apicId: 3, uid: 300 }] })).toThrow(/UID \(300\) must be below 255/);
    expect(() => buildAcpiTables({ base: 0, cpus: [{ apicId: 3, uid: 7 }, { apicId: 4, uid: 7 }] })).toThrow(/UID 7 listed twice/);
    expect(() => buildAcpiTables({ base: 0, cpus: 4097 })).toThrow(RangeError);
    expect(() => buildAcpiTables({ base: 8, cpus: 1 })).toThrow(/16-byte aligned/);
    expect(() => buildAcpiTables({ base: 0, cpus: 1, overrides: [{ irq: 16, gsi: 16, flags: 0 }] })).toThrow(/ISA/);
    // Sparse x2APIC IDs with their own UIDs are fine.
    const p = parse(buildAcpiTables({ base: 0x100000, cpus: [{ apicId: 0 }, { apicId: 4000, uid: 77 }] }));
    expect(p.processors).toEqual([{ type: 0, apicId: 0, uid: 0, enabled: true }, { type: 9, apicId: 4000, uid: 77, enabled: true }]);
    expect(p.dsdtProcessorUids).toEqual([0, 77]);
  });
});

describe.runIf(haveIasl)("ACPI tables, checked by iasl (acpica-tools)", () => {
  let dir = "";
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), "vmdev-acpi-")); });
  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  const iasl = (cwd: string, ...args: string[]) => {
    const r = spawnSync("iasl", args, { cwd, encoding: "utf8" });
    return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
  };
  const quiet = (out: string) => out.split("\n").filter((l) => /error|warning|remark|incorrect|invalid/i.test(l) && !/0 Errors, 0 Warnings, 0 Remarks/.test(l));
  // Compiler ID/revision (bytes 28..35) and so the checksum (9) are iasl's own when it compiles.
  const comparable = (b: Uint8Array) => Buffer.concat([b.subarray(0, 9), b.subarray(10, 28), b.subarray(36)]);

  for (const n of [1, 255, 256, 1024]) {
    it(`${n} CPUs: iasl -d disassembles every table cleanly and recompiles it to the same bytes`, () => {
      const t = build(n);
      const sub = mkdtempSync(join(dir, `${n}-`));
      for (const x of t.tables) {
        const file = `${x.signature.toLowerCase()}.dat`;
        writeFileSync(join(sub, file), x.bytes);
        const d = iasl(sub, "-d", file);
        expect(d.status, `${x.signature}: ${d.out}`).toBe(0);
        expect(quiet(d.out), x.signature).toEqual([]);
        const dsl = readFileSync(join(sub, `${x.signature.toLowerCase()}.dsl`), "utf8");
        if (x.signature === "APIC") {
          expect((dsl.match(/\[Processor Local APIC\]/g) ?? []).length).toBe(Math.min(n, 255));
          expect((dsl.match(/\[Processor Local x2APIC\]/g) ?? []).length).toBe(Math.max(0, n - 255));
          expect((dsl.match(/\[Local x2APIC NMI\]/g) ?? []).length).toBe(n > 255 ? 1 : 0);
          expect((dsl.match(/\[I\/O APIC\]/g) ?? []).length).toBe(1);
          expect((dsl.match(/\[Interrupt Source Override\]/g) ?? []).length).toBe(2);
        }
        if (x.signature === "DSDT") expect((dsl.match(/Name \(_HID, "ACPI0007"/g) ?? []).length).toBe(n);
        // Recompile the disassembly in its own directory (iasl writes <name>.aml beside its input).
        const rc = mkdtempSync(join(sub, "rc-"));
        writeFileSync(join(rc, "t.dsl"), dsl);
        const c = iasl(rc, "t.dsl");
        expect(c.status, `${x.signature} recompile: ${c.out}`).toBe(0);
        expect(quiet(c.out), x.signature).toEqual([]);
        const again = new Uint8Array(readFileSync(join(rc, "t.aml")));
        if (x.signature === "FACS") expect(again).toEqual(x.bytes);
        else expect(comparable(again).equals(comparable(x.bytes)), `${x.signature} recompiled differs`).toBe(true);
      }
      // The RSDP: iasl compiles it from data-table source, computing both checksums itself.
      const r = new DataView(t.rsdp.bytes.buffer, t.rsdp.bytes.byteOffset);
      const hex = (v: number | bigint, w: number) => v.toString(16).toUpperCase().padStart(w, "0");
      writeFileSync(join(sub, "rsdp.asl"), [
        `[0008] Signature : "RSD PTR "`, `[0001] Checksum : 00`, `[0006] Oem ID : "VMDEV "`, `[0001] Revision : 02`,
        `[0004] RSDT Address : ${hex(r.getUint32(16, true), 8)}`, `[0004] Length : 00000024`,
        `[0008] XSDT Address : ${hex(r.getBigUint64(24, true), 16)}`, `[0001] Extended Checksum : 00`, `[0003] Reserved : 000000`, ``,
      ].join("\n"));
      const c = iasl(sub, "rsdp.asl");
      expect(c.status, c.out).toBe(0);
      expect(new Uint8Array(readFileSync(join(sub, "rsdp.aml")))).toEqual(t.rsdp.bytes);
    });
  }
});
