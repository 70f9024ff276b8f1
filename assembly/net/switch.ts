// Forwarding of an in-wasm learning switch (its ports and forwarding
// database are fdb.ts): a frame sent in through port `from` goes out of the
// one port that last sent from its destination MAC, or, when the destination
// is unknown or a group address, out of every other port. Ports are a NIC
// model's device handles; the model hands each copy to its receive path
// through `deliver`.

import { swValid, swPort, swLearn, swLookup, macAt, MAX_PORTS } from "./fdb";

/** Hands a frame to the receive path of the device on port `to`. */
export type PortDeliver = (to: u32, frame: usize, len: u32) => void;

/**
 * Forward the `len`-byte frame at `frame` (linear memory) that came in
 * through port `from` of switch `sw`, learning its source. False, and
 * nothing sent, when the switch does not exist or the frame is shorter than
 * an Ethernet header.
 */
export function switchForward(sw: i32, from: u32, frame: usize, len: u32, deliver: PortDeliver): bool {
  if (!swValid(sw) || len < 14) return false;
  const src = macAt(frame + 6);
  if ((src & 1) == 0) swLearn(sw, src, from);
  if ((load<u8>(frame) & 1) == 0) {
    const to = swLookup(sw, macAt(frame));
    if (to != 0) {
      // Known destination: one port (never back out of the port it came in on).
      if (to != from) deliver(to, frame, len);
      return true;
    }
  }
  // Bounded by MAX_PORTS.
  for (let i: u32 = 0; i < MAX_PORTS; i++) {
    const h = swPort(sw, i);
    if (h != 0 && h != from) deliver(h, frame, len);
  }
  return true;
}
