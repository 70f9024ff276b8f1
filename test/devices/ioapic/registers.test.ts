// IOAPIC registers through the MMIO window (82093AA §3.1–§3.2): ID, VER, ARB,
// redirection entries, IOREGSEL widths, the version-0x20 EOI register, and
// every access the window does not decode refused, counted and harmless.
import { describe, it, expect } from "vitest";
import { IoApic, Status, VmdevError } from "../../../src/index.js";
import { rng, testSeed } from "../../support/core.js";
import { ioapicVm, IoApicDriver } from "./support.js";

describe("IOAPIC registers", () => {
  it("ID, VER and ARB: a 4-bit writable ID that ARB follows; VER names version 0x20 and 24 entries", async () => {
    const { io } = await ioapicVm(1, { id: 3 });
    const d = new IoApicDriver(io);
    expect(d.read(0x00)).toBe(3 << 24);
    expect(d.read(0x01)).toBe(0x00170020);
    expect(d.read(0x02)).toBe(3 << 24);
    d.write(0x00, 0xfa000000); // reserved bits 31:28 are dropped
    expect(d.read(0x00)).toBe(0x0a000000);
    expect(d.read(0x02)).toBe(0x0a000000);
    d.write(0x01, 0); d.write(0x02, 0);
    expect(d.read(0x01)).toBe(0x00170020);
    expect(io.counters().regReadOnly).toBe(2n);
    io.reset();
    expect(d.read(0x00)).toBe(3 << 24); // RESET restores the ID the IOAPIC was created with
  });

  it("redirection entries reset masked; reserved, delivery-status and remote-IRR bits are not writable", async () => {
    const { io } = await ioapicVm(1);
    const d = new IoApicDriver(io);
    for (let pin = 0; pin < 24; pin++) { expect(d.low(pin)).toBe(0x10000); expect(d.high(pin)).toBe(0); }
    d.write(0x10 + 2 * 5, 0xffffffff);
    d.write(0x11 + 2 * 5, 0xffffffff);
    expect(d.low(5)).toBe(0x1afff);       // bits 17..31, 12 and 14 stay 0
    expect(d.high(5) >>> 0).toBe(0xfffe0000); // bits 32..48 stay 0
    expect(io.redirection(5)).toMatchObject({ vector: 0xff, deliveryMode: 7, logical: true, deliveryPending: false, activeLow: true, remoteIrr: false, level: true, masked: true, destination: 0xff, extendedDestination: 0x7f });
    expect(d.read(0x40)).toBe(0); // past entry 23: no register
    expect(io.counters().regUnimplemented).toBe(1n);
  });

  it("IOREGSEL takes 1-, 2- and 4-byte accesses and keeps bits 7:0; IOWIN only 32-bit", async () => {
    const { io } = await ioapicVm(1);
    expect(io.mmioWrite(0x00, 1, 0x01)).toBe(Status.OK);
    expect(io.mmioRead(0x00, 1)).toBe(0x01);
    expect(io.mmioRead(0x10, 4)).toBe(0x00170020);
    expect(io.mmioWrite(0x00, 2, 0x1202)).toBe(Status.OK);
    expect(io.mmioRead(0x00, 4)).toBe(0x02);
    expect(io.mmioRead(0x10, 2)).toBe(0);
    expect(io.mmioWrite(0x10, 1, 0)).toBe(Status.ERR_INVALID_ARG);
    expect(io.counters().mmioBadAccess).toBe(2n);
  });

  it("the EOI register exists in version 0x20 only, and is write-only", async () => {
    const a = await ioapicVm(1);
    expect(a.io.mmioWrite(0x40, 4, 0x30)).toBe(Status.OK);
    expect(a.io.counters().eoiDirected).toBe(1n);
    expect(a.io.mmioRead(0x40, 4)).toBe(0);
    expect(a.io.counters().mmioBadAccess).toBe(1n);
    const b = await ioapicVm(1, { version: 0x11 });
    expect(new IoApicDriver(b.io).read(0x01)).toBe(0x00170011);
    expect(b.io.mmioWrite(0x40, 4, 0x30)).toBe(Status.ERR_INVALID_ARG);
    expect(b.io.counters()).toMatchObject({ eoiDirected: 0n, mmioBadAccess: 1n });
  });

  it("create refuses bad IDs, versions, duplicate IDs and overlapping GSI ranges; handles are reused after destroy", async () => {
    const { core, io } = await ioapicVm(1);
    const code = (f: () => unknown) => { try { f(); return 0; } catch (e) { return (e as VmdevError).status; } };
    expect(code(() => IoApic.create(core, { id: 16, gsiBase: 24 }))).toBe(Status.ERR_INVALID_ARG);
    expect(code(() => IoApic.create(core, { id: 1, gsiBase: 24, version: 0x12 as 0x11 }))).toBe(Status.ERR_INVALID_ARG);
    expect(code(() => IoApic.create(core, { id: 0, gsiBase: 24 }))).toBe(Status.ERR_ALREADY);
    expect(code(() => IoApic.create(core, { id: 1, gsiBase: 23 }))).toBe(Status.ERR_ALREADY);
    expect(code(() => IoApic.create(core, { id: 1, gsiBase: 0xffff_fff0 }))).toBe(Status.ERR_INVALID_ARG);
    const second = IoApic.create(core, { id: 1, gsiBase: 24 });
    expect(second.hasGsi(47) && !second.hasGsi(48) && !second.hasGsi(23)).toBe(true);
    const h = second.handle;
    second.destroy();
    expect(() => second.mmioRead(0)).toThrow(VmdevError);
    const third = IoApic.create(core, { id: 2, gsiBase: 24 });
    expect(third.handle).toBe(h);
    expect(io.handle).not.toBe(h);
  });

  it("an IOAPIC needs the local APICs", async () => {
    const { newCore } = await import("../../support/core.js");
    const core = await newCore(1 << 16);
    expect(() => IoApic.create(core)).toThrow(expect.objectContaining({ status: Status.ERR_NOT_READY }));
  });

  // A reference decoder written from §3.1: which (offset, width) the window answers.
  const decodes = (off: number, width: number, write: boolean, version: number) =>
    (off === 0 && (width === 1 || width === 2 || width === 4)) || (off === 0x10 && width === 4) || (write && off === 0x40 && width === 4 && version === 0x20);

  it("fuzz: random accesses never throw; refused ones are exactly those the window does not decode; entries never hold reserved bits", async () => {
    const seed = testSeed();
    const r = rng(seed);
    try {
      for (const version of [0x20, 0x11] as const) {
        const { io } = await ioapicVm(2, { version });
        let refused = 0;
        for (let i = 0; i < 4000; i++) {
          const off = r() < 0.7 ? [0, 0x10, 0x40, 0x20, 0x14, 0x01][Math.floor(r() * 6)] : Math.floor(r() * 0x1100);
          const width = [1, 2, 4, 8, 3][Math.floor(r() * 5)] as 1 | 2 | 4;
          const write = r() < 0.6;
          // Keep the index mostly on real registers, so entries get written.
          const v = off === 0 && write ? Math.floor(r() * 0x48) : Math.floor(r() * 2 ** 32);
          const s = write ? io.mmioWrite(off, width, v) : io.core.exports.ioapic_mmio_read(io.handle, off, width);
          if (!decodes(off, width, write, version)) { refused++; expect(s).toBe(Status.ERR_INVALID_ARG); } else expect(s).toBe(Status.OK);
          if (i % 8 === 0) io.setPin(Math.floor(r() * 24), r() < 0.5);
        }
        expect(io.counters().mmioBadAccess).toBe(BigInt(refused));
        for (let pin = 0; pin < 24; pin++) {
          const e = io.redirectionRaw(pin);
          expect(e & ~(0xfffe0000_0001afffn | 0x4000n)).toBe(0n);
          if (e & 0x4000n) expect(e & 0x8000n).toBe(0x8000n); // remote IRR only on level entries
        }
      }
    } catch (err) { console.error(`IOAPIC register fuzz seed ${seed} (VMDEV_SEED=${seed} to replay)`); throw err; }
  });
});
