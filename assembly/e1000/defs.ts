// Constants of the Intel 82540EM model that the host shares: the PCI
// identity and BARs, the limits of e1k_create and e1k_receive, what
// e1k_pending reports and the device's counters. scripts/build-wasm.mjs
// generates E1000Defs in src/generated/constants.ts from this file and
// test/abi pins the values. The manual's register map, which only the model
// reads, is regs.ts.

// ---- PCI function (§4.1) ----------------------------------------------------
export const E1K_VENDOR: u32 = 0x8086;
export const E1K_DEVICE: u32 = 0x100e;
/** BAR0: the register space, 128 KiB of memory (§13.1). */
export const E1K_BAR_MMIO: u32 = 0;
export const E1K_MMIO_BYTES: u32 = 0x20000;
/** BAR1: the I/O window, IOADDR at 0 and IODATA at 4 (§13.2). */
export const E1K_BAR_IO: u32 = 1;
export const E1K_IO_BYTES: u32 = 0x40;

// ---- Limits of the model -----------------------------------------------------
/** Largest frame the receiver takes (with LPE), without FCS. */
export const E1K_MAX_RX_FRAME: u32 = 16384;
/** Receive backlog limits (create arguments). */
export const E1K_MIN_BACKLOG_FRAMES: u32 = 1;
export const E1K_MAX_BACKLOG_FRAMES: u32 = 65536;
export const E1K_MIN_BACKLOG_BYTES: u32 = 32768;
export const E1K_MAX_BACKLOG_BYTES: u32 = 64 << 20;
/** Guest time meaning "no deadline" (e1k_next_deadline). */
export const E1K_NO_DEADLINE: u64 = 0xffff_ffff_ffff_ffff;

// e1k_pending bits: what the host must look at after a call.
/** Frames wait in the host outbox (e1k_tx_frames). */
export const PENDING_TX: u32 = 1;
/** INTA# is asserted. */
export const PENDING_INTX: u32 = 4;
/** The receive filter changed (RCTL.UPE/MPE, MTA, RAR; reset, restore): e1k_filter_take. */
export const PENDING_FILTER: u32 = 8;

// e1k_mc_mode bits: what decides the multicast frames the filter takes.
/** RCTL.UPE: unicast promiscuous (the host treats it as promiscuous). */
export const MC_MODE_UPE: u32 = 1;
/** RCTL.MPE: every multicast frame. */
export const MC_MODE_MPE: u32 = 2;
/** Some MTA bit is set: the inexact hash filter takes groups no list can name. */
export const MC_MODE_MTA: u32 = 4;
/** Receive address entries (RAR 0..15) e1k_rar_group reads. */
export const E1K_RAR_ENTRIES: u32 = 16;

// ---- Device counters (u64 each, at e1k_counters_ptr) ----------------------------
export namespace E1kCounter {
  export const TX_FRAMES = 0;
  export const TX_BYTES = 1;
  export const RX_FRAMES = 2;
  export const RX_BYTES = 3;
  /** Frames the receive filter refused (address, VLAN). */
  export const RX_FILTERED = 4;
  /** Frames that waited in the backlog for receive descriptors. */
  export const RX_BACKLOGGED = 5;
  /** Frames dropped: backlog full, or larger than the driver's whole ring. */
  export const RX_DROPPED = 6;
  /** Transmit packets skipped as malformed (bad type, range, length, context). */
  export const TX_MALFORMED = 7;
  /** Receive descriptors skipped (buffer outside guest RAM). */
  export const RX_MALFORMED = 8;
  /** Host frames refused: shorter than 14 bytes or longer than 16384. */
  export const RX_INVALID = 9;
  /** Frames longer than the receiver accepts (no LPE: 1518, 1522 tagged). */
  export const RX_OVERSIZE = 10;
  /** Frames arriving with the receiver off, the link down or bus mastering off. */
  export const RX_NOT_READY = 11;
  /** Register accesses outside a register, of a bad width, or to unmodelled registers. */
  export const BAD_ACCESS = 12;
  /** Writes of values the model refuses (ring registers out of range, bad PHY address). */
  export const BAD_REGISTER_VALUE = 13;
  /** Ring programming refused: base outside RAM, length not a multiple of 128, head/tail past the end. */
  export const RING_REJECTED = 14;
  /** Times the transmit ring stopped because the host outbox was full. */
  export const TX_STALLS = 15;
  /** TCP/UDP segments produced by segmentation offload. */
  export const TX_TSO_SEGMENTS = 16;
  /** Checksums inserted by transmit offload. */
  export const TX_CSUM_OFFLOADS = 17;
  /** Frames that found too few receive descriptors on arrival. */
  export const RX_NO_BUFFER = 18;
  /** Interrupt assertions (rising edges of INTA#). */
  export const IRQ_RAISED = 19;
  /** Assertions delayed by the throttling interval (ITR). */
  export const IRQ_THROTTLED = 20;
  /** Backlogged frames delivered. */
  export const BACKLOG_DRAINED = 21;
  /** Descriptor ring accesses that failed at run time (a hole appeared); the unit stops. */
  export const RING_FAULTS = 22;
  /** Receive checksums verified by offload. */
  export const RX_CSUM_OFFLOADS = 23;
  /** VLAN tags stripped on receive / inserted on transmit. */
  export const RX_VLAN_STRIPPED = 24;
  export const TX_VLAN_INSERTED = 25;
  /** Frames accepted by the exact (RAR) and the inexact (MTA) filter. */
  export const RX_EXACT_MATCH = 26;
  export const RX_HASH_MATCH = 27;
  /** Frames refused by the VLAN filter (VFTA), a subset of RX_FILTERED. */
  export const RX_VLAN_FILTERED = 28;
  /** EEPROM words read (Microwire or EERD). */
  export const EEPROM_READS = 29;
  /** PHY accesses through MDIC. */
  export const MDIC_ACCESSES = 30;
  /** Guest time passed backwards on a call (ignored for timers). */
  export const CLOCK_BACKWARDS = 31;
}
export const E1K_COUNTERS: u32 = 32;
