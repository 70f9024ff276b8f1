// Framing without a VM: frames are built and checked on the host, byte for
// byte what a peer written from docs/migration-protocol.md builds.
import { describe, it, expect } from "vitest";
import { FramePool, FrameReader, FrameWriter } from "../../src/migration/frames.js";
import { Link } from "../../src/migration/link.js";
import { listen, connect } from "../../src/migration/transport.js";
import { Msg, ProtocolError, MAX_DEVICES, decodeHello, encodeHello, type Hello } from "../../src/migration/wire.js";
import { MAX_VCPUS } from "../../src/config/schema.js";
import { DeviceKind } from "../../src/state.js";
import { FrameBuilder, xxh } from "../support/wire-peer.js";
import { rng, testSeed } from "../support/core.js";

describe("frames", () => {
  it("the writer's frames are the documented ones, byte for byte, and the reader takes them back", async () => {
    const seed = testSeed();
    const rand = rng(seed);
    const writer = new FrameWriter();
    const peer = new FrameBuilder(await xxh());
    const reader = new FrameReader();
    for (const len of [0, 1, 7, 31, 32, 33, 4095, 4096, 65537, 1 << 20]) {
      const payload = Uint8Array.from({ length: len }, () => Math.floor(rand() * 256));
      const mine = writer.frame(Msg.PAGES, payload);
      expect(Buffer.from(mine).equals(Buffer.from(peer.frame(Msg.PAGES, payload))), `seed ${seed}, ${len} bytes`).toBe(true);
      // Cut the frame in two anywhere: the reader waits for the rest.
      const cut = Math.floor(rand() * mine.length);
      reader.push(mine.subarray(0, cut));
      if (cut < mine.length) expect(reader.next()).toBeNull();
      reader.push(mine.subarray(cut));
      const f = reader.next();
      expect(f?.type).toBe(Msg.PAGES);
      expect(Buffer.from(f!.payload).equals(Buffer.from(payload)), `seed ${seed}, ${len} bytes`).toBe(true);
    }
  });

  it("an owner checksum (PAGES only) sets flag 1; the reader hands it on unchecked and checks every other frame itself", () => {
    const writer = new FrameWriter();
    const reader = new FrameReader();
    const seqs: number[] = [];
    const f = writer.frame(Msg.PAGES, Uint8Array.of(9, 9, 9, 9), { hash: (seq) => { seqs.push(seq); return 0x1234n; } });
    expect(new DataView(f.buffer, f.byteOffset).getUint16(6, true)).toBe(1);
    reader.push(f);
    expect(reader.next()).toMatchObject({ type: Msg.PAGES, seq: 0, ownerChecksum: 0x1234n });
    expect(seqs).toEqual([0]);
    expect(() => writer.frame(Msg.ROUND_END, Uint8Array.of(1), { hash: () => 0n })).toThrow(/only PAGES/);
    // Without an owner the reader checks the payload, and no ownerChecksum is handed on.
    reader.push(writer.frame(Msg.PAGES, Uint8Array.of(1, 2, 3, 4)));
    expect(reader.next()!.ownerChecksum).toBeUndefined();
  });

  it("payloads land in the stage the owner gives, and a flipped payload byte is refused there", () => {
    const writer = new FrameWriter();
    const reader = new FrameReader();
    const stage = new Uint8Array(64);
    reader.stageWith((len) => stage.subarray(8, 8 + len));
    reader.push(writer.frame(Msg.ROUND_END, Uint8Array.of(1, 2, 3, 4)));
    const f = reader.next()!;
    expect(f.payload.buffer).toBe(stage.buffer);
    expect([...stage.subarray(8, 12)]).toEqual([1, 2, 3, 4]);
    const bad = writer.frame(Msg.ROUND_END, Uint8Array.of(5, 6, 7, 8));
    bad[33] ^= 1;
    reader.push(bad);
    expect(() => reader.next()).toThrow(ProtocolError);
  });

  it("regression_hello_caps_a_1024_vcpu_machine: a HELLO announcing a clock, one local APIC per vCPU of the largest Machine and an IOAPIC decodes; one device past the cap is refused", () => {
    // The cap was 256 devices, below the 1026 a 1024-vCPU Machine announces: its destination refused every such VM.
    const devices = [{ kind: DeviceKind.guestClock, name: "clock" }, ...Array.from({ length: MAX_VCPUS }, (_, i) => ({ kind: DeviceKind.localApic, name: `lapic${i}` })), { kind: DeviceKind.ioapic, name: "ioapic0" }];
    const hello: Hello = { version: 1, abiVersion: 3 << 16, pageSize: 4096, ramPages: 4096, flags: 0, devices, layout: Uint8Array.of(1, 2, 3) };
    expect(devices.length).toBeLessThanOrEqual(MAX_DEVICES);
    expect(decodeHello(encodeHello(hello))).toEqual(hello);
    const over = { ...hello, devices: Array.from({ length: MAX_DEVICES + 1 }, (_, i) => ({ kind: DeviceKind.localApic, name: `lapic${i}` })) };
    expect(() => decodeHello(encodeHello(over))).toThrow(ProtocolError);
  });
});

describe("frame buffer pool", () => {
  it("hands a buffer out again only after it was given back, and frames into it the same bytes as a fresh frame", () => {
    const pool = new FramePool(2, 64);
    const a = pool.take(40), b = pool.take(40);
    expect(a.buffer).not.toBe(b.buffer);
    pool.give(a);
    const c = pool.take(50);
    expect(c.buffer).toBe(a.buffer);
    expect(c.length).toBe(50);
    expect(pool.take(40).buffer).not.toBe(b.buffer); // b is still out
    expect(pool).toMatchObject({ allocated: 3, reused: 1 });
    // A buffer too small for the frame is not used for it.
    pool.give(b);
    expect(pool.take(100).buffer).not.toBe(b.buffer);
    const payload = new Uint8Array(300).map((_, i) => i * 7);
    const fresh = new FrameWriter().frame(Msg.PAGES, payload);
    const into = new FrameWriter().frameInto(Msg.PAGES, payload, pool.take(32 + 300));
    expect(into).toEqual(fresh);
  });

  it("a link over TCP cycles through a few buffers for a stream of 1 MiB frames, and every frame arrives intact", async () => {
    const l = await listen(0);
    const accepted = l.accept();
    const a = new Link(await connect(l.port));
    const b = new Link(await accepted);
    l.close();
    const frames = 48;
    const got = (async () => {
      for (let i = 0; i < frames; i++) {
        const f = await b.recv("PAGES", 30_000);
        expect(f.payload.length).toBe(1 << 20);
        expect([f.payload[0], f.payload[(1 << 20) - 1]]).toEqual([i & 0xff, (i * 3) & 0xff]);
      }
    })();
    const payload = new Uint8Array(1 << 20);
    for (let i = 0; i < frames; i++) {
      payload[0] = i & 0xff; payload[(1 << 20) - 1] = (i * 3) & 0xff;
      await a.send(Msg.PAGES, payload);
    }
    await got;
    // In flight at once: what the TCP transport queues in user space (8 MiB) and a frame or two more.
    expect(a.pool!.allocated).toBeLessThanOrEqual(12);
    expect(a.pool!.allocated + a.pool!.reused).toBe(frames);
    a.close(); b.close();
  });
});
