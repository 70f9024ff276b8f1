// The local APICs as machine devices: one `lapic<N>` per vCPU (an x86 machine
// always has them, so the factory is in the default registry and there is no
// key to leave them out). The first vCPU's factory call creates the VM's
// ApicBus on the machine's guest clock, installs it as the interrupt
// controller (device MSIs reach the addressed vCPU's IRR) and starts the timer
// pump: a host timer that fires every APIC timer due in guest time.
//
// Keys (`lapic.<key>`): x2apic (start in x2APIC mode, bhyve's x86.x2apic),
// bus_hz, tsc_hz, msi_ext_dest. The machine's IOAPIC (src/devices/ioapic/
// machine.ts), created after the APICs, takes over as the controller and adds
// the INTx lines.

import type { JsonCounter } from "../../tables.js";
import { ApicBus, type LocalApic } from "./device.js";
import { ApicMsr } from "./defs.js";
import type { GuestClock } from "../../clock.js";
import { DeviceKind } from "../../state.js";
import { ApicDefs } from "../../generated/constants.js";
import { check, VmdevError } from "../../status.js";
import type { VmCore } from "../../vm-core.js";
import { parseBool, validators } from "../../config/schema.js";
import type { MachineDevice, VcpuDeviceFactory } from "../../machine/registry.js";

/** Longest the pump sleeps: timers armed from other threads (vCPU workers) are noticed within this. */
export const APIC_POLL_MS = 5;

/**
 * Fires APIC timers on the host: sleeps until the earliest deadline (in guest
 * time, at most APIC_POLL_MS), then `advance()`s every APIC to the guest clock.
 * A stopped guest clock reaches no deadline, so nothing fires while a
 * migration destination waits to resume.
 */
export class ApicTimerPump {
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Timer interrupts delivered by the pump. */
  fired = 0;

  constructor(readonly bus: ApicBus, readonly clock: GuestClock) {}

  /** True while the pump is scheduled. */
  get running(): boolean { return this.timer !== null; }

  /** Start pumping (idempotent). */
  start(): void { if (!this.timer) this.schedule(0); }

  /** Stop pumping (machine teardown). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Fire what is due now and re-plan (after a restore, or an APIC access on this thread). */
  kick(): void {
    if (!this.timer) return;
    this.stop();
    this.schedule(0);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => this.run(), ms);
    this.timer.unref?.();
  }

  private run(): void {
    this.fired += this.bus.advance(this.clock.now());
    const next = this.bus.nextDeadline();
    let ms = APIC_POLL_MS;
    if (next !== null) ms = Math.min(ms, Math.max(0, Number(next - this.clock.now()) / 1e6));
    this.schedule(ms);
  }
}

interface LapicSet { bus: ApicBus; pump: ApicTimerPump; live: number }
const sets = new WeakMap<VmCore, LapicSet>();

/** One vCPU's local APIC as a machine device (state: the APIC's envelope). */
export class LapicDevice implements MachineDevice {
  readonly kind = DeviceKind.localApic;
  readonly name: string;

  constructor(readonly apic: LocalApic, private readonly set: LapicSet) { this.name = apic.name; }

  /** The VM's APIC set. */
  get bus(): ApicBus { return this.set.bus; }
  /** The VM's APIC timer pump. */
  get pump(): ApicTimerPump { return this.set.pump; }

  /** The APIC's envelope (timer deadlines in guest time). */
  saveState(): Uint8Array { return this.apic.saveState(); }

  /** Restore the APIC (untouched on error) and let the pump re-plan its timers. */
  restoreState(blob: Uint8Array): number {
    const s = this.apic.restoreState(blob);
    this.set.pump.kick();
    return s;
  }

  /**
   * The counters of the machine's APIC set, JSON-safe: the APICs of a VM
   * count together (ApicBus.counters), so every LapicDevice shows the same.
   */
  countersJSON(): Record<string, JsonCounter> { return this.set.bus.countersJSON(); }

  /** Power-up reset of this APIC. */
  reset(): void { this.apic.reset(); }

  /** The last APIC of the set to go stops the timer pump. */
  destroy(): void {
    if (--this.set.live === 0) this.set.pump.stop();
  }
}

/** The APIC set of a machine's core, if it has one. */
export function lapicSetOf(core: VmCore): { bus: ApicBus; pump: ApicTimerPump } | undefined { return sets.get(core); }

/** Registry entry for the per-vCPU local APIC. */
export const lapicFactory: VcpuDeviceFactory = {
  name: "lapic",
  description: "local APIC (xAPIC/x2APIC) of each vCPU; timers on the machine's guest clock; device MSIs are delivered to it",
  keys: [
    { pattern: "x2apic", validate: validators.bool(), default: "false", description: "start every APIC in x2APIC mode (bhyve's x86.x2apic)" },
    { pattern: "bus_hz", validate: validators.int(1_000, 10_000_000_000), default: "1000000000", description: "APIC timer input clock before the divider, Hz" },
    { pattern: "tsc_hz", validate: validators.int(1_000, 10_000_000_000), default: "1000000000", description: "guest TSC rate for TSC-deadline mode, Hz" },
    { pattern: "msi_ext_dest", validate: validators.bool(), default: "false", description: "read MSI address bits 11:5 as destination ID bits 14:8" },
  ],
  create(ctx) {
    let set = sets.get(ctx.core);
    if (ctx.vcpu === 0 || !set) {
      if (set) throw new Error("the APIC set of this VM already exists");
      const o = ctx.options;
      const bus = ApicBus.create(ctx.core, {
        cpus: ctx.vcpus, clock: ctx.clock,
        busHz: Number(o.bus_hz ?? 1e9), tscHz: Number(o.tsc_hz ?? 1e9),
        msiExtendedDestId: parseBool(o.msi_ext_dest ?? "false") ?? false,
      });
      set = { bus, pump: new ApicTimerPump(bus, ctx.clock), live: 0 };
      sets.set(ctx.core, set);
      const b = bus;
      ctx.router.setController({ msi: (_source, msg) => { b.msi(msg); }, intx: () => {} });
      set.pump.start();
    }
    const apic = set.bus.apic(ctx.vcpu);
    if (parseBool(ctx.options.x2apic ?? "false")) {
      // IA32_APIC_BASE: EN (bit 11) with EXTD (bit 10) selects x2APIC (SDM §11.12.1).
      check(apic.wrmsr(ApicMsr.apicBase, apic.base | ApicDefs.BASE_EN | ApicDefs.BASE_EXTD), `lapic${ctx.vcpu}: x2APIC mode`);
    }
    set.live++;
    return new LapicDevice(apic, set);
  },
  memoryBytes(_options, vcpus, core) {
    const n = core.exports.apic_memory_bytes(vcpus);
    if (n < 0) throw new VmdevError(-n, "apic_memory_bytes");
    return n;
  },
};
