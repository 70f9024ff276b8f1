// Split-virtqueue layout and the virtio constants every device shares
// (virtio 1.2 §2.1 status, §2.7 split virtqueues, §4.1 virtio-pci, §4.2
// virtio-mmio, §6 reserved feature bits), the transport counters and the
// device limits. scripts/build-wasm.mjs generates VirtioDefs in
// src/generated/constants.ts from this file.

/** Largest queue size a split virtqueue may have (virtio 1.2 §2.7). */
export const MAX_QUEUE_SIZE: u32 = 32768;

// Descriptor table: 16 bytes per entry, 16-byte aligned (§2.7.5).
export const DESC_SIZE: u32 = 16;
export const DESC_ALIGN: u64 = 16;
export const DESC_ADDR: u32 = 0;   // le64
export const DESC_LEN: u32 = 8;    // le32
export const DESC_FLAGS: u32 = 12; // le16
export const DESC_NEXT: u32 = 14;  // le16
export const VIRTQ_DESC_F_NEXT: u32 = 1;
export const VIRTQ_DESC_F_WRITE: u32 = 2;
export const VIRTQ_DESC_F_INDIRECT: u32 = 4;

// Driver area (available ring), 2-byte aligned (§2.7.6):
// le16 flags, le16 idx, le16 ring[size], le16 used_event.
export const AVAIL_ALIGN: u64 = 2;
export const AVAIL_FLAGS: u32 = 0;
export const AVAIL_IDX: u32 = 2;
export const AVAIL_RING: u32 = 4;
export const VIRTQ_AVAIL_F_NO_INTERRUPT: u32 = 1;

// Device area (used ring), 4-byte aligned (§2.7.8):
// le16 flags, le16 idx, {le32 id, le32 len}[size], le16 avail_event.
export const USED_ALIGN: u64 = 4;
export const USED_FLAGS: u32 = 0;
export const USED_IDX: u32 = 2;
export const USED_RING: u32 = 4;
export const USED_ELEM: u32 = 8;
export const VIRTQ_USED_F_NO_NOTIFY: u32 = 1;

/** Bytes of the descriptor table for a queue of `size`. */
// @ts-ignore: decorator
@inline export function descBytes(size: u32): u64 { return <u64>size * DESC_SIZE; }
/** Bytes of the driver area including used_event (§2.7.6). */
// @ts-ignore: decorator
@inline export function availBytes(size: u32): u64 { return 6 + <u64>size * 2; }
/** Bytes of the device area including avail_event (§2.7.8). */
// @ts-ignore: decorator
@inline export function usedBytes(size: u32): u64 { return 6 + <u64>size * USED_ELEM; }

// Device status bits (§2.1).
export const S_ACKNOWLEDGE: u32 = 1;
export const S_DRIVER: u32 = 2;
export const S_DRIVER_OK: u32 = 4;
export const S_FEATURES_OK: u32 = 8;
export const S_NEEDS_RESET: u32 = 0x40;
export const S_FAILED: u32 = 0x80;

// Reserved feature bits (§6).
export const F_INDIRECT_DESC: u32 = 28;
export const F_EVENT_IDX: u32 = 29;
export const F_VERSION_1: u32 = 32;

/** MSI-X "no vector" (§4.1.4.3). */
export const NO_VECTOR: u32 = 0xffff;

export const TRANSPORT_PCI: u32 = 1;
export const TRANSPORT_MMIO: u32 = 2;

/** Device handles 1..MAX_DEVICES-1. */
export const MAX_DEVICES: i32 = 16;
export const MAX_QUEUES: u32 = 17;
/** MSI-X vectors a function's table has room for. */
export const MAX_VECTORS: u32 = 32;
/** u64 counters per device (vnet_counters_ptr): 0..15 the transport's (VCounter), 16.. the device type's. */
export const DEV_COUNTERS: u32 = 48;

/** Per-device event counters of the transport-independent core (indices 0..15). */
export namespace VCounter {
  export const BAD_ACCESS = 0;
  export const QUEUE_REJECTED = 1;
  export const FEATURES_REJECTED = 2;
  export const NEEDS_RESET = 3;
  export const IRQ_RAISED = 4;
  export const IRQ_SUPPRESSED = 5;
  export const IRQ_MASKED = 6;
  export const KICKS = 7;
  export const AVAIL_JUMP = 8;
  export const BAD_HEAD = 9;
  export const IRQ_NO_VECTOR = 10;
  export const BAD_REGISTER_VALUE = 11;
  /** A hole appeared over an enabled queue's rings (the device then needs reset). */
  export const RING_IN_HOLE = 12;
}

// virtio-pci (§4.1): identity and the function's BARs.
export const VIRTIO_PCI_VENDOR: u32 = 0x1af4;
/** Modern device id: 0x1040 + virtio device type (§4.1.2.1); net = 0x1041. */
export const VIRTIO_PCI_DEVICE_BASE: u32 = 0x1040;
/** BAR1 (mem32): MSI-X table at 0x000, pending-bit array at MSIX_PBA_OFF. */
export const BAR_MSIX: u32 = 1;
export const BAR_MSIX_SIZE: u32 = 0x1000;
export const MSIX_PBA_OFF: u32 = 0x800;
/** BAR4 (mem64): the virtio structures at the offsets below. */
export const BAR_VIRTIO: u32 = 4;
export const BAR_VIRTIO_SIZE: u32 = 0x4000;
export const COMMON_OFF: u32 = 0x0000;
export const ISR_OFF: u32 = 0x1000;
export const DEVICE_OFF: u32 = 0x2000;
/** Queue q's notify address: NOTIFY_OFF + q × NOTIFY_MULT (notify_off_multiplier). */
export const NOTIFY_OFF: u32 = 0x3000;
export const NOTIFY_MULT: u32 = 4;

// virtio-mmio version 2 (§4.2.2).
export const MMIO_MAGIC: u32 = 0x74726976; // "virt"
export const MMIO_VERSION: u32 = 2;
export const MMIO_VENDOR: u32 = 0x1af4;
export const MMIO_WINDOW: u32 = 0x200;

// @ts-ignore: decorator
@inline export function bit(n: u32): u64 { return (<u64>1) << n; }
