// vmdev ÷ v86 virtio-net through the same JS path: every frame leaves the
// device into host code and comes back in through host code, no in-wasm link.
// vmdev: the guest's TX leaves through a HostLink (src/net/host-link.ts) whose
// peer delivers it back into the same link (a loopback on the host), batched
// (onTransmitBatch, receiveFrames: one wasm call per window) and, for the
// before/after figure, the same link over the per-frame members only
// (onTransmit, receive). v86: the v86 package's own virtio-net with its
// `net0-send` events sent back as `net0-receive` on its bus. Both are driven
// by the same driver model (src/guest/virtio) with the same workload: 32
// frames per kick, then reclaim, deliver, poll; its JS work is in every
// figure.
import { createRequire } from "node:module";
import { VirtioNet } from "../src/devices/virtio-net/device.js";
import { HostLink, type FrameEndpoint } from "../src/net/host-link.js";
import { GuestRam } from "../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../src/guest/virtio/net-driver.js";
import { MmioTransport } from "../src/guest/virtio/transport.js";
import { frame, mac } from "../src/guest/virtio/frames.js";
import { benchCore, medianMs, type BenchRow } from "./support.js";
import { v86VirtioNet } from "./v86-virtio-net.js";

const V86_VERSION: string = createRequire(import.meta.url)("v86/package.json").version;
const MAC = "52:54:00:00:00:0a";
const BATCH = 32;

/** The NIC's per-frame members only, so a HostLink moves one frame per call and copy. */
const perFrame = (nic: FrameEndpoint): FrameEndpoint => ({
  get onTransmit() { return nic.onTransmit; },
  set onTransmit(f) { nic.onTransmit = f; },
  receive: (f) => nic.receive(f),
});

/**
 * Frames/s of `batches` rounds of: BATCH transmits, one kick, reclaim,
 * `deliver()`, poll every received frame: the whole path, and the device and
 * host part alone (the time inside the kick and `deliver()`: device TX, the
 * host code both ways, device RX into the posted buffers).
 */
function loop(drv: VirtioNetDriver, len: number, batches: number, deliver: () => void): { whole: number; device: number } {
  const f = frame({ dst: drv.mac, src: mac(MAC), length: len });
  let got = 0, devMs = 0;
  const count = (x: Uint8Array) => { if (x.length === len) got++; };
  const once = () => {
    for (let k = 0; k < batches; k++) {
      for (let i = 0; i < BATCH; i++) drv.transmit(f, 0, { kick: false });
      const t0 = performance.now();
      drv.flushTx(0);
      const t1 = performance.now();
      drv.reclaimTx(0);
      const t2 = performance.now();
      deliver();
      devMs += t1 - t0 + performance.now() - t2;
      drv.pollRx(0, count);
    }
  };
  got = 0;
  once();
  if (got !== BATCH * batches) throw new Error(`${len} B loopback delivered ${got} of ${BATCH * batches} frames`);
  const devRuns: number[] = [];
  const ms = medianMs(once, 9, 2, () => { devRuns.push(devMs); devMs = 0; });
  devRuns.push(devMs);
  const dev = devRuns.slice(-9).sort((a, b) => a - b)[4];
  return { whole: (BATCH * batches) / (ms / 1000), device: (BATCH * batches) / (dev / 1000) };
}

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const core = await benchCore(64 << 20);
  const irq = new InterruptRecorder();
  const dev = VirtioNet.create(core, { mac: MAC, transport: "mmio", interrupts: irq, queueSize: 256, backlogFrames: 1024 });
  const drv = new VirtioNetDriver(new MmioTransport(dev), new GuestRam(core, { trackDirty: false }), irq, { queueSize: 256, maxTxFrame: 1514, heap: [1 << 20, 48 << 20] });
  drv.init();
  // Batched: the guest's batch goes back in whole (peerBatch → deliverBatch: one copy of its records).
  const hostLoop = (nic: FrameEndpoint, batched: boolean) => {
    let link!: HostLink;
    link = new HostLink(nic, (f) => link.deliver(f), { delivery: "manual", maxPending: 1024, peerBatch: batched ? (b) => link.deliverBatch(b) : undefined });
    return link;
  };
  const v86 = await v86VirtioNet();
  v86.loopback(true);
  for (const len of [64, 1500]) {
    const batches = len === 64 ? 400 : 200;
    const batched = hostLoop(dev, true);
    const b = loop(drv, len, batches, () => { batched.pump(); irq.pending.length = 0; });
    const perCall = batched.counters().rxFrames / batched.counters().rxCalls;
    batched.close();
    const single = hostLoop(perFrame(dev), false);
    const p = loop(drv, len, batches, () => { single.pump(); irq.pending.length = 0; });
    single.close();
    const v = loop(v86.drv, len, batches, () => {});
    const fpsBatch = b.whole, fpsFrame = p.whole, fpsV86 = v.whole;
    const why = `v86 ${V86_VERSION} virtio-net, its net0-send events sent back as net0-receive on its bus (it offers no MRG_RXBUF/EVENT_IDX/INDIRECT/MSI-X); vmdev: TX leaves through a HostLink whose peer delivers it back, pumped once per 32-frame kick; the same driver model's JS work is in both`;
    rows.push({
      name: `vmdev ÷ v86 virtio-net through the same JS path, ${len} B frames (batched host I/O)`, value: fpsBatch / 1e6, unit: "Mframes/s", baseline: fpsV86 / 1e6, ratio: fpsBatch / fpsV86,
      note: `baseline: ${why}; batched: onTransmitBatch (one callback per notify) into the link's deliverBatch (one copy of the batch's records) and receiveFrames (${perCall.toFixed(0)} frames per wasm call); goal ≥ ${len === 64 ? 10 : 5}×`,
    });
    rows.push({
      name: `vmdev ÷ v86 virtio-net through the same JS path, ${len} B frames, device and host code (batched host I/O)`, value: b.device / 1e6, unit: "Mframes/s", baseline: v.device / 1e6, ratio: b.device / v.device,
      note: `baseline as above; only the time inside the kick and the link's pump (device TX, host code out and back in, device RX into posted buffers), without the driver model's own transmit/reclaim/poll work`,
    });
    rows.push({
      name: `vmdev ÷ v86 virtio-net through the same JS path, ${len} B frames (per-frame host I/O)`, value: fpsFrame / 1e6, unit: "Mframes/s", baseline: fpsV86 / 1e6, ratio: fpsFrame / fpsV86,
      note: `baseline as above; vmdev through the same HostLink over onTransmit/receive only: a copy and a wasm call per frame each way`,
    });
    rows.push({
      name: `vmdev ÷ v86 virtio-net through the same JS path, ${len} B frames, device and host code (per-frame host I/O)`, value: p.device / 1e6, unit: "Mframes/s", baseline: v.device / 1e6, ratio: p.device / v.device,
      note: "baseline as above; time inside the kick and the pump only",
    });
    rows.push({
      name: `HostLink loopback ${len} B frames: batched ÷ per-frame host I/O`, value: fpsBatch / 1e6, unit: "Mframes/s", baseline: fpsFrame / 1e6, ratio: fpsBatch / fpsFrame,
      note: "the same device, driver model and workload; only the link's path to the NIC differs",
    });
  }
  v86.stop();
  return rows;
}
