// virtio-pci and virtio-mmio register maps: identity, capability list, BAR
// sizing, MSI-X routing, INTx fallback, and validation of every access width
// and offset.
import { describe, it, expect } from "vitest";
import { Rig, F, S, frame, OWN_MAC } from "./rig.js";
import { rng, testSeed } from "../../support/core.js";
import { Common } from "../../../src/guest/virtio/defs.js";
import { pciCapabilities, PCI_CAP_ID_VNDR } from "../../../src/pci.js";

const BASE = [F.VERSION_1, F.MAC, F.CTRL_VQ, F.CTRL_RX];

describe("virtio-pci configuration space", () => {
  it("identifies a modern virtio-net function", async () => {
    const { dev } = await Rig.create("pci");
    const p = dev.pci!;
    expect(p.configRead(0, 2)).toBe(0x1af4);
    expect(p.configRead(2, 2)).toBe(0x1041);
    expect(p.configRead(8, 1)).toBe(1);                  // revision ≥ 1
    expect(p.configRead(0x0b, 1)).toBe(0x02);            // network
    expect(p.configRead(0x2e, 2)).toBeGreaterThanOrEqual(0x40);
    expect(p.configRead(6, 2) & 0x10).toBe(0x10);        // capability list
    expect(p.configRead(0x3d, 1)).toBe(1);               // INTA
  });

  it("lists the five virtio capabilities and MSI-X, each pointing inside its BAR", async () => {
    const { dev } = await Rig.create("pci", { queuePairs: 4 });
    const p = dev.pci!;
    const caps: Record<number, { bar: number; offset: number; length: number; mult?: number }> = {};
    let msix = 0;
    // Bounded walk (a broken list must not hang the test either).
    for (let at = p.configRead(0x34, 1), n = 0; at !== 0 && n < 48; at = p.configRead(at + 1, 1), n++) {
      const id = p.configRead(at, 1);
      if (id === 0x11) { msix = at; continue; }
      expect(id).toBe(0x09);
      const type = p.configRead(at + 3, 1);
      caps[type] = { bar: p.configRead(at + 4, 1), offset: p.configRead(at + 8, 4), length: p.configRead(at + 12, 4) };
      if (type === 2) caps[type].mult = p.configRead(at + 16, 4);
    }
    expect(Object.keys(caps).map(Number).sort()).toEqual([1, 2, 3, 4, 5]);
    for (const t of [1, 2, 3, 4]) {
      const bar = p.bars.find((b) => b.index === caps[t].bar)!;
      expect(caps[t].offset + caps[t].length).toBeLessThanOrEqual(bar.size);
    }
    expect(caps[2].mult).toBe(4);
    expect(caps[2].length).toBeGreaterThanOrEqual(9 * 4);
    expect(msix).not.toBe(0);
    expect((p.configRead(msix + 2, 2) & 0x7ff) + 1).toBe(10); // 9 queues + config
  });

  it("BARs size like PCI BARs: all-ones reads back the size mask", async () => {
    const { dev } = await Rig.create("pci");
    const p = dev.pci!;
    p.configWrite(0x14, 4, 0xffffffff);
    expect(p.configRead(0x14, 4)).toBe((~0xfff) >>> 0);
    p.configWrite(0x20, 4, 0xffffffff);
    expect(p.configRead(0x20, 4)).toBe(((~0x3fff) | 4) >>> 0);
    p.configWrite(0x24, 4, 0xffffffff);
    expect(p.configRead(0x24, 4)).toBe(0xffffffff);
    p.configWrite(0x10, 4, 0xffffffff);
    expect(p.configRead(0x10, 4)).toBe(0);  // BAR0 not implemented
    p.configWrite(0, 4, 0);                  // read-only identity
    expect(p.configRead(0, 2)).toBe(0x1af4);
  });

  it("the PCI config access capability reaches the BARs", async () => {
    const { dev } = await Rig.create("pci");
    const p = dev.pci!;
    const cap = 0x84;
    p.configWrite(cap + 4, 1, 4);            // BAR4
    p.configWrite(cap + 8, 4, 0x12);         // common cfg num_queues
    p.configWrite(cap + 12, 4, 2);
    expect(p.configRead(cap + 16, 4) & 0xffff).toBe(3);
    p.configWrite(cap + 8, 4, 0x13);         // misaligned for length 2
    const before = dev.counters().badAccess;
    expect(p.configRead(cap + 16, 4)).toBe(0xffffffff);
    expect(dev.counters().badAccess).toBe(before + 1n);
  });

  it("rejects bad widths and offsets: all-ones, counted, never a throw", async () => {
    const { dev } = await Rig.create("pci");
    const p = dev.pci!;
    let bad = 0n;
    const expectBad = (v: number, w: number) => { bad++; expect(v).toBe(w === 4 || w === 3 || w === 8 ? 0xffffffff : w === 1 ? 0xff : 0xffff); };
    expectBad(p.configRead(1, 2), 2);
    expectBad(p.configRead(2, 4), 4);
    expectBad(p.configRead(255, 2), 2);
    expectBad(p.configRead(4, 3 as 4), 3);
    expectBad(p.barRead(4, 0x04, 2), 2);        // device_feature is 32-bit
    expectBad(p.barRead(4, 0x14, 4), 4);        // device_status is 8-bit
    expectBad(p.barRead(4, 0x1001, 1), 1);      // beyond ISR
    expectBad(p.barRead(4, 0x2000 + 12, 1), 1); // beyond device config
    expectBad(p.barRead(0, 0, 4), 4);           // no BAR0
    expectBad(p.barRead(4, 0x4000, 4), 4);
    expectBad(p.barRead(1, 2, 2), 2);           // MSI-X table: dword accesses
    p.barWrite(4, 0x3000 + 64 * 4, 2, 0); bad++; // notify past the last queue
    p.barWrite(4, 0x3001, 1, 0); bad++;
    expect(dev.counters().badAccess).toBe(bad);
  });

  it("fuzzed register accesses never throw, trap or break the next good access", async () => {
    const seed = testSeed();
    const r = await Rig.create("pci");
    const p = r.dev.pci!;
    const rand = rng(seed);
    try {
      for (let i = 0; i < 20000; i++) {
        const w = [1, 2, 4, 3, 8][Math.floor(rand() * 5)] as 1 | 2 | 4;
        const where = rand();
        const v = Math.floor(rand() * 2 ** 32);
        if (where < 0.3) { if (rand() < 0.5) p.configRead(Math.floor(rand() * 300), w); else p.configWrite(Math.floor(rand() * 300), w, v); }
        else { const bar = Math.floor(rand() * 6); const off = Math.floor(rand() * 0x4400); if (rand() < 0.5) p.barRead(bar, off, w); else p.barWrite(bar, off, w, v); }
      }
      r.dev.reset();
      expect(p.configRead(0, 2)).toBe(0x1af4);
      expect(p.configRead(4, 2)).toBe(0);       // function reset: decoding and bus mastering off
      p.configWrite(4, 2, 0x6);
      r.init(BASE);
      r.send(frame("02:00:00:00:00:02"));
      expect(r.tx).toHaveLength(1);
    } catch (e) { console.error(`seed ${seed}`); throw e; }
  });
});

describe("virtio-pci interrupts", () => {
  async function msixRig() {
    const r = await Rig.create("pci");
    const p = r.dev.pci!;
    p.configWrite(0x98 + 2, 2, 0x8000);      // MSI-X enable
    // Vector v: address 0xfee00000 | v<<12, data 0x40 + v; unmasked.
    for (let v = 0; v < 4; v++) {
      p.barWrite(1, v * 16, 4, 0xfee00000 | (v << 12));
      p.barWrite(1, v * 16 + 4, 4, 0);
      p.barWrite(1, v * 16 + 8, 4, 0x40 + v);
      p.barWrite(1, v * 16 + 12, 4, 0);
    }
    r.setStatus(S.ACK | S.DRIVER);
    r.setDriverFeatures(BASE.reduce((a, b) => a | (1n << BigInt(b)), 0n));
    r.setStatus(S.ACK | S.DRIVER | S.FEATURES_OK);
    r.w32("configVector", 0);
    for (let q = 0; q < 3; q++) { r.w32("queueSel", q); r.w32("queueVector", q + 1); r.setupQueue(q, 64); }
    r.setStatus(S.ACK | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    return r;
  }

  it("routes each queue to its MSI-X vector and the config change to the config vector", async () => {
    const r = await msixRig();
    r.send(frame("02:00:00:00:00:02"));
    expect(r.msis).toEqual([{ addressLo: 0xfee02000, addressHi: 0, data: 0x42 }]);
    r.postRx(0, 2, 2048);
    r.dev.receive(frame(OWN_MAC));
    expect(r.msis.at(-1)).toEqual({ addressLo: 0xfee01000, addressHi: 0, data: 0x41 });
    r.setAvailIdx(1, 200);
    r.notify(1);                           // avail jump: needs reset + config interrupt
    expect(r.msis.at(-1)).toEqual({ addressLo: 0xfee00000, addressHi: 0, data: 0x40 });
    expect(r.intx).toBe(false);
  });

  it("a masked vector sets its pending bit and fires on unmask", async () => {
    const r = await msixRig();
    const p = r.dev.pci!;
    p.barWrite(1, 2 * 16 + 12, 4, 1);        // mask vector 2 (TX queue)
    r.send(frame("02:00:00:00:00:02"));
    expect(r.msis).toHaveLength(0);
    expect(p.barRead(1, 0x800, 4)).toBe(1 << 2);
    expect(r.dev.counters().irqMasked).toBe(1n);
    p.barWrite(1, 2 * 16 + 12, 4, 0);
    expect(r.msis).toEqual([{ addressLo: 0xfee02000, addressHi: 0, data: 0x42 }]);
    expect(p.barRead(1, 0x800, 4)).toBe(0);
  });

  it("an unmapped vector number reads back NO_VECTOR; NO_VECTOR means no interrupt", async () => {
    const r = await msixRig();
    r.w32("queueSel", 1);
    r.w32("queueVector", 999);
    expect(r.r32("queueVector")).toBe(0xffff);
  });

  it("falls back to INTx with the ISR when MSI-X is off; reading the ISR clears it and the line", async () => {
    const r = await Rig.create("pci");
    r.init(BASE);
    r.send(frame("02:00:00:00:00:02"));
    expect(r.intx).toBe(true);
    expect(r.dev.pci!.configRead(6, 2) & 8).toBe(8);   // interrupt status
    expect(r.ackIsr()).toBe(1);
    expect(r.intx).toBe(false);
    r.dev.pci!.configWrite(4, 2, 0x0400);              // INTx disable
    r.send(frame("02:00:00:00:00:02"));
    expect(r.intx).toBe(false);
    expect(r.msis).toHaveLength(0);
  });
});

describe("virtio-mmio v2", () => {
  it("identifies itself", async () => {
    const { dev } = await Rig.create("mmio", { queueSize: 128 });
    expect(dev.mmioRead(0, 4)).toBe(0x74726976);
    expect(dev.mmioRead(4, 4)).toBe(2);
    expect(dev.mmioRead(8, 4)).toBe(1);
    dev.mmioWrite(0x30, 4, 0);
    expect(dev.mmioRead(0x34, 4)).toBe(128);
    dev.mmioWrite(0x30, 4, 3);               // no queue 3 with one pair
    expect(dev.mmioRead(0x34, 4)).toBe(0);
  });

  it("control registers take only aligned 32-bit accesses; others read 0 and are counted", async () => {
    const { dev } = await Rig.create("mmio");
    expect(dev.mmioRead(0, 2)).toBe(0);
    expect(dev.mmioRead(2, 4)).toBe(0);
    expect(dev.mmioRead(0x200, 4)).toBe(0);
    expect(dev.mmioRead(0x18, 4)).toBe(0);   // reserved
    dev.mmioWrite(0x70, 1, 1);
    expect(dev.mmioRead(0x70, 4)).toBe(0);
    expect(dev.counters().badAccess).toBe(5n);
    expect(dev.mmioRead(0x100, 1)).toBe(0x52); // config: byte access fine
    expect(dev.mmioRead(0x104, 2)).toBe(0x5634);
  });

  it("InterruptStatus drives the line until InterruptACK", async () => {
    const r = await Rig.create("mmio");
    r.init(BASE);
    r.send(frame("02:00:00:00:00:02"));
    expect(r.intx).toBe(true);
    expect(r.dev.mmioRead(0x60, 4)).toBe(1);
    r.dev.mmioWrite(0x64, 4, 1);
    expect(r.intx).toBe(false);
  });

  it("QueueReady = 0 stops the queue", async () => {
    const r = await Rig.create("mmio");
    r.init(BASE);
    r.dev.mmioWrite(0x30, 4, 1);
    r.dev.mmioWrite(0x44, 4, 0);
    expect(r.dev.mmioRead(0x44, 4)).toBe(0);
    r.send(frame("02:00:00:00:00:02"));
    expect(r.tx).toHaveLength(0);
  });
});

describe("virtio-pci reset scope", () => {
  // Found by the driver model's tests: devResetCore used to wipe the MSI-X table on a status-0 write.
  it("regression_msix_table_survives_virtio_reset: a virtio reset (status 0) keeps the MSI-X table; a function reset masks every vector again", async () => {
    const r = await Rig.create("pci");
    const p = r.dev.pci!;
    p.barWrite(1, 0, 4, 0xfee01000); p.barWrite(1, 8, 4, 0x31); p.barWrite(1, 12, 4, 0);
    r.setStatus(0);
    expect([0, 4, 8, 12].map((o) => p.barRead(1, o, 4))).toEqual([0xfee01000, 0, 0x31, 0]);
    r.dev.reset();
    p.configWrite(4, 2, 0x6);
    expect(p.barRead(1, 12, 4)).toBe(1);
    expect(p.barRead(1, 0, 4)).toBe(0);
  });
});

describe("virtio-pci command register", () => {
  it("without memory decoding BAR accesses master-abort; the PCI config access window still works", async () => {
    const r = await Rig.create("pci");
    const p = r.dev.pci!;
    p.configWrite(4, 2, 0x4);
    const before = r.dev.counters().badAccess;
    expect(p.barRead(4, 0x12, 2)).toBe(0xffff);
    expect(r.dev.counters().badAccess).toBe(before + 1n);
    p.configWrite(0x84 + 4, 1, 4); p.configWrite(0x84 + 8, 4, 0x12); p.configWrite(0x84 + 12, 4, 2);
    expect(p.configRead(0x84 + 16, 4) & 0xffff).toBe(3);
  });

  it("without bus mastering the device does no DMA and sends no MSI; enabling it catches up", async () => {
    const r = await Rig.create("pci");
    const p = r.dev.pci!;
    r.init(BASE);
    p.configWrite(0x98 + 2, 2, 0x8000);
    p.barWrite(1, 16, 4, 0xfee00000); p.barWrite(1, 24, 4, 0x51); p.barWrite(1, 28, 4, 0);
    r.w32("queueSel", 0); r.w32("queueVector", 1);
    r.postRx(0, 2, 2048);
    p.configWrite(4, 2, 0x2);                 // bus master off
    r.dev.receive(frame(OWN_MAC));
    expect(r.takeUsed(0)).toHaveLength(0);
    expect(r.dev.backlogLength).toBe(1);
    r.send(frame("02:00:00:00:00:02"));
    expect(r.tx).toHaveLength(0);
    p.configWrite(4, 2, 0x6);                 // on again: the next kick finds the frame and the buffers
    r.notify(0);
    expect(r.takeUsed(0)).toHaveLength(1);
    expect(r.msis).toEqual([{ addressLo: 0xfee00000, addressHi: 0, data: 0x51 }]);
    r.notify(1);
    expect(r.tx).toHaveLength(1);
  });
});

describe("virtio-pci register spans (PciFunction.mmioRegister, what a byte-splitting bus reads whole)", () => {
  it("reports every common-config field the driver model knows, with its width, for each of its bytes", async () => {
    const { dev } = await Rig.create("pci");
    const p = dev.pci!;
    // Where the device puts its common config: its own capability (§4.1.4.3), not a constant of the test.
    const cap = pciCapabilities(p).caps.find(({ at, id }) => id === PCI_CAP_ID_VNDR && p.configRead(at + 3, 1) === 1)!;
    const bar = p.configRead(cap.at + 4, 1), base = p.configRead(cap.at + 8, 4);
    const starts = Object.values(Common) as number[];
    for (const [i, start] of starts.entries()) {
      // 64-bit fields are two 32-bit halves (§4.1.3.1); the rest end where the next begins.
      const end = i + 1 < starts.length ? starts[i + 1] : start + 2;
      const halves = end - start === 8 ? [start, start + 4] : [start];
      for (const h of halves) {
        const width = halves.length === 2 ? 4 : end - start;
        for (let b = 0; b < width; b++) expect(p.mmioRegister!(bar, base + h + b)).toEqual({ start: base + h, width });
      }
    }
    expect(p.mmioRegister!(bar, base + 0x3c)).toBe(null);   // past the structure
    expect(p.mmioRegister!(1, 0x18)).toBe(null);            // the MSI-X BAR takes what it takes
  });

  it("a reported field refuses a byte access and answers one of its width (why the bus must read it whole)", async () => {
    const { dev } = await Rig.create("pci");
    const p = dev.pci!;
    const r = p.mmioRegister!(4, Common.NUM_QUEUES + 1)!;
    expect(r).toEqual({ start: Common.NUM_QUEUES, width: 2 });
    expect(p.barRead(4, r.start, r.width)).toBe(3);                   // rx, tx, ctrl
    expect(dev.counters().badAccess).toBe(0n);
    expect(p.barRead(4, Common.NUM_QUEUES + 1, 1)).toBe(0xff);         // a lone byte: all-ones, counted
    expect(p.barRead(4, Common.NUM_QUEUES, 1)).toBe(0xff);
    expect(dev.counters().badAccess).toBe(2n);
  });
});

