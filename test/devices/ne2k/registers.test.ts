// DP8390 register file of the NE2000 model, read and written the way the
// data sheet describes: pages, read-back through page 2, the command
// register's run state, the reset port, tally counters, remote DMA through
// the data port, the RTL8029AS page 3, and accesses the board does not decode.
import { describe, expect, it } from "vitest";
import { ne2kRig, GUEST_MAC, macBytes } from "../../support/ne2k/rig.js";
import { Cmd, Isr, P0R, P0W, P1, P2, Port, Dcr } from "../../../src/guest/ne2k/index.js";

async function bare(via: "window" | "isa" = "window") {
  const r = await ne2kRig({ via, init: false });
  const rd = (reg: number) => r.io.read(reg, 1);
  const wr = (reg: number, v: number) => r.io.write(reg, 1, v);
  const page = (p: number, run = Cmd.STP) => wr(Port.CMD, Cmd.NODMA | (p << 6) | run);
  const n = (k: string) => Number(r.dev.counters()[k]);
  return { ...r, rd, wr, page, n };
}

describe("NE2000 registers", () => {
  it("comes out of reset stopped: CR 0x21, ISR.RST, IMR 0; the reset port resets again, its write does nothing", async () => {
    const r = await bare();
    expect(r.rd(Port.CMD)).toBe(0x21);
    expect(r.rd(P0R.ISR)).toBe(Isr.RST);
    r.page(2); expect(r.rd(P2.IMR)).toBe(0); expect(r.rd(P2.DCR) & Dcr.LAS).toBe(Dcr.LAS);
    r.page(0);
    r.wr(P0W.IMR, 0x3f); r.wr(P0W.RCR, 0x04);
    r.wr(Port.CMD, Cmd.NODMA | Cmd.STA);
    expect(r.rd(P0R.ISR) & Isr.RST).toBe(0); // STA clears RST
    r.io.write(Port.RESET, 1, 0);             // a write does nothing
    expect(r.rd(Port.CMD)).toBe(0x22);
    r.io.read(Port.RESET, 1);                 // a read resets the board
    expect(r.rd(Port.CMD)).toBe(0x21);
    expect(r.rd(P0R.ISR)).toBe(Isr.RST);
    r.page(2);
    expect(r.rd(P2.IMR)).toBe(0);
    expect(r.rd(P2.RCR)).toBe(0x04);          // RCR is not touched by a reset
    expect(r.n("resets")).toBe(1);
  });

  it("STP stops (RST set, not cleared by writing it); a CR write with neither STA nor STP keeps the run state", async () => {
    const r = await bare();
    r.wr(Port.CMD, Cmd.NODMA | Cmd.STA);
    r.wr(Port.CMD, Cmd.NODMA | Cmd.PAGE1);    // page switch, no STA/STP: still running
    expect(r.rd(Port.CMD)).toBe(Cmd.NODMA | Cmd.PAGE1 | Cmd.STA);
    r.wr(Port.CMD, Cmd.NODMA | Cmd.PAGE0 | Cmd.STP);
    expect(r.rd(P0R.ISR) & Isr.RST).toBe(Isr.RST);
    r.wr(P0W.ISR, 0xff);
    expect(r.rd(P0R.ISR)).toBe(Isr.RST);
  });

  it("reads the page-0 write-only registers back on page 2, and keeps PAR, CURR and MAR on page 1", async () => {
    const r = await bare();
    r.page(0);
    const w0: Array<[number, number]> = [[P0W.PSTART, 0x4c], [P0W.PSTOP, 0x80], [P0W.TPSR, 0x40], [P0W.RCR, 0x1f], [P0W.TCR, 0x1e], [P0W.DCR, 0x49], [P0W.IMR, 0x3f], [P0W.BNRY, 0x7f]];
    for (const [reg, v] of w0) r.wr(reg, v);
    r.page(2);
    expect([P2.PSTART, P2.PSTOP, P2.TPSR, P2.RCR, P2.TCR, P2.DCR, P2.IMR].map(r.rd)).toEqual([0x4c, 0x80, 0x40, 0x1f, 0x1e, 0x49, 0x3f]);
    r.page(0);
    expect(r.rd(P0R.BNRY)).toBe(0x7f);
    r.page(1);
    const par = macBytes("02:11:22:33:44:55");
    par.forEach((b, i) => r.wr(P1.PAR0 + i, b));
    r.wr(P1.CURR, 0x4d);
    [1, 2, 4, 8, 16, 32, 64, 128].forEach((b, i) => r.wr(P1.MAR0 + i, b));
    expect(Array.from({ length: 6 }, (_, i) => r.rd(P1.PAR0 + i))).toEqual([...par]);
    expect(r.rd(P1.CURR)).toBe(0x4d);
    expect(Array.from({ length: 8 }, (_, i) => r.rd(P1.MAR0 + i))).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
    expect(r.dev.filterState().mar).toEqual(Uint8Array.from([1, 2, 4, 8, 16, 32, 64, 128]));
    // RCR, TCR, DCR and IMR keep only their defined bits.
    r.page(0); r.wr(P0W.RCR, 0xff); r.wr(P0W.TCR, 0xff); r.wr(P0W.DCR, 0xff); r.wr(P0W.IMR, 0xff);
    r.page(2);
    expect([P2.RCR, P2.TCR, P2.DCR, P2.IMR].map(r.rd)).toEqual([0x3f, 0x1f, 0x7f, 0x7f]);
  });

  it("RTL8029AS: ID 'P' 'C' in page 0, CONFIG3 writable only in config-write mode; other page-3 registers are counted", async () => {
    const r = await bare();
    expect([r.rd(P0R.ID0), r.rd(P0R.ID1)]).toEqual([0x50, 0x43]);
    r.page(3);
    r.wr(0x06, 0x40);
    expect(r.rd(0x06)).toBe(0);
    r.wr(0x01, 0xc0);
    r.wr(0x06, 0x40);
    r.wr(0x01, 0x00);
    expect(r.rd(0x06)).toBe(0x40);
    expect(r.n("regUnmodelled")).toBe(0);
    r.rd(0x0e);
    r.wr(0x02, 1);
    expect(r.n("regUnmodelled")).toBe(2);
  });

  it("an ISA board has no RTL8029 ID and no page 3", async () => {
    const r = await bare("isa");
    expect([r.rd(P0R.ID0), r.rd(P0R.ID1)]).toEqual([0, 0]);
    r.page(3);
    expect(r.rd(0x06)).toBe(0);
    expect(r.n("regUnmodelled")).toBe(1);
    // The window answers at its base only.
    expect(r.dev.isaRead(0x300, 1)).toBe(Cmd.NODMA | Cmd.PAGE3 | Cmd.STP);
    expect(r.dev.isaRead(0x2ff, 1)).toBeNull();
    expect(r.dev.isaRead(0x320, 1)).toBeNull();
  });

  it("tally counters clear when read; the DP8390 probe (MAR5 vs CNTR0) passes", async () => {
    const r = await bare();
    r.page(1); r.wr(0x0d, 0xff); r.page(0);
    r.rd(P0R.CNTR0);
    expect(r.rd(P0R.CNTR0)).toBe(0);
    r.page(1); expect(r.rd(0x0d)).toBe(0xff);
  });

  it("splits 16/32-bit register accesses into bytes and refuses ones that straddle the register, data and reset ranges", async () => {
    const r = await bare();
    r.page(0);
    r.io.write(P0W.PSTART, 2, 0x8040); // PSTART = 0x40, PSTOP = 0x80
    r.page(2);
    expect(r.io.read(P2.PSTART, 2)).toBe(0x8040);
    expect(r.io.read(0x00, 4)).toBe(0x008040a1); // CR, PSTART, PSTOP, RNPP
    expect(r.n("badAccess")).toBe(0);
    expect(r.io.read(0x0e, 4)).toBe(0xffffffff);
    expect(r.io.read(0x17, 2)).toBe(0xffff);
    r.io.write(0x1f, 4, 0);
    expect(r.io.read(0x20, 1)).toBe(0xff);
    expect(r.n("badAccess")).toBe(4);
  });
});

describe("NE2000 remote DMA", () => {
  async function dmaRig(dcr: number) {
    const r = await bare();
    r.page(0);
    r.wr(P0W.DCR, dcr);
    r.wr(P0W.PSTART, 0x46); r.wr(P0W.PSTOP, 0x60);
    const start = (cmd: number, addr: number, count: number) => {
      r.wr(P0W.RBCR0, count & 0xff); r.wr(P0W.RBCR1, count >> 8);
      r.wr(P0W.RSAR0, addr & 0xff); r.wr(P0W.RSAR1, addr >> 8);
      r.wr(Port.CMD, cmd | Cmd.STP);
    };
    return { ...r, start };
  }

  it("reads the station-address PROM doubled in byte mode and once per word in word mode, with the 0x57 signature", async () => {
    const r = await dmaRig(0x48);
    r.start(Cmd.RREAD, 0, 32);
    const bytes = Array.from({ length: 32 }, () => r.io.read(Port.DATA, 1));
    const mac = [...macBytes(GUEST_MAC)];
    expect(bytes.slice(0, 12)).toEqual(mac.flatMap((b) => [b, b]));
    expect(bytes.slice(28, 32)).toEqual([0x57, 0x57, 0x57, 0x57]);
    expect(r.rd(P0R.ISR) & Isr.RDC).toBe(Isr.RDC);
    const w = await dmaRig(0x49);
    w.start(Cmd.RREAD, 0, 32);
    const words = Array.from({ length: 16 }, () => w.io.read(Port.DATA, 2));
    expect(words.slice(0, 6)).toEqual(mac.map((b) => b | (b << 8)));
    expect(words[15]).toBe(0x5757);
  });

  for (const [label, dcr, width] of [["byte mode", 0x48, 1], ["word mode, 16-bit", 0x49, 2], ["word mode, 32-bit", 0x49, 4]] as const) {
    it(`writes and reads back card RAM in ${label}, RDC when the count is done`, async () => {
      const r = await dmaRig(dcr);
      const data = Uint8Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff);
      r.start(Cmd.RWRITE, 0x4800, data.length);
      for (let i = 0; i < data.length; i += width) {
        let v = 0;
        for (let k = 0; k < width; k++) v |= data[i + k] << (8 * k);
        r.io.write(Port.DATA, width, v >>> 0);
      }
      expect(r.rd(P0R.ISR) & Isr.RDC).toBe(Isr.RDC);
      r.wr(P0W.ISR, Isr.RDC);
      r.start(Cmd.RREAD, 0x4800, data.length);
      const back = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i += width) {
        const v = r.io.read(Port.DATA, width);
        for (let k = 0; k < width; k++) back[i + k] = (v >>> (8 * k)) & 0xff;
      }
      expect(back).toEqual(data);
      expect(r.rd(P0R.ISR) & Isr.RDC).toBe(Isr.RDC);
      r.page(0);
      expect(r.rd(P0R.CRDA0) | (r.rd(P0R.CRDA1) << 8)).toBe(0x4900);
      expect(r.n("dmaIdle") + r.n("dmaOutside") + r.n("badAccess")).toBe(0);
    });
  }

  it("swaps bytes within a word with DCR.BOS", async () => {
    const r = await dmaRig(0x49 | Dcr.BOS);
    r.start(Cmd.RWRITE, 0x4000, 2);
    r.io.write(Port.DATA, 2, 0x1122);
    r.wr(P0W.DCR, 0x48);
    r.start(Cmd.RREAD, 0x4000, 2);
    expect([r.io.read(Port.DATA, 1), r.io.read(Port.DATA, 1)]).toEqual([0x11, 0x22]);
  });

  it("regression_ne2k_byte_write_in_word_mode_ignores_bits_beyond_the_access: an 8-bit data-port write in word mode stores its byte and a zero high byte", async () => {
    const r = await dmaRig(0x49);
    r.start(Cmd.RWRITE, 0x4000, 4);
    r.io.write(Port.DATA, 1, 0xabcd12);  // only 0x12 is on the bus
    r.io.write(Port.DATA, 2, 0xfedc3456); // only 0x3456
    r.wr(P0W.DCR, 0x48);
    r.start(Cmd.RREAD, 0x4000, 4);
    expect([0, 1, 2, 3].map(() => r.io.read(Port.DATA, 1))).toEqual([0x12, 0x00, 0x56, 0x34]);
  });

  it("wraps the remote address from PSTOP to PSTART, as a packet that wraps the ring is read", async () => {
    const r = await dmaRig(0x48);
    r.start(Cmd.RWRITE, 0x5ffe, 4);
    for (const b of [1, 2, 3, 4]) r.io.write(Port.DATA, 1, b);
    r.start(Cmd.RREAD, 0x4600, 2);
    expect([r.io.read(Port.DATA, 1), r.io.read(Port.DATA, 1)]).toEqual([3, 4]);
    r.start(Cmd.RREAD, 0x5ffe, 2);
    expect([r.io.read(Port.DATA, 1), r.io.read(Port.DATA, 1)]).toEqual([1, 2]);
  });

  it("completes a zero-count DMA at once; a word transfer for the last odd byte ends the count", async () => {
    const r = await dmaRig(0x49);
    r.start(Cmd.RREAD, 0x4000, 0);
    expect(r.rd(P0R.ISR) & Isr.RDC).toBe(Isr.RDC);
    r.wr(P0W.ISR, Isr.RDC);
    r.start(Cmd.RREAD, 0, 3);
    r.io.read(Port.DATA, 2);
    expect(r.rd(P0R.ISR) & Isr.RDC).toBe(0);
    r.io.read(Port.DATA, 1);
    expect(r.rd(P0R.ISR) & Isr.RDC).toBe(Isr.RDC);
    expect(r.n("dmaIdle")).toBe(0);
  });

  it("counts data-port accesses with no DMA, bytes outside the PROM and RAM, PROM writes, and refused commands; none traps", async () => {
    const r = await dmaRig(0x48);
    expect(r.io.read(Port.DATA, 2)).toBe(0xffff);
    r.io.write(Port.DATA, 1, 5);
    expect(r.n("dmaIdle")).toBe(2);
    r.start(Cmd.RREAD, 0x8000, 2);
    expect([r.io.read(Port.DATA, 1), r.io.read(Port.DATA, 1)]).toEqual([0xff, 0xff]);
    r.start(Cmd.RWRITE, 0x0000, 1);
    r.io.write(Port.DATA, 1, 0);
    expect(r.n("dmaOutside")).toBe(3);
    r.start(Cmd.RREAD, 0, 32);
    r.wr(Port.CMD, 0x00 | Cmd.STP);      // RD = 000: not allowed; the transfer carries on
    expect(r.io.read(Port.DATA, 1)).toBe(macBytes(GUEST_MAC)[0]);
    r.wr(Port.CMD, Cmd.SEND | Cmd.STP);   // send packet: refused, and ends the transfer
    expect(r.io.read(Port.DATA, 1)).toBe(0xff);
    expect(r.n("dmaRefused")).toBe(2);
  });
});
