// Split-virtqueue layout and the virtio constants every device shares
// (virtio 1.2 §2.1 status, §2.7 split virtqueues, §6 reserved feature bits).

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

// Device types (§5).
export const DEVICE_NET: u32 = 1;

export const TRANSPORT_PCI: u32 = 1;
export const TRANSPORT_MMIO: u32 = 2;

// @ts-ignore: decorator
@inline export function bit(n: u32): u64 { return (<u64>1) << n; }
