// Constants of the core that the host shares: the status codes every export
// returns, the device kinds of saved state, the core counters and the limits
// of guest RAM. scripts/build-wasm.mjs generates src/generated/constants.ts
// (CoreDefs) from this file and test/abi pins the values, so the TypeScript
// side never copies a number from here.

/** The one status-code table of the wasm ABI: every export that can fail returns one of these (0 is success). */
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

/** The largest status value. */
export const STATUS_MAX: i32 = 25;

// The state envelope (state.ts describes the layout).
/** "VMDS" in little-endian byte order. */
export const ENV_MAGIC: u32 = 0x53444d56;
export const ENV_FORMAT: u16 = 1;
/** Bytes of the envelope header before the payload. */
export const ENV_HEADER_SIZE: u32 = 48;

/** Device kinds of the state envelope: one number per saved-state format. */
export namespace DeviceKind {
  export const GUEST_MEMORY = 1;
  export const VIRTIO_NET = 2;
  export const LOCAL_APIC = 3;
  export const VIRTIO_TRANSPORT = 4;
  /** The machine runtime's memtest device (assembly/memtest/). */
  export const MEMTEST = 5;
  /** The machine's guest clock (assembly/machine/clock.ts). */
  export const GUEST_CLOCK = 6;
  /** An I/O APIC (assembly/ioapic/state.ts). */
  export const IOAPIC = 7;
  /** Intel 82540EM (assembly/e1000/state.ts). */
  export const E1000 = 8;
  /** An NE2000 (assembly/ne2k/state.ts). */
  export const NE2000 = 9;
}

/**
 * Core counters: monotonic u64 event counts shared by all instances, at
 * vm_counters_ptr() (CORE_COUNTERS of them, indexed by these numbers).
 */
export namespace Counter {
  /** Guest-memory accesses outside RAM (or before vm_init). */
  export const GM_RANGE_ERRORS = 0;
  /** Guest-memory accesses that touched a hole. */
  export const GM_HOLE_ERRORS = 1;
  /** Failures the embedder's foreign-RAM accessors reported. */
  export const GM_HOST_ERRORS = 2;
  /** Calls naming an unknown or closed handle. */
  export const BAD_HANDLE = 3;
  export const DIRTY_MARKS_IGNORED = 4;
  /** State blobs restore refused. */
  export const STATE_REJECTED = 5;
  /** Bytes of freed blocks dropped because the free list was full. */
  export const BLOCK_BYTES_LOST = 6;
  /** Bumped by every change to the holes; devices holding validated guest ranges re-check them when it moves. */
  export const LAYOUT_CHANGES = 7;
}
export const CORE_COUNTERS: i32 = 8;

export const PAGE_SHIFT: u32 = 12;
export const PAGE_SIZE: u32 = 1 << PAGE_SHIFT;
/** Largest guest RAM vmdev places in its own linear memory (3.75 GiB, leaving room for state). */
export const MAX_OWN_RAM_PAGES: u32 = 0xF0000;
/** Largest guest RAM behind foreign accessors (4 GiB; GPAs stay 32-bit). */
export const MAX_FOREIGN_RAM_PAGES: u32 = 0x100000;
/** Holes (MMIO windows) a VM's guest RAM can have. */
export const MAX_HOLES: i32 = 16;

/** vm_init flag: guest RAM belongs to the embedder, reached through the guest_read/guest_write imports. */
export const VM_FOREIGN_RAM: u32 = 1;
/** Handle of the guest-RAM dirty bitmap vm_init makes. */
export const GUEST_BITMAP: i32 = 1;
