// Inspector decoder of a memtest saved state (assembly/memtest/device.ts).

import { CoreDefs } from "../../generated/constants.js";
import { hex, part } from "../../inspect/fields.js";
import type { DeviceDecoder } from "../../inspect/types.js";

/** Tags of assembly/memtest/device.ts. */
export const MemtestTag = { WINDOW_GPA: 1, WINDOW_LEN: 2, TICKS: 3, CURSOR: 4 } as const;
const names: Record<number, string> = { 1: "window_gpa", 2: "window_len", 3: "ticks", 4: "cursor" };

/** The memtest decoder for the inspector's table. */
export const memtestDecoder: DeviceDecoder = {
  kind: CoreDefs.DeviceKind.MEMTEST,
  name: "memtest",
  fieldName: (t) => names[t],
  decode: (f) => ({
    window: part(() => ({ gpa: hex(f.u64(MemtestTag.WINDOW_GPA)), length: f.u32(MemtestTag.WINDOW_LEN) })),
    ticks: part(() => f.u64(MemtestTag.TICKS).toString()),
    cursor: part(() => f.u32(MemtestTag.CURSOR)),
  }),
};
