// The 82540EM under exclusive operations (src/net/exclusive.ts): a live MAC
// change with host traffic running (RAR[0], the EEPROM's address words, the
// RARP sent on the guest's behalf), a VFTA change with frames held across
// it, and the refused MTU change.
import { describe, expect, it } from "vitest";
import { Exclusive, Status, e1000Exclusive, formatMac } from "../../../src/index.js";
import { frame, mac, seqOf } from "../../../src/guest/virtio/frames.js";
import { e1000Rig, MAC } from "./rig.js";

const OLD = mac(MAC);
const NEW = mac("52:54:00:00:00:99");
const PEER = mac("52:54:00:00:00:0a");

describe("e1000 exclusive operations", () => {
  it("live MAC change under host traffic: old MAC before the switch point, new after, none lost; RARP from the new MAC", async () => {
    const r = await e1000Rig();
    let dst = OLD, seq = 0, switchPoint = -1;
    const sentDst: Uint8Array[] = [];
    const got: number[] = [];
    const pump = (n: number) => {
      for (let i = 0; i < n; i++) { sentDst.push(dst); expect(r.dev.receive(frame({ dst, src: PEER, seq: seq++ }))).toBe(Status.OK); }
      r.drv.pollRx();
      for (const f of r.drv.takeReceived()) { got.push(seqOf(f.data)); expect(formatMac(f.data.subarray(0, 6))).toBe(formatMac(sentDst[seqOf(f.data)])); }
    };
    let refs = 2;
    const ex = new Exclusive(e1000Exclusive(r.dev), {
      inFlight: () => (refs > 0 ? refs-- : 0),
      onPhase: (_o, ph) => { if (ph === "quiesce") { switchPoint = seq; dst = NEW; pump(5); } },
    });
    pump(30);
    const done = ex.setMac(NEW);
    for (let fin = false; !fin;) { void done.then(() => { fin = true; }); pump(3); await new Promise((res) => setImmediate(res)); }
    const res = await done;
    pump(10); pump(0);
    expect(res.ok).toBe(true);
    expect(res.held).toBeGreaterThanOrEqual(5);
    expect(got).toEqual([...Array(seq).keys()]);
    expect(sentDst.slice(0, switchPoint).every((d) => d === OLD)).toBe(true);
    expect(r.dev.counters().rxFiltered).toBe(0n);
    expect(r.dev.counters().rxDropped).toBe(0n);
    // RAR[0] with AV, the EEPROM words 00h-02h (and its checksum still BABAh: the driver's init checks it).
    expect(r.dev.peekRegister(0x5400) >>> 0).toBe((NEW[0] | (NEW[1] << 8) | (NEW[2] << 16) | (NEW[3] << 24)) >>> 0);
    expect(r.dev.peekRegister(0x5404) >>> 0).toBe((NEW[4] | (NEW[5] << 8) | 0x8000_0000) >>> 0);
    expect([0, 1, 2].map((i) => r.drv.readEeprom(i))).toEqual([NEW[0] | (NEW[1] << 8), NEW[2] | (NEW[3] << 8), NEW[4] | (NEW[5] << 8)]);
    r.drv.init();
    expect(formatMac(r.drv.mac)).toBe(formatMac(NEW));
    // The announce: a RARP from NEW to broadcast, to the host's network.
    expect(res.announced).toBe("rarp");
    const rarp = r.sent.filter((f) => f[12] === 0x80 && f[13] === 0x35);
    expect(rarp).toHaveLength(1);
    expect(formatMac(rarp[0].subarray(6, 12))).toBe(formatMac(NEW));
    expect(formatMac(rarp[0].subarray(0, 6))).toBe("ff:ff:ff:ff:ff:ff");
  });

  it("regression_e1000_frames_held_across_a_vfta_change_are_judged_by_the_new_table", async () => {
    // Before the fix rxReceive judged a frame on entry to the backlog: a frame held while quiesced was judged by the old VFTA.
    const r = await e1000Rig();
    r.drv.setRxMode({ vlanFilter: true });
    r.drv.setVlan(10, true);
    const ex = new Exclusive(e1000Exclusive(r.dev), {
      onPhase: (_o, ph) => {
        if (ph !== "quiesce") return;
        r.dev.receive(frame({ dst: OLD, src: PEER, vlan: 10, seq: 1 }));
        r.dev.receive(frame({ dst: OLD, src: PEER, vlan: 20, seq: 2 }));
        expect(r.dev.backlogLength).toBe(2);
      },
    });
    const res = await ex.setVlanFilter([20]);
    expect(res.ok).toBe(true);
    expect(res.held).toBe(2);
    r.drv.pollRx();
    expect(r.drv.takeReceived().map((f) => seqOf(f.data))).toEqual([2]);
    expect(r.dev.counters().rxVlanFiltered).toBe(1n);
    expect(r.dev.peekRegister(0x5600 + 4 * (20 >> 5)) >>> 0).toBe(1 << (20 & 31));
  });

  it("refuses an MTU change (no such setting) before touching the device", async () => {
    const r = await e1000Rig();
    const before = r.dev.saveState();
    const res = await new Exclusive(e1000Exclusive(r.dev)).setMtu(9000);
    expect([res.ok, res.status]).toEqual([false, Status.ERR_UNSUPPORTED]);
    expect(r.dev.saveState()).toEqual(before);
  });
});
