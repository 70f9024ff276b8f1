// Saved state of the IOAPIC through the envelope (DeviceKind.IOAPIC): a save
// mid-interrupt (remote IRR set, line asserted) restored on a fresh core
// finishes its interrupt cycle there; hostile blobs are refused and change
// nothing; fuzzed blobs never trap.
import { describe, it, expect } from "vitest";
import { Status, readEnvelopeHeader, DeviceKind } from "../../../src/index.js";
import { rng, testSeed } from "../../support/core.js";
import { reseal } from "../../support/envelope-blob.js";
import { ioapicVm, IoApicDriver, GuestCpu, LevelDevice } from "./support.js";

const T = { version: 1, gsiBase: 2, pins: 3, id: 4, ioregsel: 5, rte: 6, level: 7 } as const;

const u32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0, true); return b; };

/** A VM mid-interrupt: a level device on GSI 18 asserted, its vector in service on vCPU 0, remote IRR set; an edge entry and a masked one beside it. */
async function midInterrupt() {
  const vm = await ioapicVm(2, { id: 2 });
  const drv = new IoApicDriver(vm.io);
  drv.program(18, { vector: 0x61, level: true, activeLow: true, dest: 0 });
  drv.program(4, { vector: 0x34, dest: 1 });
  drv.program(9, { vector: 0x39, level: true, masked: true });
  drv.write(0x00, 0x07000000);
  const dev = new LevelDevice(vm.board, 18);
  dev.event();
  expect(vm.bus.apic(0).ack()).toBe(0x61);
  vm.io.mmioWrite(0, 4, 0x25); // leave IOREGSEL somewhere unusual
  return { ...vm, drv, dev };
}

describe("IOAPIC state (envelope, DeviceKind.IOAPIC)", () => {
  it("save mid-interrupt → restore on a fresh core: the cycle completes there (EOI clears remote IRR, the still-asserted line comes again)", async () => {
    const src = await midInterrupt();
    expect(src.io.redirection(18).remoteIrr).toBe(true);
    const apicBlob = src.bus.apic(0).saveState();
    const blob = src.io.saveState();
    expect(readEnvelopeHeader(blob).kind).toBe(DeviceKind.ioapic);

    const dst = await ioapicVm(2, { id: 2 });
    expect(dst.bus.apic(0).restoreState(apicBlob)).toBe(Status.OK);
    expect(dst.io.restoreState(blob)).toBe(Status.OK);
    expect(dst.io.saveState()).toEqual(blob);
    const drv = new IoApicDriver(dst.io);
    expect(dst.io.mmioRead(0, 4)).toBe(0x25);
    expect(drv.read(0x00)).toBe(0x07000000);
    expect(drv.remoteIrr(18)).toBe(true);
    expect(dst.board.asserted(18)).toBe(true); // the device's line came along as the pin level
    // The guest's handler returns without servicing the device, then EOIs: the line is still low, so it comes again.
    const a = dst.bus.apic(0);
    a.mmioWrite(0xb0, 4, 0);
    dst.io.service();
    expect(a.pendingVector()).toBe(0x61);
    expect(dst.io.counters()).toMatchObject({ remoteIrrCleared: 1n, redelivered: 1n });
    // The entries restored as they were: an edge on pin 4 goes to vCPU 1; pin 9 stays masked.
    dst.io.setPin(4, true);
    expect(dst.bus.apic(1).pendingVector()).toBe(0x34);
    dst.io.setPin(9, true);
    expect(drv.remoteIrr(9)).toBe(false);
  });

  it("save takes pending EOI broadcasts first, so an EOI done before the save is in the blob", async () => {
    const src = await midInterrupt();
    src.dev.readStatus(); // the driver serviced the device: line released
    src.bus.apic(0).mmioWrite(0xb0, 4, 0); // EOI broadcast pending in the local APICs
    const blob = src.io.saveState();
    const dst = await ioapicVm(2, { id: 2 });
    expect(dst.io.restoreState(blob)).toBe(Status.OK);
    expect(new IoApicDriver(dst.io).remoteIrr(18)).toBe(false);
  });

  it("a restore refuses an impossible state and leaves the IOAPIC untouched", async () => {
    const src = await midInterrupt();
    const blob = src.io.saveState();
    const dst = await ioapicVm(2, { id: 2 });
    new IoApicDriver(dst.io).program(3, { vector: 0x77 });
    const before = dst.io.saveState();
    const rteEdit = (pin: number, lo: number, hi = -1) => (f: Map<number, Uint8Array>) => {
      const r = f.get(T.rte)!.slice();
      const d = new DataView(r.buffer);
      d.setUint32(pin * 8, lo >>> 0, true);
      if (hi >= 0) d.setUint32(pin * 8 + 4, hi >>> 0, true);
      f.set(T.rte, r);
    };
    const cases: Array<[string, (f: Map<number, Uint8Array>) => void]> = [
      ["remote IRR on an edge entry", rteEdit(4, 0x34 | 0x4000)],
      ["delivery status set", rteEdit(4, 0x34 | 0x1000)],
      ["reserved low bits", rteEdit(4, 0x34 | 0x20000)],
      ["reserved high bits (bit 48)", rteEdit(4, 0x34, 0x00010000)],
      ["ID of 5 bits", (f) => f.set(T.id, u32(16))],
      ["IOREGSEL above 8 bits", (f) => f.set(T.ioregsel, u32(0x100))],
      ["a level on pin 24", (f) => f.set(T.level, u32(1 << 24))],
      ["another GSI base", (f) => f.set(T.gsiBase, u32(24))],
      ["another version", (f) => f.set(T.version, u32(0x11))],
      ["another pin count", (f) => f.set(T.pins, u32(32))],
      ["a short redirection table", (f) => f.set(T.rte, f.get(T.rte)!.slice(0, 184))],
      ["no redirection table", (f) => f.delete(T.rte)],
      ["no pin levels", (f) => f.delete(T.level)],
    ];
    for (const [what, edit] of cases) {
      const s = dst.io.restoreState(await reseal(blob, edit));
      expect(s, what).toBe(Status.ERR_STATE_INVALID);
      expect(dst.io.saveState(), what).toEqual(before);
    }
    const apicBlob = src.bus.apic(0).saveState();
    expect(dst.io.restoreState(apicBlob)).toBe(Status.ERR_STATE_KIND);
    expect(dst.io.restoreState(blob.slice(0, 40))).toBe(Status.ERR_STATE_LENGTH);
    expect(dst.io.saveState()).toEqual(before);
    // The untouched IOAPIC still works: the entry programmed before the refusals delivers.
    dst.io.setPin(3, true);
    expect(dst.bus.apic(0).pendingVector()).toBe(0x77);
  });

  it("fuzz: flipped bytes and truncations are refused or restore a state a guest could reach; never a trap", async () => {
    const seed = testSeed();
    const r = rng(seed);
    const src = await midInterrupt();
    const blob = src.io.saveState();
    const dst = await ioapicVm(2, { id: 2 });
    try {
      for (let i = 0; i < 400; i++) {
        const b = blob.slice(0, r() < 0.1 ? Math.floor(r() * blob.length) : blob.length);
        const flips = 1 + Math.floor(r() * 4);
        const at = new Set<number>();
        while (at.size < Math.min(flips, b.length)) at.add(Math.floor(r() * b.length));
        for (const k of at) b[k] ^= 1 + Math.floor(r() * 255);
        const s = dst.io.restoreState(r() < 0.5 ? b : await reseal(b.length >= 48 ? b : blob, () => {}));
        expect(s === Status.OK || (s >= Status.ERR_STATE_LENGTH && s <= Status.ERR_STATE_BUILD), `status ${s}`).toBe(true);
        for (let pin = 0; pin < 24; pin++) {
          const e = dst.io.redirectionRaw(pin);
          expect(e & ~(0xfffe0000_0001afffn | 0x4000n)).toBe(0n);
        }
      }
    } catch (err) { console.error(`IOAPIC state fuzz seed ${seed} (VMDEV_SEED=${seed} to replay)`); throw err; }
  });
});
