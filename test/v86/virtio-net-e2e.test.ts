// End to end: a real Linux guest (Debian i386 kernel, virtio_pci + virtio_net
// modules, busybox) boots in v86 under Node with vmdev's virtio-net attached
// through the v86 adapter, brings eth0 up, and pings a host-side responder
// a few hundred times. The guest's /init (scripts/fetch-guest.mjs) prints its
// view on the serial console; the test checks it, the frames, and counters.
import { describe, expect, it } from "vitest";
import { VmCore } from "../../src/vm-core.js";
import { VirtioNet } from "../../src/net/virtio-net.js";
import { Responder } from "../../src/net/responder.js";
import { V86PciAdapter, linkResponder, type V86Emulator } from "../../src/adapters/v86.js";
import { debugWasm } from "../support/core.js";
import { bootGuest, guestFiles } from "../support/v86-guest.js";

const files = guestFiles();
if (typeof files === "string") console.warn(`v86 end-to-end test skipped: ${files}`);

const GUEST_MAC = "52:54:00:12:34:56";
const RESPONDER_MAC = "52:54:00:00:00:02";
const RAM = 128 << 20;

describe.skipIf(typeof files === "string")("virtio-net in v86 with a Linux guest", () => {
  it("binds virtio_net, brings eth0 up and exchanges a few hundred frames each way", async () => {
    if (typeof files === "string") return;
    const adapter = new V86PciAdapter({ name: "net0", deviceNumber: 12 });
    const core = await VmCore.create({ module: debugWasm(), variant: "debug", ramBytes: RAM, foreign: adapter.guestRam });
    const net = VirtioNet.create(core, { mac: GUEST_MAC, transport: "pci", interrupts: adapter.interrupts, name: "net0" });
    const responder = new Responder({ mac: RESPONDER_MAC, ip: files.meta.guest.responderIp, udpEchoPorts: [7] });
    const tx: Uint8Array[] = [];
    const rx: Uint8Array[] = [];
    const link = linkResponder(net, responder, { tap: (d, f) => (d === "tx" ? tx : rx).push(f) });
    if (process.env.VMDEV_E2E_TRACE_BAD) {
      const pci = net.pci!;
      for (const k of ["configRead", "configWrite", "barRead", "barWrite"] as const) {
        const inner = (pci as unknown as Record<string, (...a: number[]) => number>)[k].bind(pci);
        (pci as unknown as Record<string, unknown>)[k] = (...a: number[]) => {
          const before = net.counters().badAccess;
          const v = inner(...a);
          if (net.counters().badAccess !== before) console.log(`bad access: ${k}(${a.map((x) => x.toString(16)).join(", ")})`);
          return v;
        };
      }
    }
    const run = bootGuest(files, {
      memoryBytes: RAM,
      echo: !!process.env.VMDEV_GUEST_ECHO,
      onReady: (emu) => adapter.attach(emu as unknown as V86Emulator, net.pci!),
    });
    let failure: unknown = null;
    try {
      await run.waitFor(/VMDEV-INIT done/, 100_000);
    } catch (e) {
      failure = e;
    } finally {
      await run.stop();
      link.close();
    }
    const lines = run.lines;
    const grep = (re: RegExp) => lines.filter((l) => re.test(l));
    const report = [
      ...grep(/VMDEV-DMESG/), ...grep(/VMDEV-IPLINK/), ...grep(/VMDEV-PING\d .*(transmitted|round-trip|ping:)/),
      ...grep(/VMDEV-STAT|VMDEV-NETDEV|VMDEV-DRIVER|VMDEV-IRQ|VMDEV insmod/),
    ];
    console.log(`guest view:\n${report.join("\n")}`);
    const counters = net.counters();
    console.log(`device counters: ${JSON.stringify(Object.fromEntries(Object.entries(counters).filter(([, v]) => v !== 0n).map(([k, v]) => [k, Number(v)])))}`);
    console.log(`adapter counters: ${JSON.stringify(adapter.counters())}`);
    console.log(`link counters: ${JSON.stringify(link.counters())}; responder: ${JSON.stringify(responder.counters())}`);

    if (process.env.VMDEV_E2E_DUMP) {
      const { writeFileSync } = await import("node:fs");
      writeFileSync(process.env.VMDEV_E2E_DUMP, JSON.stringify({ tx: tx.map((f) => Buffer.from(f).toString("hex")), rx: rx.map((f) => Buffer.from(f).toString("hex")) }));
    }
    if (failure) throw failure;
    // The modules loaded and the driver bound to our function.
    expect(grep(/VMDEV insmod/)).toEqual([]);
    expect(grep(/VMDEV-DRIVER \/sys\/devices\/pci0000:00\/0000:00:0c\.0\/virtio\d+ bound to virtio_net via virtio-pci/).length).toBe(1);
    // Interrupts arrive on the legacy line (INTx through v86's PIC), not MSI-X.
    const irq = grep(/VMDEV-IRQ .*virtio/);
    expect(irq.length).toBeGreaterThan(0);
    expect(Number(irq[0].match(/:\s+(\d+)/)![1])).toBeGreaterThan(300);
    expect(grep(/VMDEV-IPLINK .*eth0: <.*UP.*>/).length).toBe(1);
    expect(grep(/VMDEV-IPLINK .*link\/ether 52:54:00:12:34:56/).length).toBe(1);
    // Ping statistics: 20 + 3 × 100 echo requests, all answered.
    expect(grep(/VMDEV-PING1 20 packets transmitted, 20 packets received, 0% packet loss/).length).toBe(1);
    for (const n of [2, 3, 4]) expect(grep(new RegExp(`VMDEV-PING${n} 100 packets transmitted, 100 packets received, 0% packet loss`)).length).toBe(1);

    // Frames as the host saw them: every echo request reached the responder and was answered.
    const r = responder.counters();
    expect(r.icmpEchoRequests).toBe(320);
    expect(r.icmpEchoReplies).toBe(320);
    expect(r.arpReplies).toBeGreaterThanOrEqual(1);
    expect(r.malformed).toBe(0);
    const isEcho = (f: Uint8Array, type: number) => f.length >= 42 && f[12] === 8 && f[13] === 0 && f[23] === 1 && f[34] === type;
    expect(tx.filter((f) => isEcho(f, 8)).length).toBe(320);
    expect(tx.filter((f) => isEcho(f, 8) && f.length === 14 + 20 + 8 + 1472).length).toBe(100);
    // ping -p a5: the 1472-byte payloads arrive intact (after the 8-byte timestamp busybox puts first).
    expect(tx.filter((f) => isEcho(f, 8) && f.length === 1514).every((f) => f.subarray(50).every((b) => b === 0xa5))).toBe(true);
    expect(rx.filter((f) => isEcho(f, 0)).length).toBe(320);

    // The device's own accounting agrees with the host's.
    expect(Number(counters.txFrames)).toBe(tx.length);
    expect(Number(counters.rxFrames)).toBe(link.counters().rxFrames);
    expect(link.counters().rxDropped).toBe(0);
    expect(Number(counters.txMalformed)).toBe(0);
    expect(Number(counters.badAccess)).toBe(0);
    expect(Number(counters.rxDropped)).toBe(0);
    expect(net.needsReset).toBe(false);
    const a = adapter.counters();
    expect(a.irqRaised).toBeGreaterThan(0);
    expect(a.ramFaults).toBe(0);
    expect(a.msiDropped).toBe(0);
    expect(a.jitInvalidations).toBeGreaterThan(0);
  }, 150_000);
});
