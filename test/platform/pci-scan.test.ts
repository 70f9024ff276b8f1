// The guest's PCI scan (src/guest/pci-scan.ts) over the platform
// (src/platform/pci/) after firmware (firmware.ts) numbered the buses and
// placed the BARs: it finds the bridges, the multi-function device and,
// after the SR-IOV flow, the VFs at their routing IDs on the bus behind the
// bridge; a VF driven by the virtio driver model through the bridge's memory
// window passes traffic through the PF's switch. Enabling VFs behind a
// bridge whose subordinate bus stops short of them fails cleanly, in the
// guest's check and, for a guest that does not check, in the device.
import { describe, expect, it } from "vitest";
import { pciRig, vfDevices, PF_MAC } from "./pci-rig.js";
import { assignPci } from "../../src/platform/pci/firmware.js";
import { PciScanner, type ScannedFunction } from "../../src/guest/pci-scan.js";
import { VirtioNetDriver } from "../../src/guest/virtio/net-driver.js";
import { PciTransport } from "../../src/guest/virtio/transport.js";
import { GuestRam } from "../../src/guest/virtio/guest-ram.js";
import { Ctrl } from "../../src/guest/virtio/defs.js";
import type { InterruptRecorder } from "../../src/guest/virtio/interrupts.js";
import { Bridge, Cmd, Sriov } from "../../src/platform/pci/defs.js";
import { SRIOV_AT } from "../../src/platform/pci/sriov.js";
import { Status } from "../../src/status.js";
import { seqFrame as frame, seqOf } from "../support/seq-frames.js";
import { parseMac } from "../../src/net/mac.js";
import { vfMac } from "../../src/devices/virtio-net/sriov.js";
import type { PciFunction } from "../../src/pci.js";
import type { VmCore } from "../../src/vm-core.js";

const at = (fns: ScannedFunction[], bus: number, dev: number, func: number) => fns.find((f) => f.bus === bus && f.dev === dev && f.func === func);


function driver(core: VmCore, fn: PciFunction, irq: InterruptRecorder, heap: [number, number]) {
  const drv = new VirtioNetDriver(new PciTransport(fn, { msixVectors: 8 }), new GuestRam(core), irq, { heap });
  drv.init();
  drv.setRxMode(Ctrl.RX_PROMISC, false); // a device starts promiscuous (virtio 1.2 §5.1.6.5.1)
  return { drv, rx: () => { drv.service(); drv.poll(); return drv.received.splice(0).map((r) => seqOf(r.data)); } };
}

describe("guest PCI scan over bridges, a multi-function device and SR-IOV VFs", () => {
  it("firmware numbers the buses (keeping the VFs' bus behind bridge A) and places every BAR inside its bridge's window", async () => {
    const r = await pciRig();
    const rep = assignPci(r.root);
    expect(rep.errors).toEqual([]);
    expect([r.a.primaryNumber, r.a.secondaryNumber, r.a.subordinateNumber]).toEqual([0, 1, 2]);
    expect([r.b.secondaryNumber, r.b.subordinateNumber, r.c.primaryNumber, r.c.secondaryNumber, r.c.subordinateNumber]).toEqual([3, 4, 3, 4, 4]);
    expect(rep.lastBus).toBe(4);
    // Every BAR behind A (the PF's and its VF apertures) is inside A's memory window; decode is on.
    const win = r.a.memWindow()!;
    const behindA = rep.bars.filter((b) => b.bus === 1);
    expect(behindA.length).toBe(4); // PF BAR1, BAR4; VF BAR1, BAR4 apertures
    for (const b of behindA) expect(b.base >= win[0] && b.base + b.size - 1 <= win[1]).toBe(true);
    expect(behindA.filter((b) => b.vf).map((b) => b.size).sort((x, y) => x - y)).toEqual([4 * 4096, 4 * 16384]);
    expect(r.a.command & Cmd.MEMORY).toBe(Cmd.MEMORY);
    // The e1000's I/O BAR is on bus 0, outside every bridge's I/O window; no bridge has I/O behind it.
    expect(rep.bars.find((b) => b.bus === 0 && b.kind === "io")).toMatchObject({ dev: 2, func: 0, size: 64 });
    expect(r.a.ioWindow()).toBeNull();
    // Bridge C's window nests in B's.
    const [bw, cw] = [r.b.memWindow()!, r.c.memWindow()!];
    expect(cw[0] >= bw[0] && cw[1] <= bw[1]).toBe(true);
    // BARs do not overlap.
    const spans = rep.bars.filter((b) => b.kind !== "io").map((b) => [b.base, b.base + b.size] as const).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
  });

  it("finds the bridges, the multi-function device (functions 1..7 only because of the bit), the PF and, after VF Enable, the VFs on bus 2; a VF's traffic crosses the PF's switch", async () => {
    const r = await pciRig();
    assignPci(r.root);
    const scan = new PciScanner(r.root);
    const found = scan.scan();
    expect(found.bridges.map((b) => [b.bus, b.dev, b.bridge!.secondary, b.bridge!.subordinate])).toEqual([[0, 1, 1, 2], [0, 3, 3, 4], [3, 0, 4, 4]]);
    expect(at(found.functions, 0, 2, 0)).toMatchObject({ vendor: 0x8086, multiFunction: true });
    expect(at(found.functions, 0, 2, 1)).toMatchObject({ vendor: 0x1af4, device: 0x1041, classCode: 0x020000 });
    expect(at(found.functions, 4, 0, 0)).toMatchObject({ vendor: 0x1af4, parent: { bus: 3, dev: 0 } });
    const pf = at(found.functions, 1, 0, 0)!;
    expect(pf.sriov).toMatchObject({ totalVfs: 4, initialVfs: 4, numVfs: 0, vfDeviceId: 0x1041 });
    expect(found.functions).toHaveLength(7);
    // An absent function reads FFFFh; function 0 of a single-function device does not have the bit.
    expect(r.root.configRead(0, 2, 2, 0, 2)).toBe(0xffff);
    expect(r.root.configRead(0, 1, 0, 0x0e, 1)).toBe(0x01);
    expect((r.root.configRead(0, 2, 0, 0x0c, 4) >>> 16) & 0xff).toBe(0x80);

    const en = scan.enableVfs(pf, 2);
    if (!en.ok) throw new Error(en.reason);
    expect(en.vfs.map((v) => [v.bus, v.dev, v.func])).toEqual([[2, 0, 0], [2, 0, 1]]);
    expect(r.sriov.vfs).toHaveLength(2);
    expect(r.sw.portCount).toBe(3);
    // The VF itself reads FFFFh as its IDs (SR-IOV §9.3.4.1); its class is a NIC's.
    expect(r.root.configRead(2, 0, 0, 0, 4)).toBe(0xffffffff);
    expect(en.vfs[0]).toMatchObject({ vendor: 0x1af4, device: 0x1041, classCode: 0x020000 });

    const pfDrv = driver(r.core, scan.functionView(pf), r.pfIrq, [4 << 20, 12 << 20]);
    const vf0 = driver(r.core, scan.functionView(en.vfs[0]), r.vfIrq.get(0)!, [12 << 20, 20 << 20]);
    const vf1 = driver(r.core, scan.functionView(en.vfs[1]), r.vfIrq.get(1)!, [20 << 20, 28 << 20]);
    expect([...vf0.drv.mac]).toEqual([...parseMac(vfMac(PF_MAC, 0))]);
    // Broadcast from VF 0 reaches the PF and VF 1; then unicast VF 0 → PF, PF → VF 1.
    vf0.drv.transmit(frame("ff:ff:ff:ff:ff:ff", vfMac(PF_MAC, 0), 1));
    expect(pfDrv.rx()).toEqual([1]);
    expect(vf1.rx()).toEqual([1]);
    pfDrv.drv.transmit(frame(vfMac(PF_MAC, 1), PF_MAC, 2));
    vf0.drv.transmit(frame(PF_MAC, vfMac(PF_MAC, 0), 3));
    expect(vf1.rx()).toEqual([2]);
    expect(pfDrv.rx()).toEqual([3]);
    expect(vf0.rx()).toEqual([]);
    expect(r.vfIrq.get(1)!.perVector.size).toBeGreaterThan(0); // VF 1 was told by MSI-X

    // Bridge A's memory decode off: the VF's BARs are unreachable (unclaimed, all ones).
    const before = r.root.counters().unclaimed;
    const cmd = r.a.command;
    r.root.configWrite(0, 1, 0, 4, 2, cmd & ~Cmd.MEMORY);
    expect(scan.functionView(en.vfs[0]).barRead(4, 0, 4)).toBe(0xffffffff);
    expect(r.root.counters().unclaimed).toBe(before + 1);
    r.root.configWrite(0, 1, 0, 4, 2, cmd);

    // VF Enable cleared: the VFs are torn down, their switch ports gone, their IDs answer nothing.
    scan.disableVfs(pf);
    expect(r.sriov.vfs).toHaveLength(0);
    expect(r.sw.portCount).toBe(1);
    expect(r.root.configRead(2, 0, 0, 8, 4)).toBe(0xffffffff);
    expect(r.sriov.counters()).toMatchObject({ enables: 1, disables: 1, destroyErrors: 0 });
  });

  it("D21944: behind a bridge whose subordinate bus stops short of the VFs, enabling them fails cleanly — in the guest's check, and in the device for a guest that does not check", async () => {
    const r = await pciRig();
    assignPci(r.root, { reserveVfBuses: false });
    expect([r.a.secondaryNumber, r.a.subordinateNumber]).toEqual([1, 1]);
    const pf = at(new PciScanner(r.root).scan().functions, 1, 0, 0)!;
    const checked = new PciScanner(r.root).enableVfs(pf, 2);
    expect(checked).toEqual({ ok: false, reason: "VF 1 would be on bus 2, past the subordinate bus 1 of the bridge above 01:00.0" });
    expect(r.sriov.numVfs).toBe(0);
    expect(r.sriov.counters().enables + r.sriov.counters().enableBusNotDecoded).toBe(0);

    const trusting = new PciScanner(r.root, { checkVfBuses: false }).enableVfs(pf, 2);
    expect(trusting).toEqual({ ok: false, reason: "01:00.0 did not set VF Enable" });
    expect(r.sriov.counters()).toMatchObject({ enableBusNotDecoded: 1, enables: 0 });
    expect(r.sriov.lastError).toEqual({ status: Status.ERR_RANGE, reason: "VF 0 at 02:00.0: bus 2 is not decoded by the bridge above the PF (its buses end at 1)" });
    expect(r.sriov.enabled).toBe(false);
    expect(r.vfBuilds()).toBe(0); // nothing half-created
    expect(r.sriov.vfs).toHaveLength(0);
    expect(r.sw.portCount).toBe(1);
    expect(r.root.configRead(1, 0, 0, SRIOV_AT + Sriov.CONTROL, 2)).toBe(0);

    // The same enable once the bridge decodes bus 2.
    r.root.configWrite(0, 1, 0, Bridge.SUBORDINATE_BUS, 1, 2);
    const again = new PciScanner(r.root).enableVfs({ ...pf, parent: { ...pf.parent!, bridge: { ...pf.parent!.bridge!, subordinate: 2 } } }, 2);
    expect(again.ok).toBe(true);
    expect(vfDevices(r.sriov).map((d) => d.name)).toEqual(["pfvf0", "pfvf1"]);
  });
});
