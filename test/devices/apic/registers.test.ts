// Register model, MMIO/MSR gate and mode transitions, from the Intel SDM
// Vol. 3A ch. 11 "Advanced Programmable Interrupt Controller (APIC)".
import { describe, it, expect } from "vitest";
import { Status } from "../../../src/index.js";
import { newCore } from "../../support/core.js";
import { apicVm, enableX, enableX2, BASE, EN, EXTD } from "./support.js";

describe("xAPIC registers (SDM §11.4)", () => {
  it("power-up state (§11.4.7.1): DFR all ones, SVR 0xFF, every LVT masked, ID and BSP", async () => {
    const { bus } = await apicVm(3);
    const a = bus.apic(2);
    expect(a.mmioRead(0x20) >>> 24).toBe(2);                 // §11.4.6 ID in bits 31:24
    expect(a.mmioRead(0x30)).toBe(0x01060014);               // §11.4.8 version 0x14, Max LVT 6, EOI-broadcast suppression
    expect(a.mmioRead(0xe0) >>> 0).toBe(0xffffffff);
    expect(a.mmioRead(0xf0)).toBe(0xff);
    for (const off of [0x2f0, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370]) expect(a.mmioRead(off)).toBe(0x10000);
    for (const off of [0x80, 0xd0, 0x280, 0x300, 0x310, 0x380, 0x390, 0x3e0]) expect(a.mmioRead(off)).toBe(0);
    expect(bus.apic(0).base).toBe(BASE | EN | (1n << 8n));   // §11.4.4: BSP flag on vCPU 0 only
    expect(a.base).toBe(BASE | EN);
  });

  it("reserved bits are masked on write (§11.5.1 LVT, §11.6.1 ICR, §11.5.4 DCR, §11.9 SVR)", async () => {
    const { bus } = await apicVm(2);
    const a = bus.apic(1);
    enableX(a);
    a.mmioWrite(0x80, 4, 0xffffffff); expect(a.mmioRead(0x80)).toBe(0xff);
    a.mmioWrite(0xd0, 4, 0xffffffff); expect(a.mmioRead(0xd0) >>> 0).toBe(0xff000000);
    a.mmioWrite(0xe0, 4, 0x00000000); expect(a.mmioRead(0xe0) >>> 0).toBe(0x0fffffff);
    a.mmioWrite(0xf0, 4, 0xffffffff); expect(a.mmioRead(0xf0)).toBe(0x11ff);
    a.mmioWrite(0x320, 4, 0xffffffff); expect(a.mmioRead(0x320)).toBe(0x700ff);
    a.mmioWrite(0x350, 4, 0xffffffff); expect(a.mmioRead(0x350)).toBe(0x1a7ff);
    a.mmioWrite(0x370, 4, 0xffffffff); expect(a.mmioRead(0x370)).toBe(0x100ff);
    a.mmioWrite(0x340, 4, 0xffffffff); expect(a.mmioRead(0x340)).toBe(0x107ff);
    a.mmioWrite(0x3e0, 4, 0xffffffff); expect(a.mmioRead(0x3e0)).toBe(0xb);
    a.mmioWrite(0x310, 4, 0xffffffff); expect(a.mmioRead(0x310) >>> 0).toBe(0xff000000);
  });

  it("read-only registers ignore writes: ID (model specific, §11.4.6), version, PPR, IRR/ISR/TMR, current count", async () => {
    const { bus } = await apicVm(2);
    const a = bus.apic(1);
    for (const off of [0x20, 0x30, 0xa0, 0x100, 0x180, 0x200, 0x390]) {
      const before = a.mmioRead(off);
      expect(a.mmioWrite(off, 4, 0xdeadbeef)).toBe(Status.OK);
      expect(a.mmioRead(off)).toBe(before);
    }
  });

  it("the MMIO gate refuses bad widths and alignment, counted, no effect (§11.4.1: 32-bit, 16-byte aligned)", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    const before = bus.counters().mmioBadAccess;
    expect(a.mmioWrite(0x80, 2 as 4, 0x20)).toBe(Status.ERR_INVALID_ARG);
    expect(a.mmioWrite(0x84, 4, 0x20)).toBe(Status.ERR_INVALID_ARG);
    expect(a.mmioWrite(0x1000, 4, 0x20)).toBe(Status.ERR_INVALID_ARG);
    expect(bus.core.exports.apic_mmio_read(0, 0x82, 4, 0n)).toBe(Status.ERR_INVALID_ARG);
    expect(bus.core.exports.apic_mmio_read(0, 0x84, 4, 0n)).toBe(Status.ERR_INVALID_ARG);
    expect(bus.core.exports.apic_mmio_read(0, 0x80, 3, 0n)).toBe(Status.ERR_INVALID_ARG);
    expect(bus.counters().mmioBadAccess - before).toBe(6n);
    expect(a.mmioRead(0x80)).toBe(0);
    // Sub-dword reads inside a register's first dword are allowed.
    expect(a.mmioRead(0x33, 1)).toBe(0x01);
    expect(a.mmioRead(0x32, 2)).toBe(0x0106);
  });

  it("a reserved register offset sets ESR bit 7 'Illegal Register Address' (§11.5.3); the ESR write latches it", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    enableX(a);
    expect(a.mmioRead(0x400)).toBe(0);
    expect(a.mmioWrite(0x3f0, 4, 1)).toBe(Status.OK); // SELF_IPI does not exist in xAPIC mode
    expect(a.mmioRead(0x280)).toBe(0);                // not visible until the ESR write
    a.mmioWrite(0x280, 4, 0);
    expect(a.mmioRead(0x280)).toBe(0x80);
    a.mmioWrite(0x280, 4, 0);
    expect(a.mmioRead(0x280)).toBe(0);
    expect(bus.counters().illegalRegister).toBe(2n);
  });

  it("clearing SVR bit 8 software-disables the APIC: every LVT masked and masks stay set (§11.4.7.2)", async () => {
    const { bus } = await apicVm(1);
    const a = bus.apic(0);
    enableX(a);
    a.mmioWrite(0x320, 4, 0x40);
    expect(a.mmioRead(0x320)).toBe(0x40);
    a.mmioWrite(0xf0, 4, 0xff);
    expect(a.mmioRead(0x320)).toBe(0x10040);
    a.mmioWrite(0x320, 4, 0x41);
    expect(a.mmioRead(0x320)).toBe(0x10041);
  });
});

describe("the APIC set", () => {
  it("apic_create validates its arguments and runs once per VM; unknown handles are counted", async () => {
    const core = await newCore(1 << 16);
    const x = core.exports;
    expect(x.apic_create(0, 1_000_000_000n, 1_000_000_000n)).toBe(Status.ERR_INVALID_ARG);
    expect(x.apic_create(4097, 1_000_000_000n, 1_000_000_000n)).toBe(Status.ERR_INVALID_ARG);
    expect(x.apic_create(4, 0n, 1_000_000_000n)).toBe(Status.ERR_INVALID_ARG);
    expect(x.apic_create(4, 1_000_000_000n, 10_000_000_001n)).toBe(Status.ERR_INVALID_ARG);
    expect(x.apic_count()).toBe(0);
    expect(x.apic_msi(0xfee00000, 0, 0x41)).toBe(-Status.ERR_NOT_READY);
    expect(x.apic_create(4, 1_000_000_000n, 1_000_000_000n)).toBe(Status.OK);
    expect(x.apic_create(4, 1_000_000_000n, 1_000_000_000n)).toBe(Status.ERR_ALREADY);
    const before = core.counters().badHandle;
    expect(x.apic_mmio_write(4, 0x80, 4, 0, 0n)).toBe(Status.ERR_BAD_HANDLE);
    expect(x.apic_intr_ack(-1)).toBe(-Status.ERR_BAD_HANDLE);
    expect(core.counters().badHandle - before).toBe(2n);
  });
});

describe("x2APIC MSR interface (SDM §11.12)", () => {
  it("ID is 32-bit and LDR is derived: cluster = ID[19:4], bit ID[3:0] (§11.12.10.2)", async () => {
    const { bus } = await apicVm(300);
    for (const i of [0, 1, 17, 255, 299]) {
      const a = bus.apic(i);
      enableX2(a);
      expect(a.rdmsr(0x802).value).toBe(BigInt(i));
      expect(a.rdmsr(0x80d).value).toBe(BigInt(((i >> 4) << 16) | (1 << (i & 15))));
    }
  });

  it("IDs above 0xFE come out of reset in x2APIC mode and cannot enter xAPIC mode (§11.12.5)", async () => {
    const { bus } = await apicVm(260);
    const a = bus.apic(259);
    expect(a.base & (EN | EXTD)).toBe(EN | EXTD);
    expect(a.wrmsr(0x1b, 0n)).toBe(Status.OK);             // x2APIC → disabled
    expect(a.wrmsr(0x1b, BASE | EN)).toBe(Status.ERR_FAULT); // xAPIC would need an 8-bit ID
    expect(bus.apic(255).wrmsr(0x1b, 0n)).toBe(Status.OK);
    expect(bus.apic(255).wrmsr(0x1b, BASE | EN)).toBe(Status.ERR_FAULT); // 0xFF is the xAPIC broadcast
    expect(bus.apic(254).base & EXTD).toBe(0n);
  });

  it("reserved and absent MSRs #GP: APR, RRD, DFR, ICR high and holes (§11.12.1.2, Table 11-6)", async () => {
    const { bus } = await apicVm(2);
    const a = bus.apic(1);
    enableX2(a);
    for (const msr of [0x800, 0x801, 0x804, 0x809, 0x80c, 0x80e, 0x829, 0x82e, 0x831, 0x83a, 0x83d, 0x840, 0x8ff]) {
      expect(a.rdmsr(msr).status, msr.toString(16)).toBe(Status.ERR_FAULT);
      expect(a.wrmsr(msr, 0n), msr.toString(16)).toBe(Status.ERR_FAULT);
    }
  });

  it("writes to read-only and reads of write-only registers #GP (Table 11-6)", async () => {
    const { bus } = await apicVm(2);
    const a = bus.apic(1);
    enableX2(a);
    for (const msr of [0x802, 0x803, 0x80a, 0x80d, 0x810, 0x818, 0x820, 0x827, 0x839]) expect(a.wrmsr(msr, 0n), msr.toString(16)).toBe(Status.ERR_FAULT);
    expect(a.rdmsr(0x80b).status).toBe(Status.ERR_FAULT); // EOI
    expect(a.rdmsr(0x83f).status).toBe(Status.ERR_FAULT); // SELF IPI
  });

  it("non-zero reserved bits #GP and change nothing (§11.12.1.3); EOI and ESR only accept 0", async () => {
    const { bus } = await apicVm(2);
    const a = bus.apic(1);
    enableX2(a);
    const faults = bus.counters().msrFault;
    expect(a.wrmsr(0x808, 0x100n)).toBe(Status.ERR_FAULT);       // TPR bits 31:8
    expect(a.wrmsr(0x808, 1n << 32n)).toBe(Status.ERR_FAULT);    // upper half of a 32-bit register
    expect(a.wrmsr(0x80f, 0x1ffn | (1n << 9n))).toBe(Status.ERR_FAULT); // SVR focus bit: reserved in x2APIC mode
    expect(a.wrmsr(0x832, 1n << 19n)).toBe(Status.ERR_FAULT);    // LVT timer bit 19
    expect(a.wrmsr(0x83e, 4n)).toBe(Status.ERR_FAULT);           // DCR bit 2
    expect(a.wrmsr(0x830, 1n << 12n)).toBe(Status.ERR_FAULT);    // ICR delivery status is reserved
    expect(a.wrmsr(0x830, 1n << 20n)).toBe(Status.ERR_FAULT);
    expect(a.wrmsr(0x83f, 0x100n)).toBe(Status.ERR_FAULT);       // SELF IPI bits 31:8
    expect(a.wrmsr(0x80b, 1n)).toBe(Status.ERR_FAULT);           // EOI non-zero
    expect(a.wrmsr(0x828, 1n)).toBe(Status.ERR_FAULT);           // ESR non-zero
    expect(bus.counters().msrFault - faults).toBe(10n);
    expect(a.rdmsr(0x808).value).toBe(0n);
    expect(a.rdmsr(0x832).value).toBe(0x10000n);
    expect(a.wrmsr(0x808, 0xffn)).toBe(Status.OK);
    expect(a.rdmsr(0x808).value).toBe(0xffn);
  });

  it("x2APIC MSRs #GP in xAPIC mode, and MMIO is refused in x2APIC mode (§11.12.1.2)", async () => {
    const { bus } = await apicVm(2);
    const a = bus.apic(1);
    expect(a.rdmsr(0x802).status).toBe(Status.ERR_FAULT);
    enableX2(a);
    expect(bus.core.exports.apic_mmio_read(1, 0x20, 4, 0n)).toBe(Status.ERR_BAD_STATE);
    expect(a.mmioWrite(0x80, 4, 0x20)).toBe(Status.ERR_BAD_STATE);
    expect(a.rdmsr(0x1234).status).toBe(Status.ERR_UNSUPPORTED);
  });
});

describe("IA32_APIC_BASE mode transitions (SDM §11.12.5, Figure 11-27)", () => {
  const modes = { disabled: 0n, xapic: EN, x2apic: EN | EXTD, invalid: EXTD } as const;
  type M = keyof typeof modes;
  const legal: Record<string, boolean> = {
    "disabled>disabled": true, "disabled>xapic": true, "disabled>x2apic": false, "disabled>invalid": false,
    "xapic>disabled": true, "xapic>xapic": true, "xapic>x2apic": true, "xapic>invalid": false,
    "x2apic>disabled": true, "x2apic>xapic": false, "x2apic>x2apic": true, "x2apic>invalid": false,
  };
  for (const [key, ok] of Object.entries(legal)) {
    it(`${key} is ${ok ? "allowed" : "#GP"}`, async () => {
      const { bus } = await apicVm(2);
      const a = bus.apic(1);
      const [from, to] = key.split(">") as [M, M];
      if (from === "disabled") expect(a.wrmsr(0x1b, BASE)).toBe(Status.OK);
      if (from === "x2apic") expect(a.wrmsr(0x1b, BASE | modes.x2apic)).toBe(Status.OK);
      const before = a.base;
      expect(a.wrmsr(0x1b, BASE | modes[to])).toBe(ok ? Status.OK : Status.ERR_FAULT);
      expect(a.base).toBe(ok ? BASE | modes[to] : before);
    });
  }

  it("reserved bits of IA32_APIC_BASE #GP; BSP is read-only (§11.4.4)", async () => {
    const { bus } = await apicVm(2);
    expect(bus.apic(1).wrmsr(0x1b, BASE | EN | 1n)).toBe(Status.ERR_FAULT);
    expect(bus.apic(1).wrmsr(0x1b, BASE | EN | (1n << 52n))).toBe(Status.ERR_FAULT);
    expect(bus.apic(1).wrmsr(0x1b, BASE | EN | (1n << 8n))).toBe(Status.OK);
    expect(bus.apic(1).base).toBe(BASE | EN);
    expect(bus.apic(0).wrmsr(0x1b, BASE | EN)).toBe(Status.OK);
    expect(bus.apic(0).base).toBe(BASE | EN | (1n << 8n));
  });

  it("xAPIC → x2APIC keeps TPR and pending state; disabling resets the APIC (§11.12.5.1, §11.4.3)", async () => {
    const { bus } = await apicVm(4);
    const a = bus.apic(3);
    enableX(a);
    a.mmioWrite(0x80, 4, 0x30);
    bus.deliver(3, 0x45);
    expect(a.wrmsr(0x1b, BASE | EN | EXTD)).toBe(Status.OK);
    expect(a.rdmsr(0x808).value).toBe(0x30n);
    expect(a.rdmsr(0x824 - 2).value).toBe(1n << 5n); // IRR word 2 holds vector 0x45
    expect(a.wrmsr(0x1b, BASE)).toBe(Status.OK);
    expect(a.wrmsr(0x1b, BASE | EN)).toBe(Status.OK);
    expect(a.mmioRead(0x80)).toBe(0);
    expect(a.mmioRead(0x220)).toBe(0);
    expect(a.mmioRead(0xf0)).toBe(0xff);
  });
});
