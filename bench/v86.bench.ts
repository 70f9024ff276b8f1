// The v86 adapter's register path: a guest MMIO access as v86 delivers it
// (through its memory map into the adapter, then vmdev's PCI function) against
// the same access made on the PCI function directly, in the same run.
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { V86 } from "v86";
import { VmCore } from "../src/index.js";
import { VirtioNet } from "../src/devices/virtio-net/device.js";
import { V86PciAdapter, type V86Emulator, type V86Cpu } from "../src/adapters/v86/index.js";
import { medianMs, type BenchRow } from "./support.js";

const root = fileURLToPath(new URL("../", import.meta.url));

export async function run(): Promise<BenchRow[]> {
  const adapter = new V86PciAdapter({ name: "net0" });
  const module = new WebAssembly.Module(readFileSync(`${root}build/vmdev.wasm`));
  const core = await VmCore.create({ module, variant: "release", ramBytes: 32 << 20, foreign: adapter.guestRam });
  const net = VirtioNet.create(core, { mac: "52:54:00:12:34:56", transport: "pci", interrupts: adapter.interrupts });
  const emulator = new V86({
    wasm_path: `${root}node_modules/v86/build/v86.wasm`,
    bios: { buffer: new ArrayBuffer(128 * 1024) },
    memory_size: 32 << 20, vga_memory_size: 2 << 20, net_device: { type: "none" }, autostart: false,
    disable_keyboard: true, disable_mouse: true, disable_speaker: true,
  } as unknown as ConstructorParameters<typeof V86>[0]) as unknown as V86Emulator & { destroy(): Promise<void>; add_listener(e: string, f: () => void): void };
  await new Promise<void>((resolve) => emulator.add_listener("emulator-ready", () => { adapter.attach(emulator, net.pci!); resolve(); }));
  const cpu = emulator.v86!.cpu as V86Cpu & Record<string, (...a: number[]) => number>;
  const bar = adapter.bars.find((b) => b.index === 4)!;
  const base = bar.base | 0;
  const pci = net.pci!;
  pci.configWrite(4, 2, 0x6); // memory decoding + bus mastering, as the BIOS/driver would
  const numQueues = cpu.mmap_read8(base + 0x12) | (cpu.mmap_read8(base + 0x13) << 8);
  if (numQueues !== pci.barRead(4, 0x12, 2) || numQueues === 0xffff || numQueues === 0) throw new Error(`num_queues via v86 reads ${numQueues}`);
  const n = 100_000;
  let sink = 0;
  const rows: BenchRow[] = [];

  // 32-bit read of device_feature_select (common cfg 0x00).
  const viaV86 = medianMs(() => { for (let i = 0; i < n; i++) sink ^= cpu.mmap_read32(base); }, 9, 2);
  const direct = medianMs(() => { for (let i = 0; i < n; i++) sink ^= pci.barRead(4, 0, 4); }, 9, 2);
  rows.push({ name: "v86 MMIO read32 (virtio common cfg) via adapter", value: (viaV86 * 1e6) / n, unit: "ns", baseline: (direct * 1e6) / n,
    ratio: direct / viaV86, note: "baseline: PciFunction.barRead on the same register; ratio < 1 is the adapter's and v86's dispatch cost" });

  // 16-bit read of num_queues (0x12): v86 issues two byte reads; the adapter reads the register twice.
  const split = medianMs(() => { for (let i = 0; i < n; i++) sink ^= cpu.mmap_read8(base + 0x12) | (cpu.mmap_read8(base + 0x13) << 8); }, 9, 2);
  const whole = medianMs(() => { for (let i = 0; i < n; i++) sink ^= pci.barRead(4, 0x12, 2); }, 9, 2);
  rows.push({ name: "v86 MMIO read16 (num_queues) as two byte reads via adapter", value: (split * 1e6) / n, unit: "ns", baseline: (whole * 1e6) / n,
    ratio: whole / split, note: "baseline: one 16-bit PciFunction.barRead" });

  // 16-bit write of queue_select (0x16) through v86's mmap_write16 hook.
  const w16 = medianMs(() => { for (let i = 0; i < n; i++) cpu.mmap_write16(base + 0x16, i & 1); }, 9, 2);
  const w16d = medianMs(() => { for (let i = 0; i < n; i++) pci.barWrite(4, 0x16, 2, i & 1); }, 9, 2);
  rows.push({ name: "v86 MMIO write16 (queue_select) via adapter", value: (w16 * 1e6) / n, unit: "ns", baseline: (w16d * 1e6) / n,
    ratio: w16d / w16, note: "baseline: PciFunction.barWrite on the same register" });

  if (sink === 0x7fffffff) console.log(sink);
  await emulator.destroy();
  return rows;
}
