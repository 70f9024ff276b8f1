// Constants of the generic NIC layer that the host shares: the limits of the
// in-wasm virtual switch and the per-port counters at nsw_counters_ptr.

/** Switches one instance holds. */
export const SWITCH_MAX: i32 = 4;
/** Ports one switch holds. */
export const SWITCH_MAX_PORTS: u32 = 16;
/** Multicast groups one switch tracks (each a MAC and the ports that joined it); a join past it is refused with ERR_FULL. */
export const SWITCH_MAX_GROUPS: u32 = 256;
/** Largest device handle a port can have, exclusive (every NIC model's handles are below it). */
export const SWITCH_MAX_HANDLE: u32 = 16;
/** Largest device kind (core DeviceKind) a port can have, exclusive. */
export const SWITCH_MAX_KIND: u32 = 16;

// ---- Per-port counters (u64 each, at nsw_counters_ptr) ----
export namespace SwitchCounter {
  /** Groups the port is a member of now (a level, not an event count). */
  export const GROUPS_JOINED = 0;
  /** Joins that made the port a member of a group. */
  export const JOINS = 1;
  /** Leaves that ended a membership (a port leaving the switch drops its memberships uncounted: its counters go with it). */
  export const LEAVES = 2;
  /** Joins refused because the switch's group table was full. */
  export const JOINS_REFUSED = 3;
  /** Multicast (not broadcast) frames delivered to the port. */
  export const MC_DELIVERED = 4;
  /** Multicast frames not delivered to the port: it had not joined the group and is not all-multicast. */
  export const MC_PRUNED = 5;
}
export const SWITCH_PORT_COUNTERS: u32 = 6;
