// Numbers of the local APIC shared with the wasm, from the generated mirror
// of assembly/apic/defs.ts: event bits, counter indices, MSRs and register
// offsets under their host names.

import { camelTable } from "../../tables.js";
import { ApicDefs } from "../../generated/constants.js";

/** Event bits a vCPU loop takes with `LocalApic.takeEvents()`. */
export const ApicEvent = { init: ApicDefs.EV_INIT, sipi: ApicDefs.EV_SIPI, nmi: ApicDefs.EV_NMI, smi: ApicDefs.EV_SMI, extint: ApicDefs.EV_EXTINT } as const;

/** Indices of the APIC counters (assembly/apic/defs.ts ApicStat): `mmioBadAccess`, `delivered`, `messages`, ... */
export const ApicCounter = camelTable(ApicDefs.ApicStat);

/** APIC MSRs the host forwards to `LocalApic.rdmsr/wrmsr`. */
export const ApicMsr = {
  apicBase: ApicDefs.MSR_APIC_BASE, tscDeadline: ApicDefs.MSR_TSC_DEADLINE, x2apicFirst: ApicDefs.MSR_X2APIC_FIRST, x2apicLast: ApicDefs.MSR_X2APIC_LAST,
} as const;

/** xAPIC register offsets in the 4 KiB MMIO page (SDM Vol. 3A Table 11-1). */
export const ApicReg = {
  id: ApicDefs.R_ID, version: ApicDefs.R_VERSION, tpr: ApicDefs.R_TPR, apr: ApicDefs.R_APR, ppr: ApicDefs.R_PPR, eoi: ApicDefs.R_EOI,
  rrd: ApicDefs.R_RRD, ldr: ApicDefs.R_LDR, dfr: ApicDefs.R_DFR, svr: ApicDefs.R_SVR, isr: ApicDefs.R_ISR, tmr: ApicDefs.R_TMR,
  irr: ApicDefs.R_IRR, esr: ApicDefs.R_ESR, lvtCmci: ApicDefs.R_LVT_CMCI, icrLo: ApicDefs.R_ICR_LO, icrHi: ApicDefs.R_ICR_HI,
  lvtTimer: ApicDefs.R_LVT_TIMER, lvtThermal: ApicDefs.R_LVT_THERMAL, lvtPerf: ApicDefs.R_LVT_PERF, lvtLint0: ApicDefs.R_LVT_LINT0,
  lvtLint1: ApicDefs.R_LVT_LINT1, lvtError: ApicDefs.R_LVT_ERROR, timerInitial: ApicDefs.R_TIMER_INITIAL,
  timerCurrent: ApicDefs.R_TIMER_CURRENT, timerDivide: ApicDefs.R_TIMER_DCR, selfIpi: ApicDefs.R_SELF_IPI,
} as const;

/** Guest time value meaning "no deadline". */
export const NO_DEADLINE = ApicDefs.NO_DEADLINE;
