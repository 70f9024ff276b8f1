// Batched host I/O: frame arrays, and a NIC taking many host frames per wasm
// call (VirtioNet.receiveBatch / receiveWindow, vnet_receive_batch) or handing
// many to the host per callback (onTransmitBatch), with the same results as
// the one-call-per-frame path.
import { describe, it, expect } from "vitest";
import { FrameArrayWriter, FrameBatch, frameRecordBytes, Status, type FrameBatch as Batch } from "../../src/index.js";
import { netRig } from "../devices/virtio-net/rig.js";
import { tagged } from "./support.js";

const frames = (n: number, len: (i: number) => number) => Array.from({ length: n }, (_, i) => tagged(len(i), 4, i));

describe("frame arrays", () => {
  it("a writer packs records (u32 length, bytes, padding to 4) that a batch reads back as views", () => {
    const w = new Uint8Array(256);
    const fw = new FrameArrayWriter(w);
    const fs = [new Uint8Array([1]), new Uint8Array([2, 3, 4, 5]), new Uint8Array(0), new Uint8Array([6, 7, 8])];
    for (const f of fs) expect(fw.push(f)).toBe(true);
    expect(fw.bytes).toBe(frameRecordBytes(1) + frameRecordBytes(4) + frameRecordBytes(0) + frameRecordBytes(3));
    expect(fw.bytes).toBe(8 + 8 + 4 + 8);
    const b = FrameBatch.read(w, 4);
    expect(b.copies()).toEqual(fs);
    expect(b.frame(1).buffer).toBe(w.buffer); // a view, not a copy
  });

  it("a writer refuses a frame that does not fit; a torn window is refused by the reader", () => {
    const w = new Uint8Array(16);
    const fw = new FrameArrayWriter(w);
    expect(fw.push(new Uint8Array(8))).toBe(true);
    expect(fw.push(new Uint8Array(1))).toBe(false);
    expect(fw.reserve(1)).toBe(null);
    expect(() => FrameBatch.read(w, 3)).toThrow(RangeError);
    new DataView(w.buffer).setUint32(0, 100, true);
    expect(() => FrameBatch.read(w, 1)).toThrow(RangeError);
  });
});

describe("a NIC fed many host frames per call", () => {
  for (const transport of ["mmio", "pci"] as const) {
    it(`${transport}: receiveBatch delivers exactly what per-frame receive does, in order`, async () => {
      const a = await netRig({ transport });
      const b = await netRig({ transport });
      const fs = frames(300, (i) => 60 + ((i * 53) % 1455));
      for (const f of fs) expect(a.dev.receive(f)).toBe(Status.OK);
      expect(b.dev.receiveBatch(fs)).toBe(fs.length);
      for (const r of [a, b]) r.drv.pollRx(0);
      for (let k = 0; k < 20 && (a.drv.received.length < fs.length || b.drv.received.length < fs.length); k++) { a.drv.pollRx(0); b.drv.pollRx(0); }
      expect(b.drv.received.map((f) => f.data)).toEqual(a.drv.received.map((f) => f.data));
      const ca = a.dev.counters(), cb = b.dev.counters();
      for (const k of ["rxFrames", "rxBytes", "rxBacklogged", "rxDropped", "rxFiltered"]) expect(cb[k], k).toBe(ca[k]);
      expect(ca.rxFrames).toBeGreaterThan(0n);
    });
  }

  it("receiveWindow takes frames the host laid out in the I/O buffer itself", async () => {
    const r = await netRig({ transport: "mmio" });
    const w = new FrameArrayWriter(r.core.io());
    const fs = frames(20, () => 100);
    for (const f of fs) w.reserve(f.length)!.set(f);
    expect(r.dev.receiveWindow(w.bytes)).toBe(20);
    r.drv.pollRx(0);
    expect(r.drv.received.map((f) => f.data)).toEqual(fs);
  });

  it("a malformed window is refused whole: nothing is delivered", async () => {
    const r = await netRig({ transport: "mmio" });
    const io = r.core.io();
    const w = new FrameArrayWriter(io);
    for (const f of frames(3, () => 80)) w.push(f);
    const dv = new DataView(io.buffer, io.byteOffset);
    dv.setUint32(frameRecordBytes(80), 5000, true); // the second record runs past the window
    expect(r.dev.receiveWindow(w.bytes)).toBe(-Status.ERR_INVALID_ARG);
    dv.setUint32(frameRecordBytes(80), 70000, true); // longer than any frame
    expect(r.core.exports.vnet_receive_batch(r.dev.handle, 0, 1 << 20)).toBe(-Status.ERR_INVALID_ARG);
    expect(r.core.exports.vnet_receive_batch(r.dev.handle, (1 << 20) - 2, 8)).toBe(-Status.ERR_INVALID_ARG); // past the I/O buffer
    expect(r.dev.counters().rxFrames).toBe(0n);
    expect(r.dev.backlogLength).toBe(0);
    // Each frame is still checked as receive checks it: a runt counts as rxInvalid and the rest go on.
    const w2 = new FrameArrayWriter(io);
    w2.push(new Uint8Array(10)); w2.push(tagged(64, 1, 1));
    expect(r.dev.receiveWindow(w2.bytes)).toBe(2);
    expect(r.dev.counters().rxInvalid).toBe(1n);
    expect(r.dev.counters().rxFrames).toBe(1n);
  });

  it("a batch larger than the I/O buffer goes in several calls", async () => {
    const r = await netRig({ transport: "mmio", device: { backlogFrames: 1024, mtu: 9000 } });
    const fs = frames(200, () => 9000);
    expect(200 * 9004).toBeGreaterThan(r.core.exports.io_size());
    expect(r.dev.receiveBatch(fs)).toBe(200);
    // Every frame was handed over once: delivered at once, backlogged, or dropped.
    const c = r.dev.counters();
    expect(c.rxFrames - c.backlogDrained + c.rxBacklogged + c.rxDropped).toBe(200n);
  });
});

describe("a NIC handing the host a batch per callback", () => {
  it("onTransmitBatch sees the frames onTransmit would, as views, one call per outbox", async () => {
    const a = await netRig({ transport: "mmio" });
    const b = await netRig({ transport: "mmio" });
    const calls: number[] = [];
    const got: Uint8Array[] = [];
    b.dev.onTransmitBatch = (batch: Batch) => { calls.push(batch.length); for (const f of batch) got.push(f.slice()); };
    const fs = frames(100, (i) => 60 + i * 10);
    for (const r of [a, b]) {
      for (const f of fs) r.drv.transmit(f, 0, { kick: false });
      r.drv.flushTx(0);
    }
    expect(got).toEqual(a.sent);
    expect(got).toEqual(fs);
    expect(calls.length).toBeLessThan(fs.length);
    expect(b.sent).toEqual([]); // onTransmit is not called when a batch callback is set
  });

  it("frames the callback makes the device send meanwhile come in a further batch, none lost", async () => {
    const r = await netRig({ transport: "mmio" });
    const got: number[] = [];
    let echoed = false;
    r.dev.onTransmitBatch = (batch) => {
      for (const f of batch) got.push(new DataView(f.buffer, f.byteOffset).getUint32(18, true));
      if (!echoed) { echoed = true; r.drv.transmit(tagged(64, 4, 99)); } // the guest sends again from inside the callback
    };
    r.drv.transmit(tagged(64, 4, 1));
    expect(got).toEqual([1, 99]);
  });
});
