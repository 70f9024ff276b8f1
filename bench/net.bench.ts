// virtio-net figures: frames/s through driver → device → loopback → device →
// driver, for 64 B and 1500 B frames, against memory.copy of the same bytes in
// the same run. Both guests are the driver model (test/support/virtio): the
// figure includes the guest side's work, as a real VM's would.
import { VirtioNet } from "../src/net/virtio-net.js";
import { GuestRam } from "../test/support/virtio/guest-ram.js";
import { InterruptRecorder } from "../test/support/virtio/interrupts.js";
import { VirtioNetDriver } from "../test/support/virtio/net-driver.js";
import { Ctrl } from "../test/support/virtio/defs.js";
import { MmioTransport } from "../test/support/virtio/transport.js";
import { frame, mac } from "../test/support/virtio/frames.js";
import { benchCore, medianMs, type BenchRow } from "./support.js";

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
  for (const len of [64, 1500]) {
    const f = frame({ dst: mac(MAC_B), src: mac(MAC_A), length: len });
    const batch = 32, batches = len === 64 ? 400 : 200;
    const frames = batch * batches;
    let got = 0;
    const count = (f: Uint8Array) => { if (f.length === len) got++; };
    const once = () => {
      for (let k = 0; k < batches; k++) {
        for (let i = 0; i < batch; i++) a.drv.transmit(f, 0, { kick: false });
        a.drv.flushTx(0);
        a.drv.reclaimTx(0);
        b.drv.pollRx(0, count);
        got += b.drv.takeReceived().length;
      }
      a.irq.pending.length = 0; b.irq.pending.length = 0;
    };
    got = 0;
    once();
    if (got !== frames) throw new Error(`loopback delivered ${got} of ${frames} frames`);
    const ms = medianMs(once, 9, 2);
    const fps = frames / (ms / 1000);
    // Baseline: memory.copy of the same frame bytes, once per frame, in wasm.
    a.core.io().set(f, 0);
    const copies = 1_000_000;
    const baseMs = medianMs(() => { a.core.bx.bench_memcopy_frames(len, copies); }, 9, 2);
    const baseFps = copies / (baseMs / 1000);
    rows.push({
      name: `virtio-net loopback ${len} B frames (driver→dev→dev→driver)`, value: fps / 1e6, unit: "Mframes/s", baseline: baseFps / 1e6, ratio: fps / baseFps,
      note: "baseline: memory.copy of the frame bytes once per frame in wasm; in-wasm link between the two devices (VirtioNet.connect); goal ≥ 5 Mframes/s at 64 B",
    });
  }
  return rows;
}
