// MSI-X of a PCI function (PCI Local Bus 3.0 §6.8.2): the capability's
// message-control bits, the vector table (16 bytes per vector: message
// address low, high, data, vector control) and the pending-bit array kept
// after it. These functions see only the function's configuration space and
// its table; the virtio core (device.ts) decides when to signal and counts.

import { MAX_VECTORS } from "./defs";

/** Offset of the MSI-X capability in configuration space (pci.ts builds it there). */
export const MSIX_CAP: usize = 0x98;
/** Message control (capability + 2): MSI-X enable and function mask. */
export const MSIX_ENABLE: u32 = 1 << 15;
export const MSIX_FUNCTION_MASK: u32 = 1 << 14;
/** Bytes of one vector's table entry; the vector-control word is at +12, bit 0 the mask. */
export const MSIX_ENTRY: u32 = 16;
/** The pending-bit array (one u32) follows the MAX_VECTORS table entries. */
export const MSIX_PBA: usize = <usize>MAX_VECTORS * MSIX_ENTRY;
/** Bytes of the table and the pending-bit array. */
export const MSIX_BYTES: u32 = MAX_VECTORS * MSIX_ENTRY + 8;

// @ts-ignore: decorator
@inline function control(cfg: usize): u32 { return <u32>load<u16>(cfg + MSIX_CAP + 2); }
// @ts-ignore: decorator
@inline function vectorMasked(table: usize, v: u32): bool { return (load<u32>(table + <usize>v * MSIX_ENTRY, 12) & 1) != 0; }

/** MSI-X is enabled on the function whose configuration space is `cfg` (0: not a PCI function). */
export function msixEnabled(cfg: usize): bool {
  return cfg != 0 && (control(cfg) & MSIX_ENABLE) != 0;
}

/**
 * Signal vector `v` (< MAX_VECTORS): true when the message may be sent now;
 * false when it waits as a pending bit, because the vector or the function is
 * masked or the function may not issue memory writes (no bus mastering):
 * an MSI-X message is a memory write.
 */
export function msixSignal(cfg: usize, table: usize, v: u32, busMaster: bool): bool {
  if ((control(cfg) & MSIX_FUNCTION_MASK) != 0 || vectorMasked(table, v) || !busMaster) {
    store<u32>(table + MSIX_PBA, load<u32>(table + MSIX_PBA) | (1 << v));
    return false;
  }
  return true;
}

/**
 * After an unmask (a vector, the function mask, bus mastering): the pending
 * vectors among the first `count` that may be sent now, as a bit set; their
 * pending bits clear (§6.8.2.9: a pending message is sent once unmasked).
 */
export function msixTakeDeliverable(cfg: usize, table: usize, count: u32, busMaster: bool): u32 {
  let pend = load<u32>(table + MSIX_PBA);
  if (pend == 0 || (control(cfg) & MSIX_FUNCTION_MASK) != 0 || !busMaster) return 0;
  let out: u32 = 0;
  // Bounded by count ≤ MAX_VECTORS.
  for (let v: u32 = 0; v < count; v++) {
    if ((pend & (1 << v)) != 0 && !vectorMasked(table, v)) {
      pend &= ~(1 << v);
      out |= 1 << v;
    }
  }
  store<u32>(table + MSIX_PBA, pend);
  return out;
}

/** Function reset (§6.8.2.9): every vector masked, nothing pending. */
export function msixReset(table: usize): void {
  memory.fill(table, 0, MSIX_BYTES);
  for (let v: u32 = 0; v < MAX_VECTORS; v++) store<u32>(table + <usize>v * MSIX_ENTRY, 1, 12);
}

/** Keep only the mask bit of every vector-control word (what a restored table may carry). */
export function msixSanitize(table: usize): void {
  for (let v: u32 = 0; v < MAX_VECTORS; v++) {
    const p = table + <usize>v * MSIX_ENTRY;
    store<u32>(p, load<u32>(p, 12) & 1, 12);
  }
}
