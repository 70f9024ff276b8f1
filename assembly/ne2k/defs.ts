// NE2000 (DP8390 core, RTL8029 PCI function) constants: the register map
// and bits of the National Semiconductor DP8390D data sheet ("Register
// Descriptions", §6-7 of the July 1995 edition), the NE2000 board's port
// window and memory map, and the device's own limits and counters. The build
// generates the host's copy (src/generated/constants.ts Ne2kDefs) from this
// file and test/abi pins the values.

// ---- Port window of an NE2000 board (32 ports) ----
export const NE_PORTS: u32 = 32;
/** 0x00-0x0f: the DP8390's 16 registers of the page selected by CR.PS. */
export const NE_REGS_END: u32 = 0x10;
/** 0x10-0x17: the remote-DMA data port (any offset in the window). */
export const NE_DATA: u32 = 0x10;
/** 0x18-0x1f: the reset port: a read resets the board, a write does nothing. */
export const NE_RESET: u32 = 0x18;

// ---- Register offsets (DP8390D Table "Register Address Map") ----
export const R_CR: u32 = 0x00;
// Page 0, read.
export const P0R_CLDA0: u32 = 0x01;
export const P0R_CLDA1: u32 = 0x02;
export const P0_BNRY: u32 = 0x03;
export const P0R_TSR: u32 = 0x04;
export const P0R_NCR: u32 = 0x05;
export const P0R_FIFO: u32 = 0x06;
export const P0_ISR: u32 = 0x07;
export const P0R_CRDA0: u32 = 0x08;
export const P0R_CRDA1: u32 = 0x09;
/** Reserved on the DP8390; the RTL8029 reads its ID here ('P', 'C'). */
export const P0R_ID0: u32 = 0x0a;
export const P0R_ID1: u32 = 0x0b;
export const P0R_RSR: u32 = 0x0c;
export const P0R_CNTR0: u32 = 0x0d;
export const P0R_CNTR1: u32 = 0x0e;
export const P0R_CNTR2: u32 = 0x0f;
// Page 0, write.
export const P0W_PSTART: u32 = 0x01;
export const P0W_PSTOP: u32 = 0x02;
export const P0W_TPSR: u32 = 0x04;
export const P0W_TBCR0: u32 = 0x05;
export const P0W_TBCR1: u32 = 0x06;
export const P0W_RSAR0: u32 = 0x08;
export const P0W_RSAR1: u32 = 0x09;
export const P0W_RBCR0: u32 = 0x0a;
export const P0W_RBCR1: u32 = 0x0b;
export const P0W_RCR: u32 = 0x0c;
export const P0W_TCR: u32 = 0x0d;
export const P0W_DCR: u32 = 0x0e;
export const P0W_IMR: u32 = 0x0f;
// Page 1, read/write.
export const P1_PAR0: u32 = 0x01;
export const P1_CURR: u32 = 0x07;
export const P1_MAR0: u32 = 0x08;
// Page 2 (diagnostics: read the page-0 write-only registers back).
export const P2R_PSTART: u32 = 0x01;
export const P2R_PSTOP: u32 = 0x02;
export const P2_RNPP: u32 = 0x03;
export const P2R_TPSR: u32 = 0x04;
export const P2_LNPP: u32 = 0x05;
export const P2_ACU: u32 = 0x06;
export const P2_ACL: u32 = 0x07;
export const P2R_RCR: u32 = 0x0c;
export const P2R_TCR: u32 = 0x0d;
export const P2R_DCR: u32 = 0x0e;
export const P2R_IMR: u32 = 0x0f;
// Page 3 (RTL8029AS: configuration registers behind the 93C46 command register).
export const P3_9346CR: u32 = 0x01;
export const P3_CONFIG0: u32 = 0x03;
export const P3_CONFIG2: u32 = 0x05;
export const P3_CONFIG3: u32 = 0x06;

// ---- CR (Command Register) ----
export const CR_STP: u32 = 0x01;
export const CR_STA: u32 = 0x02;
export const CR_TXP: u32 = 0x04;
/** RD2..RD0: 001 remote read, 010 remote write, 011 send packet, 1xx abort/complete remote DMA. */
export const CR_RD_MASK: u32 = 0x38;
export const CR_RD_READ: u32 = 0x08;
export const CR_RD_WRITE: u32 = 0x10;
export const CR_RD_SEND: u32 = 0x18;
export const CR_RD_ABORT: u32 = 0x20;
export const CR_PS_SHIFT: u32 = 6;

// ---- ISR / IMR ----
export const ISR_PRX: u32 = 0x01;
export const ISR_PTX: u32 = 0x02;
export const ISR_RXE: u32 = 0x04;
export const ISR_TXE: u32 = 0x08;
export const ISR_OVW: u32 = 0x10;
export const ISR_CNT: u32 = 0x20;
export const ISR_RDC: u32 = 0x40;
/** Set in the reset (stopped) state and on ring overflow; not cleared by writing it, not maskable. */
export const ISR_RST: u32 = 0x80;
/** The ISR bits IMR can enable (IMR bit 7 is reserved). */
export const IMR_MASK: u32 = 0x7f;

// ---- DCR ----
export const DCR_WTS: u32 = 0x01;
export const DCR_BOS: u32 = 0x02;
export const DCR_LAS: u32 = 0x04;
export const DCR_LS: u32 = 0x08;
export const DCR_ARM: u32 = 0x10;
export const DCR_MASK: u32 = 0x7f;

// ---- TCR ----
export const TCR_CRC: u32 = 0x01;
export const TCR_LB_MASK: u32 = 0x06;
export const TCR_ATD: u32 = 0x08;
export const TCR_OFST: u32 = 0x10;
export const TCR_MASK: u32 = 0x1f;

// ---- RCR ----
export const RCR_SEP: u32 = 0x01;
export const RCR_AR: u32 = 0x02;
export const RCR_AB: u32 = 0x04;
export const RCR_AM: u32 = 0x08;
export const RCR_PRO: u32 = 0x10;
export const RCR_MON: u32 = 0x20;
export const RCR_MASK: u32 = 0x3f;

// ---- RSR (also the status byte of each receive header) ----
export const RSR_PRX: u32 = 0x01;
export const RSR_CRC: u32 = 0x02;
export const RSR_FAE: u32 = 0x04;
export const RSR_FO: u32 = 0x08;
export const RSR_MPA: u32 = 0x10;
export const RSR_PHY: u32 = 0x20;
export const RSR_DIS: u32 = 0x40;
export const RSR_DFR: u32 = 0x80;

// ---- TSR ----
export const TSR_PTX: u32 = 0x01;
export const TSR_COL: u32 = 0x04;
export const TSR_ABT: u32 = 0x08;
export const TSR_CRS: u32 = 0x10;
export const TSR_FU: u32 = 0x20;
export const TSR_CDH: u32 = 0x40;
export const TSR_OWC: u32 = 0x80;

// ---- RTL8029AS page 3 ----
/** 9346CR EEM1..0 = 11: CONFIG2/CONFIG3 writable. */
export const EEM_CONFIG_WRITE: u32 = 0xc0;
/** CONFIG3 FUDUP: full duplex (the link has no collisions to avoid either way). */
export const CONFIG3_FUDUP: u32 = 0x40;
/** RTL8029 ID in page 0 registers 0x0a/0x0b. */
export const RTL8029_ID0: u32 = 0x50;
export const RTL8029_ID1: u32 = 0x43;

// ---- NE2000 board memory map, as the remote DMA sees it ----
/** Station address PROM: 16 bytes, each doubled (word-wide board), at 0x0000-0x001f. */
export const PROM_BYTES: u32 = 32;
/** On-card buffer RAM: 16 KiB at 0x4000-0x7fff (pages 0x40-0x7f). */
export const RAM_START: u32 = 0x4000;
export const RAM_BYTES: u32 = 0x4000;
export const RAM_END: u32 = RAM_START + RAM_BYTES;
export const RAM_FIRST_PAGE: u32 = RAM_START >> 8;
export const RAM_END_PAGE: u32 = RAM_END >> 8;
/** Value of a byte the remote DMA reads where nothing is decoded. */
export const UNMAPPED_BYTE: u32 = 0xff;

// ---- Frames ----
/** Receive header the DP8390 writes before each frame: status, next page, count (low, high). */
export const RX_HEADER: u32 = 4;
/** Shortest frame on the wire without FCS (IEEE 802.3 §4.2.3.3 pads to it). */
export const MIN_FRAME: u32 = 60;
/** Longest frame the device carries: 1514 + one 802.1Q tag, no FCS. */
export const MAX_FRAME: u32 = 1518;
/** Shortest frame the host may hand in or the guest may send: an Ethernet header. */
export const ETH_HEADER: u32 = 14;

// ---- Device limits ----
export const MAX_NE2K: i32 = 8;
export const BUS_PCI: u32 = 0;
export const BUS_ISA: u32 = 1;
/** Receive backlog, frames: default and bounds. */
export const DEFAULT_BACKLOG: u32 = 256;
export const MAX_BACKLOG: u32 = 4096;
/** Frames the host outbox holds before a transmission waits (CR.TXP stays set). */
export const OUTBOX_FRAMES: u32 = 8;
/** Bytes of one backlog or outbox slot: u32 length, then the frame, rounded to 16. */
export const SLOT_BYTES: u32 = 1536;
/**
 * Data-port accesses one read-ahead or write-behind run covers at most
 * (ne2k_run_read, ne2k_run_write_budget): the most remote-DMA work one guest
 * port access can cause, 4 KiB with 32-bit accesses.
 */
export const RUN_MAX: u32 = 1024;

// Bits of the host-flags word (ne2k_host_flags_ptr).
/** Frames wait in the host outbox. */
export const HOST_FLAG_TX: u32 = 1;
/** The interrupt line is asserted. */
export const HOST_FLAG_LINE: u32 = 4;
/** The receive filter changed (RCR.PRO/AM, MAR; power-on, restore): ne2k_filter_take. */
export const HOST_FLAG_FILTER: u32 = 8;

/** PCI IDs of the RTL8029 and the BAR0 I/O window. */
export const PCI_VENDOR: u32 = 0x10ec;
export const PCI_DEVICE: u32 = 0x8029;
export const PCI_CLASS_ETHERNET: u32 = 0x020000;
export const BAR0_SIZE: u32 = 32;

// ---- Device counters (u64 each, at ne2k_counters_ptr) ----
export namespace Ne2kCounter {
  /** An access of a width or at an offset the board does not decode as such. */
  export const BAD_ACCESS = 0;
  /** A port access while PCI I/O space was disabled (reads all ones, writes dropped). */
  export const IO_DISABLED = 1;
  /** An access to a page-3 register the model does not have (reads 0, writes dropped). */
  export const REG_UNMODELLED = 2;
  /** A data-port access with no remote DMA in progress (reads ones, writes dropped). */
  export const DMA_IDLE = 3;
  /** A remote-DMA byte outside the PROM and RAM (reads ones, writes dropped), or a write to the PROM. */
  export const DMA_OUTSIDE = 4;
  /** A remote-DMA command the model refuses: RD=000, send packet (see model.ts). */
  export const DMA_REFUSED = 5;
  export const TX_FRAMES = 6;
  export const TX_BYTES = 7;
  /** TXP with a byte count or start page that is not a frame in RAM: TSR.ABT, ISR.TXE. */
  export const TX_MALFORMED = 8;
  /** Frames looped back to the receiver (TCR.LB ≠ 0). */
  export const TX_LOOPBACK = 9;
  /** Transmissions that waited for the host outbox (back-pressure on TX). */
  export const TX_STALLS = 10;
  /** TXP written while the NIC was stopped (ignored, as the data sheet says). */
  export const TX_WHILE_STOPPED = 11;
  export const RX_FRAMES = 12;
  export const RX_BYTES = 13;
  /** Frames the address filter refused (all classes). */
  export const RX_FILTERED = 14;
  /** Of those, group-addressed frames (AM clear, or their MAR bit clear). */
  export const RX_MULTICAST_FILTERED = 15;
  /** Frames that waited in the backlog because the ring was full. */
  export const RX_BACKLOGGED = 16;
  /** Frames lost: the ring and the backlog were full (ISR.OVW, CNTR2). */
  export const RX_DROPPED = 17;
  /** Frames that arrived while the NIC was stopped or in loopback (not received, as on the wire). */
  export const RX_OFFLINE = 18;
  /** Frames accepted in monitor mode: counted in CNTR2, not stored. */
  export const RX_MONITOR = 19;
  /** Frames longer than the programmed ring can ever hold (dropped, CNTR2). */
  export const RX_TOO_BIG = 20;
  /** Host frames shorter than 14 or longer than MAX_FRAME bytes (refused). */
  export const RX_INVALID = 21;
  /** Arrivals while the ring registers are not a ring in RAM (the frame waits). */
  export const RX_RING_INVALID = 22;
  /** Frames stored while BNRY lay outside the ring (no overwrite protection, as on the chip). */
  export const RX_NO_BOUNDARY = 23;
  /** Frames that moved from the backlog into the ring. */
  export const BACKLOG_DRAINED = 24;
  export const RX_MULTICAST = 25;
  export const RX_BROADCAST = 26;
  /** Rising edges of the interrupt line. */
  export const IRQ_RAISED = 27;
  /** Board resets (reset port, host reset). */
  export const RESETS = 28;
  /** ISR.OVW events (each also counts its frame in RX_DROPPED). */
  export const OVERFLOWS = 29;
}
export const NE2K_COUNTERS: u32 = 32;
