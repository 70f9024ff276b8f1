// Firmware tables for a Machine: its vCPUs, its IOAPIC's ID and its guest RAM.
import { describe, it, expect } from "vitest";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine } from "../../src/machine/machine.js";
import { machineFirmwareTables } from "../../src/index.js";
import { debugWasm } from "../support/core.js";
import { parseAcpi, memOf } from "./acpi-parse.js";

describe("machineFirmwareTables", () => {
  it("describes the machine's 4 vCPUs, its IOAPIC (ioapic.id=3) and its 8 MiB of RAM", async () => {
    const c = new ConfigTree(); c.load("memory.size=8M\ncpus=4\nioapic.id=3\n");
    const m = await Machine.create(c, { module: debugWasm(), variant: "debug", startVcpus: false });
    try {
      const { acpi, smbios } = machineFirmwareTables(m, { acpi: { base: 0x7f0000, rsdpAddress: 0xf0000 }, smbios: { base: 0xf0100 } });
      const p = parseAcpi(memOf([acpi.image, acpi.rsdp]), acpi.rsdp.address);
      expect(p.processors.map((x) => x.apicId)).toEqual([0, 1, 2, 3]);
      expect(p.ioapics).toEqual([{ id: 3, address: 0xfec00000, gsiBase: 0 }]);
      const t = smbios.table.bytes;
      // Type 19 (one range): 0 .. 8 MiB - 1 in KiB.
      let o = 0;
      const ranges: Array<[number, number]> = [];
      let sockets = 0;
      while (o < t.length && t[o] !== 127) {
        const d = new DataView(t.buffer, t.byteOffset + o);
        if (t[o] === 19) ranges.push([d.getUint32(4, true), d.getUint32(8, true)]);
        if (t[o] === 4) sockets++;
        let e = o + t[o + 1];
        while (t[e] !== 0 || t[e + 1] !== 0) e++;
        o = e + 2;
      }
      expect(ranges).toEqual([[0, 8 * 1024 - 1]]);
      expect(sockets).toBe(4);
    } finally { await m.destroy(); }
  });
});
