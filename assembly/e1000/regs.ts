// The Intel 82540EM's register map, from the PCI/PCI-X Family of Gigabit
// Ethernet Controllers Software Developer's Manual (8254x, rev. 4.0; "the
// manual" below, section numbers cite it), and the model's own limits. Only
// the model reads these; what the host shares is in defs.ts.

import { E1K_RAR_ENTRIES } from "./defs";

// ---- PCI function (§4.1) ----------------------------------------------------
/** PRO/1000 MT Desktop Adapter. */
export const E1K_SUBSYS: u32 = 0x001e;
export const E1K_REVISION: u32 = 0x02;
/** Power-management capability in configuration space (§4.1.1). */
export const E1K_PM_CAP: u32 = 0xdc;

// ---- Limits of the model -----------------------------------------------------
/** Devices per VM (handles 1..15). */
export const E1K_MAX_DEVICES: i32 = 16;
/** Largest frame the transmitter sends, with an inserted VLAN tag. */
export const E1K_MAX_TX_FRAME: u32 = 16388;
/** Largest TCP segmentation payload plus header gathered for one packet. */
export const E1K_MAX_TSO_PACKET: u32 = 65536 + 256;
/** Host outbox of transmitted frames (u32 length, bytes, padded to 4). */
export const E1K_TX_OUT_BYTES: u32 = 256 * 1024;

// ---- Register offsets in BAR0 (§13.4, Table 13-2) --------------------------
export const R_CTRL: u32 = 0x00000;
export const R_STATUS: u32 = 0x00008;
export const R_EECD: u32 = 0x00010;
export const R_EERD: u32 = 0x00014;
export const R_CTRL_EXT: u32 = 0x00018;
export const R_FLA: u32 = 0x0001c;
export const R_MDIC: u32 = 0x00020;
export const R_FCAL: u32 = 0x00028;
export const R_FCAH: u32 = 0x0002c;
export const R_FCT: u32 = 0x00030;
export const R_VET: u32 = 0x00038;
export const R_ICR: u32 = 0x000c0;
export const R_ITR: u32 = 0x000c4;
export const R_ICS: u32 = 0x000c8;
export const R_IMS: u32 = 0x000d0;
export const R_IMC: u32 = 0x000d8;
export const R_RCTL: u32 = 0x00100;
export const R_FCTTV: u32 = 0x00170;
export const R_TXCW: u32 = 0x00178;
export const R_RXCW: u32 = 0x00180;
export const R_TCTL: u32 = 0x00400;
export const R_TIPG: u32 = 0x00410;
export const R_AIT: u32 = 0x00458;
export const R_LEDCTL: u32 = 0x00e00;
export const R_PBA: u32 = 0x01000;
export const R_FCRTL: u32 = 0x02160;
export const R_FCRTH: u32 = 0x02168;
export const R_RDFH: u32 = 0x02410;
export const R_RDFT: u32 = 0x02418;
export const R_RDFHS: u32 = 0x02420;
export const R_RDFTS: u32 = 0x02428;
export const R_RDFPC: u32 = 0x02430;
export const R_RDBAL: u32 = 0x02800;
export const R_RDBAH: u32 = 0x02804;
export const R_RDLEN: u32 = 0x02808;
export const R_RDH: u32 = 0x02810;
export const R_RDT: u32 = 0x02818;
export const R_RDTR: u32 = 0x02820;
export const R_RXDCTL: u32 = 0x02828;
export const R_RADV: u32 = 0x0282c;
export const R_RSRPD: u32 = 0x02c00;
export const R_TXDMAC: u32 = 0x03000;
export const R_TDFH: u32 = 0x03410;
export const R_TDFT: u32 = 0x03418;
export const R_TDFHS: u32 = 0x03420;
export const R_TDFTS: u32 = 0x03428;
export const R_TDFPC: u32 = 0x03430;
export const R_TDBAL: u32 = 0x03800;
export const R_TDBAH: u32 = 0x03804;
export const R_TDLEN: u32 = 0x03808;
export const R_TDH: u32 = 0x03810;
export const R_TDT: u32 = 0x03818;
export const R_TIDV: u32 = 0x03820;
export const R_TXDCTL: u32 = 0x03828;
export const R_TADV: u32 = 0x0382c;
export const R_TSPMT: u32 = 0x03830;
/** Statistics: 0x04000..0x040FC, clear on read (§13.7). */
export const R_STATS: u32 = 0x04000;
export const R_STATS_END: u32 = 0x04100;
export const R_RXCSUM: u32 = 0x05000;
/** Multicast Table Array: 128 × 32 bits (§13.5.1). */
export const R_MTA: u32 = 0x05200;
export const MTA_WORDS: u32 = 128;
/** Receive Address Low/High: 16 pairs (§13.5.2, §13.5.3). */
export const R_RAL0: u32 = 0x05400;
export const RAR_ENTRIES: u32 = E1K_RAR_ENTRIES;
/** VLAN Filter Table Array: 128 × 32 bits (§13.5.4). */
export const R_VFTA: u32 = 0x05600;
export const VFTA_WORDS: u32 = 128;
export const R_WUC: u32 = 0x05800;
export const R_WUFC: u32 = 0x05808;
export const R_WUS: u32 = 0x05810;
export const R_MANC: u32 = 0x05820;
export const R_IPAV: u32 = 0x05838;
export const R_IP4AT: u32 = 0x05840;
export const R_IP6AT: u32 = 0x05880;
export const R_WUPL: u32 = 0x05900;
export const R_WUPM: u32 = 0x05a00;
export const R_FFLT: u32 = 0x05f00;
export const R_FFMT: u32 = 0x09000;
export const R_FFVT: u32 = 0x09800;

// Statistics registers the model counts (§13.7).
export const S_CRCERRS: u32 = 0x04000;
export const S_MPC: u32 = 0x04010;
export const S_COLC: u32 = 0x04028;
export const S_PRC64: u32 = 0x0405c;
export const S_PRC127: u32 = 0x04060;
export const S_PRC255: u32 = 0x04064;
export const S_PRC511: u32 = 0x04068;
export const S_PRC1023: u32 = 0x0406c;
export const S_PRC1522: u32 = 0x04070;
export const S_GPRC: u32 = 0x04074;
export const S_BPRC: u32 = 0x04078;
export const S_MPRC: u32 = 0x0407c;
export const S_GPTC: u32 = 0x04080;
export const S_GORCL: u32 = 0x04088;
export const S_GORCH: u32 = 0x0408c;
export const S_GOTCL: u32 = 0x04090;
export const S_GOTCH: u32 = 0x04094;
export const S_RNBC: u32 = 0x040a0;
export const S_RUC: u32 = 0x040a4;
export const S_ROC: u32 = 0x040ac;
export const S_TORL: u32 = 0x040c0;
export const S_TORH: u32 = 0x040c4;
export const S_TOTL: u32 = 0x040c8;
export const S_TOTH: u32 = 0x040cc;
export const S_TPR: u32 = 0x040d0;
export const S_TPT: u32 = 0x040d4;
export const S_PTC64: u32 = 0x040d8;
export const S_PTC127: u32 = 0x040dc;
export const S_PTC255: u32 = 0x040e0;
export const S_PTC511: u32 = 0x040e4;
export const S_PTC1023: u32 = 0x040e8;
export const S_PTC1522: u32 = 0x040ec;
export const S_MPTC: u32 = 0x040f0;
export const S_BPTC: u32 = 0x040f4;
export const S_TSCTC: u32 = 0x040f8;
export const S_TSCTFC: u32 = 0x040fc;

// ---- Register bits -------------------------------------------------------------
// CTRL (§13.4.1)
export const CTRL_FD: u32 = 1 << 0;
export const CTRL_LRST: u32 = 1 << 3;
export const CTRL_ASDE: u32 = 1 << 5;
export const CTRL_SLU: u32 = 1 << 6;
export const CTRL_SPEED_1000: u32 = 2 << 8;
export const CTRL_RST: u32 = 1 << 26;
export const CTRL_VME: u32 = 1 << 30;
export const CTRL_PHY_RST: u32 = 1 << 31;
// STATUS (§13.4.2)
export const STATUS_FD: u32 = 1 << 0;
export const STATUS_LU: u32 = 1 << 1;
export const STATUS_SPEED_1000: u32 = 2 << 6;
export const STATUS_ASDV_1000: u32 = 2 << 8;
// EECD (§13.4.3)
export const EECD_SK: u32 = 1 << 0;
export const EECD_CS: u32 = 1 << 1;
export const EECD_DI: u32 = 1 << 2;
export const EECD_DO: u32 = 1 << 3;
export const EECD_FWE_MASK: u32 = 3 << 4;
export const EECD_REQ: u32 = 1 << 6;
export const EECD_GNT: u32 = 1 << 7;
export const EECD_PRES: u32 = 1 << 8;
// EERD (§13.4.4)
export const EERD_START: u32 = 1 << 0;
export const EERD_DONE: u32 = 1 << 4;
// CTRL_EXT (§13.4.6)
export const CTRL_EXT_EE_RST: u32 = 1 << 13;
// MDIC (§13.4.7)
export const MDIC_OP_WRITE: u32 = 1 << 26;
export const MDIC_OP_READ: u32 = 2 << 26;
export const MDIC_READY: u32 = 1 << 28;
export const MDIC_IE: u32 = 1 << 29;
export const MDIC_ERROR: u32 = 1 << 30;
/** PHY address of the internal PHY. */
export const MDIC_PHY_ADDR: u32 = 1;
// Interrupt causes: ICR/ICS/IMS/IMC (§13.4.17-21)
export const ICR_TXDW: u32 = 1 << 0;
export const ICR_TXQE: u32 = 1 << 1;
export const ICR_LSC: u32 = 1 << 2;
export const ICR_RXSEQ: u32 = 1 << 3;
export const ICR_RXDMT0: u32 = 1 << 4;
export const ICR_RXO: u32 = 1 << 6;
export const ICR_RXT0: u32 = 1 << 7;
export const ICR_MDAC: u32 = 1 << 9;
export const ICR_RXCFG: u32 = 1 << 10;
export const ICR_PHYINT: u32 = 1 << 12;
export const ICR_GPI_SDP6: u32 = 1 << 13;
export const ICR_GPI_SDP7: u32 = 1 << 14;
export const ICR_TXD_LOW: u32 = 1 << 15;
export const ICR_SRPD: u32 = 1 << 16;
/** Every cause bit the 82540EM defines. */
export const ICR_VALID: u32 = 0x1f6df;
// RCTL (§13.4.22)
export const RCTL_EN: u32 = 1 << 1;
export const RCTL_SBP: u32 = 1 << 2;
export const RCTL_UPE: u32 = 1 << 3;
export const RCTL_MPE: u32 = 1 << 4;
export const RCTL_LPE: u32 = 1 << 5;
export const RCTL_LBM_MASK: u32 = 3 << 6;
export const RCTL_RDMTS_SHIFT: u32 = 8;
export const RCTL_MO_SHIFT: u32 = 12;
export const RCTL_BAM: u32 = 1 << 15;
export const RCTL_BSIZE_SHIFT: u32 = 16;
export const RCTL_VFE: u32 = 1 << 18;
export const RCTL_CFIEN: u32 = 1 << 19;
export const RCTL_CFI: u32 = 1 << 20;
export const RCTL_BSEX: u32 = 1 << 25;
export const RCTL_SECRC: u32 = 1 << 26;
// TCTL (§13.4.33)
export const TCTL_EN: u32 = 1 << 1;
export const TCTL_PSP: u32 = 1 << 3;
// Receive/transmit interrupt delay registers: FPD flushes (§13.4.30, §13.4.44)
export const DELAY_FPD: u32 = 1 << 31;
// RXCSUM (§13.4.32)
export const RXCSUM_IPOFL: u32 = 1 << 8;
export const RXCSUM_TUOFL: u32 = 1 << 9;
// RAH (§13.5.3)
export const RAH_AV: u32 = 1 << 31;
export const RAH_ASEL_MASK: u32 = 3 << 16;

// ---- Descriptors (§3.2.3, §3.3) -------------------------------------------
export const DESC_BYTES: u32 = 16;
/** Descriptor ring length granularity in bytes (RDLEN/TDLEN, §13.4.27, §13.4.39). */
export const RING_ALIGN: u32 = 128;
// Receive descriptor status and errors (§3.2.3.1, §3.2.3.2)
export const RXD_STAT_DD: u32 = 1 << 0;
export const RXD_STAT_EOP: u32 = 1 << 1;
export const RXD_STAT_IXSM: u32 = 1 << 2;
export const RXD_STAT_VP: u32 = 1 << 3;
export const RXD_STAT_TCPCS: u32 = 1 << 5;
export const RXD_STAT_IPCS: u32 = 1 << 6;
export const RXD_ERR_TCPE: u32 = 1 << 5;
export const RXD_ERR_IPE: u32 = 1 << 6;
export const RXD_ERR_RXE: u32 = 1 << 7;
// Transmit descriptor command (§3.3.3.1, §3.3.7.1)
export const TXD_CMD_EOP: u32 = 1 << 0;
export const TXD_CMD_IFCS: u32 = 1 << 1;
export const TXD_CMD_IC: u32 = 1 << 2;
export const TXD_CMD_RS: u32 = 1 << 3;
export const TXD_CMD_RPS: u32 = 1 << 4;
export const TXD_CMD_DEXT: u32 = 1 << 5;
export const TXD_CMD_VLE: u32 = 1 << 6;
export const TXD_CMD_IDE: u32 = 1 << 7;
/** Context descriptor TUCMD (§3.3.6.1). */
export const TUCMD_TCP: u32 = 1 << 0;
export const TUCMD_IP: u32 = 1 << 1;
export const TUCMD_TSE: u32 = 1 << 2;
/** Data descriptor DCMD.TSE (§3.3.7.1). */
export const DCMD_TSE: u32 = 1 << 2;
export const TXD_STAT_DD: u32 = 1 << 0;
export const TXD_DTYP_CONTEXT: u32 = 0;
export const TXD_DTYP_DATA: u32 = 1;
/** Data descriptor POPTS (§3.3.7.1). */
export const POPTS_IXSM: u32 = 1 << 0;
export const POPTS_TXSM: u32 = 1 << 1;

// ---- EEPROM (§5) ----------------------------------------------------------------
export const EEPROM_WORDS: u32 = 64;
/** The words 00h..3Fh sum to this (§5.6.35). */
export const EEPROM_SUM: u32 = 0xbaba;
export const EEPROM_CHECKSUM_WORD: u32 = 0x3f;
/** Microwire READ: start bit 1, opcode 10b (§5.3). */
export const EE_READ_OPCODE: u32 = 0x6;
export const EE_OPCODE_BITS: u32 = 3;
export const EE_ADDR_BITS: u32 = 6;

// ---- PHY (M88E1011 inside the 82540EM, §13.4.7 and the PHY register chapter) ----
export const PHY_REGS: u32 = 32;
export const PHY_BMCR: u32 = 0;
export const PHY_BMSR: u32 = 1;
export const PHY_ID1: u32 = 2;
export const PHY_ID2: u32 = 3;
export const PHY_ANAR: u32 = 4;
export const PHY_ANLPAR: u32 = 5;
export const PHY_ANER: u32 = 6;
export const PHY_NPTX: u32 = 7;
export const PHY_LPNP: u32 = 8;
export const PHY_GCTRL: u32 = 9;
export const PHY_GSTATUS: u32 = 10;
export const PHY_ESTATUS: u32 = 15;
export const PHY_PSCR: u32 = 16;
export const PHY_PSSR: u32 = 17;
export const PHY_PIER: u32 = 18;
export const PHY_PISR: u32 = 19;
export const PHY_EPSCR: u32 = 20;
export const PHY_RXERR: u32 = 21;
export const PHY_ID1_VALUE: u32 = 0x0141;
export const PHY_ID2_VALUE: u32 = 0x0c20;
export const BMCR_RESET: u32 = 1 << 15;
export const BMCR_LOOPBACK: u32 = 1 << 14;
export const BMCR_ANENABLE: u32 = 1 << 12;
export const BMCR_PDOWN: u32 = 1 << 11;
export const BMCR_ISOLATE: u32 = 1 << 10;
export const BMCR_ANRESTART: u32 = 1 << 9;
export const BMSR_LSTATUS: u32 = 1 << 2;
export const BMSR_ANEGCOMPLETE: u32 = 1 << 5;
