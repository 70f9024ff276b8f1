// Helpers for the APIC suites: a VM with N vCPUs on a fake clock, and guest-side
// register programming written from the SDM (independent of the model).
import { ApicBus, ManualClock, type LocalApic } from "../../../src/index.js";
import { newCore } from "../../support/core.js";

export async function apicVm(cpus = 4, opts: { busHz?: number; tscHz?: number } = {}) {
  const core = await newCore(1 << 16);
  const clock = new ManualClock();
  const bus = ApicBus.create(core, { cpus, clock, ...opts });
  return { core, clock, bus };
}

export const BASE = 0xfee00000n;
export const EN = 1n << 11n;
export const EXTD = 1n << 10n;

/** Software-enable an xAPIC (SVR bit 8) with spurious vector 0xFF. */
export function enableX(a: LocalApic): void { a.mmioWrite(0xf0, 4, 0x1ff); }

/** Switch to x2APIC mode (xAPIC → x2APIC, SDM §11.12.5) and software-enable it. */
export function enableX2(a: LocalApic): void {
  if ((a.base & EXTD) === 0n) expect0(a.wrmsr(0x1b, BASE | EN | EXTD));
  expect0(a.wrmsr(0x80f, 0x1ffn));
}

function expect0(s: number): void { if (s !== 0) throw new Error(`status ${s}`); }

/** ICR low word (SDM Figure 11-12). */
export function icr(vector: number, o: { dm?: number; logical?: boolean; level?: boolean; trigger?: boolean; sh?: number } = {}): number {
  return (vector & 0xff) | ((o.dm ?? 0) << 8) | (o.logical ? 1 << 11 : 0) | (o.level === false ? 0 : 1 << 14) | (o.trigger ? 1 << 15 : 0) | ((o.sh ?? 0) << 18);
}

/** xAPIC: send an IPI through ICR high then low. */
export function sendX(a: LocalApic, dest: number, lo: number): void {
  a.mmioWrite(0x310, 4, (dest & 0xff) << 24);
  a.mmioWrite(0x300, 4, lo);
}

/** x2APIC: send through the 64-bit ICR MSR. */
export function sendX2(a: LocalApic, dest: number, lo: number): number {
  return a.wrmsr(0x830, (BigInt(dest >>> 0) << 32n) | BigInt(lo >>> 0));
}

/** Bit v of a 256-bit register read through MMIO. */
export function vecBit(a: LocalApic, base: number, v: number): boolean {
  return ((a.mmioRead(base + ((v >> 5) << 4)) >>> (v & 31)) & 1) === 1;
}

/** Bit v of a 256-bit register read through x2APIC MSRs. */
export function vecBitX2(a: LocalApic, msrBase: number, v: number): boolean {
  return ((a.rdmsr(msrBase + (v >> 5)).value >> BigInt(v & 31)) & 1n) === 1n;
}
