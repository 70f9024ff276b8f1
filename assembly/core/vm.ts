// VM setup for one instance: vm_init makes guest RAM, the guest dirty bitmap
// and the control block; vm_attach binds a further instance (a vCPU worker)
// to the same shared memory. Each instance gets its own I/O buffer, the
// host-visible scratch area every exported function that moves bytes uses.

import { Status } from "./status";
import { VM_FOREIGN_RAM } from "./defs";
import {
  controlBlock, controlBlockInit, regionAlloc, regionCost, regionRollback, regionTop, CB_FLAGS, CB_RAM_PTR, CB_RAM_PAGES,
  CB_HOLE_COUNT, CB_HOLES, CBF_INIT, CBF_FOREIGN, MAX_OWN_RAM_PAGES, MAX_FOREIGN_RAM_PAGES,
  PAGE_SHIFT, MAX_HOLES,
} from "./layout";
import { GUEST_BITMAP, bitmapCreate, bitmapRelease, bitmapEnabled, bitmapSetEnabled } from "./dirty";
import { gmBind, gmReady, gmRamPages, gmForeign, layoutChanged, BOUNCE_SIZE } from "./guestmem";
import { DeviceKind, envBegin, envPutU32, envPutBytes, envFinish, envOpen, envGetU32, envU32, envFind, envFoundLen, envVersion } from "./state";

export const DEFAULT_IO_SIZE: u32 = 1 << 20;

let ioBase: usize = 0;
let ioBytes: u32 = 0;

export function ioPtr(): usize { return ioBase; }
export function ioSize(): u32 { return ioBytes; }

/** True if [off, off+len) lies in this instance's I/O buffer. */
// @ts-ignore: decorator
@inline export function ioRangeOk(off: u32, len: u64): bool {
  return off <= ioBytes && len <= <u64>(ioBytes - off);
}

function allocIo(bytes: u32): bool {
  const p = regionAlloc(<u64>bytes + BOUNCE_SIZE, 64);
  if (p == 0) return false;
  bindIo(p, bytes);
  return true;
}

function bindIo(p: usize, bytes: u32): void {
  ioBase = p + BOUNCE_SIZE; ioBytes = bytes;
  gmBind(p);
}

/** Replace this instance's I/O buffer with one of `bytes` (the old region is not reused). */
export function ioResize(bytes: u32): i32 {
  if (!gmReady()) return Status.ERR_NOT_READY;
  if (bytes < 4096 || bytes > (1 << 30)) return Status.ERR_INVALID_ARG;
  const p = regionAlloc(<u64>bytes, 64);
  if (p == 0) return Status.ERR_NO_MEMORY;
  ioBase = p; ioBytes = bytes;
  return Status.OK;
}

/**
 * Create guest RAM of `ramPages` 4 KiB pages. flags: VM_FOREIGN_RAM. All or
 * nothing: RAM, the guest dirty bitmap and this instance's I/O buffer are made
 * before the VM is published (CBF_INIT, what vm_attach looks for); if one
 * cannot be made, the others are undone and another vm_init may follow.
 */
export function vmInit(ramPages: u32, flags: u32): i32 {
  if (gmReady()) return Status.ERR_ALREADY;
  if ((flags & ~VM_FOREIGN_RAM) != 0) return Status.ERR_INVALID_ARG;
  const isForeign = (flags & VM_FOREIGN_RAM) != 0;
  if (ramPages == 0 || ramPages > (isForeign ? MAX_FOREIGN_RAM_PAGES : MAX_OWN_RAM_PAGES)) return Status.ERR_INVALID_ARG;
  if (!controlBlockInit()) return Status.ERR_NO_MEMORY;
  const cb = controlBlock();
  if (atomic.load<u32>(cb + CB_FLAGS) & CBF_INIT) return Status.ERR_ALREADY;
  const mark = regionTop();
  let ram: usize = 0;
  if (!isForeign) {
    // 64 KiB alignment keeps guest pages on wasm-page boundaries.
    ram = regionAlloc(<u64>ramPages << PAGE_SHIFT, 65536);
    if (ram == 0) return Status.ERR_NO_MEMORY;
  }
  const h = bitmapCreate(ramPages);
  const io = h == GUEST_BITMAP ? regionAlloc(<u64>DEFAULT_IO_SIZE + BOUNCE_SIZE, 64) : 0;
  if (io == 0) {
    if (h > 0) bitmapRelease(h);
    // Nothing was written into RAM, the bitmap or the I/O buffer: the pointer can go back.
    regionRollback(mark);
    return h < 0 ? -h : Status.ERR_NO_MEMORY;
  }
  store<u32>(cb + CB_RAM_PTR, <u32>ram);
  store<u32>(cb + CB_RAM_PAGES, ramPages);
  atomic.store<u32>(cb + CB_FLAGS, CBF_INIT | (isForeign ? CBF_FOREIGN : 0));
  bindIo(io, DEFAULT_IO_SIZE);
  return Status.OK;
}

/** I/O buffer sizes vmAttach accepts. */
export function attachIoOk(ioBytesWanted: u32): bool { return ioBytesWanted >= 4096 && ioBytesWanted <= (1 << 28); }

/** The most linear memory vmAttach(ioBytesWanted) carves (allocIo: I/O and bounce buffers). */
export function attachCost(ioBytesWanted: u32): u64 {
  return regionCost(<u64>ioBytesWanted + BOUNCE_SIZE, 64);
}

/** Bind this instance to a VM another instance created in the same shared memory. */
export function vmAttach(ioBytesWanted: u32): i32 {
  if (gmReady()) return Status.ERR_ALREADY;
  if (!attachIoOk(ioBytesWanted)) return Status.ERR_INVALID_ARG;
  const cb = controlBlock();
  if (<u64>memory.size() << 16 < <u64>cb + 8 || (atomic.load<u32>(cb + CB_FLAGS) & CBF_INIT) == 0) return Status.ERR_NOT_READY;
  if (!allocIo(ioBytesWanted)) return Status.ERR_NO_MEMORY;
  return Status.OK;
}

// ---- Saved state of the guest-memory layout --------------------------------
// Not guest RAM itself (migration streams that), but what a destination must
// agree on before it accepts pages: size, placement, holes, dirty tracking.

export const GM_STATE_VERSION: u32 = 1;
export const T_RAM_PAGES: u32 = 1;
export const T_FOREIGN: u32 = 2;
export const T_HOLES: u32 = 3;
export const T_DIRTY_ENABLED: u32 = 4;

export function gmSaveState(): i32 {
  if (!gmReady()) return -Status.ERR_NOT_READY;
  const cb = controlBlock();
  envBegin(ioBase, ioBytes, DeviceKind.GUEST_MEMORY, GM_STATE_VERSION);
  envPutU32(T_RAM_PAGES, gmRamPages());
  envPutU32(T_FOREIGN, gmForeign() ? 1 : 0);
  envPutBytes(T_HOLES, cb + CB_HOLES, atomic.load<u32>(cb + CB_HOLE_COUNT) << 3);
  envPutU32(T_DIRTY_ENABLED, bitmapEnabled(GUEST_BITMAP) ? 1 : 0);
  return envFinish();
}

/** Restore from a blob of `len` bytes at the start of the I/O buffer. Nothing changes on error. */
export function gmRestoreState(len: u32): i32 {
  if (!gmReady()) return Status.ERR_NOT_READY;
  if (len > ioBytes) return Status.ERR_STATE_LENGTH;
  let s = envOpen(ioBase, len, DeviceKind.GUEST_MEMORY);
  if (s != Status.OK) return s;
  if (envVersion() != GM_STATE_VERSION) return Status.ERR_STATE_VERSION;
  // Validate everything before touching anything.
  if (!envGetU32(T_RAM_PAGES) || envU32() != gmRamPages()) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_FOREIGN) || envU32() > 1) return Status.ERR_STATE_INVALID;
  if (!envGetU32(T_DIRTY_ENABLED) || envU32() > 1) return Status.ERR_STATE_INVALID;
  const dirtyOn = envU32() == 1;
  const holes = envFind(T_HOLES);
  const holeBytes = envFoundLen();
  if (holes == 0 || (holeBytes & 7) != 0 || (holeBytes >> 3) > <u32>MAX_HOLES) return Status.ERR_STATE_INVALID;
  const n = holeBytes >> 3;
  const pages = gmRamPages();
  for (let i: u32 = 0; i < n; i++) {
    const first = load<u32>(holes + (<usize>i << 3));
    const count = load<u32>(holes + (<usize>i << 3), 4);
    if (count == 0 || first >= pages || count > pages - first) return Status.ERR_STATE_INVALID;
  }
  const cb = controlBlock();
  memory.copy(cb + CB_HOLES, holes, holeBytes);
  atomic.store<u32>(cb + CB_HOLE_COUNT, n);
  layoutChanged();
  if (dirtyOn != bitmapEnabled(GUEST_BITMAP)) bitmapSetEnabled(GUEST_BITMAP, dirtyOn);
  return Status.OK;
}
