// The MAC address a machine gives a NIC whose config names none. Node only
// (node:crypto), like the machine factories that call it; src/net/mac.ts,
// which the browser bundle carries, stays free of it.

import { createHash } from "node:crypto";
import { formatMac } from "./mac.js";

/** A locally administered unicast MAC derived from the config node name (stable across runs): 52:54:00 and three bytes of a hash. */
export function defaultMac(node: string): string {
  const h = createHash("sha256").update(`vmdev:${node}`).digest();
  return formatMac(Uint8Array.of(0x52, 0x54, 0x00, h[0], h[1], h[2]));
}
