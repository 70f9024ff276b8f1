import { CoreDefs } from "./generated/constants.js";

/** Status codes returned by the wasm exports; 0 is success (assembly/core/defs.ts Status). */
export const Status = CoreDefs.Status;

export type StatusCode = (typeof Status)[keyof typeof Status];

const names = new Map<number, string>(Object.entries(Status).map(([k, v]) => [v, k]));

/** The symbolic name of a status code (`ERR_RANGE`), or `STATUS_<n>` for unknown values. */
export function statusName(code: number): string {
  return names.get(code) ?? `STATUS_${code}`;
}

/** Thrown by the typed host API when a wasm export returns a failure status. */
export class VmdevError extends Error {
  readonly status: number;
  constructor(status: number, op: string) {
    super(`${op}: ${statusName(status)}`);
    this.name = "VmdevError";
    this.status = status;
  }
}

/** Throw a VmdevError unless `status` is OK. */
export function check(status: number, op: string): void {
  if (status !== Status.OK) throw new VmdevError(status, op);
}
