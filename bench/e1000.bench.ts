// e1000 (82540EM) figures: frames/s through driver model → device A's TX →
// host → device B's RX → driver model, at 64 B and 1500 B, beside vmdev's
// virtio-net on exactly the same path in the same run (two devices of one VM,
// A's onTransmit handing each frame to B's receive in JS, the spec-written
// driver model on both guests, release build, dirty tracking off), and the
// device side alone (the time inside the TDT write / TX kick, where both
// devices do all their per-frame work). Last, vmdev's e1000 ÷ v86's own ne2k
// on the same workload in the same run: each NIC through its own spec-written
// driver model (src/guest/e1000, src/guest/ne2k), the host handing 4 frames to
// the board per interrupt service on receive, one frame sent and its
// completion serviced on transmit, every frame checked to arrive.
import { E1000 } from "../src/devices/e1000/device.js";
import { E1000Driver } from "../src/guest/e1000/driver.js";
import { VirtioNet } from "../src/devices/virtio-net/device.js";
import { GuestRam } from "../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../src/guest/virtio/interrupts.js";
import { VirtioNetDriver } from "../src/guest/virtio/net-driver.js";
import { MmioTransport } from "../src/guest/virtio/transport.js";
import { frame, mac } from "../src/guest/virtio/frames.js";
import { Ne2kDriver } from "../src/guest/ne2k/index.js";
import { benchCore, medianMs, type BenchRow } from "./support.js";
import { frameTo, rate, v86Ne2k } from "./ne2k-v86.js";

const MAC_A = "52:54:00:00:00:0a";
const MAC_B = "52:54:00:00:00:0b";
const BATCH = 32;

const median = (xs: number[]): number => { const s = xs.slice().sort((a, b) => a - b); return s[s.length >> 1]; };

/** One workload: `batches` rounds of BATCH frames queued, one doorbell, TX reclaimed, RX polled on the other side. */
interface Path { queue(f: Uint8Array): void; kick(): void; after(): number }

function measure(p: Path, f: Uint8Array, batches: number): { fps: number; devFps: number } {
  const frames = BATCH * batches;
  let got = 0, devMs = 0;
  const once = () => {
    for (let k = 0; k < batches; k++) {
      for (let i = 0; i < BATCH; i++) p.queue(f);
      const t0 = performance.now();
      p.kick();
      devMs += performance.now() - t0;
      got += p.after();
    }
  };
  once();
  if (got !== frames) throw new Error(`delivered ${got} of ${frames} frames`);
  const devRuns: number[] = [];
  const ms = medianMs(once, 9, 2, () => { if (devMs) devRuns.push(devMs); devMs = 0; });
  devRuns.push(devMs);
  return { fps: frames / (ms / 1000), devFps: frames / (median(devRuns.slice(-9)) / 1000) };
}

async function e1000Path(len: number): Promise<Path> {
  const core = await benchCore(64 << 20);
  const irqA = new InterruptRecorder(), irqB = new InterruptRecorder();
  // Host timers off: the moderation timers are not armed (ITR/RDTR/TIDV 0), the bench drives everything.
  const a = E1000.create(core, { mac: MAC_A, interrupts: irqA, timers: "manual", backlogFrames: 1024 });
  const b = E1000.create(core, { mac: MAC_B, interrupts: irqB, timers: "manual", backlogFrames: 1024 });
  a.onTransmit = (x) => { b.receive(x); };
  const ram = new GuestRam(core, { trackDirty: false });
  const da = new E1000Driver(a.pci, ram, { heap: [1 << 20, 24 << 20], trackDirty: false, secrc: true });
  const db = new E1000Driver(b.pci, ram, { heap: [24 << 20, 48 << 20], trackDirty: false, secrc: true });
  da.init(); db.init();
  return {
    queue: (x) => { if (!da.transmit(x, { kick: false })) throw new Error("e1000 TX ring full"); },
    kick: () => da.flushTx(),
    after: () => {
      da.reclaimTx();
      db.pollRx();
      irqA.pending.length = 0; irqB.pending.length = 0;
      return db.takeReceived().filter((r) => r.data.length === len).length;
    },
  };
}

async function virtioPath(len: number): Promise<Path> {
  const core = await benchCore(64 << 20);
  const irqA = new InterruptRecorder(), irqB = new InterruptRecorder();
  const a = VirtioNet.create(core, { mac: MAC_A, transport: "mmio", interrupts: irqA, queueSize: 256, backlogFrames: 1024 });
  const b = VirtioNet.create(core, { mac: MAC_B, transport: "mmio", interrupts: irqB, queueSize: 256, backlogFrames: 1024 });
  a.onTransmit = (x) => { b.receive(x); };
  const da = new VirtioNetDriver(new MmioTransport(a), new GuestRam(core, { trackDirty: false }), irqA, { queueSize: 256, maxTxFrame: 1514, heap: [1 << 20, 24 << 20] });
  const db = new VirtioNetDriver(new MmioTransport(b), new GuestRam(core, { trackDirty: false }), irqB, { queueSize: 256, maxTxFrame: 1514, heap: [24 << 20, 48 << 20] });
  da.init(); db.init();
  let got = 0;
  const count = (x: Uint8Array) => { if (x.length === len) got++; };
  return {
    queue: (x) => da.transmit(x, 0, { kick: false }),
    kick: () => da.flushTx(0),
    after: () => {
      da.reclaimTx(0);
      got = 0;
      db.pollRx(0, count);
      db.takeReceived();
      irqA.pending.length = 0; irqB.pending.length = 0;
      return got;
    },
  };
}

/** One NIC through its driver model: the host's side (deliver, frames sent) and the driver's (transmit, interrupt service, frames received). */
interface Nic { name: string; mac: Uint8Array; deliver(f: Uint8Array): void; sent(): number; transmit(f: Uint8Array): void; service(): void; received(): number[] }

const RX_PER_SERVICE = 4;

function nicRx(n: Nic, len: number): number {
  let seq = 0;
  return rate(() => {
    for (let i = 0; i < RX_PER_SERVICE; i++) n.deliver(frameTo(n.mac, len, seq++));
    n.service();
    const got = n.received();
    if (got.length !== RX_PER_SERVICE || got.some((l) => l !== len)) throw new Error(`${n.name}: ${got.length} of ${RX_PER_SERVICE} ${len}-byte frames arrived`);
  }, RX_PER_SERVICE);
}

function nicTx(n: Nic, len: number): number {
  const f = frameTo(Uint8Array.from([2, 0, 0, 0, 0, 9]), len, 0);
  return rate(() => {
    const before = n.sent();
    n.transmit(f);
    n.service();
    if (n.sent() !== before + 1) throw new Error(`${n.name}: the frame did not go out`);
  }, 1);
}

async function e1000Nic(): Promise<Nic> {
  const core = await benchCore(64 << 20);
  const irq = new InterruptRecorder();
  const d = E1000.create(core, { mac: MAC_A, interrupts: irq, timers: "manual", backlogFrames: 1024 });
  let sent = 0;
  d.onTransmit = () => { sent++; };
  const drv = new E1000Driver(d.pci, new GuestRam(core, { trackDirty: false }), { heap: [1 << 20, 24 << 20], trackDirty: false, secrc: true });
  drv.init();
  return {
    name: "vmdev e1000", mac: mac(MAC_A), deliver: (f) => { d.receive(f); }, sent: () => sent,
    transmit: (f) => { if (!drv.transmit(f)) throw new Error("e1000 TX ring full"); },
    service: () => { drv.service(); irq.pending.length = 0; },
    received: () => drv.takeReceived().map((r) => r.data.length),
  };
}

async function v86Ne2kNic(): Promise<Nic & { destroy(): Promise<void> }> {
  const v = await v86Ne2k();
  // 32-bit data-port transfers, as Linux's ne2k-pci uses on the RTL8029; every access through v86's port dispatch.
  const drv = new Ne2kDriver(v.ports, { dataWidth: 32, stringIo: false });
  const m = drv.probe().mac;
  drv.init();
  return {
    name: "v86 ne2k", mac: m, deliver: v.deliver, sent: v.sent,
    transmit: (f) => { if (!drv.transmit(f)) throw new Error("ne2k: transmit refused"); },
    service: () => { drv.service(); },
    received: () => drv.takeReceived().map((f) => f.length),
    destroy: () => v.emulator.destroy(),
  };
}

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const len of [64, 1500]) {
    const f = frame({ dst: mac(MAC_B), src: mac(MAC_A), length: len });
    const batches = len === 64 ? 400 : 200;
    const e = measure(await e1000Path(len), f, batches);
    const v = measure(await virtioPath(len), f, batches);
    const path = "two devices of one VM, A's onTransmit → B's receive in JS, the spec-written driver model on both guests (batches of 32 frames, one doorbell each)";
    rows.push({
      name: `e1000 ${len} B frames, driver → dev → host → dev → driver, vs virtio-net`, value: e.fps / 1e6, unit: "Mframes/s", baseline: v.fps / 1e6, ratio: e.fps / v.fps,
      note: `baseline: vmdev's virtio-net on the same path in the same run; ${path}; includes the driver models' own JS work, which differs between the two`,
    });
    rows.push({
      name: `e1000 ${len} B frames, device side (TDT write → TX → host → RX), vs virtio-net`, value: e.devFps / 1e6, unit: "Mframes/s", baseline: v.devFps / 1e6, ratio: e.devFps / v.devFps,
      note: `baseline: virtio-net's TX kick on the same path; time inside the doorbell write only (descriptor fetch, DMA, filter, RX descriptor write-back, interrupt decisions, the JS hand-over)`,
    });
  }
  const e = await e1000Nic(), n = await v86Ne2kNic();
  try {
    const same = "each NIC through its own driver model (vmdev's e1000: BAR0 MMIO, descriptor rings in guest RAM; v86's ne2k: the NE2000 driver model over v86's port dispatch, 32-bit data port, no string I/O), the same frames in the same run";
    for (const len of [64, 1500]) {
      const a = nicRx(e, len), b = nicRx(n, len);
      rows.push({ name: `e1000 receive ${len} B, vmdev e1000 ÷ v86 ne2k`, value: a, unit: "frames/s", baseline: b, ratio: a / b, note: `host → device → driver, ${RX_PER_SERVICE} frames per interrupt service; ${same}` });
    }
    for (const len of [64, 1500]) {
      const a = nicTx(e, len), b = nicTx(n, len);
      rows.push({ name: `e1000 transmit ${len} B, vmdev e1000 ÷ v86 ne2k`, value: a, unit: "frames/s", baseline: b, ratio: a / b, note: `driver → device → host, one frame then its completion serviced; ${same}` });
    }
  } finally { await n.destroy(); }
  return rows;
}
