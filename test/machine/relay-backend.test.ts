// `backend=relay:ws://...` in a Machine, for every NIC model: each NIC is a
// client of the relay while it is plugged; frames from the relay reach the
// NE2000's guest driver, but not while a writer holds the VM (they wait on
// the link, then arrive in order); unplug closes the connection.
import { afterEach, describe, expect, it } from "vitest";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine } from "../../src/index.js";
import { machinePciBus } from "../../src/machine/pci-bus.js";
import { MachineNe2k } from "../../src/devices/ne2k/machine.js";
import { MachineE1000 } from "../../src/devices/e1000/machine.js";
import { MachineVirtioNet } from "../../src/devices/virtio-net/machine.js";
import type { RelayBackend } from "../../src/net/backends/relay.js";
import { Ne2kDriver } from "../../src/guest/ne2k/driver.js";
import { pciPortIo } from "../../src/guest/ne2k/port-io.js";
import { parseMac } from "../../src/net/mac.js";
import { debugWasm } from "../support/core.js";
import { until } from "../support/wait.js";
import { startRelayHub, type RelayHub } from "../support/relay-hub.js";

const NE2K_MAC = "52:54:00:00:05:05";
function frame(seq: number): Uint8Array {
  const f = new Uint8Array(64);
  f.set(parseMac(NE2K_MAC), 0); f.set(parseMac("52:54:00:00:09:09"), 6);
  f[12] = 0x88; f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}
const seqOf = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset).getUint32(14);

let hub: RelayHub | null = null;
let machine: Machine | null = null;
afterEach(async () => { await machine?.destroy(); machine = null; await hub?.close(); hub = null; });

describe("relay backend in a Machine", () => {
  it("virtio-net, e1000 and NE2000 are clients of the relay; frames wait while a writer holds the VM; unplug disconnects", async () => {
    hub = await startRelayHub();
    const cfg = new ConfigTree();
    for (const [k, v] of [
      ["memory.size", "16M"], ["cpus", "1"],
      ["pci.0.3.0.device", "virtio-net"], ["pci.0.3.0.backend", `relay:${hub.url}`],
      ["pci.0.4.0.device", "e1000"], ["pci.0.4.0.backend", `relay:${hub.url}`],
      ["pci.0.5.0.device", "ne2k"], ["pci.0.5.0.backend", `relay:${hub.url}`], ["pci.0.5.0.mac", NE2K_MAC],
    ]) cfg.set(k, v);
    machine = await Machine.create(cfg, { module: debugWasm(), variant: "debug" });
    const v = machine.devicesByNode.get("pci.0.3.0") as MachineVirtioNet;
    const e = machine.devicesByNode.get("pci.0.4.0") as MachineE1000;
    const n = machine.devicesByNode.get("pci.0.5.0") as MachineNe2k;
    expect(v.backend).toEqual({ kind: "relay", url: hub.url });
    const [rv, re, rn] = [v.network, e.network, n.network] as RelayBackend[];
    await Promise.all([rv.when("up"), re.when("up"), rn.when("up"), hub.waitClients(3)]);

    const fn = machinePciBus(machine).find(0, 5, 0)!.fn;
    fn.configWrite(4, 2, 1); // I/O space
    const drv = new Ne2kDriver(pciPortIo(fn));
    drv.probe(); drv.init();
    const got: Uint8Array[] = [];
    const take = () => { drv.service(); got.push(...drv.takeReceived()); };

    const release = await machine.writeLock();
    for (let i = 0; i < 10; i++) hub.sendAll(frame(i));
    await until(() => rn.counters().rxFrames === 10, "the frames reaching the backend");
    take();
    expect(got.length).toBe(0);
    expect(rn.link.pendingFrames).toBe(10);
    release();
    await until(() => { take(); return got.length >= 10; }, "delivery after the writer");
    expect(got.map(seqOf)).toEqual([...Array(10).keys()]);
    // The virtio-net and the e1000 took the frames too (their drivers are not running: they are counted where they stopped).
    await until(() => rv.counters().rxFrames === 10 && re.counters().rxFrames === 10, "the other NICs' backends");

    await machine.unplug("pci.0.4.0");
    expect(re.state).toBe("closed");
    await until(() => hub!.clients.length === 2, "the e1000's connection closing");
    await machine.destroy();
    machine = null;
    expect([rv.state, rn.state]).toEqual(["closed", "closed"]);
    await until(() => hub!.clients.length === 0, "every connection closing");
  });
});
