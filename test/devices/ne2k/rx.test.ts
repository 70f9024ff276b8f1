// The NE2000's receive side as a guest sees it: the address filter (AB, AM
// with the MAR hash, PRO, PAR), the ring and its 4-byte headers, monitor
// mode, a stopped NIC, and back-pressure: a full ring holds frames in the
// backlog, none lost until the backlog is full too (then ISR.OVW and CNTR2).
import { describe, expect, it } from "vitest";
import { crc32 } from "node:zlib";
import { ne2kRig, ethFrame, serviceAll, seqOf, GUEST_MAC, macBytes } from "../../support/ne2k/rig.js";
import { Cmd, Isr, P0R, P0W, P1, Port, Rcr, multicastHashIndex, type Ne2kDriverOptions } from "../../../src/guest/ne2k/index.js";
import { Status } from "../../../src/status.js";

/** The DP8390 hash index from zlib's CRC-32: the MSB-first register's top 6 bits are the reflected register's low 6, reversed. */
function hashFromZlib(addr: Uint8Array): number {
  const r = ~crc32(addr) >>> 0;
  let i = 0;
  for (let k = 0; k < 6; k++) i |= ((r >>> k) & 1) << (5 - k);
  return i;
}

const n = (c: Record<string, bigint>, k: string) => Number(c[k]);

describe("NE2000 receive filter", () => {
  it("the driver model's hash is the IEEE CRC-32 definition (checked against zlib.crc32)", () => {
    for (let i = 0; i < 512; i++) {
      const a = Uint8Array.from([0x01 | (i & 0xfe), i >> 1, 0x5e, i & 0x7f, (i * 7) & 0xff, (i * 13) & 0xff]);
      expect(multicastHashIndex(a)).toBe(hashFromZlib(a));
    }
    // What Linux's 8390 driver programmed for 33:33:ff:ab:00:cd in the v86 test: MAR1 bit 3.
    expect(multicastHashIndex(macBytes("33:33:ff:ab:00:cd"))).toBe(11);
  });

  it("accepts a group exactly when AM is set and its MAR bit is; other groups are filtered and counted", async () => {
    const r = await ne2kRig();
    const joined = macBytes("01:00:5e:01:02:03"), idx = hashFromZlib(joined);
    const others: Uint8Array[] = [];
    for (let k = 0; k < 64 && others.length < 8; k++) { const a = macBytes(`01:00:5e:7f:01:${k.toString(16).padStart(2, "0")}`); if (hashFromZlib(a) !== idx) others.push(a); }
    r.dev.receive(ethFrame(joined, 1));            // AM still clear: filtered
    r.drv.setMulticast([joined]);
    expect(r.dev.filterState().mar[idx >> 3]).toBe(1 << (idx & 7));
    expect(r.dev.filterState().rcr & Rcr.AM).toBe(Rcr.AM);
    r.dev.receive(ethFrame(joined, 2));
    for (const [i, a] of others.entries()) r.dev.receive(ethFrame(a, 100 + i));
    const got = serviceAll(r);
    expect(got.map(seqOf)).toEqual([2]);
    const c = r.dev.counters();
    expect(n(c, "rxMulticast")).toBe(1);
    expect(n(c, "rxMulticastFiltered")).toBe(1 + others.length);
    expect(n(c, "rxFiltered")).toBe(1 + others.length);
    // RSR.PHY marks the group frame.
    expect(r.drv.readReg(P0R.RSR) & 0x21).toBe(0x21);
  });

  it("takes broadcast only with AB, every individual address with PRO, and groups still only through AM + MAR", async () => {
    const r = await ne2kRig();
    const bcast = macBytes("ff:ff:ff:ff:ff:ff"), stranger = macBytes("02:00:00:00:00:99"), group = macBytes("01:00:5e:00:00:07");
    r.dev.receive(ethFrame(bcast, 1));
    r.dev.receive(ethFrame(stranger, 2));
    r.dev.receive(ethFrame(GUEST_MAC, 3));
    r.drv.setRcr(0);
    r.dev.receive(ethFrame(bcast, 4));
    r.drv.setRcr(Rcr.PRO);
    r.dev.receive(ethFrame(stranger, 5));
    r.dev.receive(ethFrame(group, 6));
    r.drv.setPromiscuous(true);
    r.dev.receive(ethFrame(group, 7));
    r.dev.receive(ethFrame(stranger, 8));
    expect(serviceAll(r).map(seqOf)).toEqual([1, 3, 5, 7, 8]);
    expect(n(r.dev.counters(), "rxBroadcast")).toBe(1);
  });
});

describe("NE2000 receive ring", () => {
  it("stores each frame at CURR behind a header (status, next page, count with the header), pads runts to 60 with zeros, wraps at PSTOP", async () => {
    const r = await ne2kRig({ driver: { rxStartPage: 0x4c, stopPage: 0x54 } });
    // A 42-byte frame: padded to 60, one page.
    r.dev.receive(ethFrame(GUEST_MAC, 1, 42));
    const hdr = r.drv.remoteRead(0x4d00, 4);
    expect([...hdr]).toEqual([0x01, 0x4e, 64, 0]);
    const body = r.drv.remoteRead(0x4d04, 60);
    expect(body.subarray(0, 42)).toEqual(ethFrame(GUEST_MAC, 1, 42));
    expect([...body.subarray(42)]).toEqual(new Array(18).fill(0));
    // 1000 bytes + header = 4 pages from 0x4e: 0x4e..0x51, next 0x52; then 600 bytes from 0x52 wraps to 0x4c.
    expect(serviceAll(r).map((f) => f.length)).toEqual([60]);
    r.dev.receive(ethFrame(GUEST_MAC, 2, 1000));
    r.dev.receive(ethFrame(GUEST_MAC, 3, 600));
    expect([...r.drv.remoteRead(0x4e00, 4)]).toEqual([0x01, 0x52, (1004) & 0xff, 1004 >> 8]);
    expect([...r.drv.remoteRead(0x5200, 4)]).toEqual([0x01, 0x4d, 604 & 0xff, 604 >> 8]);
    const got = serviceAll(r);
    expect(got.map(seqOf)).toEqual([2, 3]);
    expect(got[1]).toEqual(ethFrame(GUEST_MAC, 3, 600));
  });

  it("monitor mode checks the address, counts the frame in CNTR2 and stores nothing", async () => {
    const r = await ne2kRig();
    r.drv.setRcr(Rcr.AB | Rcr.MON);
    r.dev.receive(ethFrame(GUEST_MAC, 1));
    r.dev.receive(ethFrame("02:00:00:00:00:01", 2));
    expect(serviceAll(r)).toEqual([]);
    const c = r.dev.counters();
    expect([n(c, "rxMonitor"), n(c, "rxFiltered"), n(c, "rxFrames")]).toEqual([1, 1, 0]);
    expect(r.drv.readReg(P0R.RSR) & 0x50).toBe(0x50); // MPA, DIS (the receiver is in monitor mode)
    r.drv.readTallies();
    expect(r.drv.stats.tallyMissed).toBe(1);
  });

  it("receives nothing while stopped or in loopback (as on the wire), and refuses frames outside 14..1518 bytes", async () => {
    const r = await ne2kRig();
    r.drv.stop();
    expect(r.dev.receive(ethFrame(GUEST_MAC, 1))).toBe(Status.OK);
    r.drv.init();
    r.io.write(P0W.TCR, 1, 0x02);
    expect(r.dev.receive(ethFrame(GUEST_MAC, 2))).toBe(Status.OK);
    r.io.write(P0W.TCR, 1, 0x00);
    expect(r.dev.receive(new Uint8Array(13))).toBe(Status.ERR_INVALID_ARG);
    expect(r.dev.receive(new Uint8Array(1519))).toBe(Status.ERR_INVALID_ARG);
    expect(r.dev.receive(ethFrame(GUEST_MAC, 3, 1518))).toBe(Status.OK);
    expect(serviceAll(r).map(seqOf)).toEqual([3]);
    const c = r.dev.counters();
    expect([n(c, "rxOffline"), n(c, "rxInvalid")]).toEqual([2, 2]);
  });
});

describe("NE2000 back-pressure", () => {
  for (const [label, drv] of [
    ["the data sheet's driver", {}],
    ["a Linux-like driver (9 packets a pass, BNRY = PSTART − 1)", { rxBudget: 9, linuxBoundary: true }],
    ["word mode with 32-bit string I/O", { dataWidth: 32 }],
    ["byte mode", { dataWidth: 8 }],
  ] as Array<[string, Ne2kDriverOptions]>) {
    it(`holds a burst far larger than the ring in the backlog and loses nothing (${label})`, async () => {
      const r = await ne2kRig({ driver: drv, via: "window", device: { backlogFrames: 512 } });
      const lens = Array.from({ length: 400 }, (_, i) => 60 + ((i * 97) % 1455));
      for (let i = 0; i < lens.length; i++) expect(r.dev.receive(ethFrame(GUEST_MAC, i, lens[i]))).toBe(Status.OK);
      expect(r.dev.backlogLength).toBeGreaterThan(300);
      const got: Uint8Array[] = [];
      // Service only when the line is up, as an interrupt-driven guest does.
      for (let i = 0; i < 10_000 && r.line.level; i++) { r.drv.service(); got.push(...r.drv.takeReceived()); }
      expect(got.map(seqOf)).toEqual(lens.map((_, i) => i));
      expect(got.every((f, i) => Buffer.from(f).equals(ethFrame(GUEST_MAC, i, lens[i])))).toBe(true);
      const c = r.dev.counters();
      expect(n(c, "rxDropped")).toBe(0);
      expect(n(c, "rxBacklogged")).toBe(n(c, "backlogDrained"));
      expect(r.dev.backlogLength).toBe(0);
      expect(r.line.level).toBe(false);
      expect(r.drv.stats.rxBadHeaders + r.drv.stats.rxOverruns).toBe(0);
    });
  }

  it("beyond the backlog's bound: ISR.OVW and RST, CNTR2, ERR_FULL, counted; the data sheet's overflow recovery then reads the ring", async () => {
    const r = await ne2kRig({ device: { backlogFrames: 4 }, driver: { rxStartPage: 0x4c, stopPage: 0x58 } });
    let full = 0;
    for (let i = 0; i < 20; i++) if (r.dev.receive(ethFrame(GUEST_MAC, i, 1000)) === Status.ERR_FULL) full++;
    // 11 pages hold two 1004-byte frames (4 pages each), then 4 wait.
    expect(full).toBe(14);
    const c = r.dev.counters();
    expect([n(c, "rxFrames"), n(c, "rxBacklogged"), n(c, "rxDropped"), n(c, "overflows")]).toEqual([2, 4, 14, 14]);
    expect(r.drv.readReg(P0R.ISR) & (Isr.OVW | Isr.RST)).toBe(Isr.OVW | Isr.RST);
    const got = serviceAll(r);
    expect(got.map(seqOf)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r.drv.stats.rxOverruns).toBe(1);
    r.drv.readTallies();
    expect(r.drv.stats.tallyMissed).toBe(14);
    expect(r.drv.readReg(P0R.ISR) & (Isr.OVW | Isr.RST)).toBe(0);
  });

  it("keeps PRX set while the ring holds packets the driver has not released, so a driver that acknowledges early comes back", async () => {
    const r = await ne2kRig({ driver: { rxBudget: 3 } });
    for (let i = 0; i < 10; i++) r.dev.receive(ethFrame(GUEST_MAC, i));
    r.drv.service();
    expect(r.line.level).toBe(false); // service() passes until ISR is clear
    expect(r.drv.takeReceived().map(seqOf)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Acknowledging PRX with packets left in the ring does not clear it.
    for (let i = 0; i < 3; i++) r.dev.receive(ethFrame(GUEST_MAC, 10 + i));
    r.io.write(P0W.ISR, 1, Isr.PRX);
    expect(r.drv.readReg(P0R.ISR) & Isr.PRX).toBe(Isr.PRX);
  });

  it("holds frames while the ring is not a ring in RAM and delivers them once it is", async () => {
    const r = await ne2kRig({ init: false, via: "window" });
    r.drv.probe();
    r.io.write(Port.CMD, 1, Cmd.NODMA | Cmd.STA);
    r.io.write(P0W.RCR, 1, Rcr.AB);
    r.io.write(P0W.TCR, 1, 0);       // out of the probe's loopback
    r.io.write(P0W.PSTART, 1, 0x90); // outside the 16 KiB
    r.io.write(P0W.PSTOP, 1, 0xa0);
    r.dev.receive(ethFrame("ff:ff:ff:ff:ff:ff", 1));
    expect(r.dev.backlogLength).toBe(1);
    expect(n(r.dev.counters(), "rxRingInvalid")).toBe(1);
    r.drv.init();
    expect(r.dev.backlogLength).toBe(0);
    expect(serviceAll(r).map(seqOf)).toEqual([1]);
  });

  it("drops and counts a frame the programmed ring can never hold", async () => {
    const r = await ne2kRig({ driver: { rxStartPage: 0x4c, stopPage: 0x50 } });
    expect(r.dev.receive(ethFrame(GUEST_MAC, 1, 1000))).toBe(Status.ERR_FULL);
    expect(r.dev.receive(ethFrame(GUEST_MAC, 2, 500))).toBe(Status.OK);
    expect(serviceAll(r).map(seqOf)).toEqual([2]);
    expect(n(r.dev.counters(), "rxTooBig")).toBe(1);
  });

  it("stores without the overwrite check while BNRY is outside the ring, as the chip does", async () => {
    const r = await ne2kRig({ driver: { rxStartPage: 0x4c, stopPage: 0x50 } });
    r.io.write(P0W.BNRY, 1, 0x00);
    for (let i = 0; i < 6; i++) r.dev.receive(ethFrame(GUEST_MAC, i, 200));
    expect(n(r.dev.counters(), "rxNoBoundary")).toBe(6);
    expect(r.dev.backlogLength).toBe(0);
    r.io.write(Port.CMD, 1, Cmd.NODMA | Cmd.PAGE1 | Cmd.STA);
    expect(r.io.read(P1.CURR, 1)).toBe(0x4d + 6 - 4); // wrapped past PSTART
  });
});
