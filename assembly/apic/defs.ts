// Local APIC register layout and architectural constants (Intel SDM Vol. 3A
// ch. 11 "Advanced Programmable Interrupt Controller (APIC)"; ch. 12 in newer
// editions). Offsets are into the 4 KiB xAPIC MMIO page (16-byte stride,
// Table 11-1); x2APIC MSR 0x800+n maps to page offset n << 4 (§11.12.1.2).
// scripts/build-wasm.mjs generates ApicDefs in src/generated/constants.ts
// from this file.

// Register offsets (Table 11-1).
export const R_ID: u32 = 0x20;
export const R_VERSION: u32 = 0x30;
export const R_TPR: u32 = 0x80;
export const R_APR: u32 = 0x90;
export const R_PPR: u32 = 0xA0;
export const R_EOI: u32 = 0xB0;
export const R_RRD: u32 = 0xC0;
export const R_LDR: u32 = 0xD0;
export const R_DFR: u32 = 0xE0;
export const R_SVR: u32 = 0xF0;
export const R_ISR: u32 = 0x100;
export const R_TMR: u32 = 0x180;
export const R_IRR: u32 = 0x200;
export const R_ESR: u32 = 0x280;
export const R_LVT_CMCI: u32 = 0x2F0;
export const R_ICR_LO: u32 = 0x300;
export const R_ICR_HI: u32 = 0x310;
export const R_LVT_TIMER: u32 = 0x320;
export const R_LVT_THERMAL: u32 = 0x330;
export const R_LVT_PERF: u32 = 0x340;
export const R_LVT_LINT0: u32 = 0x350;
export const R_LVT_LINT1: u32 = 0x360;
export const R_LVT_ERROR: u32 = 0x370;
export const R_TIMER_INITIAL: u32 = 0x380;
export const R_TIMER_CURRENT: u32 = 0x390;
export const R_TIMER_DCR: u32 = 0x3E0;
/** x2APIC only: SELF IPI (MSR 0x83F, §11.12.11). */
export const R_SELF_IPI: u32 = 0x3F0;

// MSRs.
export const MSR_APIC_BASE: u32 = 0x1B;
export const MSR_TSC_DEADLINE: u32 = 0x6E0;
export const MSR_X2APIC_FIRST: u32 = 0x800;
export const MSR_X2APIC_LAST: u32 = 0x8FF;

// IA32_APIC_BASE (§11.4.4, Figure 11-5).
export const BASE_BSP: u64 = 1 << 8;
export const BASE_EXTD: u64 = 1 << 10;
export const BASE_EN: u64 = 1 << 11;
export const BASE_DEFAULT: u64 = 0xFEE00000;
/** Bits that may be set: BSP, EXTD, EN and the base address below MAXPHYADDR (52). */
export const BASE_VALID: u64 = 0x000F_FFFF_FFFF_F000 | BASE_BSP | BASE_EXTD | BASE_EN;

export const MODE_DISABLED: u32 = 0;
export const MODE_XAPIC: u32 = 1;
export const MODE_X2APIC: u32 = 2;

/** Version register (§11.4.8): version 0x14, Max LVT Entry 6 (7 LVTs incl. CMCI), bit 24 = suppress EOI-broadcast supported. */
export const VERSION_VALUE: u32 = 0x14 | (6 << 16) | (1 << 24);

// SVR (§11.9, Figure 11-23).
export const SVR_ENABLE: u32 = 1 << 8;
export const SVR_SUPPRESS_EOI: u32 = 1 << 12;
/** Writable SVR bits: vector, APIC enable, suppress EOI-broadcast (focus checking not modelled). */
export const SVR_WRITABLE: u32 = 0x11FF;

// LVT fields (§11.5.1, Figure 11-8).
export const LVT_MASKED: u32 = 1 << 16;
export const LVT_DELIV_STATUS: u32 = 1 << 12;
export const LVT_REMOTE_IRR: u32 = 1 << 14;
export const LVT_LEVEL: u32 = 1 << 15;
export const LVT_W_TIMER: u32 = 0x000700FF;
export const LVT_W_LINT: u32 = 0x0001A7FF;
export const LVT_W_ERROR: u32 = 0x000100FF;
/** CMCI, thermal, performance: vector, delivery mode, mask. */
export const LVT_W_OTHER: u32 = 0x000107FF;
export const TIMER_ONESHOT: u32 = 0;
export const TIMER_PERIODIC: u32 = 1;
export const TIMER_TSC_DEADLINE: u32 = 2;

// ICR (§11.6.1, Figure 11-12; x2APIC §11.12.9).
export const ICR_LO_WRITABLE: u32 = 0x000CCFFF;
export const ICR_DEST_LOGICAL: u32 = 1 << 11;
export const ICR_LEVEL_ASSERT: u32 = 1 << 14;
export const ICR_TRIGGER_LEVEL: u32 = 1 << 15;

// Delivery modes (Figure 11-12, §11.11.2).
export const DM_FIXED: u32 = 0;
export const DM_LOWEST: u32 = 1;
export const DM_SMI: u32 = 2;
export const DM_NMI: u32 = 4;
export const DM_INIT: u32 = 5;
export const DM_SIPI: u32 = 6;
export const DM_EXTINT: u32 = 7;

// Destination shorthands (Figure 11-12).
export const SH_NONE: u32 = 0;
export const SH_SELF: u32 = 1;
export const SH_ALL: u32 = 2;
export const SH_OTHERS: u32 = 3;

// ESR bits (§11.5.3, Figure 11-9).
export const ESR_SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
export const ESR_RECV_ILLEGAL_VECTOR: u32 = 1 << 6;
export const ESR_ILLEGAL_REGISTER: u32 = 1 << 7;

/** Per-vCPU events the host's vCPU loop takes (apic_events_take). */
export const EV_INIT: u32 = 1;
export const EV_SIPI: u32 = 2;
export const EV_NMI: u32 = 4;
export const EV_SMI: u32 = 8;
export const EV_EXTINT: u32 = 16;
export const EV_ALL: u32 = 31;

export const NO_DEADLINE: u64 = 0xFFFF_FFFF_FFFF_FFFF;
export const MAX_APICS: u32 = 4096;
/** Highest clock rates accepted, so the 64-bit time conversions cannot overflow (timer.ts). */
export const MAX_HZ: u64 = 10_000_000_000;

// APIC counters of the VM's APIC set, u64 each at apic_counters_ptr()
// (APIC_STATS of them): guest mistakes and events, never traps.
export namespace ApicStat {
  export const MMIO_BAD_ACCESS = 0;   // width/alignment refused by the MMIO gate
  export const ILLEGAL_REGISTER = 1;  // reserved register offset (xAPIC, ESR bit 7)
  export const MSR_FAULT = 2;         // x2APIC/APIC_BASE access that raises #GP
  export const SEND_ILLEGAL = 3;      // IPI with an illegal vector or invalid mode/shorthand
  export const RECV_ILLEGAL = 4;      // vector 0..15 received
  export const DROPPED_DISABLED = 5;  // fixed interrupt to a software/hardware-disabled APIC
  export const NO_TARGET = 6;         // message matched no APIC
  export const MSI_BAD = 7;           // MSI with a bad address or reserved delivery mode
  export const LOWEST_PRIORITY = 8;   // arbitrations performed
  export const TIMER_FIRED = 9;
  export const TIMER_MISSED = 10;     // periodic ticks coalesced because the host advanced late
  export const EOI_EMPTY = 11;        // EOI with no interrupt in service
  export const SPURIOUS = 12;         // INTA with nothing deliverable (spurious vector returned)
  export const INIT_DEASSERT = 13;
  export const DELIVERED = 14;        // fixed/lowest-priority interrupts accepted into an IRR
  export const MESSAGES = 15;         // ICR/SELF_IPI/MSI/host messages routed
}
export const APIC_STATS: i32 = 16;
