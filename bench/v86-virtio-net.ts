// Drives the `v86` npm package's own virtio-net device with the same driver
// model (src/guest/virtio) and the same workload as net.bench.ts, for the
// vmdev ÷ v86 figure. v86 is built without a BIOS or guest: only its CPU
// object, PCI bus, I/O ports and guest memory are used, through a PciFunction
// adapter. Its device offers neither MRG_RXBUF, EVENT_IDX, INDIRECT_DESC nor
// MSI-X, so the driver runs it without them (INTx, polling).
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import type { PciFunction, BarInfo } from "../src/index.js";
import { GuestRam } from "../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../src/guest/virtio/net-driver.js";
import { PciTransport } from "../src/guest/virtio/transport.js";

/* eslint-disable @typescript-eslint/no-explicit-any */
export interface V86Nic { drv: VirtioNetDriver; loopback(on: boolean): void; stop(): void }

/** A v86 emulator with a virtio-net device, its TX looped back to its RX, and our driver initialised on it. */
export async function v86VirtioNet(): Promise<V86Nic> {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve("v86/package.json");
  const { V86 } = (await import("v86")) as any;
  const wasm = fileURLToPath(new URL("build/v86.wasm", `file://${pkg}`));
  const emu = new V86({ wasm_path: wasm, memory_size: 64 << 20, vga_memory_size: 2 << 20, net_device: { type: "virtio" }, autostart: false, disable_keyboard: true, disable_mouse: true });
  await new Promise<void>((res) => emu.add_listener("emulator-loaded", () => res()));
  const cpu = emu.v86.cpu;
  const vn = cpu.devices.virtio_net;
  const space: number[] = vn.virtio.pci_space;
  const io = cpu.io;
  const barBase = (bar: number) => {
    const v = space[0x10 + 4 * bar] | (space[0x11 + 4 * bar] << 8) | (space[0x12 + 4 * bar] << 16) | (space[0x13 + 4 * bar] << 24);
    return v & ~3;
  };
  const fn: PciFunction = {
    bars: [] as BarInfo[],
    configRead: (off, w) => { let v = 0; for (let i = 0; i < w; i++) v |= (space[off + i] ?? 0) << (8 * i); return v >>> 0; },
    configWrite: () => {},
    barRead: (bar, off, w) => (w === 1 ? io.port_read8(barBase(bar) + off) : w === 2 ? io.port_read16(barBase(bar) + off) : io.port_read32(barBase(bar) + off)) >>> 0,
    barWrite: (bar, off, w, v) => { if (w === 1) io.port_write8(barBase(bar) + off, v); else if (w === 2) io.port_write16(barBase(bar) + off, v); else io.port_write32(barBase(bar) + off, v); },
  };
  const ram = new GuestRam(() => cpu.mem8 as Uint8Array);
  const drv = new VirtioNetDriver(new PciTransport(fn), ram, new InterruptRecorder(), { queueSize: 256, maxTxFrame: 1514, heap: [1 << 20, 48 << 20] });
  drv.init();
  let looped = false;
  emu.add_listener("net0-send", (f: Uint8Array) => { if (looped) emu.bus.send("net0-receive", f); });
  return { drv, loopback: (on) => { looped = on; }, stop: () => emu.destroy?.() };
}
