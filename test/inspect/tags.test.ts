// The decoders' field tags are the ones the wasm writes: each table is checked
// against the `T_*` constants of the state file it reads, both ways, so a tag
// added, renumbered or removed on either side fails here.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { NetTag, RF, FILTER_MAC_ENTRIES, FILTER_BYTES } from "../../src/devices/virtio-net/inspect.js";
import { ApicTag } from "../../src/devices/apic/inspect.js";
import { IoapicTag } from "../../src/devices/ioapic/inspect.js";
import { MemtestTag } from "../../src/devices/memtest/inspect.js";
import { E1000Tag, E1000Reg, MTA_WORDS, VFTA_WORDS, RAR_ENTRIES, EEPROM_WORDS, PHY_REGS } from "../../src/devices/e1000/inspect.js";
import { Ne2kTag, RAM_BYTES } from "../../src/devices/ne2k/inspect.js";
import { VirtioTag, QUEUE_RECORD } from "../../src/inspect/virtqueue.js";
import { ClockTag, GuestMemoryTag } from "../../src/inspect/core.js";

const root = new URL("../../", import.meta.url);
/** `T_NAME: u32 = N` (and `QUEUE_TAG`) of an assembly file, as NAME → N. */
function tagsOf(path: string): Record<string, number> {
  const text = readFileSync(new URL(path, root), "utf8");
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/\bT_([A-Z0-9_]+): u(?:16|32) = (\d+)/g)) out[m[1]] = Number(m[2]);
  const q = /\bQUEUE_TAG: u32 = (\d+)/.exec(text);
  if (q) out.QUEUE = Number(q[1]);
  return out;
}

describe("inspector tags match the wasm's state files", () => {
  const cases: Array<[string, string, Record<string, number>]> = [
    ["virtio core", "assembly/virtio/state.ts", VirtioTag],
    ["virtio-net", "assembly/virtio-net/state.ts", NetTag],
    ["local APIC", "assembly/apic/state.ts", ApicTag],
    ["IOAPIC", "assembly/ioapic/state.ts", IoapicTag],
    ["memtest", "assembly/memtest/device.ts", MemtestTag],
    ["e1000", "assembly/e1000/state.ts", E1000Tag],
    ["NE2000", "assembly/ne2k/state.ts", Ne2kTag],
    ["guest clock", "assembly/machine/clock.ts", ClockTag],
    ["guest-memory layout", "assembly/core/vm.ts", GuestMemoryTag],
  ];
  for (const [name, file, table] of cases) it(name, () => expect({ ...table }).toEqual(tagsOf(file)));

  it("the e1000 register offsets and table sizes (assembly/e1000/regs.ts)", () => {
    const text = readFileSync(new URL("assembly/e1000/regs.ts", root), "utf8");
    const regs: Record<string, number> = {};
    for (const m of text.matchAll(/^export const R_([A-Z0-9_]+): u32 = (0x[0-9a-f]+);/gm)) regs[m[1]] = Number(m[2]);
    expect({ ...E1000Reg }).toEqual(regs);
    // RAR_ENTRIES is defs.ts's E1K_RAR_ENTRIES (generated for TS); the rest are literals in regs.ts.
    const defs = readFileSync(new URL("assembly/e1000/defs.ts", root), "utf8");
    const n = (name: string) => Number(new RegExp(`\\b${name}: u32 = (\\d+);`).exec(name === "RAR_ENTRIES" ? defs.replace("E1K_RAR_ENTRIES", "RAR_ENTRIES") : text)?.[1]);
    expect([MTA_WORDS, VFTA_WORDS, RAR_ENTRIES, EEPROM_WORDS, PHY_REGS]).toEqual([n("MTA_WORDS"), n("VFTA_WORDS"), n("RAR_ENTRIES"), n("EEPROM_WORDS"), n("PHY_REGS")]);
  });

  it("the NE2000 card RAM size (assembly/ne2k/defs.ts)", () => {
    expect(/\bRAM_BYTES: u32 = (0x[0-9a-f]+);/.exec(readFileSync(new URL("assembly/ne2k/defs.ts", root), "utf8"))?.[1]).toBe(`0x${RAM_BYTES.toString(16)}`);
  });

  it("the virtio queue record size", () => {
    expect(/\bQREC: u32 = (\d+)/.exec(readFileSync(new URL("assembly/virtio/state.ts", root), "utf8"))?.[1]).toBe(String(QUEUE_RECORD));
  });

  it("the virtio-net receive filter layout (saved verbatim)", () => {
    const text = readFileSync(new URL("assembly/virtio-net/filter.ts", root), "utf8");
    expect(/\bFILTER_MAC_ENTRIES: u32 = (\d+)/.exec(text)?.[1]).toBe(String(FILTER_MAC_ENTRIES));
    const plain: Record<string, number> = {};
    for (const m of text.matchAll(/\bRF_([A-Z_]+): usize = (\d+);/g)) plain[m[1]] = Number(m[2]);
    expect(plain).toEqual({ FLAGS: RF.FLAGS, UC_COUNT: RF.UC_COUNT, MC_COUNT: RF.MC_COUNT, UC_OVERFLOW: RF.UC_OVERFLOW, MC_OVERFLOW: RF.MC_OVERFLOW, VLAN_ON: RF.VLAN_ON, MAC: RF.MAC, UC: RF.UC });
    // RF_MC, RF_VLAN and FILTER_BYTES follow from these (two tables of 6-byte entries, 4096 VLAN bits).
    expect(FILTER_BYTES).toBe(RF.UC + 2 * FILTER_MAC_ENTRIES * 6 + 512);
  });
});
