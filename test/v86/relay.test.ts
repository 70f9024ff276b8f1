// v86's WebSocket relay backend (`net_device.relay_url`) and vmdev's on one
// relay: a hub relay runs on loopback; on one side the Debian guest boots in
// v86 with vmdev's virtio-net on v86's network bus, where v86's own relay
// adapter carries its frames to the relay; on the other a Machine's NE2000
// has backend=relay:, its (synthetic) guest driver answering ARP and ping
// with a responder. The guest pings it 120 times; every ping is answered.
import { afterAll, describe, expect, it } from "vitest";
import { WebSocket as NodeWebSocket } from "ws";
import { VmCore } from "../../src/vm-core.js";
import { VirtioNet } from "../../src/devices/virtio-net/device.js";
import { Responder } from "../../src/net/responder.js";
import { V86PciAdapter, linkV86NetworkBus, type V86Emulator } from "../../src/adapters/v86/index.js";
import type { HostLink } from "../../src/net/host-link.js";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine } from "../../src/index.js";
import { machinePciBus } from "../../src/machine/pci-bus.js";
import { MachineNe2k } from "../../src/devices/ne2k/machine.js";
import type { RelayBackend } from "../../src/net/backends/relay.js";
import { Ne2kDriver } from "../../src/guest/ne2k/driver.js";
import { pciPortIo } from "../../src/guest/ne2k/port-io.js";
import { debugWasm } from "../support/core.js";
import { bootGuest, guestFiles, type GuestRun } from "../support/v86-guest.js";
import { startRelayHub, type RelayHub } from "../support/relay-hub.js";

const files = guestFiles();
if (typeof files === "string") console.warn(`v86 relay test skipped: ${files}`);

const GUEST_MAC = "52:54:00:12:34:56";
const RESPONDER_MAC = "52:54:00:00:00:02";
const RAM = 128 << 20;

describe.skipIf(typeof files === "string")("v86's relay_url backend and a Machine's backend=relay: on one relay", () => {
  const g = globalThis as { WebSocket?: unknown };
  const hadWebSocket = "WebSocket" in g, before = g.WebSocket;
  afterAll(() => { if (hadWebSocket) g.WebSocket = before; else delete g.WebSocket; });

  it("the Debian guest in v86 pings the Machine's NE2000 through the relay: 120 of 120 answered", async () => {
    if (typeof files === "string") return;
    // v86's adapter uses the global WebSocket, which Node 20 does not have.
    g.WebSocket = NodeWebSocket;
    const hub: RelayHub = await startRelayHub();
    let machine: Machine | null = null;
    let run: GuestRun | null = null;
    let link: HostLink | null = null;
    let serving = true;
    let loop: Promise<void> = Promise.resolve();
    const responder = new Responder({ mac: RESPONDER_MAC, ip: files.meta.guest.responderIp });
    try {
      const cfg = new ConfigTree();
      for (const [k, v] of [["memory.size", "16M"], ["cpus", "1"], ["pci.0.4.0.device", "ne2k"], ["pci.0.4.0.mac", RESPONDER_MAC], ["pci.0.4.0.backend", `relay:${hub.url}`]]) cfg.set(k, v);
      machine = await Machine.create(cfg, { module: debugWasm(), variant: "debug" });
      const relay = (machine.devicesByNode.get("pci.0.4.0") as MachineNe2k).network as RelayBackend;
      expect(relay.kind).toBe("relay");
      // The Machine is on the relay before the guest's first ARP (a hub forwards only to clients it has).
      await Promise.all([relay.when("up"), hub.waitClients(1)]);
      const fn = machinePciBus(machine).find(0, 4, 0)!.fn;
      fn.configWrite(4, 2, 1); // I/O space
      const drv = new Ne2kDriver(pciPortIo(fn));
      drv.probe(); drv.init();
      // The Machine's guest: service the NIC, answer what the responder answers.
      loop = (async () => {
        while (serving) {
          drv.service();
          for (const f of drv.takeReceived()) for (const r of responder.handle(f)) while (!drv.transmit(r)) drv.service();
          await new Promise((r) => setTimeout(r, 1));
        }
      })();

      const adapter = new V86PciAdapter({ name: "net0", deviceNumber: 12 });
      const core = await VmCore.create({ module: debugWasm(), variant: "debug", ramBytes: RAM, foreign: adapter.guestRam });
      const net = VirtioNet.create(core, { mac: GUEST_MAC, transport: "pci", interrupts: adapter.interrupts, name: "net0" });
      run = bootGuest(files, {
        memoryBytes: RAM,
        echo: !!process.env.VMDEV_GUEST_ECHO,
        v86Options: { net_device: { type: "none", relay_url: hub.url } },
        onReady: (emu) => {
          adapter.attach(emu as unknown as V86Emulator, net.pci!);
          link = linkV86NetworkBus(net, emu as unknown as V86Emulator, 0, { maxPending: 4096 });
        },
      });
      await run.ready;
      // A watchdog only: a quiet machine gets here in 25-75 s, a busy one takes several times as long.
      await run.waitFor(/VMDEV-CHECKPOINT/, 400_000);
      await hub.waitClients(2);
      const lines = run.lines;
      const grep = (re: RegExp) => lines.filter((l) => re.test(l));
      console.log(grep(/VMDEV-PING\d .*(transmitted|round-trip)/).join("\n"));
      console.log(`relay hub ${JSON.stringify(hub.stats)}; machine relay ${JSON.stringify(relay.counters())}; responder ${JSON.stringify(responder.counters())}`);
      expect(grep(/VMDEV-PING1 20 packets transmitted, 20 packets received, 0% packet loss/).length).toBe(1);
      expect(grep(/VMDEV-PING2 100 packets transmitted, 100 packets received, 0% packet loss/).length).toBe(1);
      const r = responder.counters();
      expect(r.icmpEchoRequests).toBe(120);
      expect(r.icmpEchoReplies).toBe(120);
      expect(r.arpReplies).toBeGreaterThanOrEqual(1);
      expect(r.malformed).toBe(0);
      // Both ends went through the relay: v86's adapter was its second client, nothing was dropped or refused on ours.
      expect(hub.accepted).toBe(2);
      const c = relay.counters();
      expect(c).toMatchObject({ txDropped: 0, txInvalid: 0, rxInvalid: 0, rxText: 0, connects: 1, disconnects: 0 });
      expect(c.rxFrames).toBeGreaterThanOrEqual(121);
      expect(c.txFrames).toBeGreaterThanOrEqual(121);
      expect(relay.link.counters()).toMatchObject({ rxDropped: 0, lost: 0 });
      expect(link!.counters().rxDropped).toBe(0);
      expect(Number(net.counters().txMalformed)).toBe(0);
    } finally {
      serving = false;
      await loop;
      await run?.stop().catch(() => {});
      (link as HostLink | null)?.close();
      await machine?.destroy();
      await hub.close();
    }
  }, 660_000);
});
