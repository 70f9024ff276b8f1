// Constants a virtio driver needs, transcribed from the virtio 1.2 specification
// (section numbers at each group). Driver side only: nothing here is shared with
// the device code, so a misreading of the spec on either side shows up in tests.

/** Device status bits (virtio 1.2 §2.1). */
export const DeviceStatus = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

/** Reserved / transport feature bits (virtio 1.2 §6). */
export const F = {
  INDIRECT_DESC: 28,
  EVENT_IDX: 29,
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  ORDER_PLATFORM: 36,
  SR_IOV: 37,
  NOTIFICATION_DATA: 38,
  NOTIF_CONFIG_DATA: 39,
  RING_RESET: 40,
} as const;

/** virtio-net feature bits (virtio 1.2 §5.1.3). */
export const NetF = {
  CSUM: 0,
  GUEST_CSUM: 1,
  CTRL_GUEST_OFFLOADS: 2,
  MTU: 3,
  MAC: 5,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  GUEST_ECN: 9,
  GUEST_UFO: 10,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  HOST_UFO: 14,
  MRG_RXBUF: 15,
  STATUS: 16,
  CTRL_VQ: 17,
  CTRL_RX: 18,
  CTRL_VLAN: 19,
  CTRL_RX_EXTRA: 20,
  GUEST_ANNOUNCE: 21,
  MQ: 22,
  CTRL_MAC_ADDR: 23,
  HASH_REPORT: 57,
  RSS: 60,
  RSC_EXT: 61,
  STANDBY: 62,
  SPEED_DUPLEX: 63,
} as const;

/** `1n << bit` for a feature bit number. */
export const bit = (b: number): bigint => 1n << BigInt(b);

/** Split virtqueue descriptor flags (virtio 1.2 §2.7.5). */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** avail.flags (§2.7.6) and used.flags (§2.7.8). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
export const VIRTQ_USED_F_NO_NOTIFY = 1;
/** Largest split queue size (§2.7: Queue Size ... maximum 32768). */
export const VIRTQ_MAX_SIZE = 32768;

/**
 * The wrap-safe event index test (virtio 1.2 §2.7.10): true when moving an
 * index from `old` to `newIdx` crosses `eventIdx`, i.e. the other side asked
 * to be told about entry `eventIdx`.
 */
export function vringNeedEvent(eventIdx: number, newIdx: number, old: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - old) & 0xffff);
}

/** virtio-mmio v2 register offsets (virtio 1.2 §4.2.2). */
export const Mmio = {
  MAGIC: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  SHM_SEL: 0x0ac,
  QUEUE_RESET: 0x0c0,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;
/** "virt" little-endian (§4.2.2). */
export const MMIO_MAGIC = 0x74726976;

/** virtio-pci capability types (virtio 1.2 §4.1.4). */
export const PciCap = {
  COMMON_CFG: 1,
  NOTIFY_CFG: 2,
  ISR_CFG: 3,
  DEVICE_CFG: 4,
  PCI_CFG: 5,
  SHARED_MEMORY_CFG: 8,
  VENDOR_CFG: 9,
} as const;
/** PCI capability IDs (PCI Local Bus 3.0 / PCIe). */
export const PCI_CAP_ID_VNDR = 0x09;
export const PCI_CAP_ID_MSIX = 0x11;
/** virtio PCI vendor and the modern device ID base (§4.1.2). */
export const PCI_VENDOR_VIRTIO = 0x1af4;
export const PCI_DEVICE_ID_MODERN_BASE = 0x1040;

/** struct virtio_pci_common_cfg offsets (virtio 1.2 §4.1.4.3). */
export const Common = {
  DEVICE_FEATURE_SELECT: 0x00,
  DEVICE_FEATURE: 0x04,
  DRIVER_FEATURE_SELECT: 0x08,
  DRIVER_FEATURE: 0x0c,
  CONFIG_MSIX_VECTOR: 0x10,
  NUM_QUEUES: 0x12,
  DEVICE_STATUS: 0x14,
  CONFIG_GENERATION: 0x15,
  QUEUE_SELECT: 0x16,
  QUEUE_SIZE: 0x18,
  QUEUE_MSIX_VECTOR: 0x1a,
  QUEUE_ENABLE: 0x1c,
  QUEUE_NOTIFY_OFF: 0x1e,
  QUEUE_DESC: 0x20,
  QUEUE_DRIVER: 0x28,
  QUEUE_DEVICE: 0x30,
  QUEUE_NOTIFY_DATA: 0x38,
  QUEUE_RESET: 0x3a,
} as const;
/** "No vector" for config_msix_vector / queue_msix_vector (§4.1.5.1.2). */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;
/** ISR status bits (§4.1.4.5) and mmio InterruptStatus bits (§4.2.2). */
export const ISR_QUEUE = 1;
export const ISR_CONFIG = 2;

/** virtio-net device configuration layout (virtio 1.2 §5.1.4). */
export const NetCfg = {
  MAC: 0,
  STATUS: 6,
  MAX_VIRTQUEUE_PAIRS: 8,
  MTU: 10,
  SPEED: 12,
  DUPLEX: 16,
} as const;
export const VIRTIO_NET_S_LINK_UP = 1;
export const VIRTIO_NET_S_ANNOUNCE = 2;

/** struct virtio_net_hdr (§5.1.6): 12 bytes with VERSION_1; num_buffers at 10. */
export const NET_HDR_LEN = 12;
export const NET_HDR_NUM_BUFFERS = 10;

/** Control virtqueue classes and commands (virtio 1.2 §5.1.6.5). */
export const Ctrl = {
  OK: 0,
  ERR: 1,
  RX: 0,
  RX_PROMISC: 0,
  RX_ALLMULTI: 1,
  RX_ALLUNI: 2,
  RX_NOMULTI: 3,
  RX_NOUNI: 4,
  RX_NOBCAST: 5,
  MAC: 1,
  MAC_TABLE_SET: 0,
  MAC_ADDR_SET: 1,
  VLAN: 2,
  VLAN_ADD: 0,
  VLAN_DEL: 1,
  ANNOUNCE: 3,
  ANNOUNCE_ACK: 0,
  MQ: 4,
  MQ_VQ_PAIRS_SET: 0,
  MQ_VQ_PAIRS_MIN: 1,
  MQ_VQ_PAIRS_MAX: 0x8000,
  GUEST_OFFLOADS: 5,
  GUEST_OFFLOADS_SET: 0,
} as const;
