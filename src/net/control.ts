// The NIC control plane's shared vocabulary: what every NIC model (virtio-net,
// e1000, NE2000) tells the network about its receive filter, and what a
// network backend (the in-wasm virtual switch, an embedder's real network)
// is asked to do about it. The guest replaces whole tables (virtio
// MAC_TABLE_SET, 8254x MTA rewrites, DP8390 MAR); a backend wants individual
// joins and leaves. The reconcile between the two lives in reconcile.ts.

/** A group (multicast) or extra unicast address as the control plane names it: six lowercase hex pairs, "01:00:5e:00:00:fb". */
export type MacString = string;

/** Why a NIC accepts every multicast frame instead of a list of groups. */
export type AllMulticastReason =
  /** The guest put the receive filter in promiscuous mode. */
  | "promiscuous"
  /** The guest asked for every multicast frame (virtio ALLMULTI, 8254x RCTL.MPE, DP8390 all-ones MAR). */
  | "allmulti"
  /** The guest listed more groups than the model's table (or the reconcile's bound) holds. */
  | "overflow"
  /** The model filters multicast by a hash (8254x MTA, DP8390 MAR): which groups it wants cannot be known. */
  | "hash-filter"
  /** The backend refused a join; the NIC takes every group rather than miss one. */
  | "backend-refused";

/** What a NIC's receive filter wants from the network right now. */
export interface MulticastWant {
  /** Every multicast frame (groups are then ignored). */
  all: boolean;
  /** Set when `all` is. */
  reason?: AllMulticastReason;
  /** The groups the guest listed (canonical MacStrings, no duplicates); empty when `all`. */
  groups: readonly MacString[];
  /**
   * Extra unicast addresses the filter accepts besides the NIC's own (virtio
   * MAC_TABLE_SET's unicast table, 8254x RAR[1..15]); absent when the model
   * has none.
   */
  unicast?: readonly MacString[];
  /** Every unicast frame (promiscuous, ALLUNI, a unicast table that overflowed): `unicast` is then ignored. */
  allUnicast?: boolean;
}

/**
 * A network backend's side of the reconcile: individual requests. Each may
 * answer at once (a boolean) or later (a promise); false or a rejection is a
 * refusal. Requests for one NIC are never overlapped for the same group.
 */
export interface GroupBackend {
  /** Join `group`: frames to it are delivered to this NIC from now on. */
  add(group: MacString): boolean | Promise<boolean>;
  /** Leave `group`. */
  remove(group: MacString): boolean | Promise<boolean>;
  /** Deliver every multicast frame to this NIC (on) or only the joined groups (off). */
  setAllMulticast(on: boolean): boolean | Promise<boolean>;
  /** Deliver frames to unicast `addr` to this NIC (an extra address its filter accepts). A backend without the three unicast calls is not told of extra unicast addresses. */
  addUnicast?(addr: MacString): boolean | Promise<boolean>;
  removeUnicast?(addr: MacString): boolean | Promise<boolean>;
  /** Deliver every unicast frame to this NIC (on) or only its own and extra addresses (off). */
  setAllUnicast?(on: boolean): boolean | Promise<boolean>;
}
