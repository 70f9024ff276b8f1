// MAC addresses a machine gives its NICs when the config names none.
import { createHash } from "node:crypto";

/** A locally administered unicast MAC derived from the config node name (stable across runs): 52:54:00 and three bytes of a hash. */
export function defaultMac(node: string): string {
  const h = createHash("sha256").update(`vmdev:${node}`).digest();
  return ["52", "54", "00", ...[h[0], h[1], h[2]].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}
