// In-wasm device ↔ device forwarding: two virtio-net devices in one VM linked
// with VirtioNet.connect. Rings are laid out once with fixed avail entries, so
// a batch is two index bumps and one notify from JS; every frame's work
// (chain walk, gather from A's TX buffers, RX filter, scatter into B's RX
// buffers, used rings, interrupt decision) runs inside wasm. The figure is the
// device path alone: no guest driver cost is included (bench/net.bench.ts has
// the driver → device → device → driver figure). The same two devices then
// run as ports of the virtual switch: against the link in the same run, and a
// multicast pruned to its one member against all-multicast flooding to six
// more ports (NE2000s, stopped: each copy ends at their receiver).
import { VirtioNet, VirtualSwitch, Ne2k } from "../src/index.js";
import { benchCore, medianMs, type BenchRow } from "./support.js";

const Q = 256;
const A_TX = { desc: 0x100000, avail: 0x110000, used: 0x120000, bufs: 0x400000 };
const B_RX = { desc: 0x200000, avail: 0x210000, used: 0x220000, bufs: 0xc00000 };

export async function run(): Promise<BenchRow[]> {
  const core = await benchCore(32 << 20);
  const sink = { msi() {}, intx() {} };
  const a = VirtioNet.create(core, { mac: "52:54:00:00:00:0a", transport: "mmio", queueSize: Q, interrupts: sink });
  const b = VirtioNet.create(core, { mac: "52:54:00:00:00:0b", transport: "mmio", queueSize: Q, interrupts: sink });
  VirtioNet.connect(a, b);
  const g = core.guest;
  const VERSION_1 = 1n << 32n;
  const setup = (d: VirtioNet, qi: number, r: typeof A_TX, writable: boolean) => {
    d.mmioWrite(0x30, 4, qi); d.mmioWrite(0x38, 4, Q);
    d.mmioWrite(0x80, 4, r.desc); d.mmioWrite(0x84, 4, 0);
    d.mmioWrite(0x90, 4, r.avail); d.mmioWrite(0x94, 4, 0);
    d.mmioWrite(0xa0, 4, r.used); d.mmioWrite(0xa4, 4, 0);
    for (let i = 0; i < Q; i++) {
      g.writeU64(r.desc + 16 * i, BigInt(r.bufs + 2048 * i));
      g.writeU32(r.desc + 16 * i + 8, 2048);
      g.writeU16(r.desc + 16 * i + 12, writable ? 2 : 0);
      g.writeU16(r.avail + 4 + 2 * i, i);
    }
    d.mmioWrite(0x44, 4, 1);
  };
  for (const d of [a, b]) {
    d.mmioWrite(0x70, 4, 0); d.mmioWrite(0x70, 4, 3);
    d.mmioWrite(0x24, 4, 1); d.mmioWrite(0x20, 4, Number(VERSION_1 >> 32n));
    d.mmioWrite(0x70, 4, 11);
  }
  setup(a, 1, A_TX, false);
  setup(b, 0, B_RX, true);
  for (const d of [a, b]) d.mmioWrite(0x70, 4, 15);
  g.writeU16(B_RX.avail, 1); // NO_INTERRUPT: the bench polls nothing; the decision is still made per batch

  const rows: BenchRow[] = [];
  let availA = 0, availB = 0;
  const ram = g.view(0, g.size);
  const dv = new DataView(ram.buffer, ram.byteOffset);
  const load = (dst: number[], len: number) => {
    const f = new Uint8Array(len);
    f.set([...dst, 0x52, 0x54, 0, 0, 0, 0x0a, 0x08, 0x00]);
    for (let i = 14; i < len; i++) f[i] = i & 0xff;
    for (let i = 0; i < Q; i++) { g.writeBytes(A_TX.bufs + 2048 * i + 12, f); g.writeU32(A_TX.desc + 16 * i + 8, 12 + len); }
    return f;
  };
  /** Send `batches` full rings from a to b; throws unless b received every frame. */
  const runner = (batches: number, what: string) => {
    const once = () => {
      for (let k = 0; k < batches; k++) {
        availB = (availB + Q) & 0xffff; dv.setUint16(B_RX.avail + 2, availB, true);
        availA = (availA + Q) & 0xffff; dv.setUint16(A_TX.avail + 2, availA, true);
        a.mmioWrite(0x50, 4, 1);
      }
    };
    const before = b.counters().rxFrames;
    once();
    const got = Number(b.counters().rxFrames - before);
    if (got !== batches * Q) throw new Error(`${what} delivered ${got} of ${batches * Q} frames`);
    return medianMs(once, 9, 2);
  };
  const linkMs = new Map<number, number>();
  for (const len of [64, 1500]) {
    const f = load([0x52, 0x54, 0, 0, 0, 0x0b], len);
    const batches = len === 64 ? 400 : 200;
    const ms = runner(batches, "link");
    linkMs.set(len, ms / batches);
    const fps = (batches * Q) / (ms / 1000);
    core.io().set(f, 0);
    const copies = 1_000_000;
    const baseMs = medianMs(() => { core.bx.bench_link_memcopy(len, copies); }, 9, 2);
    const baseFps = copies / (baseMs / 1000);
    rows.push({
      name: `virtio-net in-wasm link ${len} B frames (dev→dev, no driver)`, value: fps / 1e6, unit: "Mframes/s", baseline: baseFps / 1e6, ratio: fps / baseFps,
      note: "baseline: memory.copy of the frame bytes once per frame in wasm; the device copies twice (gather, scatter) and walks both rings",
    });
  }

  // The same pair as ports of a switch (a's frames to b's MAC: unknown, so flooded to b alone).
  const sw = VirtualSwitch.create(core);
  sw.attach(a); sw.attach(b);
  for (const len of [64, 1500]) {
    load([0x52, 0x54, 0, 0, 0, 0x0b], len);
    const batches = len === 64 ? 400 : 200;
    const ms = runner(batches, "switch") / batches;
    rows.push({
      name: `virtual switch ${len} B frames, virtio-net → virtio-net port (no driver)`, value: (Q / (ms / 1000)) / 1e6, unit: "Mframes/s",
      baseline: (Q / (linkMs.get(len)! / 1000)) / 1e6, ratio: linkMs.get(len)! / ms,
      note: "baseline: the same two devices on a point-to-point link, same run; the switch adds a learn and a lookup per frame",
    });
  }
  // Multicast: b joined the group; six more ports did not. Pruned (only b) against all-multicast (all seven).
  const others = Array.from({ length: 6 }, (_, i) => Ne2k.create(core, { mac: `52:54:00:00:01:0${i}`, interrupts: sink, backlogFrames: 1 }));
  for (const d of others) sw.attach(d);
  const group = "01:00:5e:00:00:fb";
  sw.join(b, group);
  load([0x01, 0x00, 0x5e, 0, 0, 0xfb], 64);
  for (const d of [a, b, ...others]) sw.setAllMulticast(d, true);
  const floodMs = runner(400, "multicast flood") / 400;
  for (const d of [a, b, ...others]) sw.setAllMulticast(d, false);
  const prunedMs = runner(400, "multicast pruned") / 400;
  if (sw.membership(others[0]).counters.mcPruned === 0n) throw new Error("multicast was not pruned");
  rows.push({
    name: "virtual switch 64 B multicast, 1 member of 7 ports (pruned)", value: (Q / (prunedMs / 1000)) / 1e6, unit: "Mframes/s",
    baseline: (Q / (floodMs / 1000)) / 1e6, ratio: floodMs / prunedMs,
    note: "baseline: every port all-multicast (each frame copied to all seven; the six NE2000s are stopped and count it offline), same run",
  });
  sw.destroy();
  for (const d of others) d.destroy();
  return rows;
}
