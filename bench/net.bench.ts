// virtio-net figures: frames/s through driver → device → in-wasm link → device
// → driver, for 64 B and 1500 B frames, against memory.copy of the same bytes
// in the same run; the device side alone (time inside the TX kick); and the
// same workload on the v86 package's virtio-net. Both guests are the driver
// model (src/guest/virtio): the whole-path figure includes its JS work.
import { createRequire } from "node:module";
import { VirtioNet } from "../src/devices/virtio-net/device.js";
import { GuestRam } from "../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../src/guest/virtio/net-driver.js";
import { Ctrl } from "../src/guest/virtio/defs.js";
import { MmioTransport } from "../src/guest/virtio/transport.js";
import { frame, mac } from "../src/guest/virtio/frames.js";
import { benchCore, medianMs, type BenchRow } from "./support.js";
import { v86VirtioNet } from "./v86-virtio-net.js";

const V86_VERSION: string = createRequire(import.meta.url)("v86/package.json").version;

const median = (xs: number[]): number => { const s = xs.slice().sort((a, b) => a - b); return s[s.length >> 1]; };

const MAC_A = "52:54:00:00:00:0a";
const MAC_B = "52:54:00:00:00:0b";

type Core = Awaited<ReturnType<typeof benchCore>>;

/** One guest NIC: a device and a driver whose rings and buffers live in `heap` of the shared guest RAM. */
function side(core: Core, macStr: string, heap: [number, number]) {
  const irq = new InterruptRecorder();
  const dev = VirtioNet.create(core, { mac: macStr, transport: "mmio", interrupts: irq, queueSize: 256, backlogFrames: 1024 });
  const drv = new VirtioNetDriver(new MmioTransport(dev), new GuestRam(core, { trackDirty: false }), irq, { queueSize: 256, maxTxFrame: 1514, heap });
  drv.init();
  return { core, irq, dev, drv };
}

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  // Two NICs of one VM joined by the in-wasm link (VirtioNet.connect): A's TX is B's RX without crossing into JS.
  const core = await benchCore(64 << 20);
  const a = side(core, MAC_A, [1 << 20, 24 << 20]);
  const b = side(core, MAC_B, [24 << 20, 48 << 20]);
  VirtioNet.connect(a.dev, b.dev);
  b.drv.setRxMode(Ctrl.RX_PROMISC, false);
  const vmdevFps = new Map<number, number>();
  const devFps = new Map<number, number>();
  for (const len of [64, 1500]) {
    const f = frame({ dst: mac(MAC_B), src: mac(MAC_A), length: len });
    const batch = 32, batches = len === 64 ? 400 : 200;
    const frames = batch * batches;
    let got = 0;
    let devMs = 0;
    const count = (f: Uint8Array) => { if (f.length === len) got++; };
    const once = () => {
      for (let k = 0; k < batches; k++) {
        for (let i = 0; i < batch; i++) a.drv.transmit(f, 0, { kick: false });
        const t0 = performance.now();
        a.drv.flushTx(0); // the kick: device A's TX, the link, device B's RX into B's buffers, interrupts
        devMs += performance.now() - t0;
        a.drv.reclaimTx(0);
        b.drv.pollRx(0, count);
        got += b.drv.takeReceived().length;
      }
      a.irq.pending.length = 0; b.irq.pending.length = 0;
    };
    got = 0;
    once();
    if (got !== frames) throw new Error(`loopback delivered ${got} of ${frames} frames`);
    const devRuns: number[] = [];
    const ms = medianMs(once, 9, 2, () => { if (devMs) devRuns.push(devMs); devMs = 0; });
    devRuns.push(devMs);
    const fps = frames / (ms / 1000);
    devFps.set(len, frames / (median(devRuns.slice(-9)) / 1000));
    // Baseline: memory.copy of the same frame bytes, once per frame, in wasm.
    a.core.io().set(f, 0);
    const copies = 1_000_000;
    const baseMs = medianMs(() => { a.core.bx.bench_link_memcopy(len, copies); }, 9, 2);
    const baseFps = copies / (baseMs / 1000);
    vmdevFps.set(len, fps);
    rows.push({
      name: `virtio-net loopback ${len} B frames (driver→dev→dev→driver)`, value: fps / 1e6, unit: "Mframes/s", baseline: baseFps / 1e6, ratio: fps / baseFps,
      note: "baseline: memory.copy of the frame bytes once per frame in wasm; in-wasm link between the two devices (VirtioNet.connect); includes the JS driver model's own per-frame work on both guests",
    });
    const dfps = devFps.get(len)!;
    rows.push({
      name: `virtio-net device side ${len} B frames (kick → TX → link → RX)`, value: dfps / 1e6, unit: "Mframes/s", baseline: baseFps / 1e6, ratio: dfps / baseFps,
      note: "time inside the TX kick only (device A's TX, the link, device B's RX into posted buffers, interrupt decisions); baseline as above; goal ≥ 5 Mframes/s at 64 B",
    });
  }
  // The same workload through the v86 package's own virtio-net (its TX looped to its RX), same driver model.
  const nic = await v86VirtioNet();
  nic.loopback(true);
  for (const len of [64, 1500]) {
    const d = nic.drv;
    const f = frame({ dst: d.mac, src: mac(MAC_A), length: len });
    const batch = 32, batches = len === 64 ? 400 : 200;
    const frames = batch * batches;
    let got = 0;
    let devMs = 0;
    const count = (x: Uint8Array) => { if (x.length === len) got++; };
    const once = () => {
      for (let k = 0; k < batches; k++) {
        for (let i = 0; i < batch; i++) d.transmit(f, 0, { kick: false });
        const t0 = performance.now();
        d.flushTx(0);
        devMs += performance.now() - t0;
        d.reclaimTx(0);
        d.pollRx(0, count);
        got += d.takeReceived().length;
      }
    };
    once();
    if (got !== frames) throw new Error(`v86 loopback delivered ${got} of ${frames} frames`);
    const devRuns: number[] = [];
    const ms = medianMs(once, 9, 2, () => { if (devMs) devRuns.push(devMs); devMs = 0; });
    devRuns.push(devMs);
    const v86Fps = frames / (ms / 1000);
    const v86DevFps = frames / (median(devRuns.slice(-9)) / 1000);
    const ours = vmdevFps.get(len)!;
    const oursDev = devFps.get(len)!;
    const why = `v86 ${V86_VERSION} virtio-net with its TX looped to its RX, driven by the same driver model (it offers no MRG_RXBUF/EVENT_IDX/INDIRECT/MSI-X)`;
    rows.push({
      name: `vmdev ÷ v86 virtio-net, ${len} B frames, whole path`, value: ours / 1e6, unit: "Mframes/s", baseline: v86Fps / 1e6, ratio: ours / v86Fps,
      note: `baseline: ${why}; includes the JS driver model's own work, the same on both sides; goal ≥ 10×`,
    });
    rows.push({
      name: `vmdev ÷ v86 virtio-net, ${len} B frames, device side (kick → TX → link → RX)`, value: oursDev / 1e6, unit: "Mframes/s", baseline: v86DevFps / 1e6, ratio: oursDev / v86DevFps,
      note: `baseline: ${why}; time inside the TX kick only, where both devices do all their per-frame work`,
    });
  }
  nic.stop();
  return rows;
}
