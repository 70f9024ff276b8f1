// The host side of the device: outbox back-pressure, quiesce/resume, RX chain
// faults mid-frame, and guest RAM owned by an embedding emulator (foreign).
import { describe, it, expect } from "vitest";
import { Status } from "../../../src/index.js";
import { Rig, F, frame, OWN_MAC } from "./rig.js";
import { newCore, FakeEmulatorRam } from "../../support/core.js";

const BASE = [F.VERSION_1, F.MAC, F.CTRL_VQ, F.CTRL_RX];

describe("host port", () => {
  it("a full host outbox holds TX chains back (nothing lost) until the host drains it", async () => {
    const r = await Rig.create("pci", { mtu: 65000 });
    r.init(BASE);
    const frames = Array.from({ length: 12 }, (_, i) => frame("02:00:00:00:00:02", 60000, i));
    for (const f of frames) { const b = r.buf(12 + f.length); r.g.writeBytes(b + 12, f); r.add(1, [{ addr: b, len: 12 + f.length }]); }
    r.notify(1);
    expect(r.tx).toEqual(frames);
    expect(r.dev.counters().txStalls).toBeGreaterThan(0n);
    expect(r.takeUsed(1)).toHaveLength(12);
  });

  it("quiesce: kicks wait, host frames wait in the backlog; resume processes both", async () => {
    const r = await Rig.create("mmio");
    r.init(BASE);
    r.postRx(0, 4, 2048);
    r.dev.quiesce();
    const out = frame("02:00:00:00:00:02");
    r.send(out);
    expect(r.tx).toHaveLength(0);
    expect(r.dev.receive(frame(OWN_MAC))).toBe(Status.OK);
    expect(r.dev.backlogLength).toBe(1);
    r.dev.resume();
    expect(r.tx).toEqual([out]);
    expect(r.takeUsed(0)).toHaveLength(1);
  });

  it("a malformed chain in the middle of a mergeable frame returns the frame's chains empty; the frame is delivered whole later", async () => {
    const r = await Rig.create("mmio");
    r.init([...BASE, F.MRG_RXBUF]);
    const a = r.buf(256);
    r.add(0, [{ addr: a, len: 256, write: true }]);
    const ro = r.buf(256);
    r.add(0, [{ addr: ro, len: 256 }]);           // readable: malformed for RX
    const f = frame(OWN_MAC, 400);
    expect(r.dev.receive(f)).toBe(Status.OK);
    expect(r.takeUsed(0).map((u) => u.len)).toEqual([0, 0]);
    expect(r.dev.counters().rxMalformed).toBe(1n);
    expect(r.dev.backlogLength).toBe(1);
    const bufs = r.postRx(0, 2, 256);
    const used = r.takeUsed(0);
    expect(used.map((u) => u.len)).toEqual([256, 156]);
    const got = new Uint8Array(412);
    got.set(r.g.readBytes(bufs.get(used[0].id)!, 256)); got.set(r.g.readBytes(bufs.get(used[1].id)!, 156), 256);
    expect(got.subarray(12)).toEqual(f);
    expect(got[10] | (got[11] << 8)).toBe(2);
  });

  it("runts and frames above MTU + 18 are refused with ERR_INVALID_ARG and counted", async () => {
    const r = await Rig.create("mmio", { mtu: 1500 });
    r.init(BASE);
    expect(r.dev.receive(new Uint8Array(13))).toBe(Status.ERR_INVALID_ARG);
    expect(r.dev.receive(frame(OWN_MAC, 1519))).toBe(Status.ERR_INVALID_ARG);
    expect(r.dev.receive(frame(OWN_MAC, 1518))).toBe(Status.OK);
    expect(r.dev.counters().rxInvalid).toBe(2n);
  });

  it("works on guest RAM owned by an embedding emulator, notifying every device write", async () => {
    const ram = new FakeEmulatorRam(32 << 20);
    const core = await newCore(32 << 20, { foreign: ram });
    const r = await Rig.create("pci", {}, 0, core);
    r.init(BASE);
    const f = frame("02:00:00:00:00:02", 200);
    r.send(f);
    expect(r.tx).toEqual([f]);
    const bufs = r.postRx(0, 1, 2048);
    ram.notified.length = 0;
    const g = frame(OWN_MAC, 300);
    r.dev.receive(g);
    const [u] = r.takeUsed(0);
    expect(Buffer.from(ram.bytes.subarray(bufs.get(u.id)! + 12, bufs.get(u.id)! + 312))).toEqual(Buffer.from(g));
    expect(ram.notified.some(([gpa]) => gpa === bufs.get(u.id))).toBe(true);
  });
});
