// The v86 adapter's plumbing against a real (not running) v86 machine and a fake
// PCI function that records every access. No guest code runs: the test drives
// v86's config ports, MMIO and I/O entry points the way the CPU would.
import { describe, expect, it, vi } from "vitest";
import { fileURLToPath } from "node:url";
import { V86 } from "v86";
import {
  V86PciAdapter, linkV86NetworkBus, saveV86Machine, restoreV86Machine, decodeMachine,
  type V86Emulator, type V86Cpu,
} from "../../src/adapters/v86/index.js";
import type { PciFunction, BarInfo } from "../../src/pci.js";
import type { DeviceModel } from "../../src/device.js";
import { Status } from "../../src/status.js";
import { rng, testSeed } from "../support/core.js";
import { netRig } from "../devices/virtio-net/rig.js";
import { HostKind, encodeFields, readEnvelopeHeader, sealEnvelope, type EnvelopeField } from "../../src/state.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

type Access = [op: string, bar: number, off: number, width: number, value?: number];

class FakeFunction implements PciFunction, DeviceModel {
  readonly kind = 99;
  readonly name = "fake0";
  readonly config = new Uint8Array(256);
  readonly log: Access[] = [];
  readonly regs = new Map<string, number>();
  readonly bars: BarInfo[] = [
    { index: 0, size: 0x4000, kind: "mem64" },
    { index: 2, size: 0x20, kind: "io" },
  ];
  stateByte = 7;
  constructor() {
    const dv = new DataView(this.config.buffer);
    dv.setUint16(0, 0x1af4, true);
    dv.setUint16(2, 0x1041, true);
    dv.setUint8(0x3d, 0); // no pin: the adapter must set INTA
    dv.setUint16(0x06, 0x10, true); // capability list present
    this.config[0x34] = 0x40;
    // virtio common cfg (cfg_type 1) in BAR 0 at 0x0, 0x40 bytes; then MSI-X; then a vendor cap (ISR).
    this.config.set([0x09, 0x50, 16, 1, 0, 0, 0, 0], 0x40);
    dv.setUint32(0x48, 0, true); dv.setUint32(0x4c, 0x40, true);
    this.config.set([0x11, 0x60, 0x03, 0x00], 0x50);
    this.config.set([0x09, 0x00, 16, 3, 0, 0, 0, 0], 0x60);
    dv.setUint32(0x68, 0x1000, true); dv.setUint32(0x6c, 4, true);
    dv.setUint32(0x70, 0xdeadbeef, true);
  }
  configRead(off: number, width: 1 | 2 | 4): number {
    this.log.push(["cfgr", -1, off, width]);
    const dv = new DataView(this.config.buffer);
    return width === 1 ? dv.getUint8(off) : width === 2 ? dv.getUint16(off, true) : dv.getUint32(off, true);
  }
  configWrite(off: number, width: 1 | 2 | 4, v: number): void {
    this.log.push(["cfgw", -1, off, width, v]);
    const dv = new DataView(this.config.buffer);
    if (width === 1) dv.setUint8(off, v); else if (width === 2) dv.setUint16(off, v, true); else dv.setUint32(off, v, true);
  }
  /** A BAR offset whose accesses throw (a device bug the adapter must contain). */
  throwAt: number | null = null;
  barRead(bar: number, off: number, width: 1 | 2 | 4): number {
    if (off === this.throwAt) throw new Error("device bug");
    this.log.push(["r", bar, off, width]);
    return (this.regs.get(`${bar}:${off}:${width}`) ?? (0x10203040 + off)) & (width === 4 ? 0xffffffff : (1 << (8 * width)) - 1);
  }
  barWrite(bar: number, off: number, width: 1 | 2 | 4, v: number): void {
    if (off === this.throwAt) throw new Error("device bug");
    this.log.push(["w", bar, off, width, v]);
    this.regs.set(`${bar}:${off}:${width}`, v);
  }
  /** Registers wider than a byte in BAR 0, as [start, width] (what a virtio-pci function reports for its common config). */
  wide: Array<[number, 1 | 2 | 4]> = [[0x14, 1], [0x16, 2], [0x18, 2]];
  mmioRegister(bar: number, off: number) {
    if (bar !== 0) return null;
    for (const [start, width] of this.wide) if (off >= start && off < start + width) return { start, width };
    return null;
  }
  saveState(): Uint8Array { return Uint8Array.of(0xfa, this.stateByte); }
  restoreState(blob: Uint8Array): number {
    if (blob.length !== 2 || blob[0] !== 0xfa) return Status.ERR_STATE_INVALID;
    this.stateByte = blob[1];
    return Status.OK;
  }
  reset(): void { this.stateByte = 0; }
}

/** A v86 machine that never runs: BIOS of zeros, our function attached from emulator-ready. */
async function machine(opts: { attach?: boolean; hideMsi?: boolean; prepare?: (fn: FakeFunction) => void } = {}) {
  const fn = new FakeFunction();
  opts.prepare?.(fn);
  const adapter = new V86PciAdapter({ name: "fake0", deviceNumber: 12, hideMsi: opts.hideMsi });
  const raised: number[] = [];
  const emulator = new V86({
    wasm_path: `${root}node_modules/v86/build/v86.wasm`,
    bios: { buffer: new ArrayBuffer(128 * 1024) },
    memory_size: 32 << 20,
    // v86 0.5.462 cannot restore a machine whose IDE controller has no drive (its BAR table
    // has holes), so give it a small disk.
    hda: { buffer: new ArrayBuffer(1 << 20) },
    vga_memory_size: 2 << 20,
    net_device: { type: "none" },
    autostart: false,
    disable_keyboard: true, disable_mouse: true, disable_speaker: true,
  } as unknown as ConstructorParameters<typeof V86>[0]) as unknown as V86Emulator & { destroy(): Promise<void>; add_listener(e: string, f: () => void): void };
  await new Promise<void>((resolve) => emulator.add_listener("emulator-ready", () => {
    const cpu = emulator.v86!.cpu;
    const pci = cpu.devices.pci;
    vi.spyOn(pci, "raise_irq").mockImplementation((id: number) => { raised.push(id); });
    vi.spyOn(pci, "lower_irq").mockImplementation((id: number) => { raised.push(-id); });
    if (opts.attach !== false) adapter.attach(emulator, fn);
    resolve();
  }));
  const cpu = emulator.v86!.cpu as V86Cpu & { io: V86Cpu["io"] & Record<string, (...a: number[]) => number> } & Record<string, (...a: number[]) => number>;
  const cfgRead = (off: number) => { cpu.io.port_write32(0xcf8, (0x80000000 | (12 << 11) | off) | 0); return cpu.io.port_read32(0xcfc) >>> 0; };
  const cfgWrite32 = (off: number, v: number) => { cpu.io.port_write32(0xcf8, (0x80000000 | (12 << 11) | off) | 0); cpu.io.port_write32(0xcfc, v | 0); };
  const cfgWrite16 = (off: number, v: number) => { cpu.io.port_write32(0xcf8, (0x80000000 | (12 << 11) | (off & ~3)) | 0); cpu.io.port_write16(0xcfc + (off & 2), v); };
  return { fn, adapter, emulator, cpu, raised, cfgRead, cfgWrite32, cfgWrite16, close: () => emulator.destroy() };
}

describe("V86PciAdapter on a real v86 bus (fake PCI function)", () => {
  it("serves config reads from the function, with BARs placed above RAM and INTA set", async () => {
    const m = await machine();
    try {
      expect(m.cfgRead(0)).toBe(0x10411af4);
      expect(m.cfgRead(0x70)).toBe(0xdeadbeef);
      const bar0 = m.adapter.bars.find((b) => b.index === 0)!;
      expect(bar0.base).toBe(0xe8000000);
      expect(m.cfgRead(0x10)).toBe(0xe8000000);      // presented as mem32
      expect(m.cfgRead(0x14)).toBe(0);               // upper half of the mem64 BAR
      expect((m.cfgRead(0x3c) >>> 8) & 0xff).toBe(0); // the function's pin stays 0 ...
      expect(m.emulator.v86!.cpu.devices.pci.device_spaces[12 * 8]![15] >>> 8 & 0xff).toBe(1); // ... v86 routes INTA
      const io = m.adapter.bars.find((b) => b.kind === "io")!;
      expect(m.cfgRead(0x18)).toBe((io.base | 1) >>> 0);
      // The function's own BAR registers mirror the placement.
      expect(m.fn.log).toContainEqual(["cfgw", -1, 0x10, 4, 0xe8000000]);
    } finally { await m.close(); }
  });

  it("unlinks the MSI-X capability so the guest uses INTx, and drops writes to it", async () => {
    const m = await machine();
    try {
      expect(m.cfgRead(0x34) & 0xff).toBe(0x40);
      expect((m.cfgRead(0x40) >>> 8) & 0xff).toBe(0x60); // common cfg → ISR cap, MSI-X skipped
      expect((m.cfgRead(0x60) >>> 8) & 0xff).toBe(0);
      const before = m.fn.log.length;
      m.cfgWrite16(0x52, 0x8000);                           // MSI-X enable
      expect(m.fn.log.slice(before).filter((a) => a[0] === "cfgw")).toEqual([]);
      expect(m.fn.config[0x53]).toBe(0);
    } finally { await m.close(); }
    const keep = await machine({ hideMsi: false });
    try {
      expect((keep.cfgRead(0x40) >>> 8) & 0xff).toBe(0x50);
    } finally { await keep.close(); }
  });

  it("assembles byte reads of a 16-bit register the function reports (mmioRegister) from one 16-bit read", async () => {
    const m = await machine();
    try {
      const base = 0xe8000000 | 0;
      m.fn.regs.set(`0:${0x18}:2`, 0x0100);                   // queue_size = 256
      m.fn.log.length = 0;
      // v86 performs a 16-bit MMIO read as read8(a), read8(a + 1).
      const size = m.cpu.mmap_read8(base + 0x18) | (m.cpu.mmap_read8(base + 0x19) << 8);
      expect(size).toBe(0x100);
      m.cpu.mmap_read8(base + 0x14);                       // device_status is a byte register
      m.cpu.mmap_read8(base + 0x41);                       // no register reported there: forwarded as is
      expect(m.fn.log).toEqual([["r", 0, 0x18, 2], ["r", 0, 0x18, 2], ["r", 0, 0x14, 1], ["r", 0, 0x41, 1]]);
    } finally { await m.close(); }
  });

  it("forwards byte reads as bytes for a function without mmioRegister, and ignores a span that lies or throws", async () => {
    const m = await machine({ prepare: (fn) => { (fn as { mmioRegister?: unknown }).mmioRegister = undefined; } });
    try {
      const base = 0xe8000000 | 0;
      m.fn.log.length = 0;
      m.cpu.mmap_read8(base + 0x19);
      expect(m.fn.log).toEqual([["r", 0, 0x19, 1]]);
    } finally { await m.close(); }
    const lying = await machine({
      prepare: (fn) => {
        fn.mmioRegister = (bar: number, off: number) => {
          if (off === 0x20) throw new Error("device bug");
          return off === 0x19 ? { start: 0x10, width: 2 } : off === 0x1a ? { start: 0x1a, width: 3 as 2 } : null; // not holding the byte; no access width
        };
      },
    });
    try {
      const base = 0xe8000000 | 0;
      lying.fn.log.length = 0;
      lying.cpu.mmap_read8(base + 0x19);
      lying.cpu.mmap_read8(base + 0x1a);
      lying.cpu.mmap_read8(base + 0x20);
      expect(lying.fn.log).toEqual([["r", 0, 0x19, 1], ["r", 0, 0x1a, 1], ["r", 0, 0x20, 1]]);
      expect(lying.adapter.counters().deviceErrors).toBe(1);
    } finally { await lying.close(); }
  });

  it("sizes the memory BAR (all-ones write) and keeps it fixed", async () => {
    const m = await machine();
    try {
      m.cfgWrite32(0x10, 0xffffffff);
      expect(m.cfgRead(0x10)).toBe((~(0x4000 - 1)) >>> 0);
      m.cfgWrite32(0x10, 0x12340000);                 // a relocation attempt
      expect(m.cfgRead(0x10)).toBe(0xe8000000);
    } finally { await m.close(); }
  });

  it("routes config writes outside the BARs to the function with their width", async () => {
    const m = await machine();
    try {
      const before = m.fn.log.length;
      m.cfgWrite16(0x04, 0x0406);
      m.cfgWrite32(0x74, 0xcafe0001);
      const writes = m.fn.log.slice(before).filter((a) => a[0] === "cfgw");
      expect(writes).toEqual([["cfgw", -1, 0x04, 2, 0x0406], ["cfgw", -1, 0x74, 4, 0xcafe0001]]);
      expect(m.adapter.counters().configWrites).toBe(2);
    } finally { await m.close(); }
  });

  it("routes MMIO (signed addresses) by width: 8, whole 16-bit writes, 32", async () => {
    const m = await machine();
    try {
      const base = 0xe8000000 | 0; // negative, as v86 passes it
      m.fn.log.length = 0;
      expect(m.cpu.mmap_read32(base + 8) >>> 0).toBe(0x10203048);
      m.cpu.mmap_write32(base + 12, 0x89abcdef | 0);
      m.cpu.mmap_write16(base + 0x16, 0xbeef);
      m.cpu.mmap_write8(base + 0x14, 0x0f);
      expect(m.cpu.mmap_read8(base + 0x14)).toBe(0x0f);
      expect(m.fn.log).toEqual([
        ["r", 0, 8, 4], ["w", 0, 12, 4, 0x89abcdef], ["w", 0, 0x16, 2, 0xbeef], ["w", 0, 0x14, 1, 0x0f], ["r", 0, 0x14, 1],
      ]);
      // Inside the 128 KiB mapping, past the 16 KiB BAR: ones, dropped, counted.
      expect(m.cpu.mmap_read8(base + 0x4000)).toBe(0xff);
      m.cpu.mmap_write16(base + 0x5000, 1);
      expect(m.fn.log.length).toBe(5);
      expect(m.adapter.counters()).toMatchObject({ mmioReads: 2, mmioWrites: 3 });
      expect(m.adapter.counters().mmioOutside).toBeGreaterThanOrEqual(2);
    } finally { await m.close(); }
  });

  it("routes I/O BAR accesses, also after the BAR is moved", async () => {
    const m = await machine();
    try {
      const io = m.adapter.bars.find((b) => b.kind === "io")!;
      m.fn.log.length = 0;
      m.cpu.io.port_write16(io.base + 4, 0x1234);
      expect(m.cpu.io.port_read8(io.base + 3)).toBe(0x43);
      m.cfgWrite32(0x18, 0xd001);                     // the BIOS moves it
      m.cpu.io.port_write32(0xd000 + 8, 0x55);
      expect(m.fn.log).toEqual([["w", 2, 4, 2, 0x1234], ["r", 2, 3, 1], ["cfgw", -1, 0x18, 4, 0xd001], ["w", 2, 8, 4, 0x55]]);
    } finally { await m.close(); }
  });

  it("drives v86's PCI interrupt on level changes only; MSI is dropped and counted", async () => {
    const m = await machine();
    try {
      m.adapter.interrupts.intx(0, true);
      m.adapter.interrupts.intx(0, true);
      m.adapter.interrupts.intx(0, false);
      m.adapter.interrupts.msi({ addressLo: 0xfee00000, addressHi: 0, data: 0x41 });
      expect(m.raised).toEqual([96, -96]);
      expect(m.adapter.counters()).toMatchObject({ irqRaised: 1, irqLowered: 1, msiDropped: 1 });
    } finally { await m.close(); }
  });

  it("reads and writes v86 RAM and invalidates the JIT cache for written ranges", async () => {
    const m = await machine();
    try {
      const dirty = vi.spyOn(m.cpu, "jit_dirty_cache");
      expect(m.adapter.guestRam.write(0x2000, Uint8Array.of(1, 2, 3))).toBe(true);
      m.adapter.guestRam.written!(0x2000, 3);
      expect(dirty).toHaveBeenCalledWith(0x2000, 0x2003);
      const got = new Uint8Array(3);
      expect(m.adapter.guestRam.read(0x2000, got)).toBe(true);
      expect([...got]).toEqual([1, 2, 3]);
      expect(m.cpu.mem8[0x2001]).toBe(2);
      expect(m.adapter.guestRam.read((32 << 20) - 2, got)).toBe(false);
      expect(m.adapter.guestRam.write(-1, got)).toBe(false);
      expect(m.adapter.counters().ramFaults).toBe(2);
    } finally { await m.close(); }
  });

  it("contains a throwing function: reads give ones, writes are dropped, nothing unwinds into v86", async () => {
    const m = await machine();
    try {
      const base = 0xe8000000 | 0;
      m.fn.throwAt = 0x100;
      expect(m.cpu.mmap_read32(base + 0x100) >>> 0).toBe(0xffffffff);
      expect(() => m.cpu.mmap_write16(base + 0x100, 1)).not.toThrow();
      expect(m.adapter.counters().deviceErrors).toBe(2);
    } finally { await m.close(); }
  });

  it("links the NIC to v86's network bus as net0", async () => {
    const m = await machine();
    try {
      const nic = { onTransmit: null as ((f: Uint8Array) => void) | null, got: [] as number[], receive(f: Uint8Array) { this.got.push(f[0]); return Status.OK; } };
      const link = linkV86NetworkBus(nic, m.emulator);
      const sent: number[] = [];
      (m.emulator as unknown as { add_listener(e: string, f: (d: Uint8Array) => void): void }).add_listener("net0-send", (d) => sent.push(d[0]));
      nic.onTransmit!(Uint8Array.of(7, 0, 0));
      // A network adapter (v86's fetch/wisp/...) sends from the emulator's public end of the bus.
      (m.emulator as unknown as { bus: { send(e: string, d: unknown): void } }).bus.send("net0-receive", Uint8Array.of(9, 0, 0));
      await new Promise((r) => setTimeout(r, 10));
      expect(sent).toEqual([7]);
      expect(nic.got).toEqual([9]);
      expect(link.counters()).toMatchObject({ txFrames: 1, rxFrames: 1 });
      link.close();
    } finally { await m.close(); }
  });

  it("moves frames between v86's bus and a virtio-net in batches: one wasm call per turn's frames, one bus event per transmitted frame, in order", async () => {
    const m = await machine();
    try {
      const x = await netRig({ transport: "mmio", device: { backlogFrames: 512 } });
      const calls: number[] = [];
      const inner = x.dev.receiveFrames.bind(x.dev);
      x.dev.receiveFrames = (records, statuses, stop) => { const n = inner(records, statuses, stop); calls.push(n); return n; };
      const link = linkV86NetworkBus(x.dev, m.emulator, 0, { maxPending: 512 });
      const bus = (m.emulator as unknown as { bus: { send(e: string, d: unknown): void } }).bus;
      const sent: Uint8Array[] = [];
      (m.emulator as unknown as { add_listener(e: string, f: (d: Uint8Array) => void): void }).add_listener("net0-send", (d) => sent.push(d));
      // One task's frames from the far end (the bus buffer is reused: the link copies), an empty and a runt among them.
      const reused = new Uint8Array(1600);
      const lens = Array.from({ length: 300 }, (_, i) => (i === 100 ? 0 : i === 200 ? 9 : 60 + ((i * 37) % 1400)));
      lens.forEach((len, i) => {
        reused.fill(i & 0xff, 0, len);
        reused.set([0x52, 0x54, 0, 0x12, 0x34, 0x56].slice(0, Math.min(6, len)));
        bus.send("net0-receive", reused.subarray(0, len));
      });
      expect(calls).toEqual([]); // not inside the bus event
      await new Promise((r) => setImmediate(r));
      expect(calls).toEqual([300]);
      for (let k = 0; k < 16; k++) x.drv.pollRx(0);
      const good = lens.map((len, i) => [len, i]).filter(([len]) => len >= 14);
      expect(x.drv.received.map((f) => [f.data.length, f.data[6]])).toEqual(good.map(([len, i]) => [len, len > 6 ? i & 0xff : 0]));
      expect(link.counters()).toMatchObject({ rxFrames: 298, rxDropped: 2, lost: 2 });
      expect(x.dev.counters().rxFrames).toBe(298n);
      // The guest's notify: one batch, one net0-send per frame, in order.
      const out = Array.from({ length: 40 }, (_, i) => { const f = new Uint8Array(60 + i * 20); f.fill(i + 1); return f; });
      for (const f of out) x.drv.transmit(f, 0, { kick: false });
      x.drv.flushTx(0);
      expect(sent).toEqual(out);
      expect(link.counters()).toMatchObject({ txFrames: 40 });
      link.close();
    } finally { await m.close(); }
  });

  it("refuses a taken device number and an mmioBase inside RAM", async () => {
    const m = await machine();
    try {
      const other = new V86PciAdapter({ deviceNumber: 12 });
      expect(() => other.attach(m.emulator, new FakeFunction())).toThrow(/taken/);
      const low = new V86PciAdapter({ deviceNumber: 13, mmioBase: 0x100000 });
      expect(() => low.attach(m.emulator, new FakeFunction())).toThrow(/inside RAM/);
    } finally { await m.close(); }
  });

  it("saves the device next to v86's state and restores both; bad blobs change nothing", async () => {
    const m = await machine();
    try {
      const devices = [{ device: m.fn, adapter: m.adapter }];
      m.adapter.interrupts.intx(0, true);
      m.cpu.mem8[0x3000] = 0x5a;
      const blob = await saveV86Machine(m.emulator, devices);
      m.fn.stateByte = 1;
      m.cpu.mem8[0x3000] = 0;
      m.adapter.interrupts.intx(0, false);
      expect(await restoreV86Machine(m.emulator, blob, devices)).toBe(Status.OK);
      expect(m.fn.stateByte).toBe(7);
      expect(m.cpu.mem8[0x3000]).toBe(0x5a);
      expect(m.adapter.irqLevel).toBe(true);

      m.fn.stateByte = 3;
      const seed = testSeed();
      const next = rng(seed);
      for (let i = 0; i < 200; i++) {
        const bad = blob.slice(0, Math.floor(next() * 64));
        if (next() < 0.5 && bad.length) bad[Math.floor(next() * bad.length)] ^= 1 + Math.floor(next() * 255);
        const st = await restoreV86Machine(m.emulator, bad, devices);
        if (st === Status.OK) throw new Error(`seed ${seed}: truncated blob accepted`);
      }
      // A well-formed container whose device blob the device rejects.
      const saveGood = m.fn.saveState;
      m.fn.saveState = () => Uint8Array.of(0, 7); // 0xfa magic → 0
      const corrupt = await saveV86Machine(m.emulator, devices);
      m.fn.saveState = saveGood;
      const parsed = await decodeMachine(corrupt);
      if (typeof parsed === "number") throw new Error("decode");
      expect([...parsed.devices[0].state]).toEqual([0, 7]);
      m.cpu.mem8[0x3000] = 0x11;
      expect(await restoreV86Machine(m.emulator, corrupt, devices)).toBe(Status.ERR_STATE_INVALID);
      expect(m.fn.stateByte).toBe(3);
      expect(m.cpu.mem8[0x3000]).toBe(0x11); // v86's half was rolled back too
    } finally { await m.close(); }
  });
});

describe("V86PciAdapter line accounting across restore", () => {
  const balanced = (a: V86PciAdapter) => {
    const c = a.counters();
    expect(c.irqRaised - c.irqLowered).toBe(a.irqLevel ? 1 : 0);
  };

  it("regression_v86_restore_keeps_raised_minus_lowered_equal_to_the_line", async () => {
    const m = await machine();
    try {
      const devices = [{ device: m.fn, adapter: m.adapter }];
      const low = await saveV86Machine(m.emulator, devices);
      // Restoring a low line into an adapter whose line is low is no edge (it used to count a fall).
      expect(await restoreV86Machine(m.emulator, low, devices)).toBe(Status.OK);
      expect(m.adapter.counters()).toMatchObject({ irqRaised: 0, irqLowered: 0 });
      balanced(m.adapter);
      expect(m.raised.at(-1)).toBe(-96); // v86's line is driven to the saved level all the same

      m.adapter.interrupts.intx(0, true);
      const high = await saveV86Machine(m.emulator, devices);
      expect(await restoreV86Machine(m.emulator, high, devices)).toBe(Status.OK);
      expect(m.adapter.counters()).toMatchObject({ irqRaised: 1, irqLowered: 0 });
      expect(m.raised.at(-1)).toBe(96);
      balanced(m.adapter);

      // Restores that move the line count one edge each.
      expect(await restoreV86Machine(m.emulator, low, devices)).toBe(Status.OK);
      expect(m.adapter.irqLevel).toBe(false);
      expect(m.adapter.counters()).toMatchObject({ irqRaised: 1, irqLowered: 1 });
      balanced(m.adapter);
      expect(await restoreV86Machine(m.emulator, high, devices)).toBe(Status.OK);
      expect(m.adapter.counters()).toMatchObject({ irqRaised: 2, irqLowered: 1 });
      balanced(m.adapter);
      m.adapter.interrupts.intx(0, false);
      balanced(m.adapter);
    } finally { await m.close(); }
  });

  it("counts a raised line restored into a fresh machine's adapter as its first edge", async () => {
    const a = await machine();
    const b = await machine();
    try {
      a.adapter.interrupts.intx(0, true);
      const blob = await saveV86Machine(a.emulator, [{ device: a.fn, adapter: a.adapter }]);
      expect(await restoreV86Machine(b.emulator, blob, [{ device: b.fn, adapter: b.adapter }])).toBe(Status.OK);
      expect(b.adapter.irqLevel).toBe(true);
      expect(b.adapter.counters()).toMatchObject({ irqRaised: 1, irqLowered: 0 });
      expect(b.raised).toEqual([96]);
    } finally { await a.close(); await b.close(); }
  });
});

describe("v86 machine state is untrusted", () => {
  const u32 = (v: number) => Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  const device = (name: string | Uint8Array, irq: Uint8Array, state: Uint8Array | null): EnvelopeField => ({
    tag: 2,
    value: encodeFields([
      { tag: 1, value: typeof name === "string" ? new TextEncoder().encode(name) : name },
      { tag: 2, value: irq },
      ...(state ? [{ tag: 3, value: state }] : []),
    ]),
  });

  /** Restore `blob`, expect `status`, and check nothing moved: v86's RAM, the device, the line, and v86 never asked to restore. */
  async function refused(m: Awaited<ReturnType<typeof machine>>, blob: Uint8Array, status: number) {
    const devices = [{ device: m.fn, adapter: m.adapter }];
    m.fn.stateByte = 42;
    m.cpu.mem8[0x3000] = 0x77;
    const restore = vi.spyOn(m.emulator, "restore_state");
    try {
      expect(await restoreV86Machine(m.emulator, blob, devices)).toBe(status);
      expect(restore).not.toHaveBeenCalled();
    } finally { restore.mockRestore(); }
    expect(m.fn.stateByte).toBe(42);
    expect(m.cpu.mem8[0x3000]).toBe(0x77);
    expect(m.adapter.irqLevel).toBe(false);
  }

  it("is one state envelope (the format every device uses), of the v86 machine kind", async () => {
    const m = await machine();
    try {
      const blob = await saveV86Machine(m.emulator, [{ device: m.fn, adapter: m.adapter }]);
      const h = readEnvelopeHeader(blob);
      expect(h).toMatchObject({ magic: "VMDS", format: 1, kind: HostKind.v86Machine, payloadVersion: 1, flags: 0, payloadLength: blob.length - 48 });
    } finally { await m.close(); }
  });

  it("regression_v86_machine_blob_bitflip_in_v86_state_is_refused (the old container had no checksum and handed it to v86)", async () => {
    const m = await machine();
    try {
      const blob = await saveV86Machine(m.emulator, [{ device: m.fn, adapter: m.adapter }]);
      const parsed = await decodeMachine(blob);
      if (typeof parsed === "number") throw new Error("decode");
      const flipped = blob.slice();
      flipped[parsed.v86.byteOffset + (parsed.v86.length >> 1)] ^= 0x40; // somewhere in v86's RAM image
      await refused(m, flipped, Status.ERR_STATE_CHECKSUM);
      const header = blob.slice();
      header[12] ^= 1; // payload version, covered by the header checksum
      await refused(m, header, Status.ERR_STATE_CHECKSUM);
    } finally { await m.close(); }
  });

  it("regression_v86_machine_hostile_contents_in_a_valid_envelope_change_nothing", async () => {
    const m = await machine();
    try {
      const v86 = { tag: 1, value: new Uint8Array(await m.emulator.save_state()) };
      const good = device("fake0", u32(0), Uint8Array.of(0xfa, 9));
      const seal = (fields: EnvelopeField[], o: { kind?: number; payloadVersion?: number } = {}) =>
        sealEnvelope({ kind: o.kind ?? HostKind.v86Machine, payloadVersion: o.payloadVersion ?? 1 }, fields);
      await refused(m, await seal([good, v86], { kind: 2 }), Status.ERR_STATE_KIND);            // a virtio-net blob's kind
      await refused(m, await seal([good, v86], { payloadVersion: 2 }), Status.ERR_STATE_VERSION);
      await refused(m, await seal([good]), Status.ERR_STATE_INVALID);                           // no v86 state
      await refused(m, await seal([good, v86, v86]), Status.ERR_STATE_INVALID);                 // two
      await refused(m, await seal([device("fake0", u32(2), Uint8Array.of(0xfa, 9)), v86]), Status.ERR_STATE_INVALID);   // line level 2
      await refused(m, await seal([device("fake0", Uint8Array.of(1), Uint8Array.of(0xfa, 9)), v86]), Status.ERR_STATE_INVALID); // short IRQ field
      await refused(m, await seal([device("fake0", u32(1), null), v86]), Status.ERR_STATE_INVALID);                     // no STATE
      await refused(m, await seal([device("x".repeat(257), u32(1), Uint8Array.of(0xfa, 9)), v86]), Status.ERR_STATE_INVALID);
      await refused(m, await seal([device(Uint8Array.of(0xff, 0xfe), u32(1), Uint8Array.of(0xfa, 9)), v86]), Status.ERR_STATE_INVALID); // not UTF-8
      await refused(m, await seal([good, good, v86]), Status.ERR_STATE_INVALID);                // the same device twice
      await refused(m, await seal([device("other0", u32(1), Uint8Array.of(0xfa, 9)), v86]), Status.ERR_STATE_INVALID); // a device this machine lacks
      await refused(m, await seal([...Array.from({ length: 65 }, (_, i) => device(`d${i}`, u32(0), Uint8Array.of(0xfa, 1))), v86]), Status.ERR_STATE_INVALID);
      // A field whose length runs past the payload, sealed with correct checksums.
      const lying = await seal([good, v86]);
      const body = lying.slice(48);
      new DataView(body.buffer).setUint32(4, body.length, true);
      await refused(m, await sealRaw(body), Status.ERR_STATE_INVALID);
      // The container this format replaces ("VMV86MCH"): refused by its magic.
      await refused(m, Uint8Array.from([0x56, 0x4d, 0x56, 0x38, 0x36, 0x4d, 0x43, 0x48, ...new Uint8Array(64)]), Status.ERR_STATE_MAGIC);
      // And the same fields, well formed, restore.
      expect(await restoreV86Machine(m.emulator, await seal([good, v86]), [{ device: m.fn, adapter: m.adapter }])).toBe(Status.OK);
      expect(m.fn.stateByte).toBe(9);
    } finally { await m.close(); }
  });

  /** Seal a raw payload (fields laid out by hand) with valid checksums. */
  async function sealRaw(payload: Uint8Array): Promise<Uint8Array> {
    const probe = await sealEnvelope({ kind: HostKind.v86Machine, payloadVersion: 1 }, [{ tag: 9, value: payload.subarray(8) }]);
    // Same length as `payload` (one field header + its value); swap the bytes in and re-seal the checksums.
    const { default: xxhash } = await import("xxhash-wasm");
    const h = await xxhash();
    probe.set(payload, 48);
    const dv = new DataView(probe.buffer);
    dv.setBigUint64(32, h.h64Raw(probe.subarray(48), 0n), true);
    dv.setBigUint64(40, h.h64Raw(probe.subarray(0, 40), 0n), true);
    return probe;
  }
});

