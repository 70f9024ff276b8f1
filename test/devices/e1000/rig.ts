// Wiring for e1000 tests: a VmCore, the device on a manual clock, and the
// driver model (src/guest/e1000) in a window of guest RAM.
import { E1000, type E1000Options } from "../../../src/devices/e1000/device.js";
import { E1000Driver, type E1000DriverOptions } from "../../../src/guest/e1000/driver.js";
import { GuestRam } from "../../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../../src/guest/virtio/interrupts.js";
import { ManualClock } from "../../../src/clock.js";
import type { VmCore } from "../../../src/index.js";
import { newCore } from "../../support/core.js";

export const MAC = "52:54:00:12:34:56";

export interface E1000Rig {
  core: VmCore;
  dev: E1000;
  drv: E1000Driver;
  irq: InterruptRecorder;
  clock: ManualClock;
  /** Frames the device sent to the host. */
  sent: Uint8Array[];
}

export interface E1000RigOptions {
  ramBytes?: number;
  device?: Partial<Omit<E1000Options, "interrupts" | "clock" | "timers">>;
  driver?: E1000DriverOptions;
  /** Skip driver init. */
  noInit?: boolean;
  core?: VmCore;
}

export async function e1000Rig(o: E1000RigOptions = {}): Promise<E1000Rig> {
  const core = o.core ?? (await newCore(o.ramBytes ?? 16 << 20));
  const irq = new InterruptRecorder();
  const clock = new ManualClock();
  const dev = E1000.create(core, { mac: MAC, ...o.device, interrupts: irq, clock, timers: "manual" });
  const sent: Uint8Array[] = [];
  dev.onTransmit = (f) => { sent.push(f.slice()); };
  const drv = new E1000Driver(dev.pci, new GuestRam(core), { heap: [1 << 20, 15 << 20], ...o.driver });
  if (!o.noInit) drv.init();
  return { core, dev, drv, irq, clock, sent };
}
