// The receive filter of the 82540EM (assembly/e1000/filter.ts): exact RAR
// entries, the multicast table with each multicast offset, promiscuous modes,
// broadcast, and the VLAN filter table. Expected MTA bits are computed from
// the manual's definition (§13.5.1, Figure 13-2), including its worked example.
import { describe, it, expect } from "vitest";
import { e1000Rig } from "./rig.js";
import { mtaBit } from "../../../src/guest/e1000/driver.js";
import { frame, mac, seqOf, BROADCAST } from "../../../src/guest/virtio/frames.js";
import { Reg, Rctl } from "../../../src/guest/e1000/defs.js";

/** The MTA index by the manual's words: 12 bits of the destination address, bits [47:36] (MO 0), [46:35], [45:34], [43:32]. */
function specIndex(a: Uint8Array, mo: number): number {
  let bits = 0n;
  for (let i = 0; i < 6; i++) bits |= BigInt(a[i]) << BigInt(8 * i); // address bit 0 is the first on the wire (byte 0, LSB)
  const lo = [36, 35, 34, 32][mo];
  return Number((bits >> BigInt(lo)) & 0xfffn);
}

async function deliveredSeqs(r: Awaited<ReturnType<typeof e1000Rig>>, dsts: Uint8Array[], vlan?: (i: number) => number | undefined): Promise<number[]> {
  dsts.forEach((d, i) => r.dev.receive(frame({ dst: d, seq: i, length: 80, vlan: vlan?.(i) })));
  r.drv.pollRx();
  return r.drv.takeReceived().map((x) => seqOf(x.data));
}

describe("e1000 receive filter", () => {
  it("MTA index: the manual's example (xx:xx:xx:xx:9x:BC, MO 00 → row 94, bit 9) and all four offsets", () => {
    const ex = mac("01:00:5e:00:95:bc");
    expect(specIndex(ex, 0)).toBe(0xbc9);
    expect([specIndex(ex, 0) >> 5, specIndex(ex, 0) & 31]).toEqual([94, 9]);
    for (let mo = 0; mo < 4; mo++) for (const a of ["01:00:5e:7f:ff:fa", "33:33:ff:12:34:56", "01:80:c2:00:00:0e"].map(mac)) expect(mtaBit(a, mo)).toBe(specIndex(a, mo));
  });

  it("accepts our address (RAR0) and broadcast with BAM; drops other unicast and unjoined multicast, counted", async () => {
    const r = await e1000Rig();
    expect(await deliveredSeqs(r, [r.drv.mac, mac("02:00:00:00:00:77"), BROADCAST, mac("01:00:5e:01:02:03")])).toEqual([0, 2]);
    expect(r.dev.counters().rxFiltered).toBe(2n);
    r.drv.setRxMode({ broadcast: false });
    expect(await deliveredSeqs(r, [BROADCAST])).toEqual([]);
  });

  it("multicast as Linux programs it: 14 exact entries, then the hash table; a group whose bit is clear is dropped", async () => {
    for (const mo of [0, 1, 2, 3]) {
      const r = await e1000Rig({ driver: { multicastOffset: mo } });
      const joined = Array.from({ length: 20 }, (_, i) => mac(`33:33:ff:00:${(0x10 + i).toString(16)}:${(0x21 * i + 3 & 0xff).toString(16).padStart(2, "0")}`));
      r.drv.setMulticast(joined);
      // An unjoined group whose MTA bit no joined group sets.
      const used = new Set(joined.slice(14).map((a) => mtaBit(a, mo)));
      let other = mac("33:33:ff:ab:cd:ef");
      for (let k = 0; used.has(mtaBit(other, mo)); k++) other = mac(`33:33:ff:ab:${k.toString(16).padStart(2, "0")}:ef`);
      const seqs = await deliveredSeqs(r, [...joined, other]);
      expect(seqs, `MO ${mo}`).toEqual(Array.from({ length: 20 }, (_, i) => i));
      const c = r.dev.counters();
      expect([c.rxExactMatch, c.rxHashMatch, c.rxFiltered], `MO ${mo}`).toEqual([14n, 6n, 1n]);
      // The table holds exactly the hashed groups' bits.
      let bits = 0;
      for (let w = 0; w < 128; w++) bits += r.dev.peekRegister(0x5200 + 4 * w).toString(2).split("1").length - 1;
      expect(bits).toBe(new Set(joined.slice(14).map((a) => mtaBit(a, mo))).size);
    }
  });

  it("the inexact table also passes unicast that missed the exact entries", async () => {
    const r = await e1000Rig();
    const u = mac("02:00:00:00:34:56");
    const bit = mtaBit(u, 0);
    r.drv.write(Reg.MTA + 4 * (bit >> 5), 1 << (bit & 31));
    expect(await deliveredSeqs(r, [u, mac("02:00:00:00:99:99")])).toEqual([0]);
    expect(r.dev.counters().rxHashMatch).toBe(1n);
  });

  it("unicast and multicast promiscuous modes (UPE, MPE)", async () => {
    const r = await e1000Rig();
    const dsts = [mac("02:00:00:00:00:77"), mac("01:00:5e:01:02:03")];
    r.drv.setRxMode({ allmulti: true });
    expect(await deliveredSeqs(r, dsts)).toEqual([1]);
    r.drv.setRxMode({ promisc: true });
    expect(await deliveredSeqs(r, dsts)).toEqual([0, 1]);
  });

  it("exact entries without AV, or matching the source address (ASEL), do not match", async () => {
    const r = await e1000Rig();
    const a = mac("02:00:00:00:00:42");
    const lo = (a[0] | (a[1] << 8) | (a[2] << 16) | (a[3] << 24)) >>> 0, hi = a[4] | (a[5] << 8);
    r.drv.write(Reg.RAL + 8, lo); r.drv.write(Reg.RAH + 8, hi);                       // AV clear
    expect(await deliveredSeqs(r, [a])).toEqual([]);
    r.drv.write(Reg.RAH + 8, (hi | (1 << 16) | (1 << 31)) >>> 0);                    // ASEL = source address
    expect(await deliveredSeqs(r, [a])).toEqual([]);
    r.drv.write(Reg.RAH + 8, (hi | (1 << 31)) >>> 0);
    expect(await deliveredSeqs(r, [a])).toEqual([0]);
  });

  it("the VLAN filter (VFE + VFTA) drops tagged frames of other VLANs; untagged frames pass; promiscuity does not bypass it", async () => {
    const r = await e1000Rig();
    r.drv.setVlan(5, true);
    r.drv.setVlan(4095, true);
    const tags = [5, 6, undefined, 4095, 0];
    r.drv.setRxMode({ vlanFilter: true });
    expect(await deliveredSeqs(r, tags.map(() => r.drv.mac), (i) => tags[i])).toEqual([0, 2, 3]);
    expect(r.dev.counters().rxVlanFiltered).toBe(2n);
    r.drv.write(Reg.RCTL, r.drv.read(Reg.RCTL) | Rctl.UPE);
    expect(await deliveredSeqs(r, [mac("02:00:00:00:00:99")], () => 6)).toEqual([]);
    r.drv.setRxMode({ vlanFilter: false });
    expect(await deliveredSeqs(r, tags.map(() => r.drv.mac), (i) => tags[i])).toEqual([0, 1, 2, 3, 4]);
  });
});
