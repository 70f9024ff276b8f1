// The NE2000 under exclusive operations (src/net/exclusive.ts): quiesce
// holds received frames and a transmission, a live MAC change reaches PAR0-5
// and the PROM, frames held across it are judged by the new address, the
// RARP goes out on the guest's behalf; no VLAN filter, no MTU.
import { describe, expect, it } from "vitest";
import { Exclusive, Status, formatMac, ne2kExclusive } from "../../../src/index.js";
import { ne2kRig, ethFrame, serviceAll, seqOf, GUEST_MAC, macBytes } from "../../support/ne2k/rig.js";

const NEW = macBytes("52:54:00:00:00:99");

describe("NE2000 exclusive operations", () => {
  it("live MAC change under host traffic: frames before quiesce to the old MAC, held ones to the new, none lost; PAR, PROM, RARP", async () => {
    const r = await ne2kRig();
    let dst: Uint8Array = macBytes(GUEST_MAC), seq = 0;
    const got: number[] = [];
    const pump = (n: number) => {
      for (let i = 0; i < n; i++) expect(r.dev.receive(ethFrame(dst, seq++))).toBe(Status.OK);
      got.push(...serviceAll(r).map(seqOf));
    };
    let refs = 2;
    const ex = new Exclusive(ne2kExclusive(r.dev), {
      inFlight: () => (refs > 0 ? refs-- : 0),
      onPhase: (_o, ph) => { if (ph === "quiesce") { dst = NEW; pump(4); } },
    });
    pump(20);
    const done = ex.setMac(NEW);
    for (let fin = false; !fin;) { void done.then(() => { fin = true; }); pump(2); await new Promise((res) => setImmediate(res)); }
    const res = await done;
    pump(5); pump(0);
    expect(res.ok).toBe(true);
    expect(res.held).toBeGreaterThanOrEqual(4);
    expect(got).toEqual([...Array(seq).keys()]);
    expect(r.dev.counters().rxFiltered).toBe(0n);
    expect(formatMac(r.dev.filterState().par)).toBe(formatMac(NEW));
    expect(formatMac(r.drv.probe().mac)).toBe(formatMac(NEW));
    expect(res.announced).toBe("rarp");
    const rarp = r.sent.filter((f) => f[12] === 0x80 && f[13] === 0x35);
    expect(rarp.map((f) => formatMac(f.subarray(6, 12)))).toEqual([formatMac(NEW)]);
  });

  it("regression_ne2k_frames_held_across_a_mac_change_are_judged_by_the_new_address", async () => {
    // The DP8390 filter ran on arrival: a frame held while quiesced carried the old address's verdict.
    const r = await ne2kRig();
    const ex = new Exclusive(ne2kExclusive(r.dev), {
      onPhase: (_o, ph) => {
        if (ph !== "quiesce") return;
        r.dev.receive(ethFrame(GUEST_MAC, 1));
        r.dev.receive(ethFrame(NEW, 2));
        expect(r.dev.backlogLength).toBe(2);
      },
    });
    expect((await ex.setMac(NEW)).ok).toBe(true);
    expect(serviceAll(r).map(seqOf)).toEqual([2]);
    expect(r.dev.counters().rxFiltered).toBe(1n);
  });

  it("a transmission the guest starts while quiesced waits with CR.TXP and goes on resume", async () => {
    const r = await ne2kRig();
    const nic = ne2kExclusive(r.dev);
    nic.quiesce();
    r.drv.transmit(ethFrame("52:54:00:00:00:02", 9, 64, GUEST_MAC));
    expect(r.sent).toHaveLength(0);
    nic.resume();
    expect(r.sent.map(seqOf)).toEqual([9]);
  });

  it("refuses VLAN filters and MTU changes: the chip has neither", async () => {
    const r = await ne2kRig();
    const ex = new Exclusive(ne2kExclusive(r.dev));
    const before = r.dev.saveState();
    for (const res of [await ex.setVlanFilter([5]), await ex.setMtu(1400)]) expect([res.ok, res.status]).toEqual([false, Status.ERR_UNSUPPORTED]);
    expect(r.dev.saveState()).toEqual(before);
  });
});
