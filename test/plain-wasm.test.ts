// The release build driven with nothing but WebAssembly.instantiate: the
// example examples/plain-wasm.mjs supplies the imports by hand, plays a
// virtio-net guest driver through the vpci_* exports (descriptors written
// straight into guest RAM), receives and transmits a frame and harvests the
// dirty bitmap. Here it is run as a module (its results checked) and as the
// command a reader would type.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const examplePath = fileURLToPath(new URL("../examples/plain-wasm.mjs", import.meta.url));

describe("plain wasm: vmdev.wasm without the loader or vmdev's TypeScript", () => {
  it("the example imports nothing but Node's own modules", () => {
    const imports = [...readFileSync(examplePath, "utf8").matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((m) => !m.startsWith("node:"))).toEqual([]);
  });

  it("a virtio-net receives one frame into the guest's RX queue and transmits one; the dirty bitmap holds exactly the pages written", async () => {
    // @ts-expect-error: a plain ESM example without declarations
    const { run } = await import("../examples/plain-wasm.mjs");
    const r = await run();
    expect(r.abiVersion).toBe(JSON.parse(readFileSync(new URL("./abi/pinned.json", import.meta.url), "utf8")).abiVersion);
    expect(r.deviceStatus & 0x40).toBe(0); // not DEVICE_NEEDS_RESET
    expect(r.deviceStatus & 0x0f).toBe(0x0f); // ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK
    // RX: the frame, after the 12-byte virtio_net_hdr, in the buffer the guest posted; used length counts the header.
    expect(r.received).toEqual(r.rxFrame);
    expect(r.rxUsed).toEqual({ idx: 1, id: 0, len: 12 + r.rxFrame.length });
    expect(r.intx).toBe(1);
    expect(r.isr & 1).toBe(1); // queue interrupt
    // TX: the frame without its header in the host outbox, the chain returned to the guest.
    expect(r.pendingTx).toBe(true);
    expect(r.transmitted).toEqual(r.txFrame);
    expect(r.txUsed).toEqual({ idx: 1, id: 0, len: 0 });
    // Dirty: the port write's page, the RX buffer's page and the RX used ring's page, nothing else.
    expect(r.dirtyPages).toEqual(r.expectDirty);
    expect(r.readBack).toBe(0x0123456789abcdefn);
    expect(r.counters).toEqual({ rxFrames: 1, txFrames: 1, kicks: 2, badAccess: 0 });
  });

  it("runs as a command", () => {
    const p = spawnSync(process.execPath, [examplePath], { encoding: "utf8" });
    expect(p.stderr).toBe("");
    expect(p.status).toBe(0);
    expect(p.stdout).toMatch(/^vmdev\.wasm ABI \d+\.\d+: virtio-net received 64 bytes into the guest's RX buffer and transmitted 60; dirty pages 18, 32, 48;/);
  });
});
