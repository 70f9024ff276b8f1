// Changes the host makes to an 82540EM outside any guest access: its
// Ethernet address and its VLAN filter table. The host runs them on a
// quiesced device (src/net/exclusive.ts); the arguments are checked by the
// export, so each applies whole.

import { E1k, setReg } from "./device";
import { eepromBuild } from "./eeprom";
import { filterRar } from "./filter";
import { rxfVftaWrite } from "../net/filter";
import { R_RAL0, RAH_AV, R_VFTA, VFTA_WORDS } from "./regs";

/** New address `mac` (wire order, low 48 bits): the EEPROM image (words 00h-02h and the checksum, §5.6.1) and RAR[0] (§13.5.2). */
export function e1kHostSetMac(d: E1k, mac: u64): void {
  d.mac = mac;
  eepromBuild(d);
  setReg(d, R_RAL0, <u32>mac);
  setReg(d, R_RAL0 + 4, <u32>(mac >> 32) | RAH_AV);
  filterRar(d, 0);
}

/** The VFTA (§13.5.1) from 128 little-endian words at `src`, mirrored into the filter engine. */
export function e1kHostSetVfta(d: E1k, src: usize): void {
  // Bounded: VFTA_WORDS.
  for (let n: u32 = 0; n < VFTA_WORDS; n++) {
    const v = load<u32>(src + (<usize>n << 2));
    setReg(d, R_VFTA + n * 4, v);
    rxfVftaWrite(d.filter, n, v);
  }
}
