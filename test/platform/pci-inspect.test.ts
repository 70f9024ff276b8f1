// `vmdev inspect` on the PCI platform's saved states: a bridge's registers by
// name and an SR-IOV capability with its VFs' envelopes nested (the CLI from
// dist/, the decoder table it uses); mutated blobs never throw.
import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pciRig } from "./pci-rig.js";
import { assignPci } from "../../src/platform/pci/firmware.js";
import { SRIOV_AT } from "../../src/platform/pci/sriov.js";
import { Sriov, SriovCtl } from "../../src/platform/pci/defs.js";
import { defaultDecoders, formatInspection, inspectBlob, type InspectedEnvelope } from "../../src/inspect/index.js";
import { rng, testSeed } from "../support/core.js";

const bin = new URL("../../bin/vmdev.js", import.meta.url).pathname;
const vmdev = (...args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
  execFile(process.execPath, [bin, ...args], { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }));
});

async function blobs() {
  const r = await pciRig();
  assignPci(r.root);
  r.root.configWrite(1, 0, 0, SRIOV_AT + Sriov.NUM_VFS, 2, 2);
  r.root.configWrite(1, 0, 0, SRIOV_AT + Sriov.CONTROL, 2, SriovCtl.VF_ENABLE | SriovCtl.VF_MSE);
  return { bridge: r.a.saveState(), sriov: r.sriov.saveState(), r };
}

describe("inspecting the PCI platform's saved states", () => {
  it("vmdev inspect dumps a bridge (bus numbers, windows, decode) and an SR-IOV capability with each VF's virtio-net state", async () => {
    const { bridge, sriov, r } = await blobs();
    const dir = mkdtempSync(join(tmpdir(), "vmdev-pci-"));
    writeFileSync(join(dir, "bridge.state"), bridge);
    writeFileSync(join(dir, "sriov.state"), sriov);
    const b = await vmdev("inspect", join(dir, "bridge.state"));
    expect(b.stderr).toBe("");
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/^pci-bridge \(kind 65538\)/);
    const win = r.a.memWindow()!;
    const json = JSON.parse((await vmdev("inspect", "--json", join(dir, "bridge.state"))).stdout) as InspectedEnvelope;
    expect(json.device).toMatchObject({
      id: "0x1b36:0x0001", buses: { primary: 0, secondary: 1, subordinate: 2 },
      windows: { io: "off", memory: `0x${win[0].toString(16)}-0x${win[1].toString(16)}`, prefetchable: "off" },
      bridgeControl: [],
    });
    expect((json.device as { command: string[] }).command).toEqual(expect.arrayContaining(["memory", "bus-master"]));
    const s = JSON.parse((await vmdev("inspect", "--json", join(dir, "sriov.state"))).stdout) as InspectedEnvelope;
    expect(s.kindName).toBe("pci-sriov");
    const dev = s.device as { capability: Record<string, unknown>; vfs: InspectedEnvelope[] };
    expect(dev.capability).toMatchObject({ control: ["vf-enable", "vf-mse"], totalVfs: 4, numVfs: 2, firstVfOffset: "0x0100", vfStride: 1, vfDeviceId: "0x1041" });
    expect(dev.vfs.map((v) => v.kindName)).toEqual(["virtio-net", "virtio-net"]);
    expect(dev.vfs.every((v) => v.errors.length === 0)).toBe(true);
  });

  it("mutated blobs never throw and always render (seed via VMDEV_SEED)", async () => {
    const seed = testSeed();
    const rand = rng(seed);
    const { bridge, sriov } = await blobs();
    const decoders = defaultDecoders();
    try {
      for (let i = 0; i < 200; i++) {
        const src = i % 2 ? bridge : sriov;
        const b = src.slice(0, rand() < 0.1 ? Math.floor(rand() * src.length) : src.length);
        for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) if (b.length) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
        const d = await inspectBlob(b, { decoders });
        expect(typeof formatInspection(d)).toBe("string");
      }
    } catch (err) {
      throw new Error(`seed ${seed} (VMDEV_SEED=${seed}): ${(err as Error).message}`);
    }
  });
});
