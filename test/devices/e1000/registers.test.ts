// Registers: the EEPROM (Microwire and EERD), the PHY through MDIC and the
// link it reports, interrupt cause/mask semantics and INTA#, the statistics
// (clear on read, 64-bit pairs), the I/O window, access widths, unmodelled
// offsets, and PCI configuration space.
import { describe, it, expect } from "vitest";
import { e1000Rig, MAC } from "./rig.js";
import { mac } from "../../../src/guest/virtio/frames.js";
import { Reg, Icr, Ctrl, Phy, Bmcr, Bmsr, Mdic, StatusBits, Stat } from "../../../src/guest/e1000/defs.js";

describe("e1000 EEPROM", () => {
  it("holds the MAC, the IDs and a checksum that makes the 64 words sum to BABAh; EERD reads the same words", async () => {
    const r = await e1000Rig();
    const w = Array.from(r.drv.eeprom);
    expect(w.reduce((a, b) => (a + b) & 0xffff, 0)).toBe(0xbaba);
    const m = mac(MAC);
    expect(w.slice(0, 3)).toEqual([m[0] | (m[1] << 8), m[2] | (m[3] << 8), m[4] | (m[5] << 8)]);
    expect([w[0x0d], w[0x0e], w[0x0b], w[0x0c]]).toEqual([0x100e, 0x8086, 0x001e, 0x8086]);
    expect(w[0x0a] >> 14).toBe(1); // signature 01b
    for (let i = 0; i < 64; i++) expect(r.drv.readEepromEerd(i)).toBe(w[i]);
    expect(r.dev.counters().eepromReads).toBe(128n);
  });
});

describe("e1000 PHY and link", () => {
  it("identifies as the 82540EM's PHY, completes auto-negotiation at 1000/full and reports it in STATUS", async () => {
    const r = await e1000Rig();
    expect(r.drv.phyId >>> 0).toBe(0x01410c20);
    const bmsr = r.drv.phyRead(Phy.BMSR);
    expect(bmsr & (Bmsr.LSTATUS | Bmsr.ANEGCOMPLETE)).toBe(Bmsr.LSTATUS | Bmsr.ANEGCOMPLETE);
    expect(r.drv.phyRead(Phy.PSSR) >> 14).toBe(2); // 1000 Mb/s
    expect(r.drv.phyRead(Phy.ANLPAR) & 0x0400).toBe(0x0400); // partner PAUSE
    const st = r.drv.read(Reg.STATUS);
    expect(st & (StatusBits.LU | StatusBits.FD)).toBe(StatusBits.LU | StatusBits.FD);
    expect((st >> StatusBits.SPEED_SHIFT) & 3).toBe(2);
  });

  it("powering the PHY down drops the link with LSC, BMSR latches it low until read; powering up restores it", async () => {
    const r = await e1000Rig();
    r.drv.read(Reg.ICR);
    r.drv.phyWrite(Phy.BMCR, r.drv.phyRead(Phy.BMCR) | Bmcr.PDOWN);
    expect(r.drv.linkUp).toBe(false);
    expect(r.drv.read(Reg.ICR) & Icr.LSC).toBe(Icr.LSC);
    r.drv.phyWrite(Phy.BMCR, r.drv.phyRead(Phy.BMCR) & ~Bmcr.PDOWN);
    expect(r.drv.linkUp).toBe(true);
    expect(r.drv.phyRead(Phy.BMSR) & Bmsr.LSTATUS).toBe(0);          // latched low since the drop
    expect(r.drv.phyRead(Phy.BMSR) & Bmsr.LSTATUS).toBe(Bmsr.LSTATUS);
    // The host's cable and the PHY reset line do the same.
    r.dev.setLink(false);
    expect(r.drv.linkUp).toBe(false);
    r.dev.setLink(true);
    r.drv.write(Reg.CTRL, r.drv.read(Reg.CTRL) | Ctrl.PHY_RST);
    expect(r.drv.linkUp).toBe(false);
    r.drv.write(Reg.CTRL, r.drv.read(Reg.CTRL) & ~Ctrl.PHY_RST);
    expect(r.drv.linkUp).toBe(true);
    expect(r.drv.phyRead(Phy.BMCR)).toBe(0x1140); // back to its reset value
  });

  it("MDIC: another PHY address or opcode sets ERROR; read-only registers ignore writes; IE raises MDAC", async () => {
    const r = await e1000Rig();
    r.drv.write(Reg.MDIC, Mdic.OP_READ | (2 << Mdic.PHY_SHIFT) | (Phy.ID1 << Mdic.REG_SHIFT));
    expect(r.drv.read(Reg.MDIC) & (Mdic.READY | Mdic.ERROR)).toBe(Mdic.READY | Mdic.ERROR);
    r.drv.phyWrite(Phy.ID1, 0x1234);
    expect(r.drv.phyRead(Phy.ID1)).toBe(0x0141);
    r.drv.phyWrite(Phy.ANAR, 0x0de1);
    expect(r.drv.phyRead(Phy.ANAR)).toBe(0x0de1);
    r.drv.read(Reg.ICR);
    r.drv.write(Reg.MDIC, Mdic.OP_READ | Mdic.IE | (1 << Mdic.PHY_SHIFT) | (Phy.BMSR << Mdic.REG_SHIFT));
    expect(r.drv.read(Reg.ICR) & Icr.MDAC).toBe(Icr.MDAC);
  });
});

describe("e1000 interrupts", () => {
  it("ICR reads return and clear every cause; ICS sets, IMS/IMC mask; INTA# follows ICR & IMS", async () => {
    const r = await e1000Rig({ noInit: true });
    r.dev.pci.configWrite(4, 2, 7);
    const rd = (o: number) => r.dev.pci.barRead(0, o, 4) >>> 0, wr = (o: number, v: number) => r.dev.pci.barWrite(0, o, 4, v >>> 0);
    wr(Reg.ICS, Icr.RXT0 | Icr.TXDW);
    expect(r.irq.intxLevel).toBe(false);           // masked
    wr(Reg.IMS, Icr.RXT0);
    expect(r.irq.intxLevel).toBe(true);
    expect(rd(Reg.IMS)).toBe(Icr.RXT0);
    wr(Reg.IMC, Icr.RXT0);
    expect(r.irq.intxLevel).toBe(false);
    wr(Reg.IMS, Icr.TXDW);
    expect(r.irq.intxLevel).toBe(true);
    expect(rd(Reg.ICS)).toBe(Icr.RXT0 | Icr.TXDW);  // reads like ICR, without clearing
    expect(rd(Reg.ICR)).toBe(Icr.RXT0 | Icr.TXDW);
    expect(rd(Reg.ICR)).toBe(0);
    expect(r.irq.intxLevel).toBe(false);
    wr(Reg.ICS, Icr.TXDW | Icr.LSC);
    wr(Reg.ICR, Icr.TXDW);                           // write 1 to clear
    expect(rd(Reg.ICR)).toBe(Icr.LSC);
    // INTx disable in the PCI command register holds the line low; status bit 3 still shows it.
    wr(Reg.ICS, Icr.TXDW);
    r.dev.pci.configWrite(4, 2, 7 | (1 << 10));
    expect(r.irq.intxLevel).toBe(false);
    expect(r.dev.pci.configRead(6, 2) & 8).toBe(8);
  });
});

describe("e1000 statistics and register access", () => {
  it("statistics clear on read; a 64-bit pair clears when its high half is read", async () => {
    const r = await e1000Rig();
    r.drv.transmit(new Uint8Array(1000).fill(1));
    expect(r.drv.read(Stat.GPTC)).toBe(1);
    expect(r.drv.read(Stat.GPTC)).toBe(0);
    expect(r.drv.read(Stat.GOTCL)).toBe(1004);
    expect(r.drv.read(Stat.GOTCL)).toBe(1004);   // the low half alone does not clear
    expect(r.drv.read(Stat.GOTCH)).toBe(0);
    expect(r.drv.read(Stat.GOTCL)).toBe(0);
    expect(r.drv.read(Stat.TPT)).toBe(1);
    expect(r.drv.read(Stat.PTC1023)).toBe(1);
  });

  it("the I/O window reaches the registers (IOADDR/IODATA); other offsets and widths are refused and counted", async () => {
    const r = await e1000Rig({ driver: { io: true } });
    expect(r.drv.linkUp).toBe(true);
    r.drv.transmit(new Uint8Array(64).fill(2));
    expect(r.sent.length).toBe(1);
    const before = r.dev.counters().badAccess;
    expect(r.dev.pci.barRead(1, 8, 4) >>> 0).toBe(0xffffffff);
    expect(r.dev.pci.barRead(1, 4, 2) >>> 0).toBe(0xffff);
    expect(r.dev.counters().badAccess).toBe(before + 2n);
  });

  it("narrow accesses read the containing register and merge writes; unmodelled offsets read 0; nothing traps", async () => {
    const r = await e1000Rig();
    const st = r.drv.read(Reg.STATUS);
    expect(r.dev.pci.barRead(0, Reg.STATUS, 1)).toBe(st & 0xff);
    expect(r.dev.pci.barRead(0, Reg.STATUS + 2, 2)).toBe(st >>> 16);
    r.dev.pci.barWrite(0, Reg.FCAL, 4, 0x11223344);
    r.dev.pci.barWrite(0, Reg.FCAL + 1, 1, 0xaa);
    expect(r.drv.read(Reg.FCAL)).toBe(0x1122aa44);
    const before = r.dev.counters().badAccess;
    expect(r.drv.read(0x0060)).toBe(0);
    r.drv.write(0x0060, 1);
    expect(r.dev.pci.barRead(0, 3, 2) >>> 0).toBe(0xffffffff); // misaligned
    expect(r.dev.pci.barRead(0, 0x20000, 4) >>> 0).toBe(0xffffffff);
    expect(r.dev.pci.barRead(2, 0, 4) >>> 0).toBe(0xffffffff);
    expect(r.dev.counters().badAccess).toBe(before + 5n);
  });
});

describe("e1000 PCI configuration", () => {
  it("IDs, class, BAR sizing (128 KiB memory, 64 I/O ports), INTA#, the PM capability; memory decode off reads ones", async () => {
    const r = await e1000Rig({ noInit: true });
    const f = r.dev.pci;
    expect(f.configRead(0, 4) >>> 0).toBe(0x100e8086);
    expect(f.configRead(8, 4) >>> 8).toBe(0x020000);
    expect(f.configRead(0x2c, 4) >>> 0).toBe(0x001e8086);
    expect(f.configRead(0x3d, 1)).toBe(1);
    f.configWrite(0x10, 4, 0xffffffff);
    expect(f.configRead(0x10, 4) >>> 0).toBe(0xfffe0000);
    f.configWrite(0x14, 4, 0xffffffff);
    expect(f.configRead(0x14, 4) >>> 0).toBe(0xffffffc1);
    f.configWrite(0x18, 4, 0xffffffff);
    expect(f.configRead(0x18, 4)).toBe(0);
    expect(f.configRead(6, 2) & 0x10).toBe(0x10);
    const cap = f.configRead(0x34, 1);
    expect([cap, f.configRead(cap, 1), f.configRead(cap + 1, 1)]).toEqual([0xdc, 0x01, 0]);
    f.configWrite(cap + 4, 2, 3);
    expect(f.configRead(cap + 4, 2) & 3).toBe(3);
    f.configWrite(0, 4, 0);
    expect(f.configRead(0, 4) >>> 0).toBe(0x100e8086); // IDs are read-only
    expect(f.barRead(0, 8, 4) >>> 0).toBe(0xffffffff);    // command: memory decode off
    f.configWrite(4, 2, 2);
    expect(f.barRead(0, 8, 4) & StatusBits.LU).toBe(StatusBits.LU);
  });
});
