// The host frame link's batched path against its per-frame path: the same
// NIC model fed the same seeded traffic through a HostLink that sees the
// NIC's batch members (receiveFrames, onTransmitBatch) and through one that
// sees only `receive` / `onTransmit`. Guest-visible frames, device counters
// and link counters must agree exactly, after every step. Then the odd
// cases: a window in one wasm call, a frame larger than the window, empty
// and oversized frames, retries, and a flush while the device resets, is
// destroyed, or the link is closed from inside the NIC's call.
import { describe, expect, it } from "vitest";
import { HostLink, type FrameEndpoint } from "../../src/net/host-link.js";
import { FrameBatch, Status } from "../../src/index.js";
import { netRig, type NetRig } from "../devices/virtio-net/rig.js";
import { e1000Rig } from "../devices/e1000/rig.js";
import { ne2kRig, serviceAll, GUEST_MAC } from "../support/ne2k/rig.js";
import { tagged } from "../rings/support.js";

/** xorshift32: the property tests' generator (the seed is printed on failure). */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
}

/** Link counters but the number of calls (which is what batching changes). */
const same = (l: HostLink) => { const { rxCalls: _calls, ...c } = l.counters(); return c; };

/** The NIC as the per-frame path sees it: `receive` and `onTransmit` only. */
function perFrame(nic: FrameEndpoint): FrameEndpoint {
  return {
    get onTransmit() { return nic.onTransmit; },
    set onTransmit(f) { nic.onTransmit = f; },
    receive: (f) => nic.receive(f),
  };
}

/** Wrap `receiveFrames` to count its calls. */
function countCalls<T extends FrameEndpoint>(nic: T): { calls: number[] } {
  const seen = { calls: [] as number[] };
  const inner = nic.receiveFrames!.bind(nic);
  nic.receiveFrames = (records, statuses, stop) => { const n = inner(records, statuses, stop); seen.calls.push(n); return n; };
  return seen;
}

const GUEST = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

/** A frame of `len` bytes to the rig's MAC with sequence `seq` (shorter ones are what a hostile far end sends). */
function toGuest(len: number, seq: number, mac: readonly number[] = GUEST): Uint8Array {
  if (len < 22) { const f = new Uint8Array(len); f.set(mac.slice(0, Math.min(6, len))); return f; }
  const f = tagged(len, 7, seq);
  f.set(mac);
  return f;
}

/** Lengths a far end sends: mostly good frames, sometimes empty, runt, too long for the MTU, larger than the window, larger than any NIC. */
function pickLen(r: (n: number) => number): number {
  const k = r(40);
  if (k === 0) return 0;
  if (k === 1) return 1 + r(13);
  if (k === 2) return 1519 + r(200);
  if (k === 3) return 56_000 + r(4000); // above the 64 KiB I/O buffer's window, below its size
  if (k === 4) return 70_000;
  return 14 + r(1501);
}

const VNET_COUNTERS = ["rxFrames", "rxBytes", "rxBacklogged", "rxDropped", "rxFiltered", "rxShortBuffer"];

describe("HostLink batched ≡ per frame (virtio-net, seeded)", () => {
  for (const seed of [1, 20261201]) {
    it(`seed ${seed}: guest frames, device and link counters agree after every step`, async () => {
      const r = rng(seed);
      const mk = () => netRig({ transport: "mmio", device: { backlogFrames: 16 } });
      const a = await mk(), b = await mk();
      const txA: Uint8Array[] = [], txB: Uint8Array[] = [];
      const la = new HostLink(perFrame(a.dev), (f) => txA.push(f), { delivery: "manual", maxPending: 64 });
      const lb = new HostLink(b.dev, (f) => txB.push(f), { delivery: "manual", maxPending: 64 });
      const calls = countCalls(b.dev);
      const step = (what: string, fn: (x: NetRig, l: HostLink) => void) => { fn(a, la); fn(b, lb); return what; };
      let seq = 0;
      try {
        for (let i = 0; i < 120; i++) {
          const op = r(10);
          let what: string;
          if (op < 4) {
            const n = 1 + r(40);
            const fs = Array.from({ length: n }, () => toGuest(pickLen(r), seq++));
            what = step(`deliver ${n}`, (_x, l) => { for (const f of fs) l.deliver(f); });
          } else if (op < 7) {
            what = step("pump", (_x, l) => { l.pump(); });
          } else if (op < 9) {
            what = step("guest polls", (x) => { x.drv.pollRx(0); });
          } else {
            const n = 1 + r(8), len = 60 + r(1400);
            what = step(`guest sends ${n}`, (x) => { for (let k = 0; k < n; k++) x.drv.transmit(tagged(len, 9, k), 0, { kick: false }); x.drv.flushTx(0); x.drv.reclaimTx(0); });
          }
          expect(same(lb), `${what} (step ${i})`).toEqual(same(la));
          expect(lb.pendingFrames, what).toBe(la.pendingFrames);
          const ca = a.dev.counters(), cb = b.dev.counters();
          for (const k of VNET_COUNTERS) expect(cb[k], `${k} after ${what} (step ${i})`).toBe(ca[k]);
        }
        lb.pump(); la.pump();
        for (let k = 0; k < 64; k++) { a.drv.pollRx(0); b.drv.pollRx(0); }
        expect(b.drv.received.map((f) => f.data)).toEqual(a.drv.received.map((f) => f.data));
        expect(txB).toEqual(txA);
        expect(same(lb)).toEqual(same(la));
        const c = lb.counters();
        expect(c.rxFrames).toBeGreaterThan(100);
        expect(c.rxDropped).toBeGreaterThan(0); // the small backlog overflowed, invalid frames were refused
        expect(c.lost).toBeGreaterThan(0);
        // Batched: fewer wasm calls than frames handed over.
        expect(calls.calls.length).toBeLessThan(c.rxFrames);
        expect(c.rxCalls).toBeLessThan(la.counters().rxCalls);
      } catch (err) {
        console.log(`HostLink batch property: seed ${seed}`);
        throw err;
      }
      la.close(); lb.close();
    });
  }
});

describe("HostLink batched delivery", () => {
  it("hands a pump's frames to the NIC in one wasm call, in order, a status each", async () => {
    const x = await netRig({ transport: "mmio", device: { backlogFrames: 256 } });
    const calls = countCalls(x.dev);
    const link = new HostLink(x.dev, () => {}, { delivery: "manual" });
    for (let i = 0; i < 200; i++) link.deliver(toGuest(64 + (i % 5), i));
    expect(link.pump()).toBe(200);
    expect(calls.calls).toEqual([200]);
    for (let k = 0; k < 8; k++) x.drv.pollRx(0);
    expect(x.drv.received.map((f) => new DataView(f.data.buffer, f.data.byteOffset).getUint32(18, true))).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(link.counters()).toMatchObject({ rxFrames: 200, rxDropped: 0, lost: 0 });
    link.close();
  });

  it("\"auto\" delivery gathers what one task delivered into one call on the next turn", async () => {
    const x = await netRig({ transport: "mmio" });
    const calls = countCalls(x.dev);
    const link = new HostLink(x.dev, () => {});
    for (let i = 0; i < 50; i++) link.deliver(toGuest(100, i));
    expect(calls.calls).toEqual([]); // never inside the caller's stack
    await new Promise((res) => setImmediate(res));
    expect(calls.calls).toEqual([50]);
    expect(link.counters().rxFrames).toBe(50);
    link.close();
  });

  it("splits at the window: a frame larger than it goes alone through receive, the rest in windows", async () => {
    const x = await netRig({ transport: "mmio", device: { backlogFrames: 256 } });
    const calls = countCalls(x.dev);
    // The NIC's window as a smaller one (a NIC may take less than its I/O buffer allows).
    const window = 8192;
    const nic: FrameEndpoint = { ...perFrame(x.dev), frameWindowBytes: window, receiveFrames: (rec, st, stop) => x.dev.receiveFrames(rec, st, stop) };
    const link = new HostLink(nic, () => {}, { delivery: "manual" });
    const lens = [64, 64, window + 100, 64, ...Array.from({ length: 60 }, () => 1500)];
    lens.forEach((len, i) => link.deliver(toGuest(len, i)));
    link.pump();
    // [64, 64] | the big one alone (invalid: above MTU + 18) | the 61 others, split where the window ends.
    const perWindow = Math.floor(window / 1500);
    expect(calls.calls[0]).toBe(2);
    expect(calls.calls.slice(1).reduce((s, n) => s + n, 0)).toBe(61);
    expect(Math.max(...calls.calls.slice(1))).toBeLessThanOrEqual(perWindow + 1);
    expect(link.counters()).toMatchObject({ rxFrames: 63, rxDropped: 1, lost: 1 });
    link.close();
  });

  it("regression_host_link_oversized_frame_not_queued: a frame above 64 KiB is dropped and counted at delivery, not held", () => {
    const nic = { onTransmit: null, receive: () => Status.OK };
    const link = new HostLink(nic, () => {}, { delivery: "manual" });
    link.deliver(new Uint8Array(70_000));
    expect(link.pendingFrames).toBe(0);
    expect(link.counters()).toMatchObject({ rxDropped: 1, lost: 1, rxFrames: 0 });
  });

  it("retries a refused frame before any later one goes in (maxRetries), as per frame", () => {
    // A NIC that refuses (ERR_FULL) the first `refuse` frames it is offered, per frame and batched.
    class Nic implements FrameEndpoint {
      onTransmit: ((f: Uint8Array) => void) | null = null;
      got: number[] = [];
      refuse = 0;
      calls = 0;
      receive(f: Uint8Array): number { if (this.refuse > 0) { this.refuse--; return Status.ERR_FULL; } this.got.push(f[0]); return Status.OK; }
      readonly frameWindowBytes = 64;
      receiveFrames(records: Uint8Array, statuses: Uint8Array, stop: boolean): number {
        this.calls++;
        const b = FrameBatch.read(records, countRecords(records));
        let i = 0;
        for (; i < b.length; i++) { statuses[i] = this.receive(b.frame(i)); if (stop && statuses[i] !== Status.OK) return i + 1; }
        return i;
      }
    }
    const a = new Nic(), b = new Nic();
    const la = new HostLink(perFrame(a), () => {}, { delivery: "manual", maxRetries: 2 });
    const lb = new HostLink(b, () => {}, { delivery: "manual", maxRetries: 2 });
    for (const n of [a, b]) n.refuse = 2;
    for (let i = 1; i <= 20; i++) { la.deliver(Uint8Array.of(i, 0, 0)); lb.deliver(Uint8Array.of(i, 0, 0)); }
    for (let k = 0; k < 4; k++) { la.pump(); lb.pump(); expect(same(lb)).toEqual(same(la)); expect(b.got).toEqual(a.got); }
    expect(b.got).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(b.calls).toBeGreaterThan(1);
    // Refused three times in a row: dropped after the retry budget, the next one goes on.
    for (const n of [a, b]) n.refuse = 3;
    for (const l of [la, lb]) { l.deliver(Uint8Array.of(50)); l.deliver(Uint8Array.of(51)); }
    for (let k = 0; k < 4; k++) { la.pump(); lb.pump(); }
    expect(same(lb)).toEqual(same(la));
    expect(b.got.slice(-1)).toEqual([51]);
    expect(lb.counters()).toMatchObject({ rxDropped: 1 });
  });

  it("a flush while the device resets or is destroyed counts exactly as per frame", async () => {
    for (const what of ["reset", "destroy"] as const) {
      const a = await netRig({ transport: "mmio" }), b = await netRig({ transport: "mmio" });
      const la = new HostLink(perFrame(a.dev), () => {}, { delivery: "manual" });
      const lb = new HostLink(b.dev, () => {}, { delivery: "manual" });
      for (let i = 0; i < 30; i++) { la.deliver(toGuest(80, i)); lb.deliver(toGuest(80, i)); }
      if (what === "reset") { a.dev.reset(); b.dev.reset(); } else { a.dev.destroy(); b.dev.destroy(); }
      la.pump(); lb.pump();
      expect(same(lb), what).toEqual(same(la));
      expect(lb.pendingFrames).toBe(0);
      if (what === "reset") {
        for (const k of VNET_COUNTERS) expect(b.dev.counters()[k], k).toBe(a.dev.counters()[k]);
      } else {
        expect(lb.counters()).toMatchObject({ rxFrames: 0, rxDropped: 30, lost: 30 }); // ERR_BAD_HANDLE: the link lost them
      }
      la.close(); lb.close();
    }
  });

  it("close() from inside the NIC's call: the frames it took are counted, nothing else goes in, nothing throws", () => {
    let link!: HostLink;
    const taken: number[] = [];
    const nic: FrameEndpoint = {
      onTransmit: null,
      receive: () => Status.OK,
      frameWindowBytes: 1 << 16,
      receiveFrames(records, statuses) {
        const b = FrameBatch.read(records, countRecords(records));
        for (let i = 0; i < b.length; i++) { taken.push(b.frame(i)[0]); statuses[i] = Status.OK; }
        link.close(); // e.g. a transmit callback tearing the link down
        link.deliver(Uint8Array.of(99)); // after close: ignored
        return b.length;
      },
    };
    link = new HostLink(nic, () => {}, { delivery: "manual" });
    for (let i = 0; i < 10; i++) link.deliver(Uint8Array.of(i, 0, 0, 0));
    expect(() => link.pump()).not.toThrow();
    expect(taken).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(link.counters()).toMatchObject({ rxFrames: 10 });
    expect(link.pendingFrames).toBe(0);
    expect(link.pump()).toBe(0);
  });

  it("an endpoint claiming more frames than its window held is not believed", () => {
    const nic: FrameEndpoint = {
      onTransmit: null,
      receive: () => Status.OK,
      frameWindowBytes: 24, // two 5-byte frames' records (12 bytes each)
      receiveFrames(_records, statuses) { statuses.fill(Status.OK); return 1000; },
    };
    const link = new HostLink(nic, () => {}, { delivery: "manual" });
    for (let i = 0; i < 5; i++) link.deliver(new Uint8Array(5));
    expect(link.pump()).toBe(5);
    expect(link.counters()).toMatchObject({ rxFrames: 5, rxCalls: 3 });
    expect(link.pendingFrames).toBe(0);
  });

  it("the guest's notify leaves as one batch, copied once: frames outlive the callback, in order, counted", async () => {
    const x = await netRig({ transport: "mmio" });
    const sent: Uint8Array[] = [];
    const taps: number[] = [];
    const link = new HostLink(x.dev, (f) => sent.push(f), { delivery: "manual", tap: (d, f) => { if (d === "tx") taps.push(f.length); } });
    expect(x.dev.onTransmitBatch).not.toBe(null);
    const fs = Array.from({ length: 40 }, (_, i) => tagged(60 + i * 30, 3, i));
    for (const f of fs) x.drv.transmit(f, 0, { kick: false });
    x.drv.flushTx(0);
    expect(sent).toEqual(fs);
    expect(new Set(sent.map((f) => f.buffer)).size).toBe(1); // one copy for the batch
    expect(taps).toEqual(fs.map((f) => f.length));
    expect(link.counters()).toMatchObject({ txFrames: 40, txBytes: fs.reduce((s, f) => s + f.length, 0) });
    link.detach();
    expect(x.dev.onTransmitBatch).toBe(null);
    expect(x.dev.onTransmit).toBe(null);
  });
});

describe("HostLink batches forwarded whole (peerBatch → deliverBatch)", () => {
  it("NIC → link → link → NIC with one copy of each batch: the same frames and counters as per-frame forwarding", async () => {
    const mk = () => netRig({ transport: "mmio", device: { backlogFrames: 64 } });
    const [a1, b1, a2, b2] = [await mk(), await mk(), await mk(), await mk()];
    // Per frame: a1's frames forwarded one by one into b1's link.
    let lb1!: HostLink;
    const la1 = new HostLink(perFrame(a1.dev), (f) => lb1.deliver(f), { delivery: "manual", maxPending: 48 });
    lb1 = new HostLink(perFrame(b1.dev), () => {}, { delivery: "manual", maxPending: 48 });
    // Batched: a2's notify forwarded whole into b2's link.
    let lb2!: HostLink;
    const la2 = new HostLink(a2.dev, () => { throw new Error("the batch peer takes every frame"); }, { delivery: "manual", maxPending: 48, peerBatch: (b) => lb2.deliverBatch(b) });
    lb2 = new HostLink(b2.dev, () => {}, { delivery: "manual", maxPending: 48 });
    const seed = 31337, r = rng(seed);
    try {
      for (let round = 0; round < 25; round++) {
        const n = 1 + r(40), fs = Array.from({ length: n }, (_, i) => toGuest(14 + r(1501), round * 100 + i));
        for (const x of [a1, a2]) { for (const f of fs) x.drv.transmit(f, 0, { kick: false }); x.drv.flushTx(0); x.drv.reclaimTx(0); }
        if (r(3)) { lb1.pump(); lb2.pump(); }
        if (r(2)) { b1.drv.pollRx(0); b2.drv.pollRx(0); }
        expect(same(la2)).toEqual(same(la1));
        expect(same(lb2)).toEqual(same(lb1)); // overflow past maxPending counted the same
        expect(lb2.pendingFrames).toBe(lb1.pendingFrames);
      }
      lb1.pump(); lb2.pump();
      for (let k = 0; k < 32; k++) { b1.drv.pollRx(0); b2.drv.pollRx(0); }
      expect(b2.drv.received.map((f) => f.data)).toEqual(b1.drv.received.map((f) => f.data));
      expect(lb1.counters().lost).toBeGreaterThan(0); // some rounds overflowed the 48-frame queue
      expect(la2.counters().errors).toBe(0);
    } catch (err) { console.log(`forwarding batches: seed ${seed}`); throw err; }
  });

  it("regression_deliver_batch_unpadded_tail: a batch whose last record lacks its padding keeps the queue's records aligned", () => {
    const got: number[][] = [];
    const nic = { onTransmit: null, receive: (f: Uint8Array) => { got.push([...f]); return Status.OK; } };
    const link = new HostLink(nic, () => {}, { delivery: "manual" });
    const w = new Uint8Array(4 + 5); // one 5-byte frame, the window ending before its 3 padding bytes
    new DataView(w.buffer).setUint32(0, 5, true);
    w.set([1, 2, 3, 4, 5], 4);
    link.deliverBatch(FrameBatch.read(w, 1));
    link.deliver(Uint8Array.of(9, 8, 7));
    expect(link.pump()).toBe(2);
    expect(got).toEqual([[1, 2, 3, 4, 5], [9, 8, 7]]);
  });

  it("borrow: the peer gets the outbox's views (no copy), valid during the call", async () => {
    const x = await netRig({ transport: "mmio" });
    const firstBytes: number[] = [];
    const buffers = new Set<ArrayBufferLike>();
    const link = new HostLink(x.dev, (f) => { firstBytes.push(f[14]); buffers.add(f.buffer); }, { delivery: "manual", borrow: true });
    for (let i = 0; i < 10; i++) { const f = tagged(100, 1, i); f[14] = i; x.drv.transmit(f, 0, { kick: false }); }
    x.drv.flushTx(0);
    expect(firstBytes).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect([...buffers]).toEqual([x.core.u8().buffer]); // views of wasm memory
    link.close();
  });
});

/** Records in a frame array that fills `records` exactly. */
function countRecords(records: Uint8Array): number {
  const dv = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let n = 0;
  for (let off = 0; off + 4 <= records.length; n++) off += (4 + dv.getUint32(off, true) + 3) & ~3;
  return n;
}

describe("HostLink batched ≡ per frame on the e1000 and the NE2000 (seeded)", () => {
  it("e1000: same frames to the guest, same counters", async () => {
    const seed = 4242;
    const r = rng(seed);
    const a = await e1000Rig(), b = await e1000Rig();
    const la = new HostLink(perFrame(a.dev), () => {}, { delivery: "manual", maxPending: 512 });
    const lb = new HostLink(b.dev, () => {}, { delivery: "manual", maxPending: 512 });
    const calls = countCalls(b.dev);
    try {
      for (let round = 0; round < 30; round++) {
        const n = 1 + r(60);
        for (let i = 0; i < n; i++) { const f = toGuest(pickLen(r), round * 100 + i); la.deliver(f); lb.deliver(f); }
        la.pump(); lb.pump();
        if (r(2)) { a.drv.pollRx(); b.drv.pollRx(); }
        expect(same(lb)).toEqual(same(la));
        const ca = a.dev.counters(), cb = b.dev.counters();
        for (const k of Object.keys(ca) as Array<keyof typeof ca>) expect(cb[k], k).toBe(ca[k]);
      }
      a.drv.pollRx(); b.drv.pollRx();
      expect(b.drv.takeReceived()).toEqual(a.drv.takeReceived());
      expect(calls.calls.length).toBeLessThan(lb.counters().rxFrames);
    } catch (err) { console.log(`e1000 HostLink batch: seed ${seed}`); throw err; }
  });

  it("NE2000: same frames to the guest, same counters", async () => {
    const seed = 9001;
    const r = rng(seed);
    const a = await ne2kRig(), b = await ne2kRig();
    const la = new HostLink(perFrame(a.dev), () => {}, { delivery: "manual", maxPending: 512 });
    const lb = new HostLink(b.dev, () => {}, { delivery: "manual", maxPending: 512 });
    const calls = countCalls(b.dev);
    const mac = GUEST_MAC.split(":").map((h) => parseInt(h, 16));
    const frame = (len: number, seq: number) => toGuest(len, seq, mac);
    const gotA: Uint8Array[] = [], gotB: Uint8Array[] = [];
    try {
      for (let round = 0; round < 30; round++) {
        const n = 1 + r(20);
        for (let i = 0; i < n; i++) { const f = frame(pickLen(r), round * 100 + i); la.deliver(f); lb.deliver(f); }
        la.pump(); lb.pump();
        if (r(2)) { gotA.push(...serviceAll(a)); gotB.push(...serviceAll(b)); }
        expect(same(lb)).toEqual(same(la));
        const ca = a.dev.counters(), cb = b.dev.counters();
        for (const k of Object.keys(ca)) expect(cb[k], k).toBe(ca[k]);
      }
      gotA.push(...serviceAll(a)); gotB.push(...serviceAll(b));
      expect(gotB).toEqual(gotA);
      expect(gotA.length).toBeGreaterThan(0);
      expect(calls.calls.length).toBeLessThan(lb.counters().rxFrames);
    } catch (err) { console.log(`NE2000 HostLink batch: seed ${seed}`); throw err; }
  });
});

