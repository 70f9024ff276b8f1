// Exclusive operations on virtio-net ports of the in-wasm switch, driven by
// the spec-written guest driver: a live MAC change under traffic (frames to
// the old address before the switch point, to the new one after, each
// sequence number delivered exactly once), the announce, the queue of
// operations, rollback, VLAN changes under traffic, and the guest's own
// control commands running after the operation.
import { describe, expect, it } from "vitest";
import {
  Exclusive, ExclusiveRefusal, Status, VirtioNet, VirtualSwitch, formatMac, rarpAnnounce, virtioNetExclusive,
  type ExclusiveOp, type ExclusivePhase, type VmCore,
} from "../../src/index.js";
import { newCore } from "../support/core.js";
import { frame, mac, seqOf } from "../../src/guest/virtio/frames.js";
import { GuestRam } from "../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../src/guest/virtio/interrupts.js";
import { VirtioNetDriver, type NetDriverOptions } from "../../src/guest/virtio/net-driver.js";
import { PciTransport } from "../../src/guest/virtio/transport.js";
import { Ctrl, NetF, bit } from "../../src/guest/virtio/defs.js";

const OLD = mac("52:54:00:00:00:01");
const NEW = mac("52:54:00:00:00:99");
const A_MAC = mac("52:54:00:00:00:0a");
const B_MAC = mac("52:54:00:00:00:0b");

interface Port { dev: VirtioNet; drv: VirtioNetDriver; irq: InterruptRecorder }

/** A device on `core` with its driver in guest RAM [heap, heap + 8 MiB), receive filter out of promiscuous mode. */
function port(core: VmCore, m: Uint8Array, heap: number, driver: NetDriverOptions = {}): Port {
  const irq = new InterruptRecorder();
  const dev = VirtioNet.create(core, { mac: m, transport: "pci", interrupts: irq });
  const drv = new VirtioNetDriver(new PciTransport(dev.pci!, { msixVectors: 64 }), new GuestRam(core), irq, { heap: [heap, heap + (8 << 20)], ...driver });
  drv.init();
  expect(drv.setRxMode(Ctrl.RX_PROMISC, false)).toBe(Ctrl.OK);
  return { dev, drv, irq };
}

async function lan(targetDriver: NetDriverOptions = {}) {
  const core = await newCore(32 << 20);
  const sw = VirtualSwitch.create(core);
  const t = port(core, OLD, 1 << 20, targetDriver);
  const a = port(core, A_MAC, 9 << 20);
  const b = port(core, B_MAC, 17 << 20);
  for (const p of [t, a, b]) sw.attach(p.dev);
  // Every port has sent once: the switch knows where OLD, A and B are.
  for (const p of [t, a, b]) { p.drv.transmit(frame({ dst: mac("ff:ff:ff:ff:ff:ff"), src: p.dev === t.dev ? OLD : p.dev === a.dev ? A_MAC : B_MAC, seq: 0xffffffff })); }
  for (const p of [t, a, b]) { p.drv.service(); p.drv.poll(); p.drv.takeReceived(); }
  return { core, sw, t, a, b };
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));
const configMac = (p: Port) => { p.drv.readConfig(); return formatMac(p.drv.mac); };

describe("live MAC change on a virtio-net switch port under traffic", () => {
  for (const announce of ["guest", "rarp"] as const) {
    it(`frames to the old MAC before the switch point, to the new one after, each exactly once; announced by ${announce}`, async () => {
      const driver: NetDriverOptions = announce === "guest" ? { announceFrame: rarpAnnounce } : { refuse: bit(NetF.GUEST_ANNOUNCE) };
      const { t, a, b } = await lan(driver);
      let dst = OLD, seq = 0, switchPoint = -1;
      const sent = new Map<number, Uint8Array>();
      const send = (p: Port, src: Uint8Array) => { const f = frame({ dst, src, seq }); sent.set(seq++, dst); expect(p.drv.transmit(f)).toBe(true); p.drv.reclaimTx(); };
      const got: { seq: number; dst: string }[] = [];
      const pump = (n: number) => {
        for (let i = 0; i < n; i++) { send(a, A_MAC); send(b, B_MAC); }
        t.drv.service(); t.drv.poll();
        for (const f of t.drv.takeReceived()) if (seqOf(f.data) !== 0xffffffff) got.push({ seq: seqOf(f.data), dst: formatMac(f.data.subarray(0, 6)) });
      };
      // The in-flight probe: a reference stays for three checks (a batch on another thread), then drains.
      let refs = 3;
      const phases: ExclusivePhase[] = [];
      const ex = new Exclusive(virtioNetExclusive(t.dev), {
        inFlight: () => (refs > 0 ? refs-- : 0),
        onPhase: (_op, ph) => {
          phases.push(ph);
          // The switch point: the device is quiesced; senders address the new MAC from here on.
          if (ph === "quiesce") { switchPoint = seq; dst = NEW; pump(4); }
        },
      });
      pump(20);
      const done = ex.setMac(NEW);
      let turns = 0;
      for (let fin = false; !fin; turns++) {
        void done.then(() => { fin = true; });
        pump(8);
        await nextTurn();
      }
      const res = await done;
      for (let i = 0; i < 4; i++) pump(8);
      pump(0);

      expect(res.ok).toBe(true);
      expect(phases).toEqual(["start", "quiesce", "drained", "applied", "up", "finish", "announce"]);
      expect(res.drainChecks).toBe(4);
      expect(res.held).toBeGreaterThan(0);
      expect(res.heldDropped).toBe(0);
      expect(res.announced).toBe(announce);
      // Every sequence number arrived exactly once, in order; old MAC strictly before the switch point, new MAC from it.
      expect(got.map((g) => g.seq)).toEqual([...sent.keys()]);
      for (const g of got) expect(g.dst).toBe(g.seq < switchPoint ? formatMac(OLD) : formatMac(NEW));
      expect(switchPoint).toBeGreaterThan(0);
      const c = t.dev.counters();
      expect(c.rxDropped).toBe(0n);
      expect(c.rxFiltered).toBe(0n);
      expect(c.rxHeld).toBe(BigInt(res.held));
      expect(configMac(t)).toBe(formatMac(NEW));
      // Announce seen: the switch learned NEW at t's port, so frames to NEW no longer flood to a and b.
      const aFiltered = a.dev.counters().rxFiltered, bFiltered = b.dev.counters().rxFiltered;
      pump(8);
      expect(a.dev.counters().rxFiltered).toBe(aFiltered);
      expect(b.dev.counters().rxFiltered).toBe(bFiltered);
      if (announce === "guest") {
        expect(t.dev.counters().announces).toBe(1n);
        expect(t.drv.announceAcks).toBe(1);
      }
      for (const p of [a, b]) { p.drv.service(); p.drv.poll(); }
      const rarps = [a, b].flatMap((p) => p.drv.takeReceived()).filter((f) => f.data[12] === 0x80 && f.data[13] === 0x35);
      expect(rarps.map((f) => formatMac(f.data.subarray(6, 12)))).toEqual([formatMac(NEW), formatMac(NEW)]);
    });
  }

  it("a second operation requested meanwhile queues and starts only after the first finishes", async () => {
    const { t } = await lan();
    const log: string[] = [];
    const nic = virtioNetExclusive(t.dev);
    let queuedAtFirst = -1;
    const ex: Exclusive = new Exclusive(nic, { onPhase: (op, ph) => { log.push(`${op}:${ph}`); if (ph === "quiesce" && queuedAtFirst < 0) queuedAtFirst = ex.queued; } });
    const first = ex.setMac(NEW);
    const second = ex.setMac(mac("52:54:00:00:00:77"));
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1.ok && r2.ok).toBe(true);
    expect(queuedAtFirst).toBe(1);
    expect(log.indexOf("setMac:start", 1)).toBeGreaterThan(log.indexOf("setMac:announce"));
    expect(r2.timeline[0].at).toBeGreaterThanOrEqual(r1.timeline[r1.timeline.length - 1].at);
    expect(configMac(t)).toBe("52:54:00:00:00:77");
    expect(ex.running).toBe(null);
  });

  it("a refused operation leaves the device exactly as it was, never quiesced", async () => {
    const { t } = await lan();
    const ex = new Exclusive(virtioNetExclusive(t.dev));
    const before = t.dev.saveState();
    const r = await ex.setMac(mac("01:00:5e:00:00:01"));
    expect(r.ok).toBe(false);
    expect(r.status).toBe(Status.ERR_INVALID_ARG);
    expect(r.timeline.map((m) => m.phase)).toEqual(["start", "rollback"]);
    expect(t.dev.saveState()).toEqual(before);
    // mtu: the driver has read it; refused with the reason.
    const m = await ex.setMtu(1400);
    expect(m.status).toBe(Status.ERR_BAD_STATE);
    expect(m.reason).toMatch(/while the device is reset/);
    expect((await ex.setVlanFilter([4096])).status).toBe(Status.ERR_INVALID_ARG);
    expect(t.dev.saveState()).toEqual(before);
  });

  it("in-flight references that never drain: the operation times out and the device resumes exactly as it was", async () => {
    const { t, a } = await lan();
    const ex = new Exclusive(virtioNetExclusive(t.dev), { inFlight: () => 1, drainTimeoutMs: 0 });
    const before = t.dev.saveState();
    const r = await ex.setMac(NEW);
    expect(r.ok).toBe(false);
    expect(r.status).toBe(Status.ERR_BAD_STATE);
    expect(r.timeline.map((m) => m.phase)).toEqual(["start", "quiesce", "rollback"]);
    expect(t.dev.saveState()).toEqual(before);
    expect(configMac(t)).toBe(formatMac(OLD));
    // And it still works: a frame to OLD is delivered.
    a.drv.transmit(frame({ dst: OLD, src: A_MAC, seq: 5 }));
    t.drv.service(); t.drv.poll();
    expect(t.drv.takeReceived().map((f) => seqOf(f.data))).toEqual([5]);
  });

  it("a shared in-flight counter is waited on (Atomics) until it reaches 0", async () => {
    const { t } = await lan();
    const cell = { array: new Int32Array(new SharedArrayBuffer(4)), index: 0 };
    cell.array[0] = 2;
    const ex = new Exclusive(virtioNetExclusive(t.dev), { inFlight: cell, drainTimeoutMs: 60_000 });
    const done = ex.setMac(NEW);
    await nextTurn();
    expect(ex.running).toBe("setMac");
    Atomics.store(cell.array, 0, 1); Atomics.notify(cell.array, 0);
    await nextTurn();
    Atomics.store(cell.array, 0, 0); Atomics.notify(cell.array, 0);
    const r = await done;
    expect(r.ok).toBe(true);
    expect(r.drainChecks).toBeGreaterThanOrEqual(2);
  });

  it("regression_exclusive_throw_stalled_the_queue: an operation that throws (here its in-flight probe) resumes the device, reports why, and the next operation runs", async () => {
    // Before the fix the promise rejected with the device left quiesced, and every later run() chained on it rejected too.
    const { t, a } = await lan();
    let calls = 0;
    const ex = new Exclusive(virtioNetExclusive(t.dev), { inFlight: () => { if (calls++ === 0) throw new Error("probe gone"); return 0; } });
    const [bad, good] = await Promise.all([ex.setMac(NEW), ex.setMac(NEW)]);
    expect([bad.ok, bad.status, bad.reason]).toEqual([false, Status.ERR_HOST, "threw: probe gone"]);
    expect(bad.timeline.map((m) => m.phase)).toEqual(["start", "quiesce", "rollback"]);
    expect(good.ok).toBe(true);
    a.drv.transmit(frame({ dst: NEW, src: A_MAC, seq: 3 }));
    t.drv.service(); t.drv.poll();
    expect(t.drv.takeReceived().map((f) => seqOf(f.data))).toContain(3);
  });

  it("an apply that fails restores the snapshot: the device is back exactly as before", async () => {
    const { t } = await lan();
    const nic = virtioNetExclusive(t.dev);
    const ex = new Exclusive(nic);
    const before = t.dev.saveState();
    const broken: ExclusiveOp<null> = {
      name: "broken",
      prepare: () => null,
      apply: (n) => { n.applyMac(NEW); n.vlanTable instanceof Function && n.vlanTable(new Uint8Array(512).fill(0xff)); return Status.ERR_FAULT; },
    };
    const r = await ex.run(broken);
    expect(r.ok).toBe(false);
    expect(r.status).toBe(Status.ERR_FAULT);
    expect(r.timeline.map((m) => m.phase)).toEqual(["start", "quiesce", "drained", "rollback"]);
    expect(t.dev.saveState()).toEqual(before);
    // A refusal thrown by prepare is reported, not thrown.
    const refused = await ex.run({ name: "no", prepare: () => { throw new ExclusiveRefusal(Status.ERR_UNSUPPORTED, "nope"); }, apply: () => Status.OK });
    expect([refused.status, refused.reason]).toEqual([Status.ERR_UNSUPPORTED, "nope"]);
  });

  it("the guest's control command sent during an operation runs after it (the later change wins)", async () => {
    const { t, a } = await lan();
    const GUEST = mac("52:54:00:00:00:55");
    let ack = -2, okAtApply = -1n;
    const ex = new Exclusive(virtioNetExclusive(t.dev), {
      onPhase: (_op, ph) => {
        // The device is quiesced: the control queue is not processed, the command waits in it.
        if (ph === "quiesce") ack = t.drv.sendCtrl(Ctrl.MAC, Ctrl.MAC_ADDR_SET, GUEST);
        if (ph === "applied") { okAtApply = t.dev.counters().ctrlOk; expect(configMac(t)).toBe(formatMac(NEW)); }
      },
    });
    const ok0 = t.dev.counters().ctrlOk;
    const r = await ex.setMac(NEW);
    expect(r.ok).toBe(true);
    expect(ack).toBe(-1);               // not completed while the operation ran
    expect(okAtApply).toBe(ok0);
    expect(t.dev.counters().ctrlOk).toBe(ok0 + 1n);
    expect(t.drv.ctrl!.pop()).toBeTruthy(); // the command completed on resume
    expect(configMac(t)).toBe(formatMac(GUEST));
    // The filter follows the later change: GUEST is accepted, NEW is not.
    a.drv.transmit(frame({ dst: GUEST, src: A_MAC, seq: 1 }));
    a.drv.transmit(frame({ dst: NEW, src: A_MAC, seq: 2 }));
    t.drv.service(); t.drv.poll();
    expect(t.drv.takeReceived().map((f) => seqOf(f.data)).filter((s) => s !== 0xffffffff)).toEqual([1]);
  });
});

describe("VLAN filter changes with the receive path stopped", () => {
  it("under tagged traffic: frames before the change judged by the old table, held and later ones by the new; none lost", async () => {
    const { t, a } = await lan();
    expect(t.drv.vlan(true, 10)).toBe(Ctrl.OK);
    let seq = 0, changeAt = -1;
    const sent: { seq: number; vid: number }[] = [];
    const send = () => { for (const vid of [10, 20]) { sent.push({ seq, vid }); a.drv.transmit(frame({ dst: OLD, src: A_MAC, vlan: vid, seq: seq++ })); a.drv.reclaimTx(); } };
    const got: number[] = [];
    const pump = () => { send(); t.drv.service(); t.drv.poll(); for (const f of t.drv.takeReceived()) if (seqOf(f.data) !== 0xffffffff) got.push(seqOf(f.data)); };
    let refs = 2;
    const ex = new Exclusive(virtioNetExclusive(t.dev), { inFlight: () => (refs > 0 ? refs-- : 0), onPhase: (_o, ph) => { if (ph === "quiesce") { changeAt = seq; pump(); } } });
    for (let i = 0; i < 10; i++) pump();
    const done = ex.setVlanFilter([20]);
    for (let fin = false; !fin;) { void done.then(() => { fin = true; }); pump(); await nextTurn(); }
    const r = await done;
    for (let i = 0; i < 5; i++) pump();
    expect(r.ok).toBe(true);
    expect(r.held).toBeGreaterThan(0);
    const expected = sent.filter((s) => (s.seq < changeAt ? s.vid === 10 : s.vid === 20)).map((s) => s.seq);
    expect(got).toEqual(expected);
    const c = t.dev.counters();
    expect(c.rxDropped).toBe(0n);
    expect(c.rxFiltered).toBe(BigInt(sent.length - expected.length));
  });

  it("regression_frames_held_across_a_vlan_change_are_judged_by_the_new_table: the virtio-net backlog filtered at entry", async () => {
    // Before the fix netReceive judged a frame when it entered the backlog: a frame held while the device was
    // quiesced passed or failed by the table of before the change (VLAN 20 lost, VLAN 10 passed).
    const { t, a } = await lan();
    expect(t.drv.vlan(true, 10)).toBe(Ctrl.OK);
    const ex = new Exclusive(virtioNetExclusive(t.dev), {
      onPhase: (_o, ph) => {
        if (ph !== "quiesce") return;
        a.drv.transmit(frame({ dst: OLD, src: A_MAC, vlan: 10, seq: 1 }));
        a.drv.transmit(frame({ dst: OLD, src: A_MAC, vlan: 20, seq: 2 }));
        expect(t.dev.backlogLength).toBe(2);
      },
    });
    expect((await ex.setVlanFilter([20])).ok).toBe(true);
    t.drv.service(); t.drv.poll();
    expect(t.drv.takeReceived().map((f) => seqOf(f.data)).filter((s) => s !== 0xffffffff)).toEqual([2]);
    expect(t.dev.counters().rxFiltered).toBe(1n);
  });

  it("held frames keep their mark through save and restore: the destination judges them on delivery", async () => {
    const { core, t, a } = await lan();
    t.dev.quiesce();
    a.drv.transmit(frame({ dst: NEW, src: A_MAC, seq: 7 }));   // not t's address: the filter must refuse it when judged
    expect(t.dev.backlogLength).toBe(1);
    const blob = t.dev.saveState();
    const dst = VirtioNet.create(core, { mac: OLD, transport: "pci", interrupts: new InterruptRecorder() });
    expect(dst.restoreState(blob)).toBe(Status.OK);
    // Restore delivers nothing; the resume judges the held frame.
    expect(dst.backlogLength).toBe(1);
    expect(dst.counters().rxFiltered).toBe(0n);
    dst.resume();
    expect(dst.counters().rxFiltered).toBe(1n);
    expect(dst.counters().rxFrames).toBe(0n);
    expect(dst.backlogLength).toBe(0);
  });
});
