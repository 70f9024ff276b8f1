// Wiring for virtio-net tests: a VmCore, the device under test and the
// driver model on one of the two transports.
import { VirtioNet, type VirtioNetOptions } from "../../../src/devices/virtio-net/device.js";
import type { VmCore } from "../../../src/index.js";
import { newCore } from "../../support/core.js";
import { GuestRam } from "../../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../../src/guest/virtio/interrupts.js";
import { VirtioNetDriver, type NetDriverOptions } from "../../../src/guest/virtio/net-driver.js";
import { MmioTransport, PciTransport, type VirtioTransport } from "../../../src/guest/virtio/transport.js";

export const DEFAULT_MAC = "52:54:00:12:34:56";

export interface NetRig {
  core: VmCore;
  dev: VirtioNet;
  drv: VirtioNetDriver;
  irq: InterruptRecorder;
  /** Frames the device sent to the host (onTransmit). */
  sent: Uint8Array[];
}

export interface RigOptions {
  transport: "pci" | "mmio";
  ramBytes?: number;
  device?: Partial<Omit<VirtioNetOptions, "interrupts" | "transport">>;
  driver?: NetDriverOptions;
  /** Skip driver init (for tests that drive the registers themselves). */
  noInit?: boolean;
  core?: VmCore;
}

/** A transport for `dev` as its kind requires. */
export function transportFor(dev: VirtioNet, kind: "pci" | "mmio", msix = true): VirtioTransport {
  if (kind === "mmio") return new MmioTransport(dev);
  if (!dev.pci) throw new Error("pci device without a PCI function");
  return new PciTransport(dev.pci, { msixVectors: msix ? 64 : 0 });
}

export async function netRig(o: RigOptions): Promise<NetRig> {
  const core = o.core ?? (await newCore(o.ramBytes ?? 8 << 20));
  const irq = new InterruptRecorder();
  const dev = VirtioNet.create(core, { mac: DEFAULT_MAC, transport: o.transport, ...o.device, interrupts: irq });
  const sent: Uint8Array[] = [];
  dev.onTransmit = (f) => { sent.push(f.slice()); };
  const drv = new VirtioNetDriver(transportFor(dev, o.transport, o.driver?.msix ?? true), new GuestRam(core, { trackDirty: o.driver?.trackDirty }), irq, o.driver);
  if (!o.noInit) drv.init();
  return { core, dev, drv, irq, sent };
}
