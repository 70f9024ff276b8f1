// The NIC models a switch port can be: each model registers its kind (the
// core DeviceKind number) with the entry points the generic layer calls, so
// nothing in assembly/net/ imports a model. A port is named by (kind,
// handle), packed into one number by portId.

import { Status } from "../core/status";
import { SWITCH_MAX_KIND, SWITCH_MAX_HANDLE } from "./defs";

/** Hands a frame to the receive path (filter included) of device `h`. */
export type PortDeliver = (h: u32, frame: usize, len: u32) => void;
/** Status of device `h` becoming a port: OK, ERR_BAD_HANDLE (no such device) or ERR_BAD_STATE (the model refuses now). */
export type PortCheck = (h: u32) => i32;
/** The device is now a port of switch `sw`, or (sw 0) of none: the model updates its own routing. */
export type PortBind = (h: u32, sw: i32) => void;

// Per kind: deliver, check and bind function references (0: kind not registered).
const kinds = memory.data(<i32>SWITCH_MAX_KIND * 3 * 4, 4);

/** Register (again: idempotent) the entry points of NIC model `kind`. */
export function portKindRegister(kind: u32, deliver: PortDeliver, check: PortCheck, bind: PortBind): void {
  if (kind == 0 || kind >= SWITCH_MAX_KIND) return;
  const e = kinds + <usize>kind * 12;
  store<u32>(e, <u32>changetype<usize>(deliver));
  store<u32>(e, <u32>changetype<usize>(check), 4);
  store<u32>(e, <u32>changetype<usize>(bind), 8);
}

/** The port id of (kind, h): never 0 for a valid pair. */
// @ts-ignore: decorator
@inline export function portId(kind: u32, h: u32): u32 { return (kind << 8) | h; }
// @ts-ignore: decorator
@inline export function portKind(id: u32): u32 { return id >> 8; }
// @ts-ignore: decorator
@inline export function portHandle(id: u32): u32 { return id & 0xff; }

/** Whether (kind, h) is in range and the kind registered. */
export function portNameOk(kind: u32, h: u32): bool {
  return kind != 0 && kind < SWITCH_MAX_KIND && h != 0 && h < SWITCH_MAX_HANDLE && load<u32>(kinds + <usize>kind * 12) != 0;
}

/** Hand a frame to port `id` (registered: portNameOk held when it became a port). */
export function portDeliver(id: u32, frame: usize, len: u32): void {
  const f = load<u32>(kinds + <usize>portKind(id) * 12);
  if (f != 0) changetype<PortDeliver>(<usize>f)(portHandle(id), frame, len);
}

/** The model's verdict on (kind, h) becoming a port. */
export function portCheck(kind: u32, h: u32): i32 {
  if (!portNameOk(kind, h)) return Status.ERR_BAD_HANDLE;
  return changetype<PortCheck>(<usize>load<u32>(kinds + <usize>kind * 12, 4))(h);
}

/** Tell the model of port `id` which switch it is on now (0: none). */
export function portBind(id: u32, sw: i32): void {
  const f = load<u32>(kinds + <usize>portKind(id) * 12, 8);
  if (f != 0) changetype<PortBind>(<usize>f)(portHandle(id), sw);
}
