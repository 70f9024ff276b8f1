// `backend=vde:SOCKET` in a Machine: a vde_switch runs on this machine, two
// Machines' NE2000s plug into it (each through its own vde_plug child) and
// their guest drivers pass frames both ways through it — every frame, in
// order. Every NIC model takes the backend; unplugging a NIC ends its
// vde_plug, and a switch that goes away is reported by each backend as
// down, with its exit counted.
import { afterEach, describe, expect, it } from "vitest";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine } from "../../src/index.js";
import { machinePciBus } from "../../src/machine/pci-bus.js";
import { MachineNe2k } from "../../src/devices/ne2k/machine.js";
import { MachineE1000 } from "../../src/devices/e1000/machine.js";
import { MachineVirtioNet } from "../../src/devices/virtio-net/machine.js";
import { VdeBackend } from "../../src/net/backends/vde.js";
import { Ne2kDriver } from "../../src/guest/ne2k/driver.js";
import { pciPortIo } from "../../src/guest/ne2k/port-io.js";
import { seqFrame as frame, seqOf } from "../support/seq-frames.js";
import { debugWasm } from "../support/core.js";
import { until } from "../support/wait.js";
import { startVdeSwitch, vdeMissing, type VdeSwitch } from "../support/vde-switch.js";

const missing = vdeMissing();
if (missing) console.warn(`VDE tests skipped: ${missing}`);

const cfg = (lines: string[]) => {
  const c = new ConfigTree();
  for (const l of lines) { const i = l.indexOf("="); c.set(l.slice(0, i), l.slice(i + 1)); }
  return c;
};
const MAC_A = "52:54:00:00:0a:0a", MAC_B = "52:54:00:00:0b:0b";

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

function ne2kDriver(m: Machine, slot: number): Ne2kDriver {
  const fn = machinePciBus(m).find(0, slot, 0)!.fn;
  fn.configWrite(4, 2, 1); // I/O space
  const d = new Ne2kDriver(pciPortIo(fn));
  d.probe(); d.init();
  return d;
}

/** Send `frames` from `tx`, in windows each of which `rx` must receive before the next; returns what `rx` got. */
async function pass(tx: Ne2kDriver, rx: Ne2kDriver, frames: Uint8Array[], window = 25): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  for (let i = 0; i < frames.length; i += window) {
    for (const f of frames.slice(i, i + window)) {
      while (!tx.transmit(f)) tx.service();
    }
    const want = Math.min(i + window, frames.length);
    await until(() => { tx.service(); rx.service(); got.push(...rx.takeReceived()); return got.length >= want; }, `frames up to ${want}`);
  }
  return got;
}

let sw: VdeSwitch | null = null;
const machines: Machine[] = [];
afterEach(async () => {
  for (const m of machines.splice(0)) await m.destroy();
  await sw?.stop();
  sw = null;
});

async function machine(lines: string[]): Promise<Machine> {
  const m = await Machine.create(cfg(["memory.size=16M", "cpus=1", ...lines]), { module: debugWasm(), variant: "debug" });
  machines.push(m);
  return m;
}

describe.skipIf(missing !== null)("VDE backend in a Machine", () => {
  it("two Machines' NE2000s on one vde_switch: 200 frames each way, all of them, in order", async () => {
    sw = await startVdeSwitch();
    const a = await machine([`pci.0.4.0.device=ne2k`, `pci.0.4.0.mac=${MAC_A}`, `pci.0.4.0.backend=vde:${sw.socket}`]);
    const b = await machine([`pci.0.4.0.device=ne2k`, `pci.0.4.0.mac=${MAC_B}`, `pci.0.4.0.backend=vde:${sw.socket}`]);
    const na = (a.devicesByNode.get("pci.0.4.0") as MachineNe2k).network as VdeBackend;
    const nb = (b.devicesByNode.get("pci.0.4.0") as MachineNe2k).network as VdeBackend;
    expect(na.kind).toBe("vde");
    expect((await sw.waitPlugs(2)).sort()).toEqual([na.pid, nb.pid].sort());
    const da = ne2kDriver(a, 4), db = ne2kDriver(b, 4);
    const N = 200;
    const toB = await pass(da, db, Array.from({ length: N }, (_, i) => frame(MAC_B, MAC_A, i)));
    const toA = await pass(db, da, Array.from({ length: N }, (_, i) => frame(MAC_A, MAC_B, 1000 + i)));
    expect(toB.map(seqOf)).toEqual([...Array(N).keys()]);
    expect(toA.map(seqOf)).toEqual([...Array(N).keys()].map((i) => 1000 + i));
    expect(toB[0].subarray(0, 14)).toEqual(frame(MAC_B, MAC_A, 0).subarray(0, 14));
    for (const n of [na, nb]) {
      expect(n.counters()).toMatchObject({ txFrames: N, rxFrames: N, txDropped: 0, txInvalid: 0, rxInvalid: 0, connects: 1, disconnects: 0, exits: 0 });
      expect(n.link.counters()).toMatchObject({ rxFrames: N, rxDropped: 0, lost: 0 });
      expect(n.state).toBe("up");
    }
    expect((a.devicesByNode.get("pci.0.4.0") as MachineNe2k).framesLost()).toBe(0);
  });

  it("every NIC model takes vde:; unplugging a NIC ends its vde_plug and frees its switch port; the switch going away is each backend's exit", async () => {
    sw = await startVdeSwitch();
    const m = await machine([
      "pci.0.3.0.device=virtio-net", `pci.0.3.0.backend=vde:${sw.socket}`,
      "pci.0.4.0.device=e1000", `pci.0.4.0.backend=vde:${sw.socket}`,
      "pci.0.5.0.device=ne2k", `pci.0.5.0.backend=vde:${sw.socket}`,
    ]);
    const v = m.devicesByNode.get("pci.0.3.0") as MachineVirtioNet;
    const e = m.devicesByNode.get("pci.0.4.0") as MachineE1000;
    const n = m.devicesByNode.get("pci.0.5.0") as MachineNe2k;
    expect(v.backend).toEqual({ kind: "vde", socket: sw.socket });
    const [bv, be, bn] = [v.network, e.network, n.network] as VdeBackend[];
    expect((await sw.waitPlugs(3)).sort()).toEqual([bv.pid, be.pid, bn.pid].sort());
    await m.unplug("pci.0.4.0");
    expect(be.state).toBe("closed");
    expect(be.exit).not.toBeNull();
    expect(alive(be.pid!)).toBe(false);
    expect(be.counters().exits).toBe(0);
    expect((await sw.waitPlugs(2)).sort()).toEqual([bv.pid, bn.pid].sort());

    await sw.stop();
    sw = null;
    await Promise.all([bv.whenExited(), bn.whenExited()]);
    for (const b of [bv, bn]) {
      expect(b.state).toBe("down");
      expect(b.counters()).toMatchObject({ exits: 1, connects: 1, disconnects: 1 });
    }
    // The guest's frames now go nowhere, counted.
    const d = ne2kDriver(m, 5);
    d.transmit(frame("ff:ff:ff:ff:ff:ff", "52:54:00:00:05:05", 1));
    d.service();
    expect(bn.counters()).toMatchObject({ txDropped: 1, txFrames: 0 });
  });

  it("a socket with no switch behind it: vde_plug exits, the backend reports it down with the code and stderr", async () => {
    const m = await machine(["pci.0.5.0.device=ne2k", "pci.0.5.0.backend=vde:/nonexistent/vmdev-no-switch.ctl"]);
    const b = (m.devicesByNode.get("pci.0.5.0") as MachineNe2k).network as VdeBackend;
    await b.whenExited();
    expect(b.state).toBe("down");
    expect(b.counters().exits).toBe(1);
    expect(b.exit!.code).not.toBe(0);
    expect(b.exit!.stderr.length).toBeGreaterThan(0);
  });

  it("a vde_plug that is not there (ENOENT) is an exit, not a throw", async () => {
    const fakeNic = { onTransmit: null as ((f: Uint8Array) => void) | null, receive: () => 0 };
    const b = VdeBackend.connect(fakeNic, "/tmp/none.ctl", { command: "/nonexistent/vde_plug" });
    await b.whenExited();
    expect(b.state).toBe("down");
    expect(b.exit!.error).toMatch(/ENOENT/);
    fakeNic.onTransmit!(new Uint8Array(60));
    expect(b.counters()).toMatchObject({ exits: 1, txDropped: 1 });
    await b.close();
    expect(fakeNic.onTransmit).toBeNull();
  });
});

describe("backend=vde: in config", () => {
  it("is refused without a socket, or with one that looks like an option", async () => {
    await expect(Machine.create(cfg(["memory.size=16M", "pci.0.4.0.device=ne2k", "pci.0.4.0.backend=vde:"]), { module: debugWasm(), variant: "debug" }))
      .rejects.toThrow(/want host, loopback, switch:NAME, relay:ws:\/\/HOST:PORT\/ or vde:SOCKET, got 'vde:'/);
    await expect(Machine.create(cfg(["memory.size=16M", "pci.0.4.0.device=e1000", "pci.0.4.0.backend=vde:-h"]), { module: debugWasm(), variant: "debug" }))
      .rejects.toThrow(/got 'vde:-h'/);
    await expect(Machine.create(cfg(["memory.size=16M", "pci.0.3.0.device=virtio-net", "pci.0.3.0.backend=relay:http://x/"]), { module: debugWasm(), variant: "debug" }))
      .rejects.toThrow(/got 'relay:http:\/\/x\/'/);
  });
});
