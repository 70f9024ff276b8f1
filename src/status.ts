// Mirror of assembly/core/status.ts (test/abi.test.ts checks they agree).

/** Status codes returned by the wasm exports; 0 is success. */
export const Status = {
  OK: 0,
  /** Address or length outside guest RAM, or a range whose end wraps. */
  ERR_RANGE: 1,
  /** Access touches a hole (MMIO window) in guest RAM. */
  ERR_HOLE: 2,
  /** Unknown or closed handle. */
  ERR_BAD_HANDLE: 3,
  /** Operation needs dirty tracking, which is off. */
  ERR_DISABLED: 4,
  /** Linear memory could not grow, or a fixed table is full. */
  ERR_NO_MEMORY: 5,
  /** An argument is out of its documented domain (width, alignment, size). */
  ERR_INVALID_ARG: 6,
  /** The guest memory is not initialised (call vm_init or vm_attach first). */
  ERR_NOT_READY: 7,
  /** vm_init was already called on this instance. */
  ERR_ALREADY: 8,
  /** The embedder's guest-memory accessor reported a failure. */
  ERR_HOST: 9,
  /** State blob: too short, or the length fields disagree with its size. */
  ERR_STATE_LENGTH: 10,
  /** State blob: bad magic. */
  ERR_STATE_MAGIC: 11,
  /** State blob: unsupported envelope format or payload version. */
  ERR_STATE_VERSION: 12,
  /** State blob: saved for another device kind. */
  ERR_STATE_KIND: 13,
  /** State blob: saved by an incompatible ABI major version. */
  ERR_STATE_ABI: 14,
  /** State blob: header or payload checksum mismatch. */
  ERR_STATE_CHECKSUM: 15,
  /** State blob: well-formed, but a field is missing, malformed or inconsistent. */
  ERR_STATE_INVALID: 16,
  /** State blob: saved by another wasm build and strict build matching is on. */
  ERR_STATE_BUILD: 17,
  /** The device is broken (virtio DEVICE_NEEDS_RESET) and refuses the operation. */
  ERR_DEVICE_BROKEN: 18,
  /** Output buffer too small; call again with the returned cursor. */
  ERR_MORE: 19,
  /** The operation is not valid in the device's current state. */
  ERR_BAD_STATE: 20,
  /** The requested feature, register or mode is not supported. */
  ERR_UNSUPPORTED: 21,
  /** The access faults (e.g. x2APIC MSR #GP): reported, never a trap. */
  ERR_FAULT: 22,
  /** Nothing to do (queue empty, no frame pending). */
  ERR_EMPTY: 23,
  /** A bounded queue or table is full. */
  ERR_FULL: 24,
  /** Untrusted encoded data (a migration stream, a page delta) is malformed or fails its hash. */
  ERR_CORRUPT: 25,
} as const;

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
