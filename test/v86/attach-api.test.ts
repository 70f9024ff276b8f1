// attachToV86 without a guest: its refusals (an unknown NIC model, an
// emulator that lacks what the adapter needs: another v86 version, refused
// before anything is built, with the supported v86 range named), and attaching
// to an emulator that is already running (a BIOS of zeros keeps v86 busy).
import { describe, expect, it } from "vitest";
import { attachToV86, V86_SUPPORTED, type V86Emulator } from "../../src/index.js";
import { Status, VmdevError } from "../../src/status.js";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { V86 } from "v86";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { peerDependencies: Record<string, string> };

/** An emulator past emulator-ready whose CPU has RAM but none of the I/O and PCI hooks the adapter needs. */
function bareEmulator(): V86Emulator {
  const memory = new WebAssembly.Memory({ initial: 1 });
  return {
    v86: { cpu: { mem8: new Uint8Array(memory.buffer), wasm_memory: memory, memory_size: [1 << 20] } as unknown as NonNullable<V86Emulator["v86"]>["cpu"] },
    emulator_bus: { register() {}, send() {} },
    save_state: async () => new ArrayBuffer(0),
    restore_state: async () => {},
  };
}

describe("attachToV86 refusals", () => {
  it("names the supported v86 versions, which are the package's peer dependency", () => {
    expect(pkg.peerDependencies.v86).toBe(V86_SUPPORTED);
  });

  it("refuses an unknown NIC model", async () => {
    const err = await attachToV86(bareEmulator(), { nic: "rtl8139" as never, mac: "52:54:00:12:34:56" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmdevError);
    expect((err as VmdevError).status).toBe(Status.ERR_INVALID_ARG);
    expect((err as Error).message).toMatch(/nic must be "virtio", "e1000" or "ne2k", not "rtl8139"/);
  });

  it("refuses an emulator without v86's I/O hooks, naming what is missing and the supported versions", async () => {
    await expect(attachToV86(bareEmulator(), { nic: "virtio", mac: "52:54:00:12:34:56" }))
      .rejects.toThrow(`attachToV86: this emulator has no v86.cpu.io; vmdev's v86 adapter supports v86 ${V86_SUPPORTED} (is another v86 version installed?)`);
  });

  it("refuses something that is not an emulator", async () => {
    await expect(attachToV86({} as V86Emulator, { nic: "e1000", mac: "52:54:00:12:34:56" })).rejects.toThrow(/not a V86 instance/);
  });

  it("attaches to a running emulator: stopped once around the attach, running again after", async () => {
    const emulator = new V86({
      wasm_path: fileURLToPath(new URL("../../node_modules/v86/build/v86.wasm", import.meta.url)),
      bios: { buffer: new ArrayBuffer(128 << 10) }, memory_size: 32 << 20, net_device: {}, autostart: true,
      disable_keyboard: true, disable_mouse: true, disable_speaker: true,
    });
    try {
      await new Promise<void>((resolve) => emulator.add_listener("emulator-started", () => resolve()));
      while (emulator.get_instruction_counter() === 0) await new Promise((r) => setTimeout(r, 5));
      let stops = 0;
      emulator.add_listener("emulator-stopped", () => { stops++; });
      const nic = await attachToV86(emulator, { nic: "ne2k", mac: "52:54:00:12:34:56", variant: "debug" });
      expect(stops).toBe(1);
      expect(emulator.is_running()).toBe(true);
      expect(nic.adapter.bars.map((b) => b.kind)).toEqual(["io"]);
      // v86's RAM, sized from the emulator.
      expect(nic.core.guest.check((32 << 20) - 1, 1)).toBe(Status.OK);
      expect(nic.core.guest.check(32 << 20, 1)).not.toBe(Status.OK);
      nic.destroy();
    } finally {
      await emulator.destroy();
    }
  });
});
