// An exclusive live MAC change on a virtio-net port of the in-wasm switch
// with traffic running (src/net/exclusive.ts): the time from quiesce to
// finish, and the frames held meanwhile. Two peers send 64-byte frames to
// the target every event-loop turn; the in-flight probe keeps a reference
// for two checks, so the operation defers twice while frames keep arriving.
// Baseline, same devices and traffic, same run: the bare device work of the
// change done by hand (quiesce, vnet_set_mac, resume) with no serializer, no
// deferral and no rollback snapshot.
import { VirtioNet } from "../src/devices/virtio-net/device.js";
import { VirtualSwitch } from "../src/net/switch.js";
import { virtioNetExclusive } from "../src/devices/virtio-net/exclusive.js";
import { Exclusive, type ExclusiveResult } from "../src/net/exclusive.js";
import { GuestRam } from "../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../src/guest/virtio/net-driver.js";
import { Ctrl } from "../src/guest/virtio/defs.js";
import { MmioTransport } from "../src/guest/virtio/transport.js";
import { frame, mac } from "../src/guest/virtio/frames.js";
import { benchCore, type BenchRow } from "./support.js";

type Core = Awaited<ReturnType<typeof benchCore>>;
const median = (xs: number[]): number => { const s = xs.slice().sort((a, b) => a - b); return s[s.length >> 1]; };

function side(core: Core, m: string, heap: [number, number]) {
  const irq = new InterruptRecorder();
  const dev = VirtioNet.create(core, { mac: m, transport: "mmio", interrupts: irq, queueSize: 256, backlogFrames: 1024 });
  const drv = new VirtioNetDriver(new MmioTransport(dev), new GuestRam(core, { trackDirty: false }), irq, { queueSize: 256, heap });
  drv.init();
  drv.setRxMode(Ctrl.RX_PROMISC, false);
  return { dev, drv };
}

export async function run(): Promise<BenchRow[]> {
  const core = await benchCore(64 << 20);
  const sw = VirtualSwitch.create(core);
  const t = side(core, "52:54:00:00:00:01", [1 << 20, 20 << 20]);
  const a = side(core, "52:54:00:00:00:0a", [20 << 20, 40 << 20]);
  const b = side(core, "52:54:00:00:00:0b", [40 << 20, 60 << 20]);
  for (const p of [t, a, b]) sw.attach(p.dev);
  const macs = [mac("52:54:00:00:00:01"), mac("52:54:00:00:00:02")];
  let cur = 0;
  const frames = macs.map((m) => [a, b].map((p, i) => frame({ dst: m, src: mac(i ? "52:54:00:00:00:0b" : "52:54:00:00:00:0a") })));
  let sent = 0;
  const pump = () => {
    for (let k = 0; k < 8; k++) for (const [i, p] of [a, b].entries()) { p.drv.transmit(frames[cur][i]); sent++; }
    for (const p of [a, b]) p.drv.reclaimTx();
    t.drv.service(); t.drv.poll(); t.drv.takeReceived();
  };
  const nic = virtioNetExclusive(t.dev);
  let refs = 0;
  const ex = new Exclusive(nic, { inFlight: () => (refs > 0 ? refs-- : 0), onPhase: (_o, ph) => { if (ph === "quiesce") cur ^= 1; } });
  const spans: number[] = [], held: number[] = [], sentDuring: number[] = [];
  const reps = 200;
  for (let i = 0; i < reps + 10; i++) {
    refs = 2;
    const s0 = sent;
    const done = ex.setMac(macs[cur ^ 1]);
    let res: ExclusiveResult | null = null;
    void done.then((r) => { res = r; });
    while (!res) { pump(); await new Promise((r) => setImmediate(r)); }
    const r = res as ExclusiveResult;
    if (!r.ok) throw new Error(`setMac: ${r.reason}`);
    const at = (p: string) => r.timeline.find((m) => m.phase === p)!.at;
    if (i >= 10) { spans.push(at("finish") - at("quiesce")); held.push(r.held); sentDuring.push(sent - s0); }
    pump();
  }
  // The same operation with nothing in flight: no deferral, the serializer's own cost (prepare, snapshot, phases).
  const idle: number[] = [];
  for (let i = 0; i < reps + 10; i++) {
    pump();
    const r = await ex.setMac(macs[cur ^ 1]);
    const at = (p: string) => r.timeline.find((m) => m.phase === p)!.at;
    if (i >= 10) idle.push(at("finish") - at("quiesce"));
  }
  // Baseline: the device work alone, same traffic between changes.
  const direct: number[] = [];
  for (let i = 0; i < reps + 10; i++) {
    pump();
    const t0 = performance.now();
    nic.quiesce();
    nic.applyMac(macs[cur ^ 1]);
    cur ^= 1;
    nic.resume();
    if (i >= 10) direct.push(performance.now() - t0);
  }
  const us = (ms: number) => ms * 1000;
  const span = median(spans), base = median(direct);
  const dropped = t.dev.counters().rxDropped;
  if (dropped !== 0n) throw new Error(`${dropped} frames dropped`);
  return [
    {
      name: "exclusive MAC change under traffic, quiesce → finish (2 deferrals)", value: us(span), unit: "µs", baseline: us(base), ratio: base / span,
      note: `baseline: quiesce + vnet_set_mac + resume by hand, no serializer, deferral or snapshot; median of ${reps}; the span includes two event-loop turns of traffic`,
    },
    {
      name: "exclusive MAC change, nothing in flight, quiesce → finish", value: us(median(idle)), unit: "µs", baseline: us(base), ratio: base / median(idle),
      note: "baseline: the same device work by hand; the difference is the rollback snapshot (saveState) and the serializer",
    },
    {
      name: "frames held per exclusive MAC change", value: median(held), unit: "frames", baseline: median(sentDuring), ratio: median(held) / Math.max(1, median(sentDuring)),
      note: "baseline: frames the peers sent during the whole operation (held ones are those that arrived while quiesced); none dropped",
    },
  ];
}
