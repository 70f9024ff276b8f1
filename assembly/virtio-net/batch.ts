// Deferred receive publishes: while a transmit batch feeds linked devices,
// their receive queues publish once at the end of the batch instead of once
// per frame (same order, fewer release stores and interrupt decisions).

import { VDev, devHold, devLeave } from "../virtio/device";
import { netOf, finish, deferList } from "./device";

// Devices touched are listed by handle (≤ 15 exist) in deferList (device.ts).
let deferring = false;
let deferCount: u32 = 0;

/**
 * Open a batch for a transmit that feeds linked devices. False when one is
 * already open (a transmit nested in another: the outer one flushes).
 */
export function batchOpen(): bool {
  if (deferring) return false;
  deferring = true;
  return true;
}

/** A receive queue has new used entries: publish now, or at the end of the batch. */
export function rxDone(d: VDev, qi: u32): void {
  if (deferring) {
    const n = netOf(d);
    if (n.rxDefer == 0) {
      if (deferCount >= 16) { finish(d, qi); return; }
      store<u32>(deferList + (<usize>deferCount << 2), d.handle);
      deferCount++;
    }
    n.rxDefer |= 1 << qi;
    return;
  }
  finish(d, qi);
}

/** End of the batch: publish every deferred receive queue. */
export function flushDeferred(): void {
  deferring = false;
  // Bounded: at most 16 devices, each with ≤ 17 queues.
  for (let i: u32 = 0; i < deferCount; i++) {
    const p = devHold(<i32>load<u32>(deferList + (<usize>i << 2)));
    if (p == 0) continue;
    const d = changetype<VDev>(p);
    const n = netOf(d);
    const m = n.rxDefer;
    n.rxDefer = 0;
    for (let qi: u32 = 0; qi < d.numQueues; qi++) if (m & (1 << qi)) finish(d, qi);
    devLeave(d);
  }
  deferCount = 0;
}

