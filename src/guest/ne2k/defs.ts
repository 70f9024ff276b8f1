// DP8390 registers and bits as a driver sees them, from the National
// Semiconductor DP8390D data sheet (July 1995) and the NE2000 board's port
// map. Written for the driver model on its own, not shared with the device
// model, so that a misreading on one side shows up as a failing test.

/** NE2000 port window: registers 0x00-0x0f, data port 0x10, reset port 0x1f. */
export const Port = { CMD: 0x00, DATA: 0x10, RESET: 0x1f, WINDOW: 0x20 } as const;

/** Page 0 (read). */
export const P0R = { CLDA0: 0x01, CLDA1: 0x02, BNRY: 0x03, TSR: 0x04, NCR: 0x05, FIFO: 0x06, ISR: 0x07, CRDA0: 0x08, CRDA1: 0x09, ID0: 0x0a, ID1: 0x0b, RSR: 0x0c, CNTR0: 0x0d, CNTR1: 0x0e, CNTR2: 0x0f } as const;
/** Page 0 (write). */
export const P0W = { PSTART: 0x01, PSTOP: 0x02, BNRY: 0x03, TPSR: 0x04, TBCR0: 0x05, TBCR1: 0x06, ISR: 0x07, RSAR0: 0x08, RSAR1: 0x09, RBCR0: 0x0a, RBCR1: 0x0b, RCR: 0x0c, TCR: 0x0d, DCR: 0x0e, IMR: 0x0f } as const;
/** Page 1. */
export const P1 = { PAR0: 0x01, CURR: 0x07, MAR0: 0x08 } as const;
/** Page 2 (read back of the page-0 write-only registers). */
export const P2 = { PSTART: 0x01, PSTOP: 0x02, RNPP: 0x03, TPSR: 0x04, LNPP: 0x05, RCR: 0x0c, TCR: 0x0d, DCR: 0x0e, IMR: 0x0f } as const;

/** Command register. */
export const Cmd = { STP: 0x01, STA: 0x02, TXP: 0x04, RREAD: 0x08, RWRITE: 0x10, SEND: 0x18, NODMA: 0x20, PAGE0: 0x00, PAGE1: 0x40, PAGE2: 0x80, PAGE3: 0xc0 } as const;

/** Interrupt status / mask bits. */
export const Isr = { PRX: 0x01, PTX: 0x02, RXE: 0x04, TXE: 0x08, OVW: 0x10, CNT: 0x20, RDC: 0x40, RST: 0x80 } as const;
/** The interrupts a driver enables: everything but RDC (polled) and RST (not an interrupt). */
export const IMR_DRIVER = 0x3f;

/** Data configuration: word transfer, byte order, long address, loopback select (normal), auto-init remote, FIFO threshold. */
export const Dcr = { WTS: 0x01, BOS: 0x02, LAS: 0x04, LS: 0x08, ARM: 0x10, FT8: 0x40 } as const;
/** Transmit configuration: loopback modes in bits 1-2. */
export const Tcr = { NORMAL: 0x00, LOOPBACK1: 0x02, LOOPBACK2: 0x04, LOOPBACK3: 0x06 } as const;
/** Receive configuration. */
export const Rcr = { SEP: 0x01, AR: 0x02, AB: 0x04, AM: 0x08, PRO: 0x10, MON: 0x20 } as const;
/** Receive status (the first byte of each packet header). */
export const Rsr = { PRX: 0x01, CRC: 0x02, FAE: 0x04, FO: 0x08, MPA: 0x10, PHY: 0x20, DIS: 0x40, DFR: 0x80 } as const;
/** Transmit status. */
export const Tsr = { PTX: 0x01, COL: 0x04, ABT: 0x08, CRS: 0x10, FU: 0x20, CDH: 0x40, OWC: 0x80 } as const;

/** NE2000 buffer memory: 16 KiB at 0x4000 (pages 0x40-0x7f); the PROM at 0. */
export const NE_MEM_START_PAGE = 0x40;
export const NE_MEM_STOP_PAGE = 0x80;
/** The 4-byte header the NIC stores before each received packet. */
export const PKT_HEADER = 4;
export const ETH_ZLEN = 60;
export const ETH_FRAME_MAX = 1518;
