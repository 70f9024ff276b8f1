// Numbers of the local APIC shared with the wasm (assembly/apic/defs.ts):
// event bits, counter indices, MSRs and register offsets.

/** Event bits a vCPU loop takes with `LocalApic.takeEvents()`. */
export const ApicEvent = { init: 1, sipi: 2, nmi: 4, smi: 8, extint: 16 } as const;

/** Indices of the APIC counters (assembly/apic/defs.ts, ApicStat). */
export const ApicCounter = {
  mmioBadAccess: 0,
  illegalRegister: 1,
  msrFault: 2,
  sendIllegal: 3,
  recvIllegal: 4,
  droppedDisabled: 5,
  noTarget: 6,
  msiBad: 7,
  lowestPriority: 8,
  timerFired: 9,
  timerMissed: 10,
  eoiEmpty: 11,
  spurious: 12,
  initDeassert: 13,
  delivered: 14,
  messages: 15,
} as const;

/** APIC MSRs the host forwards to `LocalApic.rdmsr/wrmsr`. */
export const ApicMsr = { apicBase: 0x1b, tscDeadline: 0x6e0, x2apicFirst: 0x800, x2apicLast: 0x8ff } as const;

/** xAPIC register offsets in the 4 KiB MMIO page (SDM Vol. 3A Table 11-1). */
export const ApicReg = {
  id: 0x20, version: 0x30, tpr: 0x80, apr: 0x90, ppr: 0xa0, eoi: 0xb0, rrd: 0xc0, ldr: 0xd0, dfr: 0xe0, svr: 0xf0,
  isr: 0x100, tmr: 0x180, irr: 0x200, esr: 0x280, lvtCmci: 0x2f0, icrLo: 0x300, icrHi: 0x310, lvtTimer: 0x320,
  lvtThermal: 0x330, lvtPerf: 0x340, lvtLint0: 0x350, lvtLint1: 0x360, lvtError: 0x370, timerInitial: 0x380,
  timerCurrent: 0x390, timerDivide: 0x3e0, selfIpi: 0x3f0,
} as const;

/** Guest time value meaning "no deadline". */
export const NO_DEADLINE = 0xffff_ffff_ffff_ffffn;
