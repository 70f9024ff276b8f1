// One split-virtqueue descriptor (virtio 1.2 §2.7.5), read from guest RAM
// with one 16-byte read through the guest-memory port (gmRead16: bounds
// checked; one upcall when guest RAM is foreign, not one per field). The
// fields are taken from that read, so a driver rewriting the descriptor
// meanwhile cannot make them disagree.

import { gmRead16 } from "../core/guestmem";
import { DESC_ADDR, DESC_LEN, DESC_FLAGS, DESC_NEXT } from "./defs";

/** The descriptor last read by descRead. */
export let descAddr: u64 = 0;
export let descLen: u32 = 0;
export let descFlags: u32 = 0;
export let descNext: u32 = 0;

/** Read the descriptor at `entry` into descAddr/descLen/descFlags/descNext; false (counted by the port) when it is not in guest RAM. */
export function descRead(entry: u64): bool {
  const p = gmRead16(entry);
  if (p == 0) return false;
  descAddr = load<u64>(p, DESC_ADDR);
  descLen = load<u32>(p, DESC_LEN);
  descFlags = <u32>load<u16>(p, DESC_FLAGS);
  descNext = <u32>load<u16>(p, DESC_NEXT);
  return true;
}
