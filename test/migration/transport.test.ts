// Flow control of the migration transports: a receiver never holds more than
// RECV_WINDOW bytes its reader has not consumed, whatever the peer does.
import { describe, it, expect, afterEach } from "vitest";
import { MessageChannel } from "node:worker_threads";
import { portPair, PortTransport, listen, connect, RECV_WINDOW, LinkError, ProtocolError } from "../../src/migration/index.js";
import { FrameReader } from "../../src/migration/frames.js";
import { Link, LinkTimeout } from "../../src/migration/link.js";

const MiB = 1 << 20;
const turns = async (n = 20) => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };
let cleanup: Array<() => unknown> = [];
afterEach(async () => { for (const c of cleanup.splice(0)) await c(); });

describe("in-process transport", () => {
  it("regression_port_credits_returned_on_arrival: credits come back when the reader consumes, so the sender waits at the window", async () => {
    const [a, b] = portPair();
    cleanup.push(() => a.close());
    const got: Uint8Array[] = [];
    b.onData((c) => got.push(c));
    await a.send(new Uint8Array(4 * MiB).fill(1));
    await a.send(new Uint8Array(4 * MiB).fill(2));
    let third = false;
    const sending = a.send(new Uint8Array(4 * MiB).fill(3)).then(() => { third = true; });
    while (got.length < 2) await turns(1);
    // Nothing consumed: no credit can come back, so the third send cannot complete.
    await turns();
    expect(third).toBe(false);
    expect(b.buffered).toBe(8 * MiB);
    b.consumed(4 * MiB);
    await sending;
    while (got.length < 3) await turns(1);
    expect(got.map((c) => c[0])).toEqual([1, 2, 3]);
    expect(b.bufferedHighWater).toBe(8 * MiB);
    expect(() => b.consumed(9 * MiB)).toThrow(RangeError);
  });

  it("a peer returning a credit it was never given, or posting a message of another shape, is disconnected", async () => {
    for (const bad of [{ ack: 5 }, { ack: -1 }, { ack: "x" }, { hello: 1 }, 7, { d: "not bytes" }]) {
      const { port1, port2 } = new MessageChannel();
      const t = new PortTransport(port2);
      const closed = new Promise<Error | undefined>((r) => t.onClose(r));
      port1.postMessage(bad);
      const err = await closed;
      expect(err, JSON.stringify(bad)).toBeInstanceOf(LinkError);
      expect(err!.message).toMatch(/flow control violated/);
      port1.close();
    }
  });

  it("a send larger than the window is refused", async () => {
    const [a, b] = portPair();
    cleanup.push(() => a.close());
    b.onData(() => {});
    await expect(a.send(new Uint8Array(RECV_WINDOW + 1))).rejects.toThrow(/exceeds the 8388608-byte window/);
  });
});

describe("TCP transport", () => {
  it("regression_tcp_reads_without_bound: reading stops at the window until the reader consumes, then everything arrives in order", async () => {
    const l = await listen(0);
    const accepted = l.accept();
    const a = await connect(l.port);
    const b = await accepted;
    l.server.close();
    cleanup.push(() => { a.close(); b.close(); });
    const got: Uint8Array[] = [];
    b.onData((c) => got.push(c));
    const total = 24 * MiB;
    const chunk = new Uint8Array(MiB);
    const sender = (async () => { for (let i = 0; i < total / MiB; i++) { chunk.fill(i & 0xff); await a.send(chunk.slice()); } })();
    while (!b.readPaused) await new Promise((r) => setTimeout(r, 1));
    expect(b.buffered).toBeLessThanOrEqual(RECV_WINDOW);
    // Consume everything as it comes, as a reader does.
    let seen = 0;
    while (seen < total) {
      const have = got.reduce((s, c) => s + c.length, 0);
      if (have > seen) { b.consumed(have - seen); seen = have; }
      await new Promise((r) => setTimeout(r, 1));
    }
    await sender;
    expect(b.bufferedHighWater).toBeLessThanOrEqual(RECV_WINDOW);
    const all = Buffer.concat(got);
    expect(all.length).toBe(total);
    for (let i = 0; i < total / MiB; i++) expect(all[i * MiB], `MiB ${i}`).toBe(i & 0xff);
  });
});

describe("frame reader and link", () => {
  it("regression_frame_reader_queue_unbounded: the frame reader refuses to hold more than its limit, whatever the transport", async () => {
    const r = new FrameReader(RECV_WINDOW);
    r.push(new Uint8Array(RECV_WINDOW));
    expect(() => r.push(new Uint8Array(1))).toThrow(ProtocolError);
    expect(r.highWater).toBe(RECV_WINDOW);
  });

  it("a peer that stops reading cannot hang a sender: the send times out", async () => {
    const [a, b] = portPair();
    cleanup.push(() => a.close());
    b.onData(() => {}); // delivered, never consumed
    const link = new Link(a, 200);
    const payload = new Uint8Array(3 * MiB);
    let err: unknown;
    try { for (let i = 0; i < 4; i++) await link.send(4, payload); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(LinkTimeout);
    expect((err as Error).message).toMatch(/waiting for the peer to read PAGES/);
  });
});
