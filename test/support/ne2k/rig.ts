// An NE2000 on a fresh VM core with the driver model in front of it: the
// device (src/devices/ne2k), its interrupt line, and what it transmitted.
import { Ne2k, type Ne2kOptions } from "../../../src/devices/ne2k/device.js";
import { Ne2kDriver, IrqLine, pciPortIo, type Ne2kDriverOptions, type PortIo } from "../../../src/guest/ne2k/index.js";
import type { VmCore } from "../../../src/vm-core.js";
import { newCore } from "../core.js";

export interface Ne2kRig {
  core: VmCore;
  dev: Ne2k;
  line: IrqLine;
  drv: Ne2kDriver;
  io: PortIo;
  /** Frames the device transmitted, in order. */
  sent: Uint8Array[];
}

export const GUEST_MAC = "52:54:00:12:34:56";

/** The window with the device's string I/O (what `rep ins/outs` would reach). */
export function windowIo(dev: Ne2k): PortIo {
  return {
    read: (off, w) => dev.ioRead(off, w),
    write: (off, w, v) => dev.ioWrite(off, w, v),
    readString: (off, w, n) => dev.ioReadString(off, w, n),
    writeString: (off, w, d) => dev.ioWriteString(off, w, d),
  };
}

/**
 * A device and driver. `via: "pci"` (default) drives the PCI function's BAR
 * after enabling I/O space in the command register; "window" uses the port
 * window with string I/O; "isa" an ISA board through its window.
 */
export async function ne2kRig(opts: { device?: Partial<Ne2kOptions>; driver?: Ne2kDriverOptions; via?: "pci" | "window" | "isa"; core?: VmCore; init?: boolean } = {}): Promise<Ne2kRig> {
  const core = opts.core ?? await newCore(1 << 20);
  const line = new IrqLine();
  const via = opts.via ?? "pci";
  const dev = Ne2k.create(core, { mac: GUEST_MAC, interrupts: line, ...(via === "isa" ? { bus: "isa" } : {}), ...opts.device });
  const sent: Uint8Array[] = [];
  dev.onTransmit = (f) => sent.push(f);
  let io: PortIo;
  if (via === "pci") {
    dev.pci!.configWrite(4, 2, 1); // I/O space enable
    io = pciPortIo(dev.pci!);
  } else io = windowIo(dev);
  const drv = new Ne2kDriver(io, opts.driver);
  if (opts.init !== false) { drv.probe(); drv.init(); }
  return { core, dev, line, drv, io, sent };
}

/** Service the driver while the line is up (bounded); returns the frames received. */
export function serviceAll(r: Ne2kRig, rounds = 64): Uint8Array[] {
  for (let i = 0; i < rounds && r.line.level; i++) r.drv.service();
  return r.drv.takeReceived();
}

/** A frame to `dst` from `src` with a 2-byte type and a 4-byte sequence number, `len` bytes in all. */
export function ethFrame(dst: Uint8Array | string, seq: number, len = 64, src: Uint8Array | string = "52:54:00:00:00:02", type = 0x88b5): Uint8Array {
  const mac = (m: Uint8Array | string) => (typeof m === "string" ? Uint8Array.from(m.split(":").map((x) => parseInt(x, 16))) : m);
  const f = new Uint8Array(len);
  f.set(mac(dst), 0); f.set(mac(src), 6);
  f[12] = type >> 8; f[13] = type & 0xff;
  new DataView(f.buffer).setUint32(14, seq >>> 0);
  for (let i = 18; i < len; i++) f[i] = (seq + i) & 0xff;
  return f;
}

export function seqOf(f: Uint8Array): number { return new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(14); }
export const macBytes = (m: string) => Uint8Array.from(m.split(":").map((x) => parseInt(x, 16)));
