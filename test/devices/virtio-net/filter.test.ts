// The RX filter (assembly/net/filter.ts) driven through control-queue commands:
// every mode, the MAC table with overflow, the VLAN filter, and the order.
import { describe, it, expect } from "vitest";
import { Status } from "../../../src/index.js";
import { Rig, F, frame, OWN_MAC } from "./rig.js";
import { parseMac } from "../../../src/net/mac.js";

const FEATS = [F.VERSION_1, F.MAC, F.CTRL_VQ, F.CTRL_RX, F.CTRL_RX_EXTRA, F.CTRL_VLAN];
const RX = { PROMISC: 0, ALLMULTI: 1, ALLUNI: 2, NOMULTI: 3, NOUNI: 4, NOBCAST: 5 };
const BCAST = "ff:ff:ff:ff:ff:ff";
const MCAST = "01:00:5e:00:00:01";
const OTHER = "02:11:22:33:44:55";

async function filterRig() {
  const r = await Rig.create("mmio");
  r.init(FEATS);
  r.postRx(0, 64, 2048);
  expect(r.ctrl(0, RX.PROMISC, Uint8Array.of(0))).toBe(0);
  /** Whether a frame to `dst` reaches the guest. */
  const passes = (dst: string, f = frame(dst)): boolean => {
    expect(r.dev.receive(f)).toBe(Status.OK);
    const n = r.takeUsed(0).length;
    if (n) r.postRx(0, n, 2048);
    return n === 1;
  };
  return { r, passes };
}

function macTable(uc: string[], mc: string[]): Uint8Array {
  const bytes = (s: string) => parseMac(s);
  const out: number[] = [];
  const u32 = (n: number) => out.push(n & 255, (n >> 8) & 255, (n >> 16) & 255, n >>> 24);
  u32(uc.length); for (const m of uc) out.push(...bytes(m));
  u32(mc.length); for (const m of mc) out.push(...bytes(m));
  return Uint8Array.from(out);
}

function tagged(dst: string, vid: number): Uint8Array {
  const f = frame(dst, 68);
  const t = new Uint8Array(72);
  t.set(f.subarray(0, 12)); t[12] = 0x81; t[13] = 0; t[14] = vid >> 8; t[15] = vid & 255; t.set(f.subarray(12), 16);
  return t;
}

describe("rx filter", () => {
  it("default (non-promiscuous): own MAC, broadcast; not other unicast or unlisted multicast", async () => {
    const { passes } = await filterRig();
    expect([passes(OWN_MAC), passes(BCAST), passes(OTHER), passes(MCAST)]).toEqual([true, true, false, false]);
  });

  it("each rx mode", async () => {
    const { r, passes } = await filterRig();
    r.ctrl(0, RX.ALLMULTI, Uint8Array.of(1));
    expect(passes(MCAST)).toBe(true);
    r.ctrl(0, RX.NOMULTI, Uint8Array.of(1));
    expect(passes(MCAST)).toBe(false);          // nomulti wins over allmulti
    r.ctrl(0, RX.ALLUNI, Uint8Array.of(1));
    expect(passes(OTHER)).toBe(true);
    r.ctrl(0, RX.NOUNI, Uint8Array.of(1));
    expect(passes(OTHER)).toBe(false);
    expect(passes(OWN_MAC)).toBe(false);        // nouni drops own MAC too
    r.ctrl(0, RX.NOBCAST, Uint8Array.of(1));
    expect(passes(BCAST)).toBe(false);
    r.ctrl(0, RX.PROMISC, Uint8Array.of(1));
    expect([passes(BCAST), passes(OTHER), passes(MCAST)]).toEqual([true, true, true]);
    expect(r.dev.counters().rxFiltered).toBe(4n);
  });

  it("MAC table: listed unicast and multicast pass; a table of 65 overflows to accepting the class", async () => {
    const { r, passes } = await filterRig();
    expect(r.ctrl(1, 0, macTable([OTHER], [MCAST]))).toBe(0);
    expect([passes(OTHER), passes(MCAST), passes("02:00:00:00:00:77"), passes("01:00:5e:00:00:02")]).toEqual([true, true, false, false]);
    const many = Array.from({ length: 65 }, (_, i) => `01:00:5e:00:01:${i.toString(16)}`);
    expect(r.ctrl(1, 0, macTable([], many))).toBe(0);
    expect(passes("01:00:5e:7f:7f:7f")).toBe(true);   // overflow: all multicast
    expect(passes(OTHER)).toBe(false);                // unicast table now empty
    const full = Array.from({ length: 64 }, (_, i) => `02:00:00:00:02:${i.toString(16)}`);
    expect(r.ctrl(1, 0, macTable(full, []))).toBe(0);
    expect(passes("02:00:00:00:02:3f")).toBe(true);
    expect(passes("02:00:00:00:02:40")).toBe(false);
  });

  it("a MAC table whose lengths disagree with the payload is ERR and changes nothing", async () => {
    const { r, passes } = await filterRig();
    r.ctrl(1, 0, macTable([OTHER], []));
    const t = macTable(["02:00:00:00:00:99"], []);
    expect(r.ctrl(1, 0, t.subarray(0, t.length - 1))).toBe(1);
    const lying = macTable([], []); lying[0] = 0xff; lying[1] = 0xff; lying[2] = 0xff; lying[3] = 0xff;
    expect(r.ctrl(1, 0, lying)).toBe(1);
    expect(r.ctrl(1, 0, Uint8Array.of(...t, 0))).toBe(1);
    expect(passes(OTHER)).toBe(true);
    expect(passes("02:00:00:00:00:99")).toBe(false);
  });

  it("VLAN filter: tagged frames need their VID; untagged frames pass; promiscuous ignores it", async () => {
    const { r, passes } = await filterRig();
    expect(passes(OWN_MAC, tagged(OWN_MAC, 100))).toBe(false);
    expect(r.ctrl(2, 0, Uint8Array.of(100, 0))).toBe(0);
    expect(passes(OWN_MAC, tagged(OWN_MAC, 100))).toBe(true);
    expect(passes(OWN_MAC, tagged(OWN_MAC, 101))).toBe(false);
    expect(passes(OWN_MAC)).toBe(true);
    expect(r.ctrl(2, 0, Uint8Array.of(0x00, 0x10))).toBe(1);   // VID 4096
    expect(r.ctrl(2, 1, Uint8Array.of(100, 0))).toBe(0);
    expect(passes(OWN_MAC, tagged(OWN_MAC, 100))).toBe(false);
    r.ctrl(0, RX.PROMISC, Uint8Array.of(1));
    expect(passes(OWN_MAC, tagged(OWN_MAC, 100))).toBe(true);
  });

  it("commands of features not negotiated are ERR", async () => {
    const r = await Rig.create("mmio");
    r.init([F.VERSION_1, F.CTRL_VQ, F.CTRL_RX]);
    expect(r.ctrl(0, RX.NOBCAST, Uint8Array.of(1))).toBe(1);   // needs CTRL_RX_EXTRA
    expect(r.ctrl(2, 0, Uint8Array.of(1, 0))).toBe(1);         // needs CTRL_VLAN
    expect(r.ctrl(1, 1, Uint8Array.of(2, 0, 0, 0, 0, 1))).toBe(1); // needs CTRL_MAC_ADDR
    expect(r.ctrl(3, 0, new Uint8Array(0))).toBe(1);           // needs GUEST_ANNOUNCE
    expect(r.ctrl(4, 0, Uint8Array.of(1, 0))).toBe(1);         // needs MQ
    expect(r.ctrl(9, 9, new Uint8Array(0))).toBe(1);
    expect(r.dev.counters().ctrlErr).toBe(6n);
  });

  it("a control chain without an ack byte is malformed: used with length 0, counted", async () => {
    const r = await Rig.create("mmio");
    r.init(FEATS);
    const b = r.buf(3, Uint8Array.of(0, 0, 1));
    r.add(2, [{ addr: b, len: 3 }]);
    r.notify(2);
    expect(r.takeUsed(2)).toMatchObject([{ len: 0 }]);
    expect(r.dev.counters().ctrlMalformed).toBe(1n);
  });
});
