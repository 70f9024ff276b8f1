// Inspector decoder of an 82540EM saved state (assembly/e1000/state.ts): the
// register file by name (8254x manual §13), the receive and transmit rings
// (§3.2.6, §3.4), the receive address registers with their AV bit (§13.5.2),
// the multicast table and VLAN filter table as lists of set bits (§13.5.1,
// §13.5.4), interrupt and timer state, the link, the EEPROM's MAC, the PHY
// registers and the frames waiting in the backlog and the host outbox.

import { CoreDefs } from "../../generated/constants.js";
import { E1K_RAR_ENTRIES } from "./defs.js";
import { DecodeError, flagNames, hex, macText, part, type Fields } from "../../inspect/fields.js";
import type { DeviceDecoder } from "../../inspect/types.js";

/** Tags of assembly/e1000/state.ts. */
export const E1000Tag = {
  REGS: 1, EEPROM: 2, EE_STATE: 3, PHY: 4, PHY_LATCH: 5, IRQ: 6, TIMES: 7, TX: 8, LINK: 9, IOADDR: 10, PCI: 11, BACKLOG: 12, OUTBOX: 13, UNJUDGED: 14,
} as const;

/** Register offsets of assembly/e1000/regs.ts (R_*); array bases (MTA, RAL0, VFTA, ...) name their first entry. */
export const E1000Reg = {
  CTRL: 0x00000, STATUS: 0x00008, EECD: 0x00010, EERD: 0x00014, CTRL_EXT: 0x00018, FLA: 0x0001c, MDIC: 0x00020, FCAL: 0x00028,
  FCAH: 0x0002c, FCT: 0x00030, VET: 0x00038, ICR: 0x000c0, ITR: 0x000c4, ICS: 0x000c8, IMS: 0x000d0, IMC: 0x000d8, RCTL: 0x00100,
  FCTTV: 0x00170, TXCW: 0x00178, RXCW: 0x00180, TCTL: 0x00400, TIPG: 0x00410, AIT: 0x00458, LEDCTL: 0x00e00, PBA: 0x01000,
  FCRTL: 0x02160, FCRTH: 0x02168, RDFH: 0x02410, RDFT: 0x02418, RDFHS: 0x02420, RDFTS: 0x02428, RDFPC: 0x02430, RDBAL: 0x02800,
  RDBAH: 0x02804, RDLEN: 0x02808, RDH: 0x02810, RDT: 0x02818, RDTR: 0x02820, RXDCTL: 0x02828, RADV: 0x0282c, RSRPD: 0x02c00,
  TXDMAC: 0x03000, TDFH: 0x03410, TDFT: 0x03418, TDFHS: 0x03420, TDFTS: 0x03428, TDFPC: 0x03430, TDBAL: 0x03800, TDBAH: 0x03804,
  TDLEN: 0x03808, TDH: 0x03810, TDT: 0x03818, TIDV: 0x03820, TXDCTL: 0x03828, TADV: 0x0382c, TSPMT: 0x03830, STATS: 0x04000,
  STATS_END: 0x04100, RXCSUM: 0x05000, MTA: 0x05200, RAL0: 0x05400, VFTA: 0x05600, WUC: 0x05800, WUFC: 0x05808, WUS: 0x05810,
  MANC: 0x05820, IPAV: 0x05838, IP4AT: 0x05840, IP6AT: 0x05880, WUPL: 0x05900, WUPM: 0x05a00, FFLT: 0x05f00, FFMT: 0x09000,
  FFVT: 0x09800,
} as const;

export const MTA_WORDS = 128, VFTA_WORDS = 128, RAR_ENTRIES = E1K_RAR_ENTRIES, EEPROM_WORDS = 64, PHY_REGS = 32;
/** Registers of BAR0 (128 KiB): the most (offset, value) pairs a sound blob can hold. */
const MAX_PAIRS = 0x20000 / 4;
const RAH_AV = 0x8000_0000;
/** Frames listed one by one (the count and bytes are always given). */
const MAX_LISTED_FRAMES = 32;

const RCTL_BITS: Record<number, string> = { 1: "EN", 2: "SBP", 3: "UPE", 4: "MPE", 5: "LPE", 15: "BAM", 18: "VFE", 19: "CFIEN", 20: "CFI", 22: "DPF", 23: "PMCF", 25: "BSEX", 26: "SECRC" };
const TCTL_BITS: Record<number, string> = { 1: "EN", 3: "PSP", 22: "SWXOFF", 24: "RTLC", 25: "NRTU" };
const ICR_BITS: Record<number, string> = { 0: "TXDW", 1: "TXQE", 2: "LSC", 3: "RXSEQ", 4: "RXDMT0", 6: "RXO", 7: "RXT0", 9: "MDAC", 10: "RXCFG", 12: "PHYINT", 13: "GPI_SDP6", 14: "GPI_SDP7", 15: "TXD_LOW", 16: "SRPD" };

const REG_NAME = new Map<number, string>(Object.entries(E1000Reg).filter(([n]) => n !== "STATS_END").map(([n, o]) => [o, n]));

function fieldName(tag: number): string | undefined {
  const e = Object.entries(E1000Tag).find(([, v]) => v === tag);
  return e ? e[0].toLowerCase() : undefined;
}

/** The saved (offset, value) pairs as a map; offsets must be dword-aligned registers of BAR0. */
function registerFile(f: Fields): Map<number, number> {
  const b = f.bytes(E1000Tag.REGS);
  if (b.length % 8) throw new DecodeError(`registers: ${b.length} bytes is not a whole number of (offset, value) pairs`);
  const n = b.length / 8;
  if (n > MAX_PAIRS) throw new DecodeError(`registers: ${n} pairs, BAR0 holds ${MAX_PAIRS}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const m = new Map<number, number>();
  // Bounded by the pair count (≤ MAX_PAIRS).
  for (let i = 0; i < n; i++) {
    const off = dv.getUint32(8 * i, true);
    if (off & 3 || off >= 0x20000) throw new DecodeError(`registers: pair ${i} names offset ${hex(off)}, not a register of BAR0`);
    if (!m.has(off)) m.set(off, dv.getUint32(8 * i + 4, true));
  }
  return m;
}

function arrayBits(regs: Map<number, number>, base: number, words: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < words; i++) {
    const v = regs.get(base + 4 * i) ?? 0;
    if (v) for (let k = 0; k < 32; k++) if ((v >>> k) & 1) out.push(i * 32 + k);
  }
  return out;
}

function decodeRegs(regs: Map<number, number>) {
  const r = (o: number) => regs.get(o) ?? 0;
  const named: Record<string, string> = {};
  const other: Record<string, string> = {};
  const inArray = (o: number) => (o >= E1000Reg.STATS && o < E1000Reg.STATS_END) || (o >= E1000Reg.MTA && o < E1000Reg.MTA + 4 * MTA_WORDS) ||
    (o >= E1000Reg.RAL0 && o < E1000Reg.RAL0 + 8 * RAR_ENTRIES) || (o >= E1000Reg.VFTA && o < E1000Reg.VFTA + 4 * VFTA_WORDS);
  for (const [o, v] of [...regs].sort((a, b) => a[0] - b[0])) {
    if (inArray(o)) continue;
    const n = REG_NAME.get(o);
    if (n) named[n] = hex(v, 8);
    else if (v) other[hex(o, 5)] = hex(v, 8);
  }
  const ring = (bal: number, bah: number, len: number, head: number, tail: number) => ({
    base: hex((BigInt(r(bah)) << 32n) | BigInt(r(bal))), length: r(len), descriptors: Math.floor(r(len) / 16), head: r(head), tail: r(tail),
  });
  const rctl = r(E1000Reg.RCTL);
  const stats: Record<string, string> = {};
  for (let o = E1000Reg.STATS; o < E1000Reg.STATS_END; o += 4) if (r(o)) stats[hex(o, 5)] = String(r(o));
  return {
    registers: named,
    otherRegisters: other,
    rctl: { value: hex(rctl, 8), flags: flagNames((rctl & ~(3 << 6 | 3 << 8 | 3 << 12 | 3 << 16)) >>> 0, RCTL_BITS), multicastOffset: (rctl >>> 12) & 3, bufferSizeCode: (rctl >>> 16) & 3, rdmts: (rctl >>> 8) & 3 },
    tctl: { value: hex(r(E1000Reg.TCTL), 8), flags: flagNames((r(E1000Reg.TCTL) & ~(0xff << 4 | 0x3ff << 12)) >>> 0, TCTL_BITS), collisionThreshold: (r(E1000Reg.TCTL) >>> 4) & 0xff, collisionDistance: (r(E1000Reg.TCTL) >>> 12) & 0x3ff },
    rxRing: ring(E1000Reg.RDBAL, E1000Reg.RDBAH, E1000Reg.RDLEN, E1000Reg.RDH, E1000Reg.RDT),
    txRing: ring(E1000Reg.TDBAL, E1000Reg.TDBAH, E1000Reg.TDLEN, E1000Reg.TDH, E1000Reg.TDT),
    receiveAddresses: Array.from({ length: RAR_ENTRIES }, (_, i) => {
      const lo = r(E1000Reg.RAL0 + 8 * i), hi = r(E1000Reg.RAL0 + 8 * i + 4);
      const m = new Uint8Array([lo, lo >>> 8, lo >>> 16, lo >>> 24, hi, hi >>> 8]);
      return { index: i, mac: macText(m), valid: (hi & RAH_AV) !== 0, addressSelect: (hi >>> 16) & 3 };
    }).filter((e, i) => e.valid || r(E1000Reg.RAL0 + 8 * i) || r(E1000Reg.RAL0 + 8 * i + 4)),
    multicastTable: arrayBits(regs, E1000Reg.MTA, MTA_WORDS),
    vlanFilter: arrayBits(regs, E1000Reg.VFTA, VFTA_WORDS),
    statistics: stats,
  };
}

function frames(b: Uint8Array, padded: boolean) {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const listed: Array<{ length: number; dst: string; src: string; ethertype: string }> = [];
  let count = 0, bytes = 0, o = 0;
  // Bounded: each step consumes ≥ 4 bytes of the field.
  while (o < b.length) {
    if (b.length - o < 4) throw new DecodeError(`${b.length - o} trailing bytes at offset ${o}`);
    const l = dv.getUint32(o, true);
    const room = padded ? ((l + 3) & ~3) >>> 0 : l;
    if (l > b.length - o - 4 || room > b.length - o - 4) throw new DecodeError(`frame ${count} claims ${l} bytes, ${b.length - o - 4} remain`);
    const fr = b.subarray(o + 4, o + 4 + l);
    if (listed.length < MAX_LISTED_FRAMES) {
      listed.push(l >= 14 ? { length: l, dst: macText(fr.subarray(0, 6)), src: macText(fr.subarray(6, 12)), ethertype: hex((fr[12] << 8) | fr[13], 4) } : { length: l, dst: "?", src: "?", ethertype: "?" });
    }
    count++; bytes += l; o += 4 + room;
  }
  return { frames: count, bytes, listed };
}

function decode(f: Fields) {
  const regs = part(() => registerFile(f));
  return {
    ...("error" in regs ? { registers: regs } : decodeRegs(regs)),
    interrupts: part(() => {
      const v = f.view(E1000Tag.IRQ, 20);
      const icr = v.getUint32(0, true), ims = v.getUint32(4, true);
      return { icr: flagNames(icr, ICR_BITS), ims: flagNames(ims, ICR_BITS), line: v.getUint32(8, true) === 1, throttled: v.getUint32(12, true) === 1, rxBelowThreshold: v.getUint32(16, true) === 1 };
    }),
    timers: part(() => {
      const v = f.view(E1000Tag.TIMES, 48);
      const t = (o: number) => { const x = v.getBigUint64(o, true); return x === 0xffff_ffff_ffff_ffffn ? "none" : hex(x); };
      return { lastNow: t(0), itr: t(8), rxPacket: t(16), rxAbsolute: t(24), txPacket: t(32), txAbsolute: t(40) };
    }),
    transmit: part(() => {
      const v = f.view(E1000Tag.TX, 40);
      return { segmentsDone: v.getUint32(32, true), stalled: v.getUint32(36, true) === 1 };
    }),
    link: part(() => (f.u32(E1000Tag.LINK) === 1 ? "up" : "down")),
    ioaddr: part(() => hex(f.u32(E1000Tag.IOADDR))),
    eeprom: part(() => {
      const b = f.bytes(E1000Tag.EEPROM, EEPROM_WORDS * 2);
      let sum = 0;
      for (let i = 0; i < EEPROM_WORDS; i++) sum = (sum + (b[2 * i] | (b[2 * i + 1] << 8))) & 0xffff;
      return { mac: macText(b.subarray(0, 6)), checksum: hex(sum, 4), checksumValid: sum === 0xbaba };
    }),
    phy: part(() => {
      const b = f.bytes(E1000Tag.PHY, PHY_REGS * 2);
      return Array.from({ length: PHY_REGS }, (_, i) => hex(b[2 * i] | (b[2 * i + 1] << 8), 4));
    }),
    backlog: part(() => frames(f.bytes(E1000Tag.BACKLOG), false)),
    outbox: part(() => frames(f.bytes(E1000Tag.OUTBOX), true)),
    /** Frames at the backlog's tail held while quiesced, judged by the filter on delivery (absent: none). */
    backlogUnjudged: part(() => (f.has(E1000Tag.UNJUDGED) ? f.u32(E1000Tag.UNJUDGED) : 0)),
  };
}

/** The e1000 decoder for the inspector's table. */
export const e1000Decoder: DeviceDecoder = {
  kind: CoreDefs.DeviceKind.E1000,
  name: "e1000",
  fieldName,
  decode: (f) => decode(f),
};
