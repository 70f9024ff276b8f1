// virtio-net constants the host shares (virtio 1.2 §5.1): feature and
// config-status bits, the device's limits, its counters and what
// vnet_pending reports. scripts/build-wasm.mjs generates VirtioNetDefs in
// src/generated/constants.ts from this file.

/** virtio device type of a network card (§5). */
export const DEVICE_NET: u32 = 1;

// Feature bits (§5.1.3).
export const NET_F_MTU: u32 = 3;
export const NET_F_MAC: u32 = 5;
export const NET_F_MRG_RXBUF: u32 = 15;
export const NET_F_STATUS: u32 = 16;
export const NET_F_CTRL_VQ: u32 = 17;
export const NET_F_CTRL_RX: u32 = 18;
export const NET_F_CTRL_VLAN: u32 = 19;
export const NET_F_CTRL_RX_EXTRA: u32 = 20;
export const NET_F_GUEST_ANNOUNCE: u32 = 21;
export const NET_F_MQ: u32 = 22;
export const NET_F_CTRL_MAC_ADDR: u32 = 23;

// Config status bits (§5.1.4).
export const NET_S_LINK_UP: u32 = 1;
export const NET_S_ANNOUNCE: u32 = 2;

/** virtio_net_hdr size with VERSION_1 (§5.1.6: num_buffers always present). */
export const NET_HDR: u32 = 12;
/** Bytes of device configuration (§5.1.4): mac[6] @0, status @6, max_virtqueue_pairs @8, mtu @10. */
export const NET_CONFIG_BYTES: u32 = 12;

// What vnet_create accepts.
export const MAX_PAIRS: u32 = 8;
export const MIN_MTU: u32 = 68;
export const MAX_MTU: u32 = 65500;
/** Largest receive backlog, in frames. */
export const MAX_BACKLOG: u32 = 65536;
/** Largest frame the device transmits (no segmentation offloads are offered). */
export const MAX_TX_FRAME: u32 = 65535;

// vnet_pending bits: what the host must look at after a call.
/** Frames wait in the host outbox (vnet_tx_frames). */
export const PENDING_TX: u32 = 1;
/** MSI-X vectors wait to be delivered (vnet_irq_take). */
export const PENDING_MSIX: u32 = 2;
/** The INTx / MMIO interrupt line is asserted. */
export const PENDING_INTX: u32 = 4;
/** The receive filter changed (MAC tables or receive modes set, reset, restore): vnet_filter_take, then vnet_rx_mode and vnet_mc_*. */
export const PENDING_FILTER: u32 = 8;

// Receive-mode bits (virtio 1.2 §5.1.6.5.1): the filter's flags as vnet_rx_mode returns them.
export const RXF_PROMISC: u32 = 1;
export const RXF_ALLMULTI: u32 = 2;
export const RXF_ALLUNI: u32 = 4;
export const RXF_NOMULTI: u32 = 8;
export const RXF_NOUNI: u32 = 16;
export const RXF_NOBCAST: u32 = 32;
/** vnet_rx_mode: the multicast table was given more entries than it holds (every multicast frame passes). */
export const RXF_MC_OVERFLOW: u32 = 0x100;
/** vnet_rx_mode: the unicast table overflowed likewise. */
export const RXF_UC_OVERFLOW: u32 = 0x200;

/** virtio-net counters (device counter indices 16.., after the transport's VCounter). */
export namespace NetCounter {
  export const TX_FRAMES = 16;
  export const TX_BYTES = 17;
  export const RX_FRAMES = 18;
  export const RX_BYTES = 19;
  export const RX_FILTERED = 20;
  export const RX_BACKLOGGED = 21;
  export const RX_DROPPED = 22;
  export const TX_MALFORMED = 23;
  export const RX_MALFORMED = 24;
  export const CTRL_MALFORMED = 25;
  export const CTRL_OK = 26;
  export const CTRL_ERR = 27;
  export const RX_INVALID = 28;
  export const RX_SHORT_BUFFER = 29;
  export const ANNOUNCES = 30;
  export const TX_STALLS = 31;
  export const RX_NO_BUFFER = 32;
  export const KICKS_IGNORED = 33;
  export const BACKLOG_DRAINED = 34;
  export const TX_SWITCH_DROPPED = 35;
  /** Frames that arrived while the device was quiesced: held in the backlog and judged by the receive filter when delivered. */
  export const RX_HELD = 36;
}
