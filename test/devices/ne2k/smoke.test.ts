import { describe, expect, it } from "vitest";
import { ne2kRig, ethFrame, serviceAll, seqOf, GUEST_MAC, macBytes } from "../../support/ne2k/rig.js";

describe("ne2k smoke", () => {
  it("probes, inits, sends and receives", async () => {
    const r = await ne2kRig({ init: false });
    const p = r.drv.probe();
    expect([...p.mac]).toEqual([...macBytes(GUEST_MAC)]);
    expect(p).toMatchObject({ wordWide: true, signature: true, rtl8029: true });
    r.drv.init();
    expect(r.drv.transmit(ethFrame("52:54:00:00:00:02", 7, 100))).toBe(true);
    expect(r.sent.length).toBe(1);
    expect(seqOf(r.sent[0])).toBe(7);
    expect(r.line.level).toBe(true);
    serviceAll(r);
    expect(r.drv.stats.txFrames).toBe(1);
    for (let i = 0; i < 5; i++) expect(r.dev.receive(ethFrame(GUEST_MAC, i, 200 + i))).toBe(0);
    const got = serviceAll(r);
    expect(got.map(seqOf)).toEqual([0, 1, 2, 3, 4]);
    expect(got.map((f) => f.length)).toEqual([200, 201, 202, 203, 204]);
    console.log(r.dev.counters());
  });
});
