// The NIC models a switch port can be: each model registers its kind (the
// core DeviceKind number) with the entry points the generic layer calls, so
// nothing in assembly/net/ imports a model. A port is named by (kind,
// handle), packed into one number by portId.
//
// The registrations live in wasm globals: each instance registers the models
// it creates devices of (static data stays constant across the instances on
// one memory, docs/architecture.md "Threads"), and a function reference is
// the same number in every instance of the module. Four slots: one per NIC
// model, with room for one more.

import { Status } from "../core/status";
import { SWITCH_MAX_KIND, SWITCH_MAX_HANDLE } from "./defs";

/** Hands a frame to the receive path (filter included) of device `h`. */
export type PortDeliver = (h: u32, frame: usize, len: u32) => void;
/** Status of device `h` becoming a port: OK, ERR_BAD_HANDLE (no such device) or ERR_BAD_STATE (the model refuses now). */
export type PortCheck = (h: u32) => i32;
/** The device is now a port of switch `sw`, or (sw 0) of none: the model updates its own routing. */
export type PortBind = (h: u32, sw: i32) => void;

let kind0: u32 = 0, kind1: u32 = 0, kind2: u32 = 0, kind3: u32 = 0;
let deliver0: usize = 0, deliver1: usize = 0, deliver2: usize = 0, deliver3: usize = 0;
let check0: usize = 0, check1: usize = 0, check2: usize = 0, check3: usize = 0;
let bind0: usize = 0, bind1: usize = 0, bind2: usize = 0, bind3: usize = 0;

function slotOf(kind: u32): i32 {
  return kind == 0 ? -1 : kind == kind0 ? 0 : kind == kind1 ? 1 : kind == kind2 ? 2 : kind == kind3 ? 3 : -1;
}

/** Register (again: idempotent) the entry points of NIC model `kind`. Ignored past the four slots. */
export function portKindRegister(kind: u32, deliver: PortDeliver, check: PortCheck, bind: PortBind): void {
  if (kind == 0 || kind >= SWITCH_MAX_KIND || slotOf(kind) >= 0) return;
  const d = changetype<usize>(deliver), c = changetype<usize>(check), b = changetype<usize>(bind);
  if (kind0 == 0) { kind0 = kind; deliver0 = d; check0 = c; bind0 = b; }
  else if (kind1 == 0) { kind1 = kind; deliver1 = d; check1 = c; bind1 = b; }
  else if (kind2 == 0) { kind2 = kind; deliver2 = d; check2 = c; bind2 = b; }
  else if (kind3 == 0) { kind3 = kind; deliver3 = d; check3 = c; bind3 = b; }
}

function deliverOf(slot: i32): usize { return slot == 0 ? deliver0 : slot == 1 ? deliver1 : slot == 2 ? deliver2 : slot == 3 ? deliver3 : 0; }
function checkOf(slot: i32): usize { return slot == 0 ? check0 : slot == 1 ? check1 : slot == 2 ? check2 : slot == 3 ? check3 : 0; }
function bindOf(slot: i32): usize { return slot == 0 ? bind0 : slot == 1 ? bind1 : slot == 2 ? bind2 : slot == 3 ? bind3 : 0; }

/** The port id of (kind, h): never 0 for a valid pair. */
// @ts-ignore: decorator
@inline export function portId(kind: u32, h: u32): u32 { return (kind << 8) | h; }
// @ts-ignore: decorator
@inline export function portKind(id: u32): u32 { return id >> 8; }
// @ts-ignore: decorator
@inline export function portHandle(id: u32): u32 { return id & 0xff; }

/** Whether (kind, h) is in range and the kind registered in this instance. */
export function portNameOk(kind: u32, h: u32): bool {
  return kind < SWITCH_MAX_KIND && h != 0 && h < SWITCH_MAX_HANDLE && slotOf(kind) >= 0;
}

/** Hand a frame to port `id`. */
export function portDeliver(id: u32, frame: usize, len: u32): void {
  const f = deliverOf(slotOf(portKind(id)));
  if (f != 0) changetype<PortDeliver>(f)(portHandle(id), frame, len);
}

/** The model's verdict on (kind, h) becoming a port. */
export function portCheck(kind: u32, h: u32): i32 {
  if (!portNameOk(kind, h)) return Status.ERR_BAD_HANDLE;
  return changetype<PortCheck>(checkOf(slotOf(kind)))(h);
}

/** Tell the model of port `id` which switch it is on now (0: none). */
export function portBind(id: u32, sw: i32): void {
  const f = bindOf(slotOf(portKind(id)));
  if (f != 0) changetype<PortBind>(f)(portHandle(id), sw);
}
