// The RX filter engine's per-frame decision, timed inside wasm: a NIC with a
// full 64-entry exact table, the 64-bit CRC hash for multicast and the VLAN
// filter table, composed as a model would: broadcast, exact (with the overflow rule) or
// the multicast hash, and the VLAN table.
import { ioPtr } from "../../assembly/core/vm";
import { macLoad, addrClass, AddrClass, rxfVlanPass, rxfExactMatch, rxfHash64Has, ETH_P_8021Q } from "../../assembly/net/filter";

// @ts-ignore: decorator
@inline function decide(f: usize, p: usize, len: u32): bool {
  const a = macLoad(p);
  const cls = addrClass(a);
  // Bitwise rather than short-circuit: the class and the hits are the frame's, so branches on them mispredict.
  const hit = <u32>(cls == AddrClass.BROADCAST) | <u32>rxfExactMatch(f, a) | (<u32>(cls == AddrClass.MULTICAST) & <u32>rxfHash64Has(f, p));
  return (hit & <u32>rxfVlanPass(f, p, len, ETH_P_8021Q)) != 0;
}

/** Decide `count` frames of `len` bytes, `stride` apart from `framesOff` in the I/O buffer, `reps` times; returns the accepted count. */
export function bench_rxf_decide(reg: u32, framesOff: u32, count: u32, stride: u32, len: u32, reps: u32): u32 {
  const f = ioPtr() + <usize>reg;
  const base = ioPtr() + <usize>framesOff;
  let accepted: u32 = 0;
  for (let r: u32 = 0; r < reps; r++) {
    for (let i: u32 = 0; i < count; i++) accepted += decide(f, base + <usize>i * stride, len) ? 1 : 0;
  }
  return accepted;
}
