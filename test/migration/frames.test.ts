// Framing without a VM: frames are built and checked on the host, byte for
// byte what a peer written from docs/migration-protocol.md builds.
import { describe, it, expect } from "vitest";
import { FrameReader, FrameWriter } from "../../src/migration/frames.js";
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
