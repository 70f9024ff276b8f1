// v86's own ne2k as a bench baseline: a v86 machine (its CPU never started)
// with its default ne2k, reached the way a guest's `in`/`out` reach it,
// through v86's port dispatch; and the frame-rate loop the NE2000 rows and the
// e1000 ÷ v86 ne2k rows share, so both sides run the same workload.
import { fileURLToPath } from "node:url";
import { V86 } from "v86";
import type { PortIo } from "../src/guest/ne2k/index.js";
import type { V86Emulator } from "../src/adapters/v86/index.js";

const root = fileURLToPath(new URL("../", import.meta.url));

export interface V86Io { port_read8(p: number): number; port_read16(p: number): number; port_read32(p: number): number; port_write8(p: number, v: number): void; port_write16(p: number, v: number): void; port_write32(p: number, v: number): void }

/** A port window at `base` through v86's port dispatch (cpu.io.port_read8/16/32, port_write8/16/32). */
export function v86Ports(io: V86Io, base: number): PortIo {
  return {
    read: (o, w) => (w === 1 ? io.port_read8(base + o) : w === 2 ? io.port_read16(base + o) : io.port_read32(base + o) >>> 0),
    write: (o, w, v) => { if (w === 1) io.port_write8(base + o, v); else if (w === 2) io.port_write16(base + o, v); else io.port_write32(base + o, v | 0); },
  };
}

/** A `len`-byte frame to `dst` from 52:54:00:00:00:02, ethertype 0x88b5, sequence number at byte 14. */
export function frameTo(dst: Uint8Array, len: number, seq: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0); f.set([0x52, 0x54, 0, 0, 0, 2], 6); f[12] = 0x88; f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}

/** Frames per second of `op` (moving `perOp` frames), best of 5 runs of ~`ms` each after one warm-up run. */
export function rate(op: () => void, perOp: number, ms = 300): number {
  let best = 0;
  for (let run = 0; run < 6; run++) {
    let n = 0;
    const t = performance.now();
    while (performance.now() - t < ms) { for (let i = 0; i < 16; i++) op(); n += 16 * perOp; }
    if (run > 0) best = Math.max(best, (n * 1000) / (performance.now() - t));
  }
  return best;
}

export type V86Machine = V86Emulator & { destroy(): Promise<void>; add_listener(e: string, f: (d: Uint8Array) => void): void; bus: { send(e: string, d: unknown): void } };

/** v86's ne2k in a v86 machine: its port window, the host's side (deliver, frames sent) and the machine. */
export interface V86Ne2k {
  emulator: V86Machine;
  io: V86Io;
  /** The ne2k's port window through v86's dispatch. */
  ports: PortIo;
  /** Hand a frame to the ne2k from the host (net0-receive). */
  deliver(f: Uint8Array): void;
  /** Frames the ne2k has sent to the host (net0-send). */
  sent(): number;
}

/** Boot a v86 machine with its ne2k; `onReady` runs when the emulator is ready (to attach more devices). */
export async function v86Ne2k(onReady?: (emulator: V86Machine) => void): Promise<V86Ne2k> {
  const emulator = new V86({
    wasm_path: `${root}node_modules/v86/build/v86.wasm`,
    bios: { buffer: new ArrayBuffer(128 * 1024) },
    memory_size: 32 << 20, vga_memory_size: 2 << 20, net_device: { type: "ne2k" }, autostart: false,
    disable_keyboard: true, disable_mouse: true, disable_speaker: true,
  } as unknown as ConstructorParameters<typeof V86>[0]) as unknown as V86Machine;
  await new Promise<void>((resolve) => emulator.add_listener("emulator-ready", () => { onReady?.(emulator); resolve(); }));
  const cpu = emulator.v86!.cpu as unknown as { io: V86Io; devices: { net: { port: number } } };
  let sent = 0;
  emulator.add_listener("net0-send", () => { sent++; });
  return { emulator, io: cpu.io, ports: v86Ports(cpu.io, cpu.devices.net.port), deliver: (f) => emulator.bus.send("net0-receive", f), sent: () => sent };
}
