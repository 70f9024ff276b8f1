// The SR-IOV capability against a hostile guest and a hostile saved blob:
// NumVFs above TotalVFs or changed while enabled, read-only fields, page
// sizes, VF BARs with VF MSE clear, a provider that fails part way, a seeded
// storm of writes; and the capability's and the bridges' state through the
// one envelope, restore validating it and leaving everything untouched on error.
import { describe, expect, it } from "vitest";
import { pciRig, vfDevices } from "./pci-rig.js";
import { assignPci } from "../../src/platform/pci/firmware.js";
import { PciBridge } from "../../src/platform/pci/bridge.js";
import { PciRoot } from "../../src/platform/pci/root.js";
import { SriovFunction, SRIOV_AT, type SriovVf } from "../../src/platform/pci/sriov.js";
import { Bridge, Sriov, SriovCtl } from "../../src/platform/pci/defs.js";
import { HostKind, readEnvelopeHeader, sealEnvelope, encodeFields } from "../../src/state.js";
import { Status } from "../../src/status.js";
import { rng, testSeed } from "../support/core.js";
import type { PciFunction } from "../../src/pci.js";

const CAP = SRIOV_AT;
/** A configuration write to the PF at 01:00.0. */
const pfw = (r: Awaited<ReturnType<typeof pciRig>>, off: number, w: 1 | 2 | 4, v: number) => r.root.configWrite(1, 0, 0, off, w, v);
const pfr = (r: Awaited<ReturnType<typeof pciRig>>, off: number, w: 1 | 2 | 4) => r.root.configRead(1, 0, 0, off, w);

/** A stand-in function: 256 bytes of config space that read 0 and take writes to nothing, one 4 KiB BAR. */
function blank(): PciFunction {
  return { bars: [{ index: 0, size: 4096, kind: "mem32" }], configRead: () => 0, configWrite: () => {}, barRead: () => 0, barWrite: () => {} };
}

describe("SR-IOV capability: the hostile guest", () => {
  it("is found at 0x100 behind a PCI Express capability linked ahead of the PF's own list", async () => {
    const r = await pciRig();
    assignPci(r.root);
    expect(pfr(r, 0x34, 1)).toBe(0xc0);
    expect(pfr(r, 0xc0, 2)).toBe(0x0010 | (0x40 << 8)); // PCIe cap, next: virtio's first capability
    expect(pfr(r, CAP, 4)).toBe(0x0001_0010); // SR-IOV, version 1, last in the extended list
    expect([pfr(r, CAP + Sriov.TOTAL_VFS, 2), pfr(r, CAP + Sriov.FIRST_VF_OFFSET, 2), pfr(r, CAP + Sriov.VF_STRIDE, 2), pfr(r, CAP + Sriov.VF_DEVICE, 2)]).toEqual([4, 0x100, 1, 0x1041]);
  });

  it("refuses NumVFs above TotalVFs and NumVFs changed while VF Enable is set; read-only fields and bad page sizes do not change (each counted)", async () => {
    const r = await pciRig();
    assignPci(r.root);
    pfw(r, CAP + Sriov.NUM_VFS, 2, 5);
    expect(r.sriov.numVfs).toBe(0);
    pfw(r, CAP + Sriov.NUM_VFS, 2, 3);
    pfw(r, CAP + Sriov.CONTROL, 2, SriovCtl.VF_ENABLE | SriovCtl.VF_MSE);
    expect(r.sriov.vfs).toHaveLength(3);
    pfw(r, CAP + Sriov.NUM_VFS, 2, 1);
    expect(r.sriov.numVfs).toBe(3);
    for (const [off, w] of [[Sriov.TOTAL_VFS, 2], [Sriov.FIRST_VF_OFFSET, 2], [Sriov.VF_STRIDE, 2], [Sriov.VF_DEVICE, 2], [Sriov.INITIAL_VFS, 2], [Sriov.SUPPORTED_PAGE_SIZES, 4]] as const) pfw(r, CAP + off, w, 0xffff);
    expect([r.sriov.totalVfs, pfr(r, CAP + Sriov.FIRST_VF_OFFSET, 2), pfr(r, CAP + Sriov.VF_STRIDE, 2), pfr(r, CAP + Sriov.VF_DEVICE, 2)]).toEqual([4, 0x100, 1, 0x1041]);
    pfw(r, CAP + Sriov.SYSTEM_PAGE_SIZE, 4, 2); // while enabled
    pfw(r, CAP + Sriov.CONTROL, 2, SriovCtl.VF_MSE);
    pfw(r, CAP + Sriov.SYSTEM_PAGE_SIZE, 4, 3); // two sizes
    pfw(r, CAP + Sriov.SYSTEM_PAGE_SIZE, 4, 2); // 8 KiB: not supported
    expect(pfr(r, CAP + Sriov.SYSTEM_PAGE_SIZE, 4)).toBe(1);
    expect(r.sriov.counters()).toMatchObject({ numVfsRefused: 2, pageSizeRefused: 3, enables: 1, disables: 1 });
    // Unaligned and out-of-range accesses to extended space: all ones, counted, no effect.
    expect(r.root.configRead(1, 0, 0, CAP + 1, 2)).toBe(0xffff);
    r.root.configWrite(1, 0, 0, 0x1000, 4, 1);
    expect(r.root.counters().badAccess).toBe(2);
  });

  it("a VF's BARs read all ones (counted) while VF MSE is clear; its own command register cannot turn memory decode on", async () => {
    const r = await pciRig();
    assignPci(r.root);
    pfw(r, CAP + Sriov.NUM_VFS, 2, 1);
    pfw(r, CAP + Sriov.CONTROL, 2, SriovCtl.VF_ENABLE);
    const vf = r.sriov.vfFunctions[0];
    vf.configWrite(4, 2, 0x6);
    expect(vf.configRead(4, 2) & 2).toBe(0);
    expect(vf.barRead(4, 0, 4)).toBe(0xffffffff);
    vf.barWrite(4, 0x14, 1, 1);
    expect(r.sriov.counters().vfAccessDisabled).toBe(2);
    expect(vfDevices(r.sriov)[0].status).toBe(0); // the write never reached the device
    pfw(r, CAP + Sriov.CONTROL, 2, SriovCtl.VF_ENABLE | SriovCtl.VF_MSE);
    expect(vf.barRead(4, 0x14, 1)).toBe(0); // device status, now decoded
    expect(vf.configRead(0x3d, 1)).toBe(0); // no INTx pin
    expect(vf.configRead(0x10, 4)).toBe(0); // BARs are the PF's VF BARs
  });

  it("regression_provider_failure_mid_enable: a VF that cannot be built refuses the enable; the ones built are destroyed, VF Enable stays clear", async () => {
    const root = new PciRoot();
    const made: string[] = [], gone: string[] = [];
    const provider = {
      create(i: number): SriovVf {
        if (i === 2) throw new Error("no memory for VF 2");
        made.push(`vf${i}`);
        return { pci: blank(), name: `vf${i}`, saveState: () => new Uint8Array(), restoreState: () => Status.OK, destroy: () => { gone.push(`vf${i}`); } };
      },
    };
    const s = new SriovFunction(blank(), { totalVfs: 4, vfDeviceId: 0x10, vfBars: [{ index: 0, size: 4096, kind: "mem32" }], provider, firstVfOffset: 8 });
    root.bus.attach(0, 0, s);
    root.configWrite(0, 0, 0, CAP + Sriov.NUM_VFS, 2, 4);
    root.configWrite(0, 0, 0, CAP + Sriov.CONTROL, 2, SriovCtl.VF_ENABLE);
    expect(made).toEqual(["vf0", "vf1"]);
    expect(gone).toEqual(["vf1", "vf0"]);
    expect(s.enabled).toBe(false);
    expect(s.vfs).toHaveLength(0);
    expect(s.counters().enableCreateFailed).toBe(1);
    expect(s.describeLastError()).toBe("ERR_HOST: VF 2: no memory for VF 2");
    expect(root.configRead(1, 0, 0, 8, 4)).toBe(0xffffffff);
  });

  it("refuses VFs that would land on a physical function of the PF's bus, or on a bus a bridge beside the PF claims", async () => {
    const root = new PciRoot();
    const provider = { create: (i: number): SriovVf => ({ pci: blank(), name: `vf${i}`, saveState: () => new Uint8Array(), restoreState: () => Status.OK, destroy: () => {} }) };
    const s = new SriovFunction(blank(), { totalVfs: 2, vfDeviceId: 1, vfBars: [], provider, firstVfOffset: 1 });
    root.bus.attach(0, 0, s);
    root.bus.attach(0, 2, blank());
    const br = new PciBridge();
    root.bus.attach(1, 0, br);
    root.configWrite(0, 0, 0, CAP + Sriov.NUM_VFS, 2, 2);
    root.configWrite(0, 0, 0, CAP + Sriov.CONTROL, 2, SriovCtl.VF_ENABLE);
    expect(s.lastError?.reason).toBe("VF 1 at 00:00.2: a physical function is there");
    const t = new SriovFunction(blank(), { totalVfs: 1, vfDeviceId: 1, vfBars: [], provider, firstVfOffset: 0x100 });
    root.bus.attach(2, 0, t);
    root.configWrite(0, 1, 0, Bridge.SECONDARY_BUS, 1, 1);
    root.configWrite(0, 1, 0, Bridge.SUBORDINATE_BUS, 1, 1);
    root.configWrite(0, 2, 0, CAP + Sriov.NUM_VFS, 2, 1);
    root.configWrite(0, 2, 0, CAP + Sriov.CONTROL, 2, SriovCtl.VF_ENABLE);
    expect(t.lastError?.reason).toBe("VF 0 at 01:02.0: bus 1 belongs to a bridge beside the PF");
    expect(s.counters().enableRefused + t.counters().enableBusNotDecoded).toBe(2);
    expect(s.enabled || t.enabled).toBe(false);
  });

  it("a seeded storm of guest writes to the capability and the bridge never throws and keeps the invariants", async () => {
    const seed = testSeed();
    const rand = rng(seed);
    const r = await pciRig();
    assignPci(r.root);
    try {
      for (let i = 0; i < 3000; i++) {
        const w = ([1, 2, 4] as const)[Math.floor(rand() * 3)];
        const off = Math.floor(rand() * 0x50) & ~(w - 1);
        const v = Math.floor(rand() * 2 ** 32);
        const pick = rand();
        // Straight to the PF (its bus may be unreachable after a bridge write): small values hit NumVFs and the control bits.
        if (pick < 0.7) r.sriov.configWrite(CAP + off, w, rand() < 0.5 ? v : v & 0x1f);
        else if (pick < 0.9) r.a.configWrite(0x18 + (off & 0x27 & ~(w - 1)), w, rand() < 0.5 ? v : v & 0x03);
        else r.root.configRead(Math.floor(rand() * 4), Math.floor(rand() * 2), Math.floor(rand() * 8), off, w);
        // Invariants: NumVFs ≤ TotalVFs; VFs live exactly while enabled, NumVFs of them; read-only fields fixed.
        expect(r.sriov.numVfs).toBeLessThanOrEqual(4);
        expect(r.sriov.vfs.length).toBe(r.sriov.enabled ? r.sriov.numVfs : 0);
        expect(r.sw.portCount).toBe(1 + r.sriov.vfs.length);
        expect(r.sriov.configRead(CAP + Sriov.TOTAL_VFS, 2)).toBe(4);
      }
      // The storm reached both outcomes of VF Enable.
      expect(r.sriov.counters().enables).toBeGreaterThan(0);
      expect(r.sriov.counters().enableBusNotDecoded + r.sriov.counters().numVfsRefused).toBeGreaterThan(0);
    } catch (err) {
      throw new Error(`seed ${seed} (VMDEV_SEED=${seed}): ${(err as Error).message}`);
    }
  });
});

describe("saved state of the bridges and the SR-IOV capability", () => {
  it("a bridge's registers round-trip through the envelope; a damaged or foreign blob leaves the bridge untouched", async () => {
    const r = await pciRig();
    assignPci(r.root);
    const blob = r.a.saveState();
    expect(readEnvelopeHeader(blob).kind).toBe(HostKind.pciBridge);
    const fresh = new PciBridge();
    expect(fresh.restoreState(blob)).toBe(Status.OK);
    expect([...fresh.regs.bytes]).toEqual([...r.a.regs.bytes]);
    const before = r.b.regs.bytes.slice();
    const flipped = blob.slice(); flipped[60] ^= 1;
    expect(r.b.restoreState(flipped)).toBe(Status.ERR_STATE_CHECKSUM);
    // A well-sealed image claiming another device ID (read-only) is refused.
    const img = r.a.regs.bytes.slice(); img[2] ^= 0xff;
    expect(r.b.restoreState(await sealEnvelope({ kind: HostKind.pciBridge, payloadVersion: 1 }, [{ tag: 1, value: img }]))).toBe(Status.ERR_STATE_INVALID);
    expect(r.b.restoreState(await sealEnvelope({ kind: HostKind.pciBridge, payloadVersion: 1 }, [{ tag: 1, value: img.subarray(0, 64) }]))).toBe(Status.ERR_STATE_INVALID);
    expect(r.b.restoreState(r.sriov.saveState())).toBe(Status.ERR_STATE_KIND);
    expect([...r.b.regs.bytes]).toEqual([...before]);
  });

  it("the capability with two VFs moves to a fresh board: bridges first, then the PF's capability rebuilds the VFs with their device state", async () => {
    const src = await pciRig();
    assignPci(src.root);
    pfw(src, CAP + Sriov.NUM_VFS, 2, 2);
    pfw(src, CAP + Sriov.CONTROL, 2, SriovCtl.VF_ENABLE | SriovCtl.VF_MSE);
    const vfNet = vfDevices(src.sriov)[1];
    vfNet.pci!.barWrite(4, 0x14, 1, 1); // VF 1: ACKNOWLEDGE, in its device state
    const blobs = { a: src.a.saveState(), sriov: src.sriov.saveState() };
    const dst = await pciRig();
    // Before the bridge is restored, bus 2 is not decoded: the capability refuses, nothing built.
    expect(dst.sriov.restoreState(blobs.sriov)).toBe(Status.ERR_STATE_INVALID);
    expect(dst.vfBuilds()).toBe(0);
    expect(dst.a.restoreState(blobs.a)).toBe(Status.OK);
    // A blob with one VF state where NumVFs says two is refused.
    const h = readEnvelopeHeader(blobs.sriov);
    const fields = [{ tag: 1, value: src.sriov.cap.bytes.slice() }, { tag: 2, value: vfDevices(src.sriov)[0].saveState() }];
    expect(encodeFields(fields).length).toBeLessThan(h.payloadLength);
    expect(dst.sriov.restoreState(await sealEnvelope({ kind: HostKind.pciSriov, payloadVersion: 1 }, fields))).toBe(Status.ERR_STATE_INVALID);
    expect(dst.sriov.vfs).toHaveLength(0);
    expect(dst.sriov.restoreState(blobs.sriov)).toBe(Status.OK);
    expect(dst.sriov.vfs).toHaveLength(2);
    expect(dst.sriov.control).toBe(SriovCtl.VF_ENABLE | SriovCtl.VF_MSE);
    expect(vfDevices(dst.sriov)[1].pci!.barRead(4, 0x14, 1)).toBe(1);
    expect(dst.root.configRead(2, 0, 1, 8, 4) >>> 8).toBe(0x020000);
    expect(dst.sw.portCount).toBe(3);
    // NumVFs above TotalVFs in a sealed image: refused, the live VFs stay.
    const bad = src.sriov.cap.bytes.slice(); bad[Sriov.NUM_VFS] = 9;
    expect(dst.sriov.restoreState(await sealEnvelope({ kind: HostKind.pciSriov, payloadVersion: 1 }, [{ tag: 1, value: bad }]))).toBe(Status.ERR_STATE_INVALID);
    expect(dst.sriov.vfs).toHaveLength(2);
  });
});
