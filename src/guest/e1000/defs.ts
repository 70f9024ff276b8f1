// What an 8254x driver needs to know, transcribed from the PCI/PCI-X Family
// of Gigabit Ethernet Controllers Software Developer's Manual (rev. 4.0;
// section numbers at each group). Driver side only: nothing here is shared
// with the device model, so a misreading of the manual on either side shows
// up in tests instead of cancelling out.

/** Register offsets in the memory BAR (§13.4, Table 13-2). */
export const Reg = {
  CTRL: 0x0000, STATUS: 0x0008, EECD: 0x0010, EERD: 0x0014, CTRL_EXT: 0x0018, MDIC: 0x0020,
  FCAL: 0x0028, FCAH: 0x002c, FCT: 0x0030, VET: 0x0038,
  ICR: 0x00c0, ITR: 0x00c4, ICS: 0x00c8, IMS: 0x00d0, IMC: 0x00d8,
  RCTL: 0x0100, FCTTV: 0x0170, TCTL: 0x0400, TIPG: 0x0410, PBA: 0x1000,
  RDBAL: 0x2800, RDBAH: 0x2804, RDLEN: 0x2808, RDH: 0x2810, RDT: 0x2818, RDTR: 0x2820, RADV: 0x282c,
  TDBAL: 0x3800, TDBAH: 0x3804, TDLEN: 0x3808, TDH: 0x3810, TDT: 0x3818, TIDV: 0x3820, TXDCTL: 0x3828, TADV: 0x382c,
  RXCSUM: 0x5000, MTA: 0x5200, RAL: 0x5400, RAH: 0x5404, VFTA: 0x5600,
} as const;

/** Statistics registers (§13.7), clear on read. 64-bit counters are read low then high. */
export const Stat = {
  CRCERRS: 0x4000, MPC: 0x4010, COLC: 0x4028, RLEC: 0x4040, PRC64: 0x405c, PRC127: 0x4060, PRC255: 0x4064,
  PRC511: 0x4068, PRC1023: 0x406c, PRC1522: 0x4070, GPRC: 0x4074, BPRC: 0x4078, MPRC: 0x407c, GPTC: 0x4080,
  GORCL: 0x4088, GORCH: 0x408c, GOTCL: 0x4090, GOTCH: 0x4094, RNBC: 0x40a0, RUC: 0x40a4, ROC: 0x40ac,
  TORL: 0x40c0, TORH: 0x40c4, TOTL: 0x40c8, TOTH: 0x40cc, TPR: 0x40d0, TPT: 0x40d4, PTC64: 0x40d8,
  PTC127: 0x40dc, PTC255: 0x40e0, PTC511: 0x40e4, PTC1023: 0x40e8, PTC1522: 0x40ec, MPTC: 0x40f0, BPTC: 0x40f4,
  TSCTC: 0x40f8, TSCTFC: 0x40fc,
} as const;

/** CTRL (§13.4.1). */
export const Ctrl = { FD: 1 << 0, ASDE: 1 << 5, SLU: 1 << 6, FRCSPD: 1 << 11, FRCDPX: 1 << 12, RST: 1 << 26, VME: 1 << 30, PHY_RST: 1 << 31 } as const;
/** STATUS (§13.4.2). */
export const StatusBits = { FD: 1 << 0, LU: 1 << 1, SPEED_SHIFT: 6 } as const;
/** EECD (§13.4.3). */
export const Eecd = { SK: 1 << 0, CS: 1 << 1, DI: 1 << 2, DO: 1 << 3, REQ: 1 << 6, GNT: 1 << 7, PRES: 1 << 8 } as const;
/** MDIC (§13.4.7). */
export const Mdic = { REG_SHIFT: 16, PHY_SHIFT: 21, OP_WRITE: 1 << 26, OP_READ: 2 << 26, READY: 1 << 28, IE: 1 << 29, ERROR: 1 << 30 } as const;
/** Interrupt causes (§13.4.17). */
export const Icr = { TXDW: 1 << 0, TXQE: 1 << 1, LSC: 1 << 2, RXSEQ: 1 << 3, RXDMT0: 1 << 4, RXO: 1 << 6, RXT0: 1 << 7, MDAC: 1 << 9 } as const;
/** RCTL (§13.4.22). */
export const Rctl = {
  EN: 1 << 1, SBP: 1 << 2, UPE: 1 << 3, MPE: 1 << 4, LPE: 1 << 5, RDMTS_HALF: 0 << 8, MO_SHIFT: 12, BAM: 1 << 15,
  BSIZE_SHIFT: 16, VFE: 1 << 18, CFIEN: 1 << 19, BSEX: 1 << 25, SECRC: 1 << 26,
} as const;
/** TCTL (§13.4.33). */
export const Tctl = { EN: 1 << 1, PSP: 1 << 3, CT_SHIFT: 4, COLD_SHIFT: 12 } as const;
/** RXCSUM (§13.4.32). */
export const Rxcsum = { IPOFL: 1 << 8, TUOFL: 1 << 9 } as const;
/** RAH address valid (§13.5.3). */
export const RAH_AV = 1 << 31;

/** Transmit descriptor command bits (§3.3.3.1), context TUCMD (§3.3.6.1), data DCMD (§3.3.7.1). */
export const Txd = {
  EOP: 1 << 0, IFCS: 1 << 1, IC: 1 << 2, RS: 1 << 3, DEXT: 1 << 5, VLE: 1 << 6, IDE: 1 << 7,
  TUCMD_TCP: 1 << 0, TUCMD_IP: 1 << 1, TSE: 1 << 2,
  DTYP_CONTEXT: 0x0 << 20, DTYP_DATA: 0x1 << 20,
  STA_DD: 1 << 0,
  POPTS_IXSM: 1 << 0, POPTS_TXSM: 1 << 1,
} as const;

/** Receive descriptor status and errors (§3.2.3.1, §3.2.3.2). */
export const Rxd = {
  DD: 1 << 0, EOP: 1 << 1, IXSM: 1 << 2, VP: 1 << 3, TCPCS: 1 << 5, IPCS: 1 << 6,
  ERR_CE: 1 << 0, ERR_SE: 1 << 1, ERR_SEQ: 1 << 2, ERR_CXE: 1 << 4, ERR_TCPE: 1 << 5, ERR_IPE: 1 << 6, ERR_RXE: 1 << 7,
} as const;

/** PHY registers (IEEE 802.3 clause 22 and the M88 vendor ones the manual lists). */
export const Phy = { BMCR: 0, BMSR: 1, ID1: 2, ID2: 3, ANAR: 4, ANLPAR: 5, GCTRL: 9, GSTATUS: 10, PSSR: 17 } as const;
export const Bmcr = { RESET: 1 << 15, ANENABLE: 1 << 12, PDOWN: 1 << 11, ANRESTART: 1 << 9 } as const;
export const Bmsr = { LSTATUS: 1 << 2, ANEGCOMPLETE: 1 << 5 } as const;

/** EEPROM (§5): 64 words, checksum over words 00h-3Fh equals BABAh; Microwire READ is 110b + 6 address bits. */
export const Eeprom = { WORDS: 64, SUM: 0xbaba, READ_OPCODE: 0b110, OPCODE_BITS: 3, ADDR_BITS: 6 } as const;

export const DESC_BYTES = 16;
