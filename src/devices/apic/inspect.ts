// Inspector decoder of a local APIC saved state (assembly/apic/state.ts):
// registers by name, IRR/ISR/TMR as lists of vectors, each LVT decoded
// (Intel SDM vol. 3 §11.5.1, Figure 11-8), the ICR (§11.6.1) and the timer
// (§11.5.4) with its guest-time deadline.

import { ApicDefs, CoreDefs } from "../../generated/constants.js";
import { bitList, hex, part, type Fields } from "../../inspect/fields.js";
import type { DeviceDecoder } from "../../inspect/types.js";

/** Tags of assembly/apic/state.ts. */
export const ApicTag = {
  BASE: 1, ID: 2, TPR: 3, LDR: 4, DFR: 5, SVR: 6, ISR: 7, TMR: 8, IRR: 9, ESR: 10, ESR_PENDING: 11,
  LVT_CMCI: 12, LVT_TIMER: 13, LVT_THERMAL: 14, LVT_PERF: 15, LVT_LINT0: 16, LVT_LINT1: 17, LVT_ERROR: 18, ICR: 19,
  TIMER_INITIAL: 20, TIMER_DCR: 21, TIMER_START: 22, TIMER_DEADLINE: 23, TIMER_PERIOD: 24, TSC_DEADLINE: 25,
  EVENTS: 26, SIPI_VECTOR: 27, LINT_LEVEL: 28,
} as const;

const DELIVERY = ["fixed", "lowest-priority", "SMI", "reserved(3)", "NMI", "INIT", "SIPI", "ExtINT"];
const TIMER_MODES = ["one-shot", "periodic", "TSC-deadline", "reserved(3)"];
const SHORTHAND = ["none", "self", "all", "all-but-self"];

function fieldName(tag: number): string | undefined {
  const e = Object.entries(ApicTag).find(([, v]) => v === tag);
  return e ? e[0].toLowerCase() : undefined;
}

function lvt(v: number, timer: boolean) {
  return {
    value: hex(v, 8),
    vector: v & 0xff,
    masked: (v & ApicDefs.LVT_MASKED) !== 0,
    ...(timer ? { timerMode: TIMER_MODES[(v >>> 17) & 3] } : { deliveryMode: DELIVERY[(v >>> 8) & 7] }),
    deliveryStatus: (v & ApicDefs.LVT_DELIV_STATUS) ? "send-pending" : "idle",
    ...(timer ? {} : { trigger: (v & ApicDefs.LVT_LEVEL) ? "level" : "edge", remoteIrr: (v & ApicDefs.LVT_REMOTE_IRR) !== 0, polarity: (v & 0x2000) ? "low" : "high" }),
  };
}

const EVENTS: Array<[number, string]> = [[ApicDefs.EV_INIT, "INIT"], [ApicDefs.EV_SIPI, "SIPI"], [ApicDefs.EV_NMI, "NMI"], [ApicDefs.EV_SMI, "SMI"], [ApicDefs.EV_EXTINT, "ExtINT"]];

function decode(f: Fields) {
  const u64 = (t: number) => f.u64(t);
  const noDeadline = (v: bigint) => (v === ApicDefs.NO_DEADLINE ? "none" : v.toString());
  return {
    apicBase: part(() => {
      const b = u64(ApicTag.BASE);
      const mode = (b & ApicDefs.BASE_EN) === 0n ? "disabled" : (b & ApicDefs.BASE_EXTD) ? "x2apic" : "xapic";
      return { value: hex(b), address: hex(b & ~0xfffn), bsp: (b & ApicDefs.BASE_BSP) !== 0n, mode };
    }),
    id: part(() => f.u32(ApicTag.ID)),
    tpr: part(() => hex(f.u32(ApicTag.TPR), 2)),
    ldr: part(() => hex(f.u32(ApicTag.LDR), 8)),
    dfr: part(() => { const d = f.u32(ApicTag.DFR); return { value: hex(d, 8), model: (d >>> 28) === 0xf ? "flat" : "cluster" }; }),
    svr: part(() => { const s = f.u32(ApicTag.SVR); return { value: hex(s, 8), spuriousVector: s & 0xff, enabled: (s & ApicDefs.SVR_ENABLE) !== 0, suppressEoiBroadcast: (s & ApicDefs.SVR_SUPPRESS_EOI) !== 0 }; }),
    irr: part(() => bitList(f.bytes(ApicTag.IRR, 32))),
    isr: part(() => bitList(f.bytes(ApicTag.ISR, 32))),
    tmr: part(() => bitList(f.bytes(ApicTag.TMR, 32))),
    esr: part(() => ({ value: hex(f.u32(ApicTag.ESR), 2), pending: hex(f.u32(ApicTag.ESR_PENDING), 2) })),
    lvt: {
      cmci: part(() => lvt(f.u32(ApicTag.LVT_CMCI), false)),
      timer: part(() => lvt(f.u32(ApicTag.LVT_TIMER), true)),
      thermal: part(() => lvt(f.u32(ApicTag.LVT_THERMAL), false)),
      perf: part(() => lvt(f.u32(ApicTag.LVT_PERF), false)),
      lint0: part(() => lvt(f.u32(ApicTag.LVT_LINT0), false)),
      lint1: part(() => lvt(f.u32(ApicTag.LVT_LINT1), false)),
      error: part(() => lvt(f.u32(ApicTag.LVT_ERROR), false)),
    },
    icr: part(() => {
      const v = u64(ApicTag.ICR), lo = Number(v & 0xffffffffn), hi = Number(v >> 32n);
      return {
        value: hex(v, 16), vector: lo & 0xff, deliveryMode: DELIVERY[(lo >>> 8) & 7], destinationMode: (lo & ApicDefs.ICR_DEST_LOGICAL) ? "logical" : "physical",
        level: (lo & ApicDefs.ICR_LEVEL_ASSERT) ? "assert" : "de-assert", trigger: (lo & ApicDefs.ICR_TRIGGER_LEVEL) ? "level" : "edge",
        shorthand: SHORTHAND[(lo >>> 18) & 3], destination: hex(hi, 8),
      };
    }),
    timer: part(() => {
      const dcr = f.u32(ApicTag.TIMER_DCR);
      const code = ((dcr >>> 1) & 4) | (dcr & 3);
      return {
        initialCount: f.u32(ApicTag.TIMER_INITIAL),
        divide: code === 7 ? 1 : 2 << code,
        startNs: u64(ApicTag.TIMER_START).toString(),
        deadlineNs: noDeadline(u64(ApicTag.TIMER_DEADLINE)),
        periodNs: u64(ApicTag.TIMER_PERIOD).toString(),
        tscDeadline: u64(ApicTag.TSC_DEADLINE).toString(),
      };
    }),
    pendingEvents: part(() => { const e = f.u32(ApicTag.EVENTS); return EVENTS.filter(([b]) => e & b).map(([, n]) => n); }),
    sipiVector: part(() => hex(f.u32(ApicTag.SIPI_VECTOR), 2)),
    lintLevels: part(() => { const l = f.u32(ApicTag.LINT_LEVEL); return { lint0: (l & 1) !== 0, lint1: (l & 2) !== 0 }; }),
  };
}

/** The local APIC decoder for the inspector's table. */
export const apicDecoder: DeviceDecoder = { kind: CoreDefs.DeviceKind.LOCAL_APIC, name: "local-apic", fieldName, decode: (f) => decode(f) };
