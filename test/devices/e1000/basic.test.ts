import { describe, it, expect } from "vitest";
import { e1000Rig, MAC } from "./rig.js";
import { frame, mac } from "../../../src/guest/virtio/frames.js";

describe("e1000 bring-up", () => {
  it("the driver model initialises the device and exchanges frames", async () => {
    const r = await e1000Rig();
    expect(Array.from(r.drv.mac)).toEqual(Array.from(mac(MAC)));
    expect(r.drv.phyId >>> 0).toBe(0x01410c20);
    expect(r.drv.linkUp).toBe(true);
    const f = frame({ dst: mac("02:00:00:00:00:01"), length: 100, seq: 7 });
    expect(r.drv.transmit(f)).toBe(true);
    expect(r.sent.length).toBe(1);
    expect(Array.from(r.sent[0])).toEqual(Array.from(f));
    expect(r.drv.reclaimTx()).toBe(1);
    const g = frame({ dst: r.drv.mac, length: 200, seq: 9 });
    expect(r.dev.receive(g)).toBe(0);
    r.drv.pollRx();
    const got = r.drv.takeReceived();
    expect(got.length).toBe(1);
    expect(Array.from(got[0].data)).toEqual(Array.from(g));
    console.log(r.dev.counters());
  });
});
