// Saved state of the machine's guest clock (src/machine/clock.ts): the guest
// time in ns at the moment of saving. The clock itself lives on the host
// (guest ns = host monotonic ns − offset); this only writes and validates its
// envelope, so the blob is checked like every other device's.

import { Status } from "../core/status";
import { ioPtr, ioSize } from "../core/vm";
import { DeviceKind, envBegin, envPutU64, envFinish, envOpen, envVersion, envGetU64, envU64 } from "../core/state";

const STATE_VERSION: u32 = 1;
const T_GUEST_NS: u16 = 1;
/** Guest time is kept below 2^62 ns (~146 years): a larger value is a corrupt or hostile blob. */
const MAX_GUEST_NS: u64 = 1 << 62;

// Result of the last successful restore (per instance; read right after it).
let restoredNs: u64 = 0;

/** Save guest time `guestNs` to the start of the I/O buffer; returns the length or -status. */
export function clockSave(guestNs: u64): i32 {
  if (guestNs >= MAX_GUEST_NS) return -Status.ERR_INVALID_ARG;
  envBegin(ioPtr(), ioSize(), DeviceKind.GUEST_CLOCK, STATE_VERSION);
  envPutU64(T_GUEST_NS, guestNs);
  return envFinish();
}

/** Validate a clock blob of `len` bytes at the start of the I/O buffer; on OK its guest time is `clockRestored()`. */
export function clockRestore(len: u32): i32 {
  if (len > ioSize()) return Status.ERR_STATE_LENGTH;
  const s = envOpen(ioPtr(), len, DeviceKind.GUEST_CLOCK);
  if (s != Status.OK) return s;
  if (envVersion() != STATE_VERSION) return Status.ERR_STATE_VERSION;
  if (!envGetU64(T_GUEST_NS)) return Status.ERR_STATE_INVALID;
  const ns = envU64();
  if (ns >= MAX_GUEST_NS) return Status.ERR_STATE_INVALID;
  restoredNs = ns;
  return Status.OK;
}

/** Guest time carried by the last blob `clockRestore` accepted. */
export function clockRestored(): u64 { return restoredNs; }
