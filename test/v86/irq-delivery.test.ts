// Interrupt delivery through the v86 adapter with a bare guest
// (test/v86/guest/irq-guest.S): a PCI function whose doorbell write raises its
// level-triggered INTx line and whose status read lowers it, rung in a loop
// until v86's JIT compiles the loop, so the raise happens inside an MMIO write
// made by compiled code. Each round waits for the guest's interrupt handler; a
// lost interrupt freezes the guest (halted with IF clear, or no progress over
// many instructions), which the watchdog reports with v86's interrupt state.
import { describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { V86 } from "v86";
import { V86PciAdapter, type V86Emulator, type V86Cpu } from "../../src/adapters/v86/index.js";
import type { PciFunction, BarInfo } from "../../src/pci.js";
import { assembleGuest } from "../support/x86-guest.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const MMIO_BASE = 0xe8000000;
const IRQ = 11;
// Guest counters (irq-guest.S).
const MODE = 0x8000, SENT = 0x8004, HANDLED = 0x8008, POLLED = 0x800c, SPURIOUS = 0x8010, OTHER = 0x8014;

/** The doorbell device: write BAR 0 + 0 to request an interrupt, read BAR 0 + 4 to take (and clear) it. */
class DoorbellFunction implements PciFunction {
  readonly bars: BarInfo[] = [{ index: 0, size: 0x1000, kind: "mem32" }];
  private readonly config = new Uint8Array(256);
  request = false;
  rings = 0;
  /** Rings whose write v86 made from JIT-compiled code (its EIP then is not the one after the write). */
  ringsFromCompiledCode = 0;
  intx: (level: boolean) => void = () => {};
  constructor(private readonly eipAfterRing: number, private readonly eip: () => number) {
    const dv = new DataView(this.config.buffer);
    dv.setUint16(0, 0x1234, true);
    dv.setUint16(2, 0x0001, true);
    this.config[0x0b] = 0xff;
    this.config[0x3d] = 1; // INTA#
  }
  configRead(off: number, width: 1 | 2 | 4): number {
    const dv = new DataView(this.config.buffer);
    return width === 1 ? dv.getUint8(off) : width === 2 ? dv.getUint16(off, true) : dv.getUint32(off, true);
  }
  configWrite(): void {}
  barRead(_bar: number, off: number): number {
    if (off !== 4) return 0;
    const r = this.request ? 1 : 0;
    this.request = false;
    this.intx(false);
    return r;
  }
  barWrite(_bar: number, off: number): void {
    if (off !== 0) return;
    this.rings++;
    if (this.eip() !== this.eipAfterRing) this.ringsFromCompiledCode++;
    this.request = true;
    this.intx(true);
  }
}

interface Outcome {
  counters: { sent: number; handled: number; polled: number; spurious: number; other: number };
  fn: DoorbellFunction;
  adapter: V86PciAdapter;
  hang: string | null;
}

/**
 * Run the guest in `mode` until `rounds` interrupts were handled, or until it
 * freezes: halted with interrupts disabled, or no handled interrupt while it
 * executed `stallInstructions` instructions.
 */
async function runGuest(mode: number, rounds: number, stallInstructions = 200_000_000): Promise<Outcome> {
  const image = assembleGuest("irq-guest.S");
  const eipAfterRing = new DataView(image.buffer, image.byteOffset).getUint32(0x20, true);
  const emulator = new V86({
    wasm_path: `${root}node_modules/v86/build/v86.wasm`,
    multiboot: { buffer: image.slice().buffer },
    memory_size: 32 << 20,
    vga_memory_size: 2 << 20,
    net_device: { type: "none" },
    acpi: mode === 2,
    autostart: false,
    disable_keyboard: true, disable_mouse: true, disable_speaker: true,
  } as unknown as ConstructorParameters<typeof V86>[0]) as unknown as V86Emulator & { destroy(): Promise<void>; run(): Promise<void>; add_listener(e: string, f: () => void): void };
  const adapter = new V86PciAdapter({ name: "doorbell", deviceNumber: 12, mmioBase: MMIO_BASE });
  let cpu!: V86Cpu & { instruction_pointer: Int32Array; instruction_counter: Uint32Array; in_hlt: Uint8Array; devices: { pci: { isa_bridge_space8: Uint8Array } } };
  const fn = new DoorbellFunction(eipAfterRing, () => cpu.instruction_pointer[0] >>> 0);
  fn.intx = (level) => adapter.interrupts.intx(0, level);
  await new Promise<void>((resolve) => emulator.add_listener("emulator-ready", () => {
    cpu = emulator.v86!.cpu as typeof cpu;
    adapter.attach(emulator, fn);
    // No BIOS: route PIRQA-D to IRQ 11 as SeaBIOS would (PIIX3 config 0x60-0x63).
    for (let i = 0; i < 4; i++) cpu.devices.pci.isa_bridge_space8[0x60 + i] = IRQ;
    new DataView(cpu.mem8.buffer, cpu.mem8.byteOffset).setUint32(MODE, mode, true);
    resolve();
  }));
  const mem = () => new DataView(cpu.wasm_memory.buffer, cpu.mem8.byteOffset);
  const read = () => {
    const m = mem();
    return { sent: m.getUint32(SENT, true), handled: m.getUint32(HANDLED, true), polled: m.getUint32(POLLED, true), spurious: m.getUint32(SPURIOUS, true), other: m.getUint32(OTHER, true) };
  };
  const state = () => {
    const pic = (addr: number) => { const p = new Uint8Array(cpu.wasm_memory.buffer, addr, 13); return `imr(enabled)=${p[0].toString(16)} isr=${p[2].toString(16)} irr=${p[3].toString(16)}`; };
    return `8259 master ${pic(cpu.get_pic_addr_master())}, slave ${pic(cpu.get_pic_addr_slave())}; IF=${(cpu.flags[0] >> 9) & 1} hlt=${cpu.in_hlt[0]}; ${JSON.stringify(read())}`;
  };
  void emulator.run();
  let hang: string | null = null;
  try {
    let lastHandled = -1, since = cpu.instruction_counter[0] >>> 0, executed = 0, lastCount = since;
    for (;;) {
      await new Promise((r) => setTimeout(r, 20));
      const c = read();
      const now = cpu.instruction_counter[0] >>> 0;
      executed += (now - lastCount) >>> 0;
      lastCount = now;
      if (c.handled >= rounds) break;
      if (c.handled !== lastHandled) { lastHandled = c.handled; executed = 0; since = now; continue; }
      if (cpu.in_hlt[0] && !((cpu.flags[0] >> 9) & 1)) { hang = `guest halted with interrupts disabled: ${state()}`; break; }
      if (executed >= stallInstructions) { hang = `no interrupt handled in ${executed} instructions: ${state()}`; break; }
    }
  } finally {
    await emulator.destroy();
  }
  return { counters: read(), fn, adapter, hang };
}

describe("v86 adapter: interrupts raised inside the guest's MMIO accesses", () => {
  it("regression_v86_irq_raised_in_jit_mmio_write_is_taken: 8259, a raise inside compiled code's doorbell write", async () => {
    const r = await runGuest(0, 150_000);
    expect(r.hang).toBeNull();
    // The fault needs the raise to come from compiled code; make sure it did, many times.
    expect(r.fn.ringsFromCompiledCode).toBeGreaterThan(10_000);
    expect(r.counters.handled).toBeGreaterThanOrEqual(150_000);
    expect(r.counters.sent - r.counters.handled).toBeLessThanOrEqual(1);
    expect(r.counters.other + r.counters.spurious).toBe(0);
    const a = r.adapter.counters();
    expect(a.irqHeld).toBeGreaterThan(0);
    expect(a.irqRaised - a.irqLowered).toBe(r.adapter.irqLevel ? 1 : 0);
  }, 120_000);

  it("regression_v86_withdrawn_slave_request_does_not_block_the_cascade: rings polled with IF=0 between interrupt rounds", async () => {
    const r = await runGuest(1, 60_000);
    expect(r.hang).toBeNull();
    expect(r.counters.handled).toBeGreaterThanOrEqual(60_000);
    // Every other round is polled (irq-guest.S MODE 1).
    expect(r.counters.polled).toBeGreaterThanOrEqual(Math.floor(r.counters.handled / 2) - 1);
    // Each polled round leaves IR2 latched in v86's master with nothing behind it; the adapter withdraws it.
    expect(r.adapter.counters().cascadeWithdrawn).toBeGreaterThanOrEqual(r.counters.polled);
    expect(r.counters.other).toBe(0);
  }, 120_000);

  it("regression_v86_ioapic_irq_raised_in_jit_mmio_write_is_taken: IOAPIC and local APIC (acpi)", async () => {
    const r = await runGuest(2, 150_000);
    expect(r.hang).toBeNull();
    expect(r.fn.ringsFromCompiledCode).toBeGreaterThan(10_000);
    expect(r.counters.handled).toBeGreaterThanOrEqual(150_000);
    expect(r.counters.other + r.counters.spurious).toBe(0);
  }, 120_000);
});
