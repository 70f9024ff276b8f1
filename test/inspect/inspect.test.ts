// The inspector's generic part: every kind a Machine saves dumped live,
// unknown kinds as raw fields, a v86 machine blob with its devices nested,
// hostile blobs (each problem reported where it is, nothing thrown), a seeded
// fuzz over real blobs, and `vmdev inspect` end to end on saved files.
import { describe, it, expect } from "vitest";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resealChecksums as reseal } from "../support/envelope.js";
import {
  DecoderTable, DeviceKind, HostKind, Machine, defaultDecoders, formatInspection, inspectBlob, inspectDevice, inspectionJson, sealEnvelope, ApicBus, ManualClock,
  type InspectedEnvelope, type DeviceDecoder,
} from "../../src/index.js";
import { ConfigTree } from "../../src/config/tree.js";
import { saveV86Machine } from "../../src/adapters/v86/machine-state.js";
import type { V86Emulator } from "../../src/adapters/v86/types.js";
import { debugWasm, newCore, rng, testSeed } from "../support/core.js";

const decoders = defaultDecoders();
const inspect = (b: Uint8Array) => inspectBlob(b, { decoders });
const config = (lines: string) => { const c = new ConfigTree(); c.load(lines); return c; };
const u32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0, true); return b; };

/** Real blobs of every kind vmdev saves, from one machine (memtest, virtio-net, e1000, NE2000, LAPICs, IOAPIC, clock) and its layout. */
async function machineBlobs() {
  const m = await Machine.create(config("memory.size=8M\ncpus=2\npci.0.3.0.device=memtest\npci.0.3.0.gpa=1M\npci.0.3.0.size=8K\npci.0.4.0.device=virtio-net\npci.0.4.0.mac=52:54:00:aa:bb:04\npci.0.5.0.device=e1000\npci.0.6.0.device=ne2k\n"),
    { module: debugWasm(), variant: "debug", startVcpus: false });
  return m;
}

describe("inspect: the generic part", () => {
  it("dumps every device of a live Machine by kind, and its guest-memory layout", async () => {
    const m = await machineBlobs();
    try {
      const dumps = await inspectDevice(m);
      const kinds = dumps.map((d) => d.state.kindName).sort();
      expect(kinds).toEqual(expect.arrayContaining(["guest-clock", "memtest", "virtio-net", "e1000", "ne2000", "local-apic", "ioapic"]));
      for (const d of dumps) { expect(d.state.errors).toEqual([]); expect(d.state.decodeError).toBeUndefined(); expect(d.state.device).toBeDefined(); }
      expect(dumps.filter((d) => d.state.kindName === "local-apic")).toHaveLength(2);
      const memtest = dumps.find((d) => d.state.kindName === "memtest")!.state.device as { window: { gpa: string; length: number } };
      expect(memtest.window).toEqual({ gpa: "0x100000", length: 8192 });
      const net = dumps.find((d) => d.state.kindName === "virtio-net")!.state.device as { mac: string; status: { names: string[] } };
      expect(net.mac).toBe("52:54:00:aa:bb:04");
      expect(net.status.names).toEqual([]);      // no driver has touched it
      // The NICs' decoders read every part of an untouched board's blob.
      const partErrors = (v: unknown): string[] => (v && typeof v === "object" ? ("error" in v ? [String((v as { error: unknown }).error)] : Object.values(v).flatMap(partErrors)) : []);
      for (const k of ["e1000", "ne2000"]) expect(partErrors(dumps.find((d) => d.state.kindName === k)!.state.device), k).toEqual([]);
      const layout = (await inspect(m.core.saveLayout())).device as { ramPages: number; ramBytes: number; holes: unknown[] };
      expect(layout.ramBytes).toBe(8 << 20);
      expect(layout.ramPages).toBe(2048);
      const clock = (await inspect(m.clock.saveState())).device as { guestNs: string };
      expect(BigInt(clock.guestNs)).toBeGreaterThanOrEqual(0n);
      expect(formatInspection(dumps[0].state)).toContain(dumps[0].state.kindName);
    } finally { await m.destroy(); }
  });

  it("an unknown kind dumps its header and raw tagged fields; a registered decoder names and decodes them", async () => {
    const blob = await sealEnvelope({ kind: 0x7777, payloadVersion: 3 }, [{ tag: 1, value: u32(42) }, { tag: 9, value: new Uint8Array(40).fill(0xab) }]);
    const raw = await inspect(blob);
    expect(raw.kindName).toBe("unknown");
    expect(raw.errors).toEqual([]);
    expect(raw.device).toBeUndefined();
    expect(raw.header).toMatchObject({ magic: "VMDS", kind: 0x7777, payloadVersion: 3 });
    expect(raw.fields.map((f) => [f.tag, f.length])).toEqual([[1, 4], [9, 40]]);
    expect(raw.fields[1].preview).toBe("ab".repeat(32) + "…");
    const mine: DeviceDecoder = { kind: 0x7777, name: "mine", fieldName: (t) => (t === 1 ? "answer" : undefined), decode: (f) => ({ answer: f.u32(1) }) };
    const table = new DecoderTable().register(mine);
    expect(() => table.register(mine)).toThrow(/already registered/);
    const named = await inspectBlob(blob, { decoders: table });
    expect(named.kindName).toBe("mine");
    expect(named.fields[0].name).toBe("answer");
    expect(named.device).toEqual({ answer: 42 });
  });

  it("a v86 machine blob dumps each nested device envelope", async () => {
    const core = await newCore(1 << 16);
    const bus = ApicBus.create(core, { cpus: 1, clock: new ManualClock() });
    bus.apic(0).mmioWrite(0xf0, 4, 0x1ff);   // software-enabled (SVR), so the interrupt is accepted
    bus.deliver(0, 0x45);
    const emu = { save_state: async () => new Uint8Array(1000).buffer, restore_state: async () => {}, is_running: () => false, v86: {} } as unknown as V86Emulator;
    const blob = await saveV86Machine(emu, [{ device: bus.apic(0) }]);
    const d = await inspect(blob);
    expect(d.kindName).toBe("v86-machine");
    expect(d.header!.kind).toBe(HostKind.v86Machine);
    const m = d.device as { v86StateBytes: number; devices: Array<{ name: string; irq: number; state: InspectedEnvelope }> };
    expect(m.v86StateBytes).toBe(1000);
    expect(m.devices).toHaveLength(1);
    expect(m.devices[0]).toMatchObject({ name: bus.apic(0).name, irq: 0 });
    expect(m.devices[0].state.kindName).toBe("local-apic");
    expect((m.devices[0].state.device as { irr: number[] }).irr).toEqual([0x45]);
    const text = formatInspection(d);
    expect(text).toMatch(/^v86-machine \(kind 65537\)/);
    expect(text).toMatch(/\n\s+state:\n\s+local-apic \(kind 3\) state v1/);
    expect(text).toContain("irr: [69]");
  });

  describe("hostile blobs: reported, never thrown", () => {
    it("too short, bad magic, truncated, checksums, a field running past the payload", async () => {
      const core = await newCore(1 << 16);
      const good = ApicBus.create(core, { cpus: 1, clock: new ManualClock() }).apic(0).saveState();
      expect((await inspect(good.subarray(0, 10))).errors[0]).toMatch(/shorter than the 48-byte envelope header/);
      const magic = good.slice(); magic[0] ^= 0xff;
      const notEnv = await inspect(magic);
      expect(notEnv.errors).toEqual([expect.stringMatching(/bad magic/)]);
      expect(notEnv.header).toBeUndefined();
      expect(formatInspection(notEnv)).toMatch(/^not an envelope\n  ! bad magic/);
      const trunc = await inspect(good.subarray(0, good.length - 3));
      expect(trunc.errors).toEqual(expect.arrayContaining([expect.stringMatching(/payload length/)]));
      const flipped = good.slice(); flipped[flipped.length - 1] ^= 1;
      const f = await inspect(flipped);
      expect(f.errors).toEqual(["payload checksum mismatch"]);
      expect(f.device).toBeDefined();        // still decoded: that is what one inspects a damaged blob for
      const long = good.slice();
      new DataView(long.buffer).setUint32(48 + 4, 0xffff_fff0, true);
      const l = await inspect(reseal(long));
      expect(l.errors).toEqual([expect.stringMatching(/field 1 claims 4294967280 bytes/)]);
      expect(l.fields).toEqual([]);
      // Every part of the APIC dump is missing: each says so, none throws.
      expect((l.device as { irr: { error: string } }).irr.error).toMatch(/field 9 \(irr\) is missing/);
    });

    it("a field of the wrong size spoils only its own part", async () => {
      const core = await newCore(1 << 16);
      const blob = ApicBus.create(core, { cpus: 1, clock: new ManualClock() }).apic(0).saveState();
      // IRR (tag 9) is 32 bytes: replace it with a 3-byte one, sealed so the envelope itself is sound.
      const fields = (await inspect(blob)).fields;
      expect(fields.find((x) => x.tag === 9)!.length).toBe(32);
      const { walkFields } = await import("../../src/inspect/index.js");
      const w = walkFields(blob.subarray(48)).fields.map((x) => (x.tag === 9 ? { tag: 9, value: new Uint8Array(3) } : x));
      const bad = await sealEnvelope({ kind: DeviceKind.localApic, payloadVersion: 1, abiVersion: new DataView(blob.buffer).getUint32(16, true) }, w);
      const d = (await inspect(bad)).device as { irr: { error: string }; isr: number[]; tmr: number[] };
      expect(d.irr.error).toBe("field 9 (irr) has 3 bytes, want 32");
      expect(d.isr).toEqual([]);
      expect(d.tmr).toEqual([]);
    });

    it(`fuzz: mutated real blobs of every kind never throw and always render (seed via VMDEV_SEED)`, async () => {
      const seed = testSeed();
      const rand = rng(seed);
      const m = await machineBlobs();
      let samples: Uint8Array[];
      try { samples = [...m.stateDevices.map((d) => d.saveState()), m.core.saveLayout()]; } finally { await m.destroy(); }
      samples.push(await saveV86Machine({ save_state: async () => new Uint8Array(64).buffer, is_running: () => false } as unknown as V86Emulator, [{ device: { name: "dev0", kind: DeviceKind.virtioNet, saveState: () => samples[1], restoreState: () => 0, reset: () => {} } }]));
      let thrown = 0, checked = 0;
      for (let i = 0; i < 600; i++) {
        const src = samples[i % samples.length];
        let b = src.slice();
        const kind = Math.floor(rand() * 4);
        const n = 1 + Math.floor(rand() * 8);
        for (let k = 0; k < n; k++) {
          const at = Math.floor(rand() * b.length);
          if (kind === 0) b[at] ^= 1 << Math.floor(rand() * 8);
          else if (kind === 1) b[at] = Math.floor(rand() * 256);
          else if (kind === 2) b = b.subarray(0, Math.floor(rand() * b.length));
          else new DataView(b.buffer, b.byteOffset).setUint32(Math.max(0, Math.min(b.length - 4, 48 + (at & ~3))), Math.floor(rand() * 2 ** 32), true);
        }
        if (kind !== 2 && rand() < 0.7 && b.length >= 48) reseal(b);   // well-formed envelopes exercise the decoders, not only the checks
        try {
          const d = await inspect(b);
          JSON.parse(inspectionJson(d));
          formatInspection(d);
          checked++;
        } catch (e) { thrown++; console.error(`inspect fuzz seed ${seed} sample ${i}: ${(e as Error).stack}`); }
      }
      expect(thrown, `seed ${seed}`).toBe(0);
      expect(checked).toBe(600);
    });
  });
});

describe("vmdev inspect (the CLI, from dist/)", () => {
  const bin = new URL("../../bin/vmdev.js", import.meta.url).pathname;
  const vmdev = (...args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }));
  });

  it("dumps a saved file readably and as JSON; a damaged file exits 3 with its problems listed, a missing one 2 naming it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vmdev-inspect-"));
    const core = await newCore(1 << 16);
    const bus = ApicBus.create(core, { cpus: 1, clock: new ManualClock() });
    bus.apic(0).mmioWrite(0xf0, 4, 0x1ff);
    bus.deliver(0, 0x51);
    const blob = bus.apic(0).saveState();
    const file = join(dir, "lapic0.state");
    writeFileSync(file, blob);
    const text = await vmdev("inspect", file);
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^local-apic \(kind 3\) state v1/);
    expect(text.stdout).toContain("irr: [81]");
    expect(text.stdout).toMatch(/\n\s+9 irr\s+32 B/);
    const json = await vmdev("inspect", file, "--json");
    expect(json.code).toBe(0);
    const d = JSON.parse(json.stdout) as InspectedEnvelope;
    expect((d as InspectedEnvelope & { schemaVersion: number }).schemaVersion).toBe(1);
    expect((d.device as { irr: number[] }).irr).toEqual([0x51]);
    expect(d.header!.kind).toBe(DeviceKind.localApic);
    const bad = blob.slice(); bad[60] ^= 0x10;
    writeFileSync(join(dir, "bad.state"), bad);
    const b = await vmdev("inspect", join(dir, "bad.state"));
    expect(b.code).toBe(3); // ran, and the blob is one a restore would refuse
    expect(b.stdout).toContain("! payload checksum mismatch");
    const garbage = await vmdev("inspect", "--json", join(dir, "lapic0.state") + ".missing");
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toBe(`vmdev inspect: <blob> ${join(dir, "lapic0.state")}.missing: no such file\n`);
  });

  it("vmdev run --inspect dumps every device of the frozen machine", async () => {
    const r = await vmdev("run", "-m", "8M", "-c", "1", "-s", "3,memtest,gpa=1M,size=8K", "-s", "4,virtio-net", "--duration", "200", "--freeze-ms", "10", "--inspect", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { ramUnchangedWhileLocked: boolean; devices: Array<{ name: string; state: InspectedEnvelope }> };
    expect(out.ramUnchangedWhileLocked).toBe(true);
    expect(out.devices.map((d) => [d.name, d.state.kindName])).toEqual([["clock", "guest-clock"], ["memtest0", "memtest"], ["virtio-net0", "virtio-net"], ["lapic0", "local-apic"], ["ioapic0", "ioapic"]]);
    for (const d of out.devices) expect(d.state.errors).toEqual([]);
    expect((out.devices[1].state.device as { window: { gpa: string } }).window.gpa).toBe("0x100000");
  });
});
