// What observability costs while nobody looks: frames/s through two
// virtio-net devices of one VM (A's onTransmit handing each 64-byte frame to
// B's receive in JS, the spec-written driver model on both guests, release
// build, dirty tracking off), with the tracing hook installed
// (node:diagnostics_channel, no subscriber: every emitter asks hasSubscribers)
// against no hook at all (the browser build's state), alternated in one run.
// Beside it, what one "transmit" listener costs when someone does look.
import { VirtioNet } from "../src/devices/virtio-net/device.js";
import { GuestRam } from "../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../src/guest/virtio/net-driver.js";
import { MmioTransport } from "../src/guest/virtio/transport.js";
import { frame, mac } from "../src/guest/virtio/frames.js";
import { setTracer } from "../src/trace.js";
import { installDiagnosticsChannel } from "../src/trace-node.js";
import { benchCore, medianMs, type BenchRow } from "./support.js";

const BATCH = 32, BATCHES = 64, LEN = 64;
const median = (xs: number[]): number => { const s = xs.slice().sort((a, b) => a - b); return s[s.length >> 1]; };

export async function run(): Promise<BenchRow[]> {
  const core = await benchCore(64 << 20);
  const irqA = new InterruptRecorder(), irqB = new InterruptRecorder();
  const a = VirtioNet.create(core, { mac: "52:54:00:00:00:0a", transport: "mmio", interrupts: irqA, queueSize: 256, backlogFrames: 1024 });
  const b = VirtioNet.create(core, { mac: "52:54:00:00:00:0b", transport: "mmio", interrupts: irqB, queueSize: 256, backlogFrames: 1024 });
  a.onTransmit = (x) => { b.receive(x); };
  const da = new VirtioNetDriver(new MmioTransport(a), new GuestRam(core, { trackDirty: false }), irqA, { queueSize: 256, maxTxFrame: 1514, heap: [1 << 20, 24 << 20] });
  const db = new VirtioNetDriver(new MmioTransport(b), new GuestRam(core, { trackDirty: false }), irqB, { queueSize: 256, maxTxFrame: 1514, heap: [24 << 20, 48 << 20] });
  da.init(); db.init();
  const f = frame({ dst: mac("52:54:00:00:00:0b"), src: mac("52:54:00:00:00:0a"), length: LEN });
  let got = 0;
  const count = (x: Uint8Array) => { if (x.length === LEN) got++; };
  const once = () => {
    got = 0;
    for (let k = 0; k < BATCHES; k++) {
      for (let i = 0; i < BATCH; i++) da.transmit(f, 0, { kick: false });
      da.flushTx(0);
      da.reclaimTx(0);
      db.pollRx(0, count);
      db.takeReceived();
      irqA.pending.length = 0; irqB.pending.length = 0;
    }
    if (got !== BATCH * BATCHES) throw new Error(`delivered ${got} of ${BATCH * BATCHES} frames`);
  };
  const fps = () => (BATCH * BATCHES) / (medianMs(once, 9, 2) / 1000);
  const off: number[] = [], hooked: number[] = [], listened: number[] = [];
  let seen = 0;
  const listener = () => { seen++; };
  // Alternated, so drift on a busy machine lands on both sides.
  for (let round = 0; round < 7; round++) {
    setTracer(null);
    off.push(fps());
    installDiagnosticsChannel();
    hooked.push(fps());
    a.events.addEventListener("transmit", listener);
    listened.push(fps());
    a.events.removeEventListener("transmit", listener);
  }
  if (seen === 0) throw new Error("the transmit listener saw nothing");
  const base = median(off), hook = median(hooked), one = median(listened);
  return [
    { name: "observe: virtio-net 64 B, tracing hook on, no subscriber", value: hook, unit: "frames/s", baseline: base, ratio: hook / base,
      note: "baseline: no hook installed (the browser build); the same devices, driver models and frames, alternated 7 times in one run" },
    { name: "observe: virtio-net 64 B, one transmit listener", value: one, unit: "frames/s", baseline: base, ratio: one / base,
      note: "baseline: no listener, no hook; each frame builds one NicFrameEvent and dispatches it" },
  ];
}
