// Building a NIC's MulticastWant (control.ts) from what its receive filter
// holds: the NIC models read their tables out of wasm and call these.

import type { AllMulticastReason, MacString, MulticastWant } from "./control.js";
import { formatMac } from "./mac.js";
import { canonicalGroup, canonicalUnicast } from "./reconcile.js";

/** Every multicast frame, for `reason`. */
export function wantAll(reason: AllMulticastReason): MulticastWant { return { all: true, reason, groups: [] }; }

/** No multicast frame at all. */
export const WANT_NONE: MulticastWant = Object.freeze({ all: false, groups: Object.freeze([]) as readonly MacString[] });

/**
 * The groups among `macs` (6 bytes each, wire order): unicast and broadcast
 * entries are left out (a model's table may hold them; they name no group),
 * duplicates kept once, in first-seen order.
 */
export function wantGroups(macs: Iterable<Uint8Array>): MulticastWant {
  const seen = new Set<MacString>();
  for (const m of macs) {
    const g = canonicalGroup(formatMac(m));
    if (g !== null) seen.add(g);
  }
  return { all: false, groups: [...seen] };
}

/** The unicast addresses among `macs` (6 bytes each), duplicates and group addresses left out, in first-seen order. */
export function unicastOf(macs: Iterable<Uint8Array>): MacString[] {
  const seen = new Set<MacString>();
  for (const m of macs) {
    const a = canonicalUnicast(formatMac(m));
    if (a !== null) seen.add(a);
  }
  return [...seen];
}
