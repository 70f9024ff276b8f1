// The NIC events (src/net/nic-events.ts) on every NIC model, as an embedder
// uses them: several listeners beside onTransmit, each event type raised by
// what causes it, nothing dispatched once the listeners are gone, the trace
// channel of node:diagnostics_channel, and counters that JSON.stringify takes.
import diagnosticsChannel from "node:diagnostics_channel";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { NicEvents, NicFrameEvent, NIC_TRACE_CHANNELS, Status, countersJson, type NicEvent, type NicEventMap } from "../../src/index.js";
import { netRig, Rig, F } from "../devices/virtio-net/rig.js";
import { e1000Rig } from "../devices/e1000/rig.js";
import { ne2kRig, ethFrame, serviceAll, GUEST_MAC } from "../support/ne2k/rig.js";

const PEER = "02:00:00:00:00:07";
const record = <K extends keyof NicEventMap>(ev: NicEvents, type: K): NicEventMap[K][] => {
  const out: NicEventMap[K][] = [];
  ev.addEventListener(type, (e) => { out.push(e as NicEventMap[K]); });
  return out;
};

describe("NIC events", () => {
  it("virtio-net: two transmit listeners and onTransmit all see every frame, with its length", async () => {
    const r = await netRig({ transport: "pci" });
    const a = record(r.dev.events, "transmit"), b = record(r.dev.events, "transmit");
    const frames = Array.from({ length: 20 }, (_, i) => ethFrame(PEER, i, 60 + i * 50));
    for (const f of frames) r.drv.transmit(f);
    expect(r.sent.length).toBe(20);
    for (const got of [a, b]) {
      expect(got.map((e) => e.length)).toEqual(frames.map((f) => f.length));
      expect(got.every((e, i) => e.device === r.dev.name && e instanceof NicFrameEvent && Buffer.from(e.frame).equals(frames[i]))).toBe(true);
    }
  });

  it("virtio-net: receive (with receive's status), interrupt (MSI-X), filterchange, reset", async () => {
    const r = await netRig({ transport: "pci" });
    const rx = record(r.dev.events, "receive"), irq = record(r.dev.events, "interrupt");
    const filter = record(r.dev.events, "filterchange"), reset = record(r.dev.events, "reset");
    const f = ethFrame(r.drv.mac, 1, 100);
    expect(r.dev.receive(f)).toBe(Status.OK);
    expect(rx.map((e) => [e.length, e.status])).toEqual([[100, Status.OK]]);
    expect(irq.length).toBeGreaterThan(0);
    expect(irq.every((e) => e.kind === "msi" && e.msi !== null && (e.msi.addressLo >>> 20) === 0xfee)).toBe(true);
    expect(r.dev.receive(new Uint8Array(8))).toBe(Status.ERR_INVALID_ARG);
    expect(rx.at(-1)!.status).toBe(Status.ERR_INVALID_ARG);
    expect(r.dev.receiveBatch([f, f, f])).toBe(3);
    expect(rx.slice(2).map((e) => e.status)).toEqual([null, null, null]);
    expect(filter.length).toBe(0);
    r.drv.setRxMode(0, true); // VIRTIO_NET_CTRL_RX_PROMISC
    expect(filter.length).toBe(1);
    r.dev.reset();
    expect(reset.map((e) => e.cause)).toEqual(["host"]);
  });

  it("virtio-net: DEVICE_NEEDS_RESET raises one reset event (cause needs-reset), and restore raises cause restore", async () => {
    const r = await Rig.create("pci");
    const reset = record(r.dev.events, "reset");
    r.init([F.VERSION_1, F.MAC, F.STATUS, F.CTRL_VQ]);
    const blob = r.dev.saveState();
    r.setAvailIdx(1, 65);
    r.notify(1);
    expect(r.dev.needsReset).toBe(true);
    r.notify(1);
    expect(reset.map((e) => e.cause)).toEqual(["needs-reset"]);
    expect(r.dev.restoreState(blob)).toBe(Status.OK);
    expect(reset.map((e) => e.cause)).toEqual(["needs-reset", "restore"]);
  });

  it("e1000: transmit beside onTransmit, receive, INTA# interrupts, filterchange, link, reset", async () => {
    const r = await e1000Rig();
    const tx = record(r.dev.events, "transmit"), rx = record(r.dev.events, "receive"), irq = record(r.dev.events, "interrupt");
    const filter = record(r.dev.events, "filterchange"), link = record(r.dev.events, "link"), reset = record(r.dev.events, "reset");
    for (let i = 0; i < 10; i++) r.drv.transmit(ethFrame(PEER, i, 64 + i));
    expect(tx.map((e) => e.length)).toEqual(r.sent.map((f) => f.length));
    expect(tx.length).toBe(10);
    expect(r.dev.receive(ethFrame("52:54:00:12:34:56", 1, 90))).toBe(Status.OK);
    expect(rx.map((e) => [e.length, e.status])).toEqual([[90, Status.OK]]);
    expect(irq.some((e) => e.kind === "intx" && e.pin === 0 && e.level)).toBe(true);
    r.drv.setRxMode({ promisc: true });
    expect(filter.length).toBeGreaterThan(0);
    r.dev.setLink(false);
    r.dev.setLink(true);
    expect(link.map((e) => e.up)).toEqual([false, true]);
    r.dev.reset();
    expect(reset.map((e) => e.cause)).toEqual(["host"]);
  });

  it("ne2k: transmit beside onTransmit, receive, line interrupts, filterchange, reset", async () => {
    const r = await ne2kRig();
    const tx = record(r.dev.events, "transmit"), rx = record(r.dev.events, "receive"), irq = record(r.dev.events, "interrupt");
    const filter = record(r.dev.events, "filterchange"), reset = record(r.dev.events, "reset");
    for (let i = 0; i < 6; i++) { r.drv.transmit(ethFrame(PEER, i, 80)); serviceAll(r); }
    expect(tx.length).toBe(6);
    expect(r.sent.length).toBe(6);
    expect(r.dev.receive(ethFrame(GUEST_MAC, 9, 70))).toBe(Status.OK);
    expect(rx.map((e) => [e.length, e.status])).toEqual([[70, Status.OK]]);
    expect(irq.some((e) => e.kind === "intx" && e.level)).toBe(true);
    expect(irq.some((e) => e.kind === "intx" && !e.level)).toBe(true);
    r.drv.setPromiscuous(true);
    expect(filter.length).toBeGreaterThan(0);
    r.dev.reset();
    expect(reset.map((e) => e.cause)).toEqual(["host"]);
  });

  it("nothing is dispatched or built once the listeners are gone (removed, once, aborted)", async () => {
    const r = await e1000Rig();
    const ev = r.dev.events;
    let calls = 0;
    const fn = () => { calls++; };
    ev.addEventListener("transmit", fn);
    ev.addEventListener("transmit", fn); // the same listener twice is one listener (EventTarget)
    expect(ev.listenerCount("transmit")).toBe(1);
    ev.addEventListener("transmit", fn, { once: true, capture: true });
    const ac = new AbortController();
    ev.addEventListener("transmit", fn, { signal: ac.signal });
    expect(ev.listenerCount("transmit")).toBe(2);
    r.drv.transmit(ethFrame(PEER, 0, 64));
    expect(calls).toBe(2);
    expect(ev.listenerCount("transmit")).toBe(1);
    ac.abort();
    ev.removeEventListener("transmit", fn);
    expect(ev.listenerCount("transmit")).toBe(0);
    expect(ev.wants("transmit")).toBe(false);
    // Building an event now would be a bug: emit() is what dispatches, and it is only reached through wants().
    const seen: NicEvent[] = [];
    const probe = new NicEvents("probe");
    probe.emit = (e) => { seen.push(e); };
    probe.tx(new Uint8Array(64));
    expect(seen).toEqual([]);
    r.drv.transmit(ethFrame(PEER, 1, 64));
    expect(calls).toBe(2);
    expect(r.sent.length).toBe(2);
  });

  it("publishes to node:diagnostics_channel while subscribed, and only then", async () => {
    const r = await ne2kRig();
    const got: NicFrameEvent[] = [];
    const sub = (m: unknown) => { got.push(m as NicFrameEvent); };
    expect(r.dev.events.wants("transmit")).toBe(false);
    diagnosticsChannel.subscribe(NIC_TRACE_CHANNELS.transmit, sub);
    try {
      expect(r.dev.events.wants("transmit")).toBe(true);
      r.drv.transmit(ethFrame(PEER, 3, 99));
      serviceAll(r);
    } finally {
      diagnosticsChannel.unsubscribe(NIC_TRACE_CHANNELS.transmit, sub);
    }
    expect(got.map((e) => [e.device, e.type, e.length])).toEqual([[r.dev.name, "transmit", 99]]);
    expect(r.dev.events.wants("transmit")).toBe(false);
    r.drv.transmit(ethFrame(PEER, 4, 99));
    serviceAll(r);
    expect(got.length).toBe(1);
  });
});

describe("counters as JSON", () => {
  it("countersJson: numbers up to 2^53 − 1, larger values as decimal strings", () => {
    const big = 2n ** 64n - 1n;
    expect(countersJson({ a: 0n, b: 2n ** 53n - 1n, c: 2n ** 53n, d: big })).toEqual({ a: 0, b: Number.MAX_SAFE_INTEGER, c: "9007199254740992", d: big.toString() });
  });

  it("every NIC model's countersJSON goes through JSON.stringify and matches counters()", async () => {
    const v = await netRig({ transport: "mmio" });
    const e = await e1000Rig();
    const n = await ne2kRig();
    v.drv.transmit(ethFrame(PEER, 0, 64)); e.drv.transmit(ethFrame(PEER, 0, 64)); n.drv.transmit(ethFrame(PEER, 0, 64));
    for (const dev of [v.dev, e.dev, n.dev]) {
      expect(() => JSON.stringify(dev.counters())).toThrow(TypeError);
      const back = JSON.parse(JSON.stringify(dev.countersJSON())) as Record<string, number>;
      const raw = dev.counters() as Record<string, bigint>;
      expect(Object.keys(back)).toEqual(Object.keys(raw));
      for (const [k, val] of Object.entries(raw)) expect(back[k]).toBe(Number(val));
      expect(Object.values(back).some((x) => x > 0)).toBe(true);
    }
  });
});

describe("the browser build", () => {
  it("carries the events and the tracing hook but imports no node: module (diagnostics_channel is the Node entry's)", () => {
    const js = readFileSync(new URL("../../dist/browser/vmdev.js", import.meta.url), "utf8");
    expect(js).not.toMatch(/["']node:|diagnostics_channel/);
    expect(js).toMatch(/vmdev:nic:transmit/);
    expect(js).toMatch(/\bNicEvents\b/);
  });
});

describe("counters as JSON on every device kind of a Machine", () => {
  it("each device's countersJSON (NICs, memtest, local APICs, IOAPIC) and the core's go through JSON.stringify as plain numbers", async () => {
    const { Machine, ConfigTree } = await import("../../src/index.js");
    const { debugWasm } = await import("../support/core.js");
    const c = new ConfigTree();
    c.load(["memory.size=16M", "cpus=2", "pci.0.3.0.device=virtio-net", "pci.0.4.0.device=e1000", "pci.0.5.0.device=ne2k", "pci.0.6.0.device=memtest"].join("\n"));
    const m = await Machine.create(c, { module: debugWasm(), variant: "debug", startVcpus: false });
    try {
      const kinds = new Set<number>();
      for (const d of m.devices) {
        expect(d.countersJSON, d.name).toBeTypeOf("function");
        const json = JSON.parse(JSON.stringify(d.countersJSON!())) as Record<string, unknown>;
        expect(Object.keys(json).length, d.name).toBeGreaterThan(0);
        expect(Object.values(json).every((v) => typeof v === "number"), d.name).toBe(true);
        kinds.add(d.kind);
      }
      expect(kinds.size).toBe(6); // virtio-net, e1000, NE2000, memtest, local APIC, IOAPIC
      expect(JSON.parse(JSON.stringify(m.core.countersJSON())).gmRangeErrors).toBe(0);
    } finally {
      await m.destroy();
    }
  });
});
