// A virtio-net on a ring port (docs/rings.md "Backend ports"): frames/s in
// ring mode against copy mode on the same NIC, and what a mode switch costs
// (the link stays up throughout). The backend runs on this thread, so both
// modes pay the same host-side work per frame: NIC → backend reads each
// frame's length in place (ring slots / onTransmitBatch views), backend → NIC
// copies each frame into wasm memory once (ingress ring buffers / the I/O
// buffer of receiveBatch).
import { RingPool, NetmapRing, NetmapRingUser, RingPort, VirtioNetRingBackend, FrameArrayWriter, type FrameBatch } from "../src/index.js";
import { benchCore, fixedRingNic, medianMs, type BenchRow } from "./support.js";

const Q = 256;

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const core = await benchCore(32 << 20);
  const RX = { desc: 0x100000, avail: 0x110000, used: 0x120000, bufs: 0x400000 };
  const TX = { desc: 0x200000, avail: 0x210000, used: 0x220000, bufs: 0xc00000 };
  const nic = await fixedRingNic(core, "52:54:00:00:00:0b", { rx: RX, tx: TX });
  const pool = RingPool.create(core, { buffers: 4 * Q + 64, bufferSize: 2048 });
  const egress = NetmapRing.create(core, { pool, slots: 2 * Q, direction: "rx" });
  const ingress = NetmapRing.create(core, { pool, slots: 2 * Q, direction: "tx" });
  const port = RingPort.create(core, { egress, ingress });
  const backend = VirtioNetRingBackend.attach(nic, port);
  const out = NetmapRingUser.attach(core, egress.handle), inn = NetmapRingUser.attach(core, ingress.handle);
  const g = core.guest;
  let rxIdx = Q, txIdx = 0, sink = 0;
  const repost = () => { rxIdx = (rxIdx + Q) & 0xffff; g.writeU16(RX.avail + 2, rxIdx); };
  const kick = () => { txIdx = (txIdx + Q) & 0xffff; g.writeU16(TX.avail + 2, txIdx); nic.mmioWrite(0x50, 4, 1); };
  /** The backend takes every egress frame in place (its length), then gives the slots back. */
  const take = (_m: Uint8Array, _off: number, len: number) => { sink += len; };
  const drainEgress = () => { out.receiveEach(take); };
  nic.onTransmit = null;
  nic.onTransmitBatch = (b: FrameBatch) => { for (let i = 0; i < b.length; i++) sink += b.frame(i).length; };

  for (const len of [64, 1500]) {
    const f = new Uint8Array(len);
    f.set([0x52, 0x54, 0, 0, 0, 0x0b, 0x52, 0x54, 0, 0, 0, 0x0a, 0x08, 0x00]);
    for (let i = 14; i < len; i++) f[i] = i & 0xff;
    for (let i = 0; i < Q; i++) { g.writeBytes(TX.bufs + 2048 * i + 12, f); g.writeU32(TX.desc + 16 * i + 8, 12 + len); }
    const batch = Array.from({ length: Q }, () => f);
    const rounds = len === 64 ? 200 : 100;
    const txCopy = () => { for (let k = 0; k < rounds; k++) kick(); };
    const txRing = () => { for (let k = 0; k < rounds; k++) { kick(); drainEgress(); backend.sync(); } };
    const rxCopy = () => { for (let k = 0; k < rounds; k++) { nic.receiveBatch(batch); repost(); } };
    const rxRing = () => { for (let k = 0; k < rounds; k++) { if (inn.send(batch) !== Q) throw new Error("ingress full"); backend.sync(); repost(); } };
    // The backend in wasm instead (nmr_user_send: a frame array in the I/O buffer, one call), as a worker's instance would run it.
    const rxRingWasm = () => {
      for (let k = 0; k < rounds; k++) {
        const w = new FrameArrayWriter(core.io());
        for (const x of batch) w.push(x);
        if (core.exports.nmr_user_send(ingress.handle, 0, w.bytes) !== Q) throw new Error("ingress full");
        backend.sync(); repost();
      }
    };

    const c0 = nic.counters();
    const p0 = port.counters();
    backend.setMode("copy");
    const msTxCopy = medianMs(txCopy, 7, 1), msRxCopy = medianMs(rxCopy, 7, 1);
    backend.setMode("ring");
    const msTxRing = medianMs(txRing, 7, 1), msRxRing = medianMs(rxRing, 7, 1), msRxRingWasm = medianMs(rxRingWasm, 7, 1);
    const c1 = nic.counters(), p1 = port.counters();
    // Every run moved every frame: 8 runs × rounds × Q per direction and mode (warm-up included).
    const per = BigInt(8 * rounds * Q);
    if (c1.txFrames - c0.txFrames !== 2n * per || p1.egressFrames - p0.egressFrames !== per) throw new Error(`NIC → backend ${len} B: frames lost`);
    if (c1.rxFrames - c0.rxFrames !== 3n * per || p1.ingressFrames - p0.ingressFrames !== 2n * per || c1.rxDropped !== c0.rxDropped) throw new Error(`backend → NIC ${len} B: frames lost`);
    const fps = (ms: number) => (rounds * Q) / (ms / 1000) / 1e6;
    rows.push({
      name: `NIC → backend ${len} B: ring mode ÷ copy mode (onTransmitBatch)`, value: fps(msTxRing), unit: "Mframes/s", baseline: fps(msTxCopy), ratio: msTxCopy / msTxRing,
      note: "one kick per 256 frames from a fixed guest TX ring; ring: the device writes each frame into an egress slot, the backend reads it in place and a port sync follows; copy: the host outbox, one onTransmitBatch per outbox",
    });
    rows.push({
      name: `backend → NIC ${len} B: ring mode ÷ copy mode (receiveBatch)`, value: fps(msRxRing), unit: "Mframes/s", baseline: fps(msRxCopy), ratio: msRxCopy / msRxRing,
      note: "256 frames per round into posted guest RX buffers; ring: the backend (NetmapRingUser in JavaScript) copies them into ingress slots, one port sync delivers them from the pool buffers; copy: receiveBatch copies them into the I/O buffer, one call",
    });
    rows.push({
      name: `backend → NIC ${len} B: ring mode, backend in wasm (nmr_user_send) ÷ copy mode (receiveBatch)`, value: fps(msRxRingWasm), unit: "Mframes/s", baseline: fps(msRxCopy), ratio: msRxCopy / msRxRingWasm,
      note: "as above with the backend's side in wasm: frames packed into the I/O buffer (as receiveBatch does), one nmr_user_send copies them into ingress slots, one port sync delivers them",
    });
  }
  // The switch with nothing in flight: ring → copy → ring, the link up throughout.
  const cycles = 2000;
  const cycle = () => { for (let i = 0; i < cycles; i++) { if (!backend.setMode("copy")) throw new Error("switch waited"); backend.setMode("ring"); } };
  const sync = () => { for (let i = 0; i < cycles; i++) backend.sync(); };
  const msCycle = medianMs(cycle, 7, 1), msSync = medianMs(sync, 7, 1);
  if (sink === 0) throw new Error("no frames");
  rows.push({
    name: "ring-port mode switch ring → copy → ring (nothing in flight, link up)", value: (msCycle * 1000) / cycles, unit: "µs/cycle", baseline: (msSync * 1000) / cycles, ratio: msSync / msCycle,
    note: "two switches, each a host flush, one wasm call and a flush; a switch to copy mode with frames in flight also waits for the backend to take them; baseline: one empty port sync",
  });
  return rows;
}
