// The local APIC's host room: the typed API over the wasm model (device.ts:
// ApicBus, LocalApic) and the numbers it shares with the wasm (defs.ts),
// platform-neutral; the Machine glue (machine.ts: one APIC per vCPU, the timer
// pump) is Node's and exported from src/index.ts. The model is assembly/apic/.
export { ApicBus, LocalApic, type ApicBusOptions, type MsrResult } from "./device.js";
export { ApicEvent, ApicCounter, ApicMsr, ApicReg, NO_DEADLINE } from "./defs.js";
