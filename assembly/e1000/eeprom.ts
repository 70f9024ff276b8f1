// The serial EEPROM (§5): a 64-word 93C46-type Microwire part the driver
// bit-bangs through EECD (§5.3, §13.4.3), plus the EERD read shortcut
// (§13.4.4). The image holds the MAC (words 00h-02h), the PCI IDs, the
// initialization control words and a checksum that makes words 00h-3Fh sum
// to BABAh (§5.6.35).
//
// Microwire read: with CS high, the driver clocks in (rising SK edges, DI)
// a start bit and opcode (110b) and 6 address bits; the EEPROM answers a
// dummy 0 and then 16 data bits, most significant first, one per rising SK
// edge, on DO. A falling CS ends the command. Writes, erases and the
// write-enable commands are not modelled: they are clocked in and ignored.

import { E1k, reg, setReg, count } from "./device";
import { E1K_DEVICE, E1K_VENDOR, E1kCounter } from "./defs";
import {
  EEPROM_WORDS, EEPROM_SUM, EEPROM_CHECKSUM_WORD, EE_READ_OPCODE, EE_OPCODE_BITS, EE_ADDR_BITS, E1K_SUBSYS, R_EECD,
  EECD_SK, EECD_CS, EECD_DI, EECD_DO, EECD_FWE_MASK, EECD_REQ, EECD_GNT, EECD_PRES, EERD_START, EERD_DONE, R_EERD,
} from "./regs";

// @ts-ignore: decorator
@inline function word(d: E1k, i: u32): u32 { return <u32>load<u16>(d.eeprom + (<usize>(i & (EEPROM_WORDS - 1)) << 1)); }
// @ts-ignore: decorator
@inline function setWord(d: E1k, i: u32, v: u32): void { store<u16>(d.eeprom + (<usize>i << 1), <u16>v); }

/** Sum of words 00h..3Fh. */
export function eepromSum(p: usize): u32 {
  let s: u32 = 0;
  for (let i: u32 = 0; i < EEPROM_WORDS; i++) s += <u32>load<u16>(p + (<usize>i << 1));
  return s & 0xffff;
}

/** Build the EEPROM image for d.mac (§5.6, Table 5-2). */
export function eepromBuild(d: E1k): void {
  memory.fill(d.eeprom, 0, <usize>EEPROM_WORDS * 2);
  const m = d.mac;
  // 00h-02h: Ethernet address, byte 0 in the low byte of word 0 (§5.6.1).
  setWord(d, 0, <u32>(m & 0xffff));
  setWord(d, 1, <u32>((m >> 16) & 0xffff));
  setWord(d, 2, <u32>((m >> 32) & 0xffff));
  setWord(d, 4, 0xffff);                 // LED configuration: default (§5.6.3)
  setWord(d, 5, 0x1000);                 // image version 1.0
  setWord(d, 8, 0x3000);                 // PBA number
  setWord(d, 9, 0x1000);
  setWord(d, 0x0a, 0x4c03);              // Init Control 1: signature 01b, load IDs, WoL never (§5.6.8)
  setWord(d, 0x0b, E1K_SUBSYS);          // Subsystem ID
  setWord(d, 0x0c, E1K_VENDOR);          // Subsystem Vendor ID
  setWord(d, 0x0d, E1K_DEVICE);          // Device ID
  setWord(d, 0x0e, E1K_VENDOR);          // Vendor ID
  setWord(d, 0x0f, 0x3000);              // Init Control 2: PAUSE and ASM_DIR (§5.6.13)
  setWord(d, 0x24, 0x0000);              // Init Control 3 port A: APM (wake) off
  for (let i: u32 = 0x30; i < EEPROM_CHECKSUM_WORD; i++) setWord(d, i, 0xffff); // boot agent area: unprogrammed
  const s = eepromSum(d.eeprom) - word(d, EEPROM_CHECKSUM_WORD);
  setWord(d, EEPROM_CHECKSUM_WORD, (EEPROM_SUM - s) & 0xffff);
}

/** EECD as read: the bits the driver drives, PRES, GNT while REQ is set, and DO. */
export function eecdRead(d: E1k): u32 {
  let v = (d.eeLast & (EECD_SK | EECD_CS | EECD_DI | EECD_FWE_MASK | EECD_REQ)) | EECD_PRES;
  if (v & EECD_REQ) v |= EECD_GNT;
  // DO: the data bit being shifted out; high (ready) when not reading; the dummy bit is 0.
  if (d.eeReading == 0) v |= EECD_DO;
  else if (d.eeOutBit >= 0) {
    const w = word(d, d.eeWord + (<u32>d.eeOutBit >> 4));
    if ((w >> (15 - (<u32>d.eeOutBit & 15))) & 1) v |= EECD_DO;
  }
  return v;
}

export function eecdWrite(d: E1k, v: u32): void {
  const old = d.eeLast;
  d.eeLast = v & (EECD_SK | EECD_CS | EECD_DI | EECD_FWE_MASK | EECD_REQ);
  setReg(d, R_EECD, d.eeLast | EECD_PRES);
  if ((v & EECD_CS) == 0) {
    // Chip select low: the command, if any, is over.
    d.eeBitsIn = 0; d.eeShift = 0; d.eeReading = 0; d.eeOutBit = -1;
    return;
  }
  if ((old & EECD_CS) == 0) {
    // Rising CS starts a command.
    d.eeBitsIn = 0; d.eeShift = 0; d.eeReading = 0; d.eeOutBit = -1;
  }
  if ((v & EECD_SK) == 0 || (old & EECD_SK) != 0) return; // act on rising clock edges only
  if (d.eeReading != 0) {
    // Bounded: the output bit index wraps within the 64-word image.
    d.eeOutBit = (d.eeOutBit + 1) & (<i32>EEPROM_WORDS * 16 - 1);
    if ((d.eeOutBit & 15) == 0) count(d, E1kCounter.EEPROM_READS);
    return;
  }
  if (d.eeBitsIn >= EE_OPCODE_BITS + EE_ADDR_BITS) return; // a command we do not model: ignore its bits
  d.eeShift = ((d.eeShift << 1) | ((v & EECD_DI) != 0 ? 1 : 0)) & 0x1ff;
  d.eeBitsIn++;
  if (d.eeBitsIn == EE_OPCODE_BITS + EE_ADDR_BITS && (d.eeShift >> EE_ADDR_BITS) == EE_READ_OPCODE) {
    d.eeReading = 1;
    d.eeWord = d.eeShift & (EEPROM_WORDS - 1);
    d.eeOutBit = -1; // the dummy zero
  }
}

/** EERD write (§13.4.4): START reads the word at ADDR (bits 15:8) at once; DONE and DATA (31:16) come back. */
export function eerdWrite(d: E1k, v: u32): void {
  if ((v & EERD_START) == 0) { setReg(d, R_EERD, v & 0xff00); return; }
  const a = (v >> 8) & 0xff;
  let r = (a << 8) | EERD_DONE;
  if (a < EEPROM_WORDS) r |= word(d, a) << 16;
  count(d, E1kCounter.EEPROM_READS);
  setReg(d, R_EERD, r);
}

export function eerdRead(d: E1k): u32 { return reg(d, R_EERD); }
