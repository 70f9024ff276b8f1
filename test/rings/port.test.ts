// virtio-net with its backend on a ring port: copy mode (onTransmit /
// receive), ring mode (the port's rings), and the switch between them with
// traffic running. The guest is the spec-written driver model; the backend
// here works the rings from the test's thread, so the order of every frame
// at the far end is observable exactly (threads.test.ts runs one in a worker).
import { describe, it, expect } from "vitest";
import { RingPool, NetmapRing, NetmapRingUser, RingPort, VirtioNetRingBackend, Status, type VmCore } from "../../src/index.js";
import { netRig, type NetRig } from "../support/virtio/net-harness.js";
import { VIRTIO_NET_S_LINK_UP } from "../../src/testing/virtio/defs.js";
import { tagged } from "./support.js";

/** The MAC tagged() frames are addressed to. */
const MAC = "52:54:00:00:00:0b";
const seqAt = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset).getUint32(18, true);
const len = (seq: number) => 60 + ((seq * 37) % 1400);

interface Setup { rig: NetRig; core: VmCore; pool: RingPool; egress: NetmapRing; ingress: NetmapRing; port: RingPort; backend: VirtioNetRingBackend; out: NetmapRingUser; in: NetmapRingUser }

async function setup(slots = 64): Promise<Setup> {
  const rig = await netRig({ transport: "pci", ramBytes: 16 << 20, device: { mac: MAC } });
  const core = rig.core;
  const pool = RingPool.create(core, { buffers: 4 * slots, bufferSize: 2048 });
  const egress = NetmapRing.create(core, { pool, slots, direction: "rx" });
  const ingress = NetmapRing.create(core, { pool, slots, direction: "tx" });
  const port = RingPort.create(core, { egress, ingress });
  const backend = VirtioNetRingBackend.attach(rig.dev, port);
  return { rig, core, pool, egress, ingress, port, backend, out: NetmapRingUser.attach(core, egress.handle), in: NetmapRingUser.attach(core, ingress.handle) };
}

describe("virtio-net on a ring port", () => {
  it("ring mode: the guest's frames reach the backend through the egress ring and the backend's reach the guest; the host callbacks see none", async () => {
    const s = await setup();
    const { rig } = s;
    expect(s.backend.mode).toBe("copy");
    expect(s.backend.setMode("ring")).toBe(true);
    const n = 3000;
    const far: Uint8Array[] = [];
    let sent = 0, given = 0;
    // Bounded: every round moves frames unless both sides are done.
    for (let round = 0; round < 100_000 && (far.length < n || rig.drv.received.length < n); round++) {
      for (let k = 0; k < 8 && sent < n; k++) if (rig.drv.transmit(tagged(len(sent), 1, sent))) sent++; else break;
      far.push(...s.out.receive());
      if (given < n) given += s.in.send(Array.from({ length: Math.min(8, n - given) }, (_, k) => tagged(len(given + k), 2, given + k)));
      s.backend.sync();
      rig.drv.poll();
    }
    expect(far.map(seqAt)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(far.every((f, i) => Buffer.from(f).equals(Buffer.from(tagged(len(i), 1, i))))).toBe(true);
    const got = rig.drv.takeReceived().map((f) => f.data);
    expect(got.length).toBe(n);
    expect(got.every((f, i) => Buffer.from(f).equals(Buffer.from(tagged(len(i), 2, i))))).toBe(true);
    expect(rig.sent.length).toBe(0);
    const c = s.port.counters();
    expect(c.egressFrames).toBe(BigInt(n));
    expect(c.ingressFrames).toBe(BigInt(n));
    expect(rig.dev.counters().rxDropped).toBe(0n);
  });

  it("a backend that stops taking frames stalls the guest's TX (nothing dropped); when it resumes, every frame arrives in order", async () => {
    const s = await setup(16);
    const { rig } = s;
    s.backend.setMode("ring");
    let sent = 0;
    for (let k = 0; k < 200; k++) if (rig.drv.transmit(tagged(100, 3, sent))) sent++;
    s.backend.sync();
    // 15 usable slots; the rest wait in the guest's TX queue.
    expect(s.out.owned()).toBe(15);
    expect(rig.dev.counters().txFrames).toBe(15n);
    const far: Uint8Array[] = [];
    for (let round = 0; round < 1000 && far.length < sent; round++) {
      far.push(...s.out.receive());
      s.backend.sync();
      rig.drv.poll();
      for (let k = 0; k < 4 && sent < 400; k++) if (rig.drv.transmit(tagged(100, 3, sent))) sent++;
    }
    expect(far.map(seqAt)).toEqual(Array.from({ length: sent }, (_, i) => i));
  });

  it("the port owns its rings: they refuse device-side syncs and destruction; a bound port cannot be destroyed; a device in ring mode cannot be linked", async () => {
    const s = await setup();
    const e = s.core.exports;
    expect(e.nmr_txsync(s.ingress.handle, 0, 4096)).toBe(-Status.ERR_BAD_STATE);
    expect(e.nmr_rxsync(s.egress.handle, 0, 0)).toBe(-Status.ERR_BAD_STATE);
    expect(e.nmr_freeze(s.egress.handle, 0)).toBe(Status.ERR_BAD_STATE);
    expect(e.ring_destroy(s.egress.handle)).toBe(Status.ERR_BAD_STATE);
    expect(e.ring_destroy(s.port.handle)).toBe(Status.ERR_BAD_STATE);
    expect(e.port_create(s.egress.handle, s.ingress.handle)).toBe(-Status.ERR_BAD_STATE);
    const other = NetmapRing.create(s.core, { pool: s.pool, slots: 8, direction: "rx" });
    expect(e.port_create(other.handle, other.handle)).toBe(-Status.ERR_INVALID_ARG);
    expect(e.port_create(s.ingress.handle, other.handle)).toBe(-Status.ERR_INVALID_ARG);
    s.backend.setMode("ring");
    expect(e.vnet_connect(s.rig.dev.handle, s.rig.dev.handle)).toBe(Status.ERR_BAD_STATE);
    expect(() => s.backend.detach()).toThrow(/ERR_BAD_STATE/);
    expect(s.backend.setMode("copy")).toBe(true); // nothing in flight: immediate
    s.backend.detach();
    expect(e.ring_destroy(s.port.handle)).toBe(Status.OK);
    expect(e.ring_destroy(s.egress.handle)).toBe(Status.OK);
  });

  it("the backend's frames sent while the port is in copy mode wait in the frozen ingress ring until ring mode", async () => {
    const s = await setup();
    s.backend.setMode("ring");
    expect(s.in.send([tagged(80, 4, 0), tagged(80, 4, 1)])).toBe(2);
    expect(s.backend.setMode("copy")).toBe(true); // the switch delivered both first
    expect(s.in.send([tagged(80, 4, 2)])).toBe(1);
    s.backend.sync();
    s.rig.drv.poll();
    expect(s.rig.drv.received.map((f) => seqAt(f.data))).toEqual([0, 1]);
    s.backend.setMode("ring");
    s.backend.sync();
    s.rig.drv.poll();
    expect(s.rig.drv.received.map((f) => seqAt(f.data))).toEqual([0, 1, 2]);
  });

  it("a destroyed device lets its port go", async () => {
    const s = await setup();
    s.backend.setMode("ring");
    s.rig.dev.destroy();
    expect(s.port.device).toBe(0);
    expect(s.core.exports.ring_destroy(s.port.handle)).toBe(Status.OK);
  });

  it("live switch: traffic both ways while the mode flips 1000 times; no frame lost, duplicated or reordered, the link never drops", async () => {
    const s = await setup(32);
    const { rig } = s;
    const far: number[] = [];        // the far end's view of the guest's frames, in arrival order, from either path
    let badFar = 0;
    rig.dev.onTransmit = (f) => { if (!Buffer.from(f).equals(Buffer.from(tagged(len(seqAt(f)), 5, seqAt(f))))) badFar++; far.push(seqAt(f)); };
    const n = 20_000, m = 20_000;
    let sent = 0, given = 0, flips = 0, waited = 0, pendingPolls = 0, linkDown = 0;
    const configIrqs = () => rig.irq.count(rig.drv.configVector!);
    const irq0 = configIrqs();
    // Bounded: every round moves frames or advances a switch; the loop ends when everything arrived after 1000 flips.
    for (let round = 0; round < 200_000; round++) {
      const done = far.length === n && rig.drv.received.length === m && flips >= 1000;
      if (done) break;
      for (let k = 0; k < 8 && sent < n; k++) if (rig.drv.transmit(tagged(len(sent), 5, sent))) sent++; else break;
      // The far end sends through whichever path the port is in; while a switch drains it holds back.
      if (given < m && !s.backend.switching) {
        const batch = Array.from({ length: Math.min(8, m - given) }, (_, k) => tagged(len(given + k), 6, given + k));
        if (s.backend.mode === "ring") given += s.in.send(batch);
        else for (const f of batch) { if (rig.dev.backlogLength >= 200) break; expect(rig.dev.receive(f)).toBe(Status.OK); given++; }
      }
      // The far end takes at most 5 egress frames a round and none every third round, so the guest's TX
      // outruns it and switches to copy mode must wait for it, some over several rounds.
      for (const f of s.out.receive(round % 3 === 0 ? 0 : 5)) { if (!Buffer.from(f).equals(Buffer.from(tagged(len(seqAt(f)), 5, seqAt(f))))) badFar++; far.push(seqAt(f)); }
      s.backend.sync();
      rig.drv.poll();
      rig.irq.pending.length = 0;
      if ((rig.drv.linkStatus() & VIRTIO_NET_S_LINK_UP) === 0) linkDown++;
      if (s.backend.switching) { pendingPolls++; continue; }
      if (!s.backend.setMode(s.backend.mode === "ring" ? "copy" : "ring")) waited++;
      flips++;
    }
    // Finish in ring mode so frames left in the frozen ingress ring (none expected) would show.
    if (s.backend.mode === "copy") s.backend.setMode("ring");
    s.backend.sync();
    rig.drv.poll();
    expect(flips).toBeGreaterThanOrEqual(1000);
    expect(far).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(badFar).toBe(0);
    const got = rig.drv.takeReceived().map((f) => f.data);
    expect(got.map(seqAt)).toEqual(Array.from({ length: m }, (_, i) => i));
    expect(got.every((f, i) => Buffer.from(f).equals(Buffer.from(tagged(len(i), 6, i))))).toBe(true);
    expect(linkDown).toBe(0);
    expect(configIrqs()).toBe(irq0);
    const c = s.port.counters();
    expect(c.toRing + c.toCopy).toBeGreaterThanOrEqual(1000n);
    expect(c.egressFrames).toBeGreaterThan(0n);
    expect(BigInt(rig.dev.counters().txFrames)).toBe(BigInt(n));
    expect(rig.dev.counters().rxDropped).toBe(0n);
    // Switches to copy mode had to wait for the backend, some across rounds (the schedule above makes both happen).
    expect(waited).toBeGreaterThan(0);
    expect(pendingPolls).toBeGreaterThan(0);
    expect(c.drainPolls).toBeGreaterThan(0n);
  });
});
