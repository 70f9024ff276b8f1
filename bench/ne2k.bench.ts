// NE2000 frames/s through the driver model (src/guest/ne2k), vmdev's model
// beside v86's own ne2k, driven by the same driver with the same workload
// over the same path: both boards sit in one v86 machine (its CPU never
// started), vmdev's plugged in through the v86 adapter's I/O BAR, and the
// driver's every port access goes through v86's port dispatch
// (cpu.io.port_read8/16/32, port_write8/16/32), as a guest's `in`/`out` would.
// 32-bit data-port transfers, as Linux's ne2k-pci uses on the RTL8029.
//
// Receive: the host hands the board 4 frames (what v86's ring holds at 1500 B
// without dropping), the driver services them; transmit: the driver sends one
// frame and services its completion. Each measured frame is checked to
// arrive. A row shows vmdev's model through its own window with string I/O
// (what an embedder with `rep ins/outs` gets) against the v86 port path; the
// last rows put that beside vmdev's virtio-net doing the same work through
// its own driver model (src/guest/virtio, MMIO transport): the same frames
// host → device → driver, and driver → device → host.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { VmCore } from "../src/index.js";
import { Ne2k } from "../src/devices/ne2k/device.js";
import { Ne2kDriver, IrqLine, type PortIo, type IoWidth } from "../src/guest/ne2k/index.js";
import { V86PciAdapter } from "../src/adapters/v86/index.js";
import { VirtioNet } from "../src/devices/virtio-net/device.js";
import { GuestRam } from "../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../src/guest/virtio/net-driver.js";
import { MmioTransport } from "../src/guest/virtio/transport.js";
import type { BenchRow } from "./support.js";
import { frameTo, rate, v86Ne2k, v86Ports } from "./ne2k-v86.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const MAC = "52:54:00:12:34:56";
const BATCH = 4;

interface Board { name: string; drv: Ne2kDriver; deliver(f: Uint8Array): void; sent: () => number; mac: Uint8Array }

function rxRate(b: Board, len: number): number {
  let seq = 0;
  return rate(() => {
    for (let i = 0; i < BATCH; i++) b.deliver(frameTo(b.mac, len, seq++));
    b.drv.service();
    const got = b.drv.takeReceived();
    if (got.length !== BATCH || got.some((f) => f.length !== len)) throw new Error(`${b.name}: ${got.length} of ${BATCH} ${len}-byte frames arrived`);
  }, BATCH);
}

function txRate(b: Board, len: number): number {
  const f = frameTo(Uint8Array.from([2, 0, 0, 0, 0, 9]), len, 0);
  return rate(() => {
    const before = b.sent();
    b.drv.transmit(f);
    b.drv.service();
    if (b.sent() !== before + 1) throw new Error(`${b.name}: the frame did not go out`);
  }, 1);
}

export async function run(): Promise<BenchRow[]> {
  const adapter = new V86PciAdapter({ name: "vmdev-ne2k", deviceNumber: 12 });
  const module = new WebAssembly.Module(readFileSync(`${root}build/vmdev.wasm`));
  const core = await VmCore.create({ module, variant: "release", ramBytes: 32 << 20, foreign: adapter.guestRam });
  const nic = Ne2k.create(core, { mac: MAC, interrupts: adapter.interrupts, backlogFrames: 256 });
  let oursSent = 0;
  nic.onTransmit = () => { oursSent++; };
  const v86 = await v86Ne2k((emulator) => adapter.attach(emulator, nic.pci!));
  nic.pci!.configWrite(4, 2, 1);

  const opts = { dataWidth: 32 as const, stringIo: false };
  const ours: Board = { name: "vmdev ne2k", drv: new Ne2kDriver(v86Ports(v86.io, adapter.bars[0].base), opts), deliver: (f) => { nic.receive(f); }, sent: () => oursSent, mac: new Uint8Array(6) };
  const theirs: Board = { name: "v86 ne2k", drv: new Ne2kDriver(v86.ports, opts), deliver: v86.deliver, sent: v86.sent, mac: new Uint8Array(6) };
  for (const b of [ours, theirs]) { b.mac = b.drv.probe().mac; b.drv.init(); }

  const rows: BenchRow[] = [];
  const note = "the same driver model, workload and path (v86's port dispatch, 32-bit data port, no string I/O); both boards in one v86 machine";
  for (const len of [64, 1500]) {
    const o = rxRate(ours, len), t = rxRate(theirs, len);
    rows.push({ name: `NE2000 receive ${len} B, vmdev ÷ v86 ne2k`, value: o, unit: "frames/s", baseline: t, ratio: o / t, note: `host → ring → driver, ${BATCH} frames per service; ${note}` });
  }
  for (const len of [64, 1500]) {
    const o = txRate(ours, len), t = txRate(theirs, len);
    rows.push({ name: `NE2000 transmit ${len} B, vmdev ÷ v86 ne2k`, value: o, unit: "frames/s", baseline: t, ratio: o / t, note: `driver → remote write → TXP → host, one frame per service; ${note}` });
  }
  {
    // The embedder's own path: the device's window with string I/O (rep insl/outsl), no v86 dispatch.
    const line = new IrqLine();
    const nic2 = Ne2k.create(core, { mac: MAC, interrupts: line, backlogFrames: 256 });
    let directSent = 0;
    nic2.onTransmit = () => { directSent++; };
    const io: PortIo = { read: (o, w) => nic2.ioRead(o, w), write: (o, w, v) => nic2.ioWrite(o, w, v), readString: (o, w, n) => nic2.ioReadString(o, w as IoWidth, n), writeString: (o, w, d) => nic2.ioWriteString(o, w as IoWidth, d) };
    const direct: Board = { name: "vmdev ne2k (window)", drv: new Ne2kDriver(io, { dataWidth: 32 }), deliver: (f) => { nic2.receive(f); }, sent: () => directSent, mac: new Uint8Array(6) };
    direct.mac = direct.drv.probe().mac; direct.drv.init();
    const o = rxRate(direct, 1500), v = rxRate(ours, 1500);
    rows.push({ name: "NE2000 receive 1500 B, vmdev's window with string I/O ÷ through v86's ports", value: o, unit: "frames/s", baseline: v, ratio: o / v,
      note: "what an embedder that implements rep ins/outs gets: one call per string instead of one per 32-bit access" });

    // vmdev's virtio-net through its driver model, the same frames each way.
    const vcore = await VmCore.create({ module, variant: "release", ramBytes: 32 << 20 });
    const irq = new InterruptRecorder();
    const vnet = VirtioNet.create(vcore, { mac: MAC, transport: "mmio", interrupts: irq, queueSize: 256, backlogFrames: 1024 });
    const vdrv = new VirtioNetDriver(new MmioTransport(vnet), new GuestRam(vcore, { trackDirty: false }), irq, { queueSize: 256, maxTxFrame: 1514, heap: [1 << 20, 24 << 20] });
    vdrv.init();
    let vSent = 0;
    vnet.onTransmit = () => { vSent++; };
    const macBytes = Uint8Array.from(MAC.split(":").map((x) => parseInt(x, 16)));
    const vRx = (len: number) => {
      let seq = 0;
      return rate(() => {
        for (let i = 0; i < BATCH; i++) vnet.receive(frameTo(macBytes, len, seq++));
        vdrv.pollRx(0);
        const got = vdrv.takeReceived();
        if (got.length !== BATCH) throw new Error(`virtio-net: ${got.length} of ${BATCH} ${len}-byte frames arrived`);
      }, BATCH);
    };
    const vTx = (len: number) => {
      const f = frameTo(Uint8Array.from([2, 0, 0, 0, 0, 9]), len, 0);
      return rate(() => {
        const before = vSent;
        vdrv.transmit(f);
        vdrv.reclaimTx(0);
        if (vSent !== before + 1) throw new Error("virtio-net: the frame did not go out");
      }, 1);
    };
    const same = "each NIC through its own driver model and transport in wasm (NE2000: port window with string I/O, 32-bit; virtio-net: MMIO, split virtqueues), no emulator dispatch";
    for (const len of [64, 1500]) {
      const n = rxRate(direct, len), vv = vRx(len);
      rows.push({ name: `NE2000 receive ${len} B ÷ vmdev virtio-net, each through its driver model`, value: n, unit: "frames/s", baseline: vv, ratio: n / vv, note: `host → device → driver, ${BATCH} frames per service; ${same}` });
    }
    for (const len of [64, 1500]) {
      const n = txRate(direct, len), vv = vTx(len);
      rows.push({ name: `NE2000 transmit ${len} B ÷ vmdev virtio-net, each through its driver model`, value: n, unit: "frames/s", baseline: vv, ratio: n / vv, note: `driver → device → host, one frame at a time; ${same}` });
    }
    vnet.destroy();
    nic2.destroy();
  }
  await v86.emulator.destroy();
  return rows;
}
