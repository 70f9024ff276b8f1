// Inspector decoder of a v86 machine blob (machine-state.ts): v86's own state
// (an opaque size here) and each device's nested envelope, inspected in turn.

import { HostKind } from "../../state.js";
import { DecodeError, part } from "../../inspect/fields.js";
import { walkFields } from "../../inspect/inspect.js";
import type { DeviceDecoder, InspectedEnvelope } from "../../inspect/types.js";

const Tag = { V86: 1, DEVICE: 2 } as const;
const DeviceTag = { NAME: 1, IRQ: 2, STATE: 3 } as const;
/** Devices listed at most (machine-state.ts accepts 64). */
const MAX_DEVICES = 256;

export const v86MachineDecoder: DeviceDecoder = {
  kind: HostKind.v86Machine,
  name: "v86-machine",
  fieldName: (t) => (t === Tag.V86 ? "v86" : t === Tag.DEVICE ? "device" : undefined),
  async decode(f, ctx) {
    const v86 = f.list.filter((x) => x.tag === Tag.V86);
    const devices: Array<{ name: unknown; irq: unknown; state?: InspectedEnvelope; error?: string }> = [];
    const text = new TextDecoder("utf-8", { fatal: true });
    for (const d of f.list.filter((x) => x.tag === Tag.DEVICE).slice(0, MAX_DEVICES)) {
      const w = walkFields(d.value);
      if (w.error) { devices.push({ name: "?", irq: "?", error: w.error }); continue; }
      const get = (tag: number) => w.fields.find((x) => x.tag === tag)?.value;
      const state = get(DeviceTag.STATE);
      devices.push({
        name: part(() => { const n = get(DeviceTag.NAME); if (!n) throw new DecodeError("no name"); return text.decode(n); }),
        irq: part(() => { const i = get(DeviceTag.IRQ); if (!i || i.length !== 4) throw new DecodeError("no 4-byte irq"); return new DataView(i.buffer, i.byteOffset, 4).getUint32(0, true); }),
        ...(state ? { state: await ctx.inspect(state) } : { error: "no state field" }),
      });
    }
    return { v86StateBytes: v86.length === 1 ? v86[0].value.length : { error: `${v86.length} v86 state fields (want 1)` }, devices };
  },
};
