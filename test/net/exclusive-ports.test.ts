// An exclusive MAC change on an e1000 and an NE2000 that are switch ports:
// the models cannot ask their guest to announce, so the host sends the RARP
// QEMU's self-announce sends, into the switch from the port itself. The other
// ports see it, and the switch learns the new address on that port at once:
// unicast to it goes there alone, not flooded.
import { describe, expect, it } from "vitest";
import { Exclusive, e1000Exclusive, ne2kExclusive } from "../../src/index.js";
import { lan, frame, seqOf, V_MAC } from "./switch-lan.js";
import type { Nic } from "./switch-lan.js";

const isRarp = (f: Uint8Array, mac: string) =>
  f[12] === 0x80 && f[13] === 0x35 && [...f.subarray(6, 12)].map((b) => b.toString(16).padStart(2, "0")).join(":") === mac;

describe("exclusive MAC change on switch ports without a guest announce", () => {
  for (const which of ["e", "n"] as const) {
    it(`${which === "e" ? "e1000" : "NE2000"}: the RARP goes into the switch from the port; unicast to the new MAC then reaches it alone`, async () => {
      const l = await lan([], { reconcile: false });
      const dev: Nic = l[which];
      const other: Nic = which === "e" ? l.n : l.e;
      const NEW = which === "e" ? "52:54:00:aa:00:0e" : "52:54:00:aa:00:02";
      const ex = new Exclusive(which === "e" ? e1000Exclusive(l.e.dev as never) : ne2kExclusive(l.n.dev as never));
      const res = await ex.setMac(Uint8Array.from(NEW.split(":").map((x) => parseInt(x, 16))));
      expect(res.ok).toBe(true);
      expect(res.announced).toBe("rarp");
      expect(dev.host).toEqual([]); // not to the host: it is a port
      expect(l.v.rx().filter((f) => isRarp(f, NEW)).length).toBe(1);
      expect(other.rx().filter((f) => isRarp(f, NEW)).length).toBe(1);
      // The switch learned NEW on the port: no flooding to the others.
      l.v.send(frame(NEW, V_MAC, 7));
      expect(other.rx()).toEqual([]);
      expect(dev.rx().map(seqOf)).toEqual([7]);
    });
  }
});
