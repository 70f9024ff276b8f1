// The host frame link (src/net/host-link.ts) against a fake NIC: order,
// delivery outside the NIC's call stack, retries and drops, the bounded
// queue, "manual" delivery while up, and moving the NIC end.
import { describe, expect, it } from "vitest";
import { HostLink, linkResponder } from "../../src/net/host-link.js";
import { Responder } from "../../src/net/responder.js";
import { Status } from "../../src/status.js";
import { until } from "../support/wait.js";

describe("HostLink", () => {
  class FakeNic {
    onTransmit: ((f: Uint8Array) => void) | null = null;
    got: number[] = [];
    refuse = 0;
    receive(f: Uint8Array): number {
      if (this.refuse > 0) { this.refuse--; return Status.ERR_FULL; }
      this.got.push(f[0]);
      return Status.OK;
    }
  }

  it("discardPending drops what a link held while down (counted dropped, not lost); frames after it go in once up", () => {
    const nic = new FakeNic();
    let up = false;
    const link = new HostLink(nic, () => {}, { delivery: "manual", up: () => up });
    link.deliver(Uint8Array.of(1)); link.deliver(Uint8Array.of(2)); link.deliver(Uint8Array.of(3));
    expect(link.pump()).toBe(0);
    expect(link.discardPending()).toBe(3);
    expect(link.pendingFrames).toBe(0);
    link.deliver(Uint8Array.of(4));
    up = true;
    expect(link.pump()).toBe(1);
    expect(nic.got).toEqual([4]);
    expect(link.counters()).toMatchObject({ rxFrames: 1, rxDropped: 3, lost: 0 });
    link.close();
  });

  it("by default drops what the NIC refuses (it has its own backlog) and counts it", async () => {
    const nic = new FakeNic();
    const link = new HostLink(nic, () => {});
    nic.refuse = 1;
    link.deliver(Uint8Array.of(1)); link.deliver(Uint8Array.of(2));
    await new Promise((r) => setTimeout(r, 10));
    expect(nic.got).toEqual([2]);
    expect(link.counters()).toMatchObject({ rxFrames: 1, rxDropped: 1, rxRetries: 0 });
    link.close();
  });

  it("delivers in order outside the transmit call, retrying refused frames when asked to", async () => {
    const nic = new FakeNic();
    const seen: Array<[string, number]> = [];
    const link = new HostLink(nic, (f) => { link.deliver(Uint8Array.of(f[0] + 100)); link.deliver(Uint8Array.of(f[0] + 200)); },
      { tap: (d, f) => seen.push([d, f[0]]), maxRetries: 10 });
    nic.refuse = 3;
    nic.onTransmit!(Uint8Array.of(1));
    expect(nic.got).toEqual([]); // not re-entered
    // Three refusals, each retried on a later timer: wait for the deliveries, not for a span of time.
    await until(() => nic.got.length === 2, "both frames delivered");
    expect(nic.got).toEqual([101, 201]);
    expect(link.counters()).toMatchObject({ txFrames: 1, rxFrames: 2, rxRetries: 3, rxDropped: 0 });
    expect(seen).toEqual([["tx", 1], ["rx", 101], ["rx", 201]]);
    link.close();
    expect(nic.onTransmit).toBe(null);
  });

  it("contains a throwing peer or NIC and counts it", async () => {
    const nic = new FakeNic();
    const link = new HostLink(nic, () => { throw new Error("peer bug"); });
    expect(() => nic.onTransmit!(Uint8Array.of(1))).not.toThrow();
    nic.receive = () => { throw new Error("nic bug"); };
    link.deliver(Uint8Array.of(2));
    await new Promise((r) => setTimeout(r, 10));
    expect(link.counters()).toMatchObject({ errors: 2, rxDropped: 1, rxFrames: 0 });
    link.close();
  });

  it("drops after the retry budget and when the pending queue is full", async () => {
    const nic = new FakeNic();
    const link = new HostLink(nic, () => {}, { maxRetries: 2, maxPending: 2 });
    nic.refuse = 1000;
    link.deliver(Uint8Array.of(1)); link.deliver(Uint8Array.of(2)); link.deliver(Uint8Array.of(3));
    await until(() => link.pendingFrames === 0, "every frame dropped");
    expect(link.counters().rxDropped).toBe(3);
    expect(nic.got).toEqual([]);
    link.close();
  });

  it("links a responder: an ARP request comes back as a reply", async () => {
    const nic = new FakeNic();
    const link = linkResponder(nic, new Responder({ mac: "52:54:00:12:34:56", ip: "10.0.2.2" }));
    const arp = Uint8Array.from([255, 255, 255, 255, 255, 255, 2, 0, 0, 0, 0, 1, 8, 6, 0, 1, 8, 0, 6, 4, 0, 1,
      2, 0, 0, 0, 0, 1, 10, 0, 2, 15, 0, 0, 0, 0, 0, 0, 10, 0, 2, 2]);
    nic.onTransmit!(arp);
    await new Promise((r) => setTimeout(r, 10));
    expect(nic.got).toEqual([2]); // first byte of the reply's destination MAC
    link.close();
  });
  it("\"manual\" delivery hands over only on pump(), only while up, and only what was queued at entry", () => {
    const nic = new FakeNic();
    let up = false;
    let link!: HostLink;
    const origReceive = nic.receive.bind(nic);
    // A NIC whose receive makes the guest answer at once: that frame must wait for the next pump.
    nic.receive = (f) => { const st = origReceive(f); if (f[0] === 1) link.deliver(Uint8Array.of(9)); return st; };
    link = new HostLink(nic, () => {}, { delivery: "manual", up: () => up });
    link.deliver(Uint8Array.of(1)); link.deliver(Uint8Array.of(2));
    expect(link.pump()).toBe(0); // down: nothing moves
    expect(link.pendingFrames).toBe(2);
    up = true;
    expect(link.pump()).toBe(2);
    expect(nic.got).toEqual([1, 2]);
    expect(link.pendingFrames).toBe(1);
    expect(link.pump()).toBe(1);
    expect(nic.got).toEqual([1, 2, 9]);
    link.close();
  });

  it("counts as lost what overflows the queue and what the NIC rejects, but not an ERR_FULL refusal (the NIC counted it)", () => {
    const nic = new FakeNic();
    const overflow: number[] = [];
    const link = new HostLink(nic, () => {}, { delivery: "manual", maxPending: 2, onOverflow: (n) => overflow.push(n) });
    link.deliver(Uint8Array.of(1)); link.deliver(Uint8Array.of(2)); link.deliver(Uint8Array.of(3));
    expect(overflow).toEqual([1]);
    nic.refuse = 1; // ERR_FULL
    expect(link.pump()).toBe(1);
    expect(link.counters()).toMatchObject({ rxFrames: 1, rxDropped: 2, lost: 1 });
    nic.receive = () => Status.ERR_INVALID_ARG;
    link.deliver(Uint8Array.of(4));
    link.pump();
    expect(link.counters()).toMatchObject({ rxDropped: 3, lost: 2 });
    link.close();
  });

  it("retarget moves the NIC end: queued frames go to the new NIC, the old one no longer transmits into the link", () => {
    const a = new FakeNic(), b = new FakeNic();
    const sent: number[] = [];
    const link = new HostLink(a, (f) => sent.push(f[0]), { delivery: "manual" });
    const oldTx = a.onTransmit!;
    link.deliver(Uint8Array.of(7));
    link.retarget(b);
    expect(a.onTransmit).toBe(null);
    expect(b.onTransmit).toBe(oldTx);
    link.pump();
    expect(a.got).toEqual([]);
    expect(b.got).toEqual([7]);
    b.onTransmit!(Uint8Array.of(5));
    expect(sent).toEqual([5]);
    link.detach();
    expect(b.onTransmit).toBe(null);
    link.deliver(Uint8Array.of(8)); // after detach: ignored
    expect(link.pendingFrames).toBe(0);
  });
});
