// Baseline for the in-wasm virtio-net link bench: memory.copy of one frame's
// bytes per frame, into guest RAM, as the device would land them.
import { gmRamPtr } from "../../assembly/core/guestmem";
import { ioPtr } from "../../assembly/core/vm";

/** Copy `len` bytes from the I/O buffer into guest RAM `count` times (rotating 2 KiB slots over 1 MiB). */
export function bench_link_memcopy(len: u32, count: u32): void {
  const ram = gmRamPtr();
  const src = ioPtr();
  let off: usize = 0;
  for (let i: u32 = 0; i < count; i++) {
    memory.copy(ram + off, src, len);
    off = (off + 2048) & 0xfffff;
  }
}
