// Inspector decoders of the core's own saved states: the guest-memory layout
// (assembly/core/vm.ts gmSaveState) and the machine's guest clock
// (assembly/machine/clock.ts).

import { CoreDefs } from "../generated/constants.js";
import { DecodeError, hex, part } from "./fields.js";
import type { DeviceDecoder } from "./types.js";

/** Tags of assembly/core/vm.ts (guest-memory layout). */
export const GuestMemoryTag = { RAM_PAGES: 1, FOREIGN: 2, HOLES: 3, DIRTY_ENABLED: 4 } as const;
const gmNames: Record<number, string> = { 1: "ram_pages", 2: "foreign", 3: "holes", 4: "dirty_enabled" };

export const guestMemoryDecoder: DeviceDecoder = {
  kind: CoreDefs.DeviceKind.GUEST_MEMORY,
  name: "guest-memory",
  fieldName: (t) => gmNames[t],
  decode: (f) => ({
    ramPages: part(() => f.u32(GuestMemoryTag.RAM_PAGES)),
    ramBytes: part(() => f.u32(GuestMemoryTag.RAM_PAGES) * CoreDefs.PAGE_SIZE),
    foreignRam: part(() => f.u32(GuestMemoryTag.FOREIGN) === 1),
    dirtyTracking: part(() => f.u32(GuestMemoryTag.DIRTY_ENABLED) === 1),
    holes: part(() => {
      const v = f.view(GuestMemoryTag.HOLES);
      if (v.byteLength % 8 !== 0 || v.byteLength / 8 > CoreDefs.MAX_HOLES) throw new DecodeError(`holes field of ${v.byteLength} bytes is not 0..${CoreDefs.MAX_HOLES} entries of 8`);
      return Array.from({ length: v.byteLength / 8 }, (_, i) => {
        const first = v.getUint32(i * 8, true), count = v.getUint32(i * 8 + 4, true);
        return { gpa: hex(first * CoreDefs.PAGE_SIZE), bytes: count * CoreDefs.PAGE_SIZE, firstPage: first, pages: count };
      });
    }),
  }),
};

/** Tag of assembly/machine/clock.ts. */
export const ClockTag = { GUEST_NS: 1 } as const;

export const guestClockDecoder: DeviceDecoder = {
  kind: CoreDefs.DeviceKind.GUEST_CLOCK,
  name: "guest-clock",
  fieldName: (t) => (t === ClockTag.GUEST_NS ? "guest_ns" : undefined),
  decode: (f) => ({ guestNs: part(() => f.u64(ClockTag.GUEST_NS).toString()) }),
};
