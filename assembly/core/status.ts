// The one status-code table of the wasm ABI. Every exported function that can
// fail returns one of these (0 is success). src/status.ts mirrors this table and
// test/abi.test.ts checks that the two agree, so keep the `NAME = value,` form.

export namespace Status {
  export const OK = 0;
  /** Address or length outside guest RAM, or a range whose end wraps. */
  export const ERR_RANGE = 1;
  /** Access touches a hole (MMIO window) in guest RAM. */
  export const ERR_HOLE = 2;
  /** Unknown or closed handle. */
  export const ERR_BAD_HANDLE = 3;
  /** Operation needs dirty tracking, which is off. */
  export const ERR_DISABLED = 4;
  /** Linear memory could not grow, or a fixed table is full. */
  export const ERR_NO_MEMORY = 5;
  /** An argument is out of its documented domain (width, alignment, size). */
  export const ERR_INVALID_ARG = 6;
  /** The guest memory is not initialised (call vm_init or vm_attach first). */
  export const ERR_NOT_READY = 7;
  /** vm_init was already called on this instance. */
  export const ERR_ALREADY = 8;
  /** The embedder's guest-memory accessor reported a failure. */
  export const ERR_HOST = 9;
  /** State blob: too short, or the length fields disagree with its size. */
  export const ERR_STATE_LENGTH = 10;
  /** State blob: bad magic. */
  export const ERR_STATE_MAGIC = 11;
  /** State blob: unsupported envelope format or payload version. */
  export const ERR_STATE_VERSION = 12;
  /** State blob: saved for another device kind. */
  export const ERR_STATE_KIND = 13;
  /** State blob: saved by an incompatible ABI major version. */
  export const ERR_STATE_ABI = 14;
  /** State blob: header or payload checksum mismatch. */
  export const ERR_STATE_CHECKSUM = 15;
  /** State blob: well-formed, but a field is missing, malformed or inconsistent. */
  export const ERR_STATE_INVALID = 16;
  /** State blob: saved by another wasm build and strict build matching is on. */
  export const ERR_STATE_BUILD = 17;
  /** The device is broken (virtio DEVICE_NEEDS_RESET) and refuses the operation. */
  export const ERR_DEVICE_BROKEN = 18;
  /** Output buffer too small; call again with the returned cursor. */
  export const ERR_MORE = 19;
  /** The operation is not valid in the device's current state. */
  export const ERR_BAD_STATE = 20;
  /** The requested feature, register or mode is not supported. */
  export const ERR_UNSUPPORTED = 21;
  /** The access faults (e.g. x2APIC MSR #GP): reported, never a trap. */
  export const ERR_FAULT = 22;
  /** Nothing to do (queue empty, no frame pending). */
  export const ERR_EMPTY = 23;
  /** A bounded queue or table is full. */
  export const ERR_FULL = 24;
  /** Untrusted encoded data (a migration stream, a page delta) is malformed or fails its hash. */
  export const ERR_CORRUPT = 25;
}

/** The largest status value; exported so the host can check its mirror. */
export const STATUS_MAX: i32 = 25;
