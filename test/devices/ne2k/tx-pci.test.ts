// NE2000 transmit (TPSR/TBCR from card RAM, TSR/ISR, loopback, malformed
// counts, back-pressure from the host outbox) and the RTL8029AS's PCI
// configuration space (IDs, BAR0 sizing, I/O enable, INTx disable).
import { describe, expect, it } from "vitest";
import { ne2kRig, ethFrame, serviceAll, seqOf, GUEST_MAC } from "../../support/ne2k/rig.js";
import { Cmd, Isr, P0R, P0W, Port, Tsr, pciPortIo } from "../../../src/guest/ne2k/index.js";
import { Ne2k } from "../../../src/devices/ne2k/device.js";
import { NE2K_DEFS } from "../../../src/devices/ne2k/defs.js";
import { IrqLine } from "../../../src/guest/ne2k/line.js";
import { newCore } from "../../support/core.js";

const n = (c: Record<string, bigint>, k: string) => Number(c[k]);

describe("NE2000 transmit", () => {
  it("sends TBCR bytes from page TPSR, sets TSR.PTX and ISR.PTX, and ping-pongs two buffers in order", async () => {
    const r = await ne2kRig();
    const frames = Array.from({ length: 50 }, (_, i) => ethFrame("02:00:00:00:00:07", i, 60 + i * 29));
    for (const f of frames) { r.drv.transmit(f); serviceAll(r); }
    expect(r.sent.map(seqOf)).toEqual(frames.map((_, i) => i));
    expect(r.sent.every((f, i) => Buffer.from(f).equals(frames[i]))).toBe(true);
    expect(r.drv.stats.txFrames).toBe(50);
    expect(r.drv.readReg(P0R.TSR) & Tsr.PTX).toBe(Tsr.PTX);
    expect(n(r.dev.counters(), "txBytes")).toBe(frames.reduce((a, f) => a + f.length, 0));
  });

  it("regression_ne2k_driver_sends_in_queue_order: frames queued while both buffers are busy go out in the order they were queued", async () => {
    const r = await ne2kRig();
    // Three back to back: the second waits loaded in buffer 1, the third in the queue; when the first
    // completes, the third is loaded into buffer 0, and buffer 1 (queued earlier) must still go first.
    for (let i = 0; i < 3; i++) r.drv.transmit(ethFrame("02:00:00:00:00:07", i, 80));
    serviceAll(r);
    for (let i = 3; i < 40; i++) { r.drv.transmit(ethFrame("02:00:00:00:00:07", i, 80)); if (i % 3 === 0) serviceAll(r); }
    serviceAll(r);
    expect(r.sent.map(seqOf)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it("aborts a transmission that is not a frame in RAM (TSR.ABT, ISR.TXE), ignores TXP while stopped", async () => {
    const r = await ne2kRig({ via: "window" });
    const w = (reg: number, v: number) => r.io.write(reg, 1, v);
    const txp = (page: number, len: number) => { w(P0W.TPSR, page); w(P0W.TBCR0, len & 0xff); w(P0W.TBCR1, len >> 8); w(Port.CMD, Cmd.NODMA | Cmd.TXP | Cmd.STA); };
    for (const [page, len] of [[0x40, 13], [0x40, 1519], [0x7f, 512], [0x00, 64], [0x20, 64]]) {
      txp(page, len);
      expect(r.io.read(P0R.TSR, 1)).toBe(Tsr.ABT);
      expect(r.io.read(P0R.ISR, 1) & Isr.TXE).toBe(Isr.TXE);
      w(P0W.ISR, Isr.TXE);
    }
    expect(n(r.dev.counters(), "txMalformed")).toBe(5);
    expect(r.sent).toEqual([]);
    w(Port.CMD, Cmd.NODMA | Cmd.STP);
    w(P0W.TPSR, 0x40); w(P0W.TBCR0, 64); w(P0W.TBCR1, 0);
    w(Port.CMD, Cmd.NODMA | Cmd.TXP);
    expect(r.sent).toEqual([]);
    expect(n(r.dev.counters(), "txWhileStopped")).toBe(1);
  });

  it("loops a frame back to its own receiver in loopback mode", async () => {
    const r = await ne2kRig();
    r.io.write(P0W.TCR, 1, 0x02);
    r.drv.transmit(ethFrame(GUEST_MAC, 42, 100));
    expect(r.sent).toEqual([]);
    expect(serviceAll(r).map(seqOf)).toEqual([42]);
    expect(n(r.dev.counters(), "txLoopback")).toBe(1);
  });

  it("waits with CR.TXP set while the host outbox is full, and completes when the host drains it", async () => {
    const core = await newCore(1 << 20);
    const dev = Ne2k.create(core, { mac: GUEST_MAC, interrupts: new IrqLine(), bus: "isa" });
    const e = core.exports, h = dev.handle;
    // Raw exports: nothing drains the outbox between accesses.
    const w = (reg: number, v: number) => e.ne2k_io_write(h, reg, 1, v);
    w(Port.CMD, Cmd.NODMA | Cmd.STA);
    w(P0W.TPSR, 0x40); w(P0W.TBCR0, 64); w(P0W.TBCR1, 0);
    const slots = NE2K_DEFS.OUTBOX_FRAMES;
    for (let i = 0; i < slots; i++) { w(Port.CMD, Cmd.NODMA | Cmd.TXP | Cmd.STA); w(P0W.ISR, Isr.PTX); }
    expect(e.ne2k_tx_frames(h)).toBe(slots);
    w(Port.CMD, Cmd.NODMA | Cmd.TXP | Cmd.STA);
    expect(e.ne2k_io_read(h, Port.CMD, 1) & Cmd.TXP).toBe(Cmd.TXP);
    expect(e.ne2k_io_read(h, P0R.ISR, 1) & Isr.PTX).toBe(0);
    expect(n(dev.counters(), "txStalls")).toBe(1);
    e.ne2k_tx_done(h);
    expect(e.ne2k_tx_frames(h)).toBe(1);
    expect(e.ne2k_io_read(h, Port.CMD, 1) & Cmd.TXP).toBe(0);
    expect(e.ne2k_io_read(h, P0R.ISR, 1) & Isr.PTX).toBe(Isr.PTX);
    expect(n(dev.counters(), "txFrames")).toBe(slots + 1);
  });
});

describe("RTL8029AS PCI configuration space", () => {
  it("identifies as 10ec:8029 Ethernet with INTA#, sizes BAR0 as 32 I/O ports, keeps the interrupt line", async () => {
    const r = await ne2kRig({ init: false });
    const f = r.dev.pci!;
    expect(f.configRead(0, 4)).toBe(0x802910ec);
    expect(f.configRead(8, 4) >>> 8).toBe(0x020000);
    expect(f.configRead(0x3d, 1)).toBe(1);
    expect(f.configRead(0x34, 1)).toBe(0);
    expect(f.configRead(6, 2) & 0x10).toBe(0); // no capability list
    f.configWrite(0x10, 4, 0xffffffff);
    expect(f.configRead(0x10, 4)).toBe(0xffffffe1);
    f.configWrite(0x10, 4, 0xc000);
    expect(f.configRead(0x10, 4)).toBe(0xc001);
    f.configWrite(0x14, 4, 0xffffffff);
    expect(f.configRead(0x14, 4)).toBe(0);
    f.configWrite(0x3c, 1, 11);
    expect(f.configRead(0x3c, 2)).toBe(0x010b);
    expect(f.configRead(0x02, 4)).toBe(0xffffffff); // misaligned
    expect(n(r.dev.counters(), "badAccess")).toBe(1);
  });

  it("answers its BAR only with I/O space enabled, and gates its line with INTx disable (status bit 3 still shows it)", async () => {
    const core = await newCore(1 << 20);
    const line = new IrqLine();
    const dev = Ne2k.create(core, { mac: GUEST_MAC, interrupts: line });
    const f = dev.pci!, io = pciPortIo(f);
    expect(io.read(Port.CMD, 1)).toBe(0xff);
    expect(n(dev.counters(), "ioDisabled")).toBe(1);
    f.configWrite(4, 2, 0x0007); // bus master and memory are hard-wired 0
    expect(f.configRead(4, 2)).toBe(0x0001);
    expect(io.read(Port.CMD, 1)).toBe(0x21);
    io.write(P0W.IMR, 1, 0x3f);
    io.write(Port.CMD, 1, Cmd.NODMA | Cmd.STA);
    io.write(P0W.TPSR, 1, 0x40); io.write(P0W.TBCR0, 1, 64);
    io.write(Port.CMD, 1, Cmd.NODMA | Cmd.TXP | Cmd.STA);
    expect(line.level).toBe(true);
    f.configWrite(5, 1, 0x04); // INTx disable
    expect(line.level).toBe(false);
    expect(f.configRead(6, 2) & 0x08).toBe(0x08);
    f.configWrite(4, 2, 0x0001);
    expect(line.level).toBe(true);
    io.write(P0W.ISR, 1, 0xff);
    expect(line.level).toBe(false);
    expect(f.configRead(6, 2) & 0x08).toBe(0);
    expect(line.edges).toBe(2);
  });
});
