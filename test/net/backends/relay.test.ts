// The WebSocket relay backend against a hub relay on loopback (no guest):
// frames pass both ways exactly and in order, guest frames wait while it
// connects (bounded), and a hostile relay — oversized, runt and text
// messages, a message past the library's bound, closing on us, a flood
// while the VM is held — is counted and survived.
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type Socket } from "node:net";
import { RelayBackend } from "../../../src/net/backends/relay.js";
import { NODE_WEBSOCKET } from "../../../src/net/backends/node.js";
import type { FrameEndpoint } from "../../../src/net/host-link.js";
import { Status } from "../../../src/status.js";
import { SyncState } from "../../../src/sync/shared.js";
import { VmLock } from "../../../src/sync/vm-lock.js";
import { VcpuHost } from "../../../src/vcpu/host.js";
import { startRelayHub, type RelayHub } from "../../support/relay-hub.js";
import { until, WATCHDOG_MS } from "../../support/wait.js";

/** A NIC's host port that takes every frame. */
class Port implements FrameEndpoint {
  onTransmit: ((frame: Uint8Array) => void) | null = null;
  readonly got: Uint8Array[] = [];
  // The link hands frames as views of its queue, valid during the call (a NIC copies them into guest RAM).
  receive(f: Uint8Array): number { this.got.push(f.slice()); return Status.OK; }
  /** The guest transmits. */
  send(f: Uint8Array): void { this.onTransmit!(f); }
}

/** A 64-byte test frame from `src` with sequence number `seq` in bytes 14..17. */
function frame(src: number, seq: number, len = 64): Uint8Array {
  const f = new Uint8Array(len);
  f.fill(0xff, 0, 6);
  f.set([0x52, 0x54, 0, 0, 0, src], 6);
  f[12] = 0x88; f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}
const seqs = (fs: Uint8Array[]) => fs.map((f) => new DataView(f.buffer, f.byteOffset).getUint32(14));

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => { for (const o of open.splice(0).reverse()) await o.close(); });

async function hub(): Promise<RelayHub> { const h = await startRelayHub(); open.push(h); return h; }
function relay(port: Port, url: string, opts: Parameters<typeof RelayBackend.connect>[2] = {}): RelayBackend {
  const b = RelayBackend.connect(port, url, { WebSocket: NODE_WEBSOCKET, reconnectMs: 5, ...opts });
  open.push(b);
  return b;
}

describe("relay backend", () => {
  it("two NICs on a hub relay exchange 300 frames each way, exactly and in order", async () => {
    const h = await hub();
    const pa = new Port(), pb = new Port();
    const a = relay(pa, h.url), b = relay(pb, h.url);
    await Promise.all([a.when("up"), b.when("up"), h.waitClients(2)]);
    const N = 300, W = 50;
    // In windows of W frames, each waited for: a burst past the link's queue (256) would be dropped, by design.
    for (let i = 0; i < N; i += W) {
      for (let j = i; j < i + W; j++) pa.send(frame(1, j));
      await until(() => pb.got.length >= i + W, "b receiving");
    }
    for (let i = 0; i < N; i += W) {
      for (let j = i; j < i + W; j++) pb.send(frame(2, j, 60 + (j % 1400)));
      await until(() => pa.got.length >= i + W, "a receiving");
    }
    expect(seqs(pb.got)).toEqual([...Array(N).keys()]);
    expect(seqs(pa.got)).toEqual([...Array(N).keys()]);
    expect(pa.got.map((f) => f.length)).toEqual([...Array(N).keys()].map((i) => 60 + (i % 1400)));
    expect(h.stats.received).toBe(2 * N);
    const ca = a.counters(), cb = b.counters();
    expect([ca.txFrames, ca.rxFrames, ca.txDropped, ca.rxInvalid, ca.connects]).toEqual([N, N, 0, 0, 1]);
    expect([cb.txFrames, cb.rxFrames, cb.txDropped, cb.rxInvalid, cb.connects]).toEqual([N, N, 0, 0, 1]);
    expect(a.link.counters().rxFrames).toBe(N);
  });

  it("holds guest frames while connecting (at most maxQueuedFrames) and sends them on open", async () => {
    const h = await hub();
    const pb = new Port();
    const b = relay(pb, h.url);
    await Promise.all([b.when("up"), h.waitClients(1)]);
    const pa = new Port();
    const a = relay(pa, h.url, { maxQueuedFrames: 4 });
    expect(a.state).toBe("connecting");
    for (let i = 0; i < 6; i++) pa.send(frame(1, i));
    expect(a.counters().txDropped).toBe(2);
    await until(() => pb.got.length >= 4, "the queued frames");
    expect(seqs(pb.got)).toEqual([0, 1, 2, 3]);
    expect(a.counters()).toMatchObject({ txFrames: 4, txDropped: 2, connects: 1 });
  });

  it("counts and drops what is no frame (oversized, runt, text) and stays connected; guest frames past the bound are not sent", async () => {
    const h = await hub();
    const pa = new Port(), pb = new Port();
    const a = relay(pa, h.url), b = relay(pb, h.url);
    await Promise.all([a.when("up"), b.when("up"), h.waitClients(2)]);
    h.sendAll(new Uint8Array(1519));
    h.sendAll(new Uint8Array(13));
    h.sendAll("hello");
    h.sendAll(frame(9, 7, 1518));
    await until(() => pa.got.length >= 1 && pb.got.length >= 1, "the valid frame after the bad ones");
    for (const [p, r] of [[pa, a], [pb, b]] as const) {
      expect(seqs(p.got)).toEqual([7]);
      expect(r.counters()).toMatchObject({ rxInvalid: 3, rxText: 1, rxFrames: 1, connects: 1, disconnects: 0 });
      expect(r.state).toBe("up");
    }
    pa.send(new Uint8Array(1519));
    pa.send(new Uint8Array(13));
    pa.send(frame(1, 8));
    await until(() => pb.got.length >= 2, "b receiving");
    expect(seqs(pb.got)).toEqual([7, 8]);
    expect(a.counters()).toMatchObject({ txInvalid: 2, txFrames: 1 });
    expect(h.stats.received).toBe(1);
  });

  it("a message past maxMessageBytes closes the connection before it is buffered; the backend reconnects", async () => {
    const h = await hub();
    const pa = new Port();
    const a = relay(pa, h.url, { maxMessageBytes: 4096 });
    await Promise.all([a.when("up"), h.waitClients(1)]);
    h.sendAll(new Uint8Array(8192));
    await a.when("down");
    await a.when("up");
    await h.waitClients(1);
    expect(pa.got.length).toBe(0);
    expect(a.counters()).toMatchObject({ connects: 2, disconnects: 1, attempts: 2, rxFrames: 0 });
    expect(h.accepted).toBe(2);
  });

  it("the relay closing on it: reconnects with the policy's delay (twice), or stays down with reconnect: false, dropping guest frames", async () => {
    const h = await hub();
    const pa = new Port(), pc = new Port();
    const a = relay(pa, h.url);
    const c = relay(pc, h.url, { reconnect: false });
    await Promise.all([a.when("up"), c.when("up"), h.waitClients(2)]);
    for (let round = 1; round <= 2; round++) {
      h.dropAll();
      await a.when("down");
      await a.when("up");
    }
    expect(a.counters()).toMatchObject({ connects: 3, disconnects: 2 });
    await c.when("down");
    expect(c.state).toBe("down");
    pc.send(frame(3, 0));
    expect(c.counters()).toMatchObject({ connects: 1, disconnects: 1, attempts: 1, txDropped: 1, txFrames: 0 });
    // a is back on the relay: frames still pass to it.
    const pb = new Port();
    const b = relay(pb, h.url);
    await Promise.all([b.when("up"), h.waitClients(2)]);
    pb.send(frame(2, 5));
    await until(() => pa.got.length >= 1, "a receiving after reconnects");
    expect(seqs(pa.got)).toEqual([5]);
  });

  it("a flood while a writer holds the VM waits on the bounded link: exactly maxPending delivered after, the rest counted lost", async () => {
    const s = SyncState.create(1, 8);
    const lock = new VmLock(s, { freezer: new VcpuHost(s), timeoutMs: WATCHDOG_MS });
    const h = await hub();
    const pa = new Port();
    let overflow = 0;
    const a = relay(pa, h.url, { lock, maxPending: 32, onOverflow: (n) => { overflow += n; } });
    await Promise.all([a.when("up"), h.waitClients(1)]);
    const held = await lock.writeLock();
    if (held.status !== "ok") throw new Error(held.status);
    for (let i = 0; i < 100; i++) h.sendAll(frame(9, i));
    await until(() => a.counters().rxFrames === 100, "the flood arriving");
    expect(pa.got.length).toBe(0);
    expect(a.link.pendingFrames).toBe(32);
    expect(a.link.counters()).toMatchObject({ lost: 68, rxDropped: 68 });
    expect(overflow).toBe(68);
    held.release();
    await until(() => pa.got.length >= 32, "delivery once the writer is gone");
    expect(seqs(pa.got)).toEqual([...Array(32).keys()]);
  });

  it("a text message is no frame: dropped and counted (v86's own adapter would hand it on as a zero-length frame)", async () => {
    const h = await hub();
    const pa = new Port();
    const a = relay(pa, h.url);
    await Promise.all([a.when("up"), h.waitClients(1)]);
    h.sendAll("");
    h.sendAll(frame(9, 1));
    await until(() => pa.got.length >= 1, "the frame after the text");
    expect(pa.got.length).toBe(1);
    expect(a.counters()).toMatchObject({ rxText: 1, rxInvalid: 1 });
  });

  it("regression_close_while_connecting: closing before the handshake ends raises nothing (ws's late error event had no listener and was thrown)", async () => {
    // A server that accepts the TCP connection and never answers the WebSocket handshake.
    const held: Socket[] = [];
    const srv = createServer((c) => held.push(c)).listen(0, "127.0.0.1");
    await new Promise((r) => srv.once("listening", r));
    open.push({ close: () => new Promise<void>((r) => { for (const c of held) c.destroy(); srv.close(() => r()); }) });
    const port = (srv.address() as { port: number }).port;
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on("uncaughtException", onUncaught);
    try {
      const p = new Port();
      const b = RelayBackend.connect(p, `ws://127.0.0.1:${port}/`, { WebSocket: NODE_WEBSOCKET });
      await until(() => held.length === 1, "the TCP connection");
      expect(b.state).toBe("connecting");
      await b.close();
      // ws emits its error on a later tick.
      await new Promise((r) => setTimeout(r, 0));
      await new Promise((r) => setImmediate(r));
      expect(uncaught).toEqual([]);
      expect(b.state).toBe("closed");
      expect(p.onTransmit).toBeNull();
    } finally {
      process.off("uncaughtException", onUncaught);
    }
  });

  it("refuses what is not a ws:// or wss:// URL, and works without a WebSocket class only where there is a global one", () => {
    const p = new Port();
    expect(() => RelayBackend.connect(p, "http://127.0.0.1:1/", { WebSocket: NODE_WEBSOCKET })).toThrow(/not a ws:\/\/ or wss:\/\/ URL/);
    expect(p.onTransmit).toBeNull();
    if (!(globalThis as { WebSocket?: unknown }).WebSocket) expect(() => RelayBackend.connect(p, "ws://127.0.0.1:1/")).toThrow(/no WebSocket class/);
  });
});
