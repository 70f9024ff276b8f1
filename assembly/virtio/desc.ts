// One split-virtqueue descriptor (virtio 1.2 §2.7.5), read from guest RAM.
// The caller has proved [entry, entry + 16) lies in guest RAM: either the
// descriptor table checked when the queue became ready, or an indirect table
// checked by the chain walk.

import { gmLoad16, gmLoad32, gmLoad64 } from "../core/guestmem";
import { DESC_ADDR, DESC_LEN, DESC_FLAGS, DESC_NEXT } from "./defs";

// @ts-ignore: decorator
@inline export function descAddr(entry: u64): u64 { return gmLoad64(entry + DESC_ADDR); }
// @ts-ignore: decorator
@inline export function descLen(entry: u64): u32 { return gmLoad32(entry + DESC_LEN); }
// @ts-ignore: decorator
@inline export function descFlags(entry: u64): u32 { return gmLoad16(entry + DESC_FLAGS); }
// @ts-ignore: decorator
@inline export function descNext(entry: u64): u32 { return gmLoad16(entry + DESC_NEXT); }
