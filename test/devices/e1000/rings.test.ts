// Descriptor rings are validated when programmed (length a non-zero multiple
// of 128, the whole ring in guest RAM, head and tail below its size); a
// refused ring idles and is counted until the driver fixes it. A hole that
// later appears over a ring stops the unit at its next access, which never
// reaches the hole.
import { describe, it, expect } from "vitest";
import { e1000Rig } from "./rig.js";
import { frame, mac, seqOf } from "../../../src/guest/virtio/frames.js";
import { Reg } from "../../../src/guest/e1000/defs.js";

describe("e1000 ring validation", () => {
  it("refuses a receive ring with a bad length, base or tail, and uses it once fixed; frames wait meanwhile", async () => {
    const r = await e1000Rig({ driver: { rxDescs: 64 } });
    const len = r.drv.read(Reg.RDLEN);
    for (const [reg, bad, good] of [[Reg.RDLEN, len + 16, len], [Reg.RDBAL, 0x7ffff000, r.drv.read(Reg.RDBAL)], [Reg.RDT, 64, 63]] as const) {
      const before = r.dev.counters().ringRejected;
      r.drv.write(reg, bad);
      expect(r.dev.counters().ringRejected, `reg ${reg.toString(16)}`).toBe(before + 1n);
      r.dev.receive(frame({ dst: r.drv.mac, length: 64, seq: reg }));
      r.drv.pollRx();
      expect(r.drv.takeReceived().length).toBe(0);
      r.drv.write(reg, good);
      r.drv.pollRx();
      expect(r.drv.takeReceived().map((x) => seqOf(x.data))).toEqual([reg]);
    }
    expect(r.dev.counters().rxBacklogged).toBe(3n);
  });

  it("refuses a transmit ring outside RAM and transmits once it is fixed", async () => {
    const r = await e1000Rig();
    const base = r.drv.read(Reg.TDBAL);
    r.drv.write(Reg.TDBAL, 0xfff800);  // a 4 KiB ring from here ends past the 16 MiB of RAM
    r.drv.transmit(frame({ dst: mac("02:00:00:00:00:01"), length: 64, seq: 1 }));
    expect(r.sent.length).toBe(0);
    expect(r.dev.counters().ringRejected).toBe(1n);
    r.drv.write(Reg.TDBAL, base);
    expect(r.sent.map(seqOf)).toEqual([1]);
  });

  it("a hole over the receive ring stops the receive unit before it writes there (ring fault)", async () => {
    const r = await e1000Rig({ driver: { rxDescs: 256 } });
    const { rxRing } = r.drv.layout;
    r.dev.receive(frame({ dst: r.drv.mac, length: 64, seq: 1 }));
    r.drv.pollRx();
    expect(r.drv.takeReceived().length).toBe(1);
    const raw = () => r.core.u8().slice(r.core.exports.gm_ram_ptr() + rxRing, r.core.exports.gm_ram_ptr() + rxRing + 4096);
    r.core.guest.addHole(rxRing, 4096);
    const before = raw();
    r.dev.receive(frame({ dst: r.drv.mac, length: 64, seq: 2 }));
    expect(Array.from(raw())).toEqual(Array.from(before));
    expect(r.dev.counters().ringFaults).toBe(1n);
    expect(r.dev.backlogLength).toBe(1);
  });
});
