// Inspector decoder of an NE2000 saved state (assembly/ne2k/state.ts): the
// DP8390 registers by page (DP8390D datasheet, register map), CR, ISR/IMR,
// RCR and TCR decoded; the station address (PAR0..5) and the multicast
// filter (MAR0..7) as a list of set bits; the receive ring (PSTART, PSTOP,
// BNRY, CURR); the remote DMA in progress; the RTL8029AS configuration
// registers; the PCI command and BAR0; and the frames waiting in the receive
// backlog and the host outbox.

import { CoreDefs } from "../../generated/constants.js";
import { bitList, DecodeError, flagNames, hex, macText, part, type Fields } from "../../inspect/fields.js";
import type { DeviceDecoder } from "../../inspect/types.js";

/** Tags of assembly/ne2k/state.ts. */
export const Ne2kTag = {
  BUS: 1, MAC: 2,
  CR: 10, ISR: 11, IMR: 12, DCR: 13, RCR: 14, TCR: 15, TSR: 16, RSR: 17, PSTART: 18, PSTOP: 19, BNRY: 20, CURR: 21,
  TPSR: 22, RNPP: 23, LNPP: 24, CNTR0: 25, CNTR1: 26, CNTR2: 27, "9346CR": 28, CONFIG2: 29, CONFIG3: 30, PCI_INTLINE: 31,
  TBCR: 40, RSAR: 41, RBCR: 42, CRDA: 43, RCNT: 44, CLDA: 45, AC: 46,
  DMA_MODE: 60, TX_PENDING: 61, PCI_CMD: 62, BAR0: 63, PAR: 64, MAR: 65, RAM: 66, BACKLOG: 67, OUTBOX: 68,
} as const;

/** On-card buffer RAM (assembly/ne2k/defs.ts RAM_BYTES): 16 KiB at 0x4000, pages 0x40..0x7f. */
export const RAM_BYTES = 0x4000;
/** Frames listed one by one (the count and bytes are always given). */
const MAX_LISTED_FRAMES = 32;

const ISR_BITS: Record<number, string> = { 0: "PRX", 1: "PTX", 2: "RXE", 3: "TXE", 4: "OVW", 5: "CNT", 6: "RDC", 7: "RST" };
const RCR_BITS: Record<number, string> = { 0: "SEP", 1: "AR", 2: "AB", 3: "AM", 4: "PRO", 5: "MON" };
const TSR_BITS: Record<number, string> = { 0: "PTX", 2: "COL", 3: "ABT", 4: "CRS", 5: "FU", 6: "CDH", 7: "OWC" };
const RSR_BITS: Record<number, string> = { 0: "PRX", 1: "CRC", 2: "FAE", 3: "FO", 4: "MPA", 5: "PHY", 6: "DIS", 7: "DFR" };
const DCR_BITS: Record<number, string> = { 0: "WTS", 1: "BOS", 2: "LAS", 3: "LS", 4: "ARM" };
const REMOTE_DMA = ["none", "remote read", "remote write", "send packet", "abort/complete", "abort/complete", "abort/complete", "abort/complete"];
const LOOPBACK = ["normal", "internal (NIC)", "external (ENDEC)", "external"];

function fieldName(tag: number): string | undefined {
  const e = Object.entries(Ne2kTag).find(([, v]) => v === tag);
  return e ? e[0].toLowerCase() : undefined;
}

/** A saved register: a u32 field whose value fits the register's `width` bits. */
function regOf(f: Fields, tag: number, width: 8 | 16 | 32): number {
  const v = f.u32(tag);
  if (width < 32 && v >>> width) throw new DecodeError(`field ${tag} (${fieldName(tag)}) is ${hex(v)}, wider than ${width} bits`);
  return v;
}

/** The 48-bit address of a u64 field, first octet in the low byte (PAR0 at bits 0..7). */
function macLow(v: bigint): string {
  return macText(Uint8Array.from({ length: 6 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn)));
}

function frames(b: Uint8Array, withStatus: boolean) {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const listed: Array<{ length: number; status?: string[]; dst: string; src: string; ethertype: string }> = [];
  let count = 0, bytes = 0, o = 0;
  // Bounded: each record consumes ≥ 8 bytes of the field.
  while (o < b.length) {
    if (b.length - o < 8) throw new DecodeError(`${b.length - o} trailing bytes at offset ${o}`);
    const l = dv.getUint32(o, true), st = dv.getUint32(o + 4, true);
    if (l > b.length - o - 8) throw new DecodeError(`frame ${count} claims ${l} bytes, ${b.length - o - 8} remain`);
    const fr = b.subarray(o + 8, o + 8 + l);
    if (listed.length < MAX_LISTED_FRAMES) {
      const head = l >= 14 ? { dst: macText(fr.subarray(0, 6)), src: macText(fr.subarray(6, 12)), ethertype: hex((fr[12] << 8) | fr[13], 4) } : { dst: "?", src: "?", ethertype: "?" };
      listed.push({ length: l, ...(withStatus ? { status: flagNames(st, RSR_BITS) } : {}), ...head });
    }
    count++; bytes += l; o += 8 + l;
  }
  return { frames: count, bytes, listed };
}

function decode(f: Fields) {
  const r8 = (t: number) => regOf(f, t, 8), r16 = (t: number) => regOf(f, t, 16);
  return {
    bus: part(() => { const b = f.u32(Ne2kTag.BUS); return b === 0 ? "pci" : b === 1 ? "isa" : hex(b); }),
    mac: part(() => {
      // macHi (octets 0, 1) << 32 | macLo (octets 2..5), big-endian within each.
      const m = f.u64(Ne2kTag.MAC);
      return macText(Uint8Array.from({ length: 6 }, (_, i) => Number((m >> BigInt(8 * (5 - i))) & 0xffn)));
    }),
    cr: part(() => {
      const v = r8(Ne2kTag.CR);
      return { value: hex(v, 2), state: v & 1 ? "stopped" : v & 2 ? "started" : "?", transmitting: (v & 4) !== 0, remoteDma: REMOTE_DMA[(v >>> 3) & 7], page: v >>> 6 };
    }),
    isr: part(() => flagNames(r8(Ne2kTag.ISR), ISR_BITS)),
    imr: part(() => flagNames(r8(Ne2kTag.IMR), ISR_BITS)),
    dcr: part(() => { const v = r8(Ne2kTag.DCR); return { value: hex(v, 2), flags: flagNames(v & 0x1f, DCR_BITS), fifoThreshold: (v >>> 5) & 3 }; }),
    rcr: part(() => flagNames(r8(Ne2kTag.RCR), RCR_BITS)),
    tcr: part(() => { const v = r8(Ne2kTag.TCR); return { value: hex(v, 2), inhibitCrc: (v & 1) !== 0, loopback: LOOPBACK[(v >>> 1) & 3], autoTransmitDisable: (v & 8) !== 0, collisionOffset: (v & 0x10) !== 0 }; }),
    tsr: part(() => flagNames(r8(Ne2kTag.TSR), TSR_BITS)),
    rsr: part(() => flagNames(r8(Ne2kTag.RSR), RSR_BITS)),
    ring: part(() => {
      const pstart = r8(Ne2kTag.PSTART), pstop = r8(Ne2kTag.PSTOP), bnry = r8(Ne2kTag.BNRY), curr = r8(Ne2kTag.CURR);
      const size = pstop > pstart ? pstop - pstart : 0;
      const inRing = (p: number) => p >= pstart && p < pstop;
      // Pages between the boundary's successor and CURR hold received frames the driver has not taken.
      const next = bnry + 1 >= pstop ? pstart : bnry + 1;
      const used = size && inRing(bnry) && inRing(curr) ? (curr - next + size) % size : null;
      return { pstart: hex(pstart, 2), pstop: hex(pstop, 2), bnry: hex(bnry, 2), curr: hex(curr, 2), pages: size, pagesUnread: used };
    }),
    transmit: part(() => ({ tpsr: hex(r8(Ne2kTag.TPSR), 2), tbcr: r16(Ne2kTag.TBCR), pending: f.u32(Ne2kTag.TX_PENDING) === 1 })),
    remoteDma: part(() => {
      const m = f.u32(Ne2kTag.DMA_MODE);
      return { mode: m === 0 ? "idle" : REMOTE_DMA[(m >>> 3) & 7] ?? hex(m), rsar: hex(r16(Ne2kTag.RSAR), 4), rbcr: r16(Ne2kTag.RBCR), crda: hex(r16(Ne2kTag.CRDA), 4), remaining: r16(Ne2kTag.RCNT) };
    }),
    localDma: part(() => ({ clda: hex(r16(Ne2kTag.CLDA), 4), address: hex(r16(Ne2kTag.AC), 4), rnpp: hex(r8(Ne2kTag.RNPP), 2), lnpp: hex(r8(Ne2kTag.LNPP), 2) })),
    tallies: part(() => ({ frameAlignment: r8(Ne2kTag.CNTR0), crc: r8(Ne2kTag.CNTR1), missed: r8(Ne2kTag.CNTR2) })),
    par: part(() => {
      const v = f.u64(Ne2kTag.PAR);
      if (v >> 48n) throw new DecodeError(`field ${Ne2kTag.PAR} (par) is ${hex(v)}, wider than 48 bits`);
      return macLow(v);
    }),
    mar: part(() => bitList(f.bytes(Ne2kTag.MAR, 8))),
    rtl8029: part(() => ({ cr9346: hex(r8(Ne2kTag["9346CR"]), 2), config2: hex(r8(Ne2kTag.CONFIG2), 2), config3: hex(r8(Ne2kTag.CONFIG3), 2) })),
    pci: part(() => ({ command: hex(f.u32(Ne2kTag.PCI_CMD), 4), bar0: hex(f.u32(Ne2kTag.BAR0), 8), interruptLine: r8(Ne2kTag.PCI_INTLINE) })),
    ram: part(() => ({ bytes: f.bytes(Ne2kTag.RAM, RAM_BYTES).length })),
    backlog: part(() => frames(f.bytes(Ne2kTag.BACKLOG), true)),
    outbox: part(() => frames(f.bytes(Ne2kTag.OUTBOX), false)),
  };
}

/** The NE2000 decoder for the inspector's table. */
export const ne2kDecoder: DeviceDecoder = {
  kind: CoreDefs.DeviceKind.NE2000,
  name: "ne2000",
  fieldName,
  decode: (f) => decode(f),
};
