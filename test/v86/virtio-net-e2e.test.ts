// End to end: a real Linux guest (Debian i386 kernel, virtio_pci + virtio_net
// modules, busybox) boots in v86 under Node with vmdev's virtio-net attached
// through the v86 adapter, brings eth0 up, and pings a host-side responder
// 320 times. Halfway (the guest's VMDEV-CHECKPOINT), the machine — v86's state
// and the device's — is saved and restored into a fresh v86 with a fresh vmdev
// core and device, where the guest carries on. The guest's /init
// (scripts/fetch-guest.mjs) prints its view on the serial console; the test
// checks it, the frames, and the counters on both sides.
import { describe, expect, it } from "vitest";
import { VmCore } from "../../src/vm-core.js";
import { VirtioNet } from "../../src/devices/virtio-net/device.js";
import { Responder } from "../../src/net/responder.js";
import { V86PciAdapter, saveV86Machine, restoreV86Machine } from "../../src/adapters/v86/index.js";
import { linkResponder, type HostLink } from "../../src/net/host-link.js";
import { Status } from "../../src/status.js";
import { debugWasm } from "../support/core.js";
import { bootGuest, guestFiles, type GuestFiles, type GuestRun } from "../support/v86-guest.js";

const files = guestFiles();
if (typeof files === "string") console.warn(`v86 end-to-end test skipped: ${files}`);

const GUEST_MAC = "52:54:00:12:34:56";
const RESPONDER_MAC = "52:54:00:00:00:02";
const RAM = 128 << 20;

interface Machine { run: GuestRun; adapter: V86PciAdapter; net: VirtioNet; link: HostLink }

/** A v86 machine with vmdev's virtio-net attached and linked to `responder`. */
async function machine(f: GuestFiles, responder: Responder, tap: (d: "tx" | "rx", fr: Uint8Array) => void, start: boolean): Promise<Machine> {
  const adapter = new V86PciAdapter({ name: "net0", deviceNumber: 12 });
  const core = await VmCore.create({ module: debugWasm(), variant: "debug", ramBytes: RAM, foreign: adapter.guestRam });
  const net = VirtioNet.create(core, { mac: GUEST_MAC, transport: "pci", interrupts: adapter.interrupts, name: "net0" });
  const link = linkResponder(net, responder, { tap });
  if (process.env.VMDEV_E2E_TRACE_BAD) traceBadAccesses(net);
  const run = bootGuest(f, {
    memoryBytes: RAM, disk: true, start,
    echo: !!process.env.VMDEV_GUEST_ECHO,
    onReady: (emu) => adapter.attach(emu, net.pci!),
  });
  await run.ready;
  return { run, adapter, net, link };
}

/** Diagnostics: log every PCI access that bumps the device's badAccess counter. */
function traceBadAccesses(net: VirtioNet): void {
  const pci = net.pci as unknown as Record<string, (...a: number[]) => number>;
  for (const k of ["configRead", "configWrite", "barRead", "barWrite"]) {
    const inner = pci[k].bind(pci);
    pci[k] = (...a: number[]) => {
      const before = net.counters().badAccess;
      const v = inner(...a);
      if (net.counters().badAccess !== before) console.log(`bad access: ${k}(${a.map((x) => x.toString(16)).join(", ")})`);
      return v;
    };
  }
}

const num = (c: Record<string, bigint>) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== 0n).map(([k, v]) => [k, Number(v)]));

describe.skipIf(typeof files === "string")("virtio-net in v86 with a Linux guest", () => {
  it("binds virtio_net, exchanges a few hundred frames each way, and survives save/restore into a fresh machine", async () => {
    if (typeof files === "string") return;
    const responder = new Responder({ mac: RESPONDER_MAC, ip: files.meta.guest.responderIp, udpEchoPorts: [7] });
    const tx: Uint8Array[] = [];
    const rx: Uint8Array[] = [];
    const tap = (d: "tx" | "rx", f: Uint8Array) => (d === "tx" ? tx : rx).push(f);

    const first = await machine(files, responder, tap, true);
    let second: Machine | null = null;
    let failure: unknown = null;
    let restoreStatus = -1;
    let blobBytes = 0;
    try {
      // Watchdogs only: a quiet machine gets here in 25-75 s, a busy one takes several times as long.
      await first.run.waitFor(/VMDEV-CHECKPOINT/, 300_000);
      // Migrate: stop the CPU, hand queued replies to the device, save v86 + device.
      const emu1 = first.run.emulator;
      await emu1.stop?.();
      first.link.drain();
      const blob = await saveV86Machine(emu1, [{ device: first.net, adapter: first.adapter }]);
      blobBytes = blob.length;
      await first.run.stop();
      first.link.close();
      second = await machine(files, responder, tap, false);
      const emu2 = second.run.emulator;
      restoreStatus = await restoreV86Machine(emu2, blob, [{ device: second.net, adapter: second.adapter }]);
      if (restoreStatus !== Status.OK) throw new Error(`restoreV86Machine: status ${restoreStatus}`);
      void emu2.run?.();
      await second.run.waitFor(/VMDEV-INIT done/, 300_000);
    } catch (e) {
      failure = e;
    } finally {
      await first.run.stop().catch(() => {});
      first.link.close();
      if (second) { await second.run.stop(); second.link.close(); }
    }
    if (process.env.VMDEV_E2E_DUMP) {
      const { writeFileSync } = await import("node:fs");
      writeFileSync(process.env.VMDEV_E2E_DUMP, JSON.stringify({ tx: tx.map((f) => Buffer.from(f).toString("hex")), rx: rx.map((f) => Buffer.from(f).toString("hex")) }));
    }
    const lines = [...first.run.lines, ...(second?.run.lines ?? [])];
    const grep = (re: RegExp) => lines.filter((l) => re.test(l));
    console.log(`guest view:\n${[
      ...grep(/VMDEV-DMESG|VMDEV-DRIVER|VMDEV-VIRTIO|VMDEV-IPLINK|VMDEV-CHECKPOINT/), ...grep(/VMDEV-PING\d .*(transmitted|round-trip|ping:)/),
      ...grep(/VMDEV-STAT|VMDEV-NETDEV|VMDEV-IRQ|VMDEV insmod/),
    ].join("\n")}`);
    console.log(`machine blob: ${blobBytes} bytes; restore status ${restoreStatus}`);
    for (const [label, m] of [["before save", first], ["after restore", second]] as const) {
      if (!m) continue;
      console.log(`${label}: device ${JSON.stringify(num(m.net.counters()))}`);
      console.log(`${label}: adapter ${JSON.stringify(m.adapter.counters())}; link ${JSON.stringify(m.link.counters())}`);
    }
    console.log(`responder: ${JSON.stringify(responder.counters())}`);
    if (failure) throw failure;
    if (!second) throw new Error("unreachable");

    // The modules loaded and the driver bound to our function, interrupts on the INTx line.
    expect(grep(/VMDEV insmod/)).toEqual([]);
    // The PCI core enumerated vmdev's function (vendor 1af4, modern virtio-net 1041) at 00:0c.0,
    // and the virtio core negotiated VERSION_1 (feature bit 32) with the device.
    expect(grep(/VMDEV-DMESG .*pci 0000:00:0c\.0: \[1af4:1041\]/).length).toBe(1);
    const virtio = grep(/VMDEV-VIRTIO device=0x0001 vendor=0x1af4 status=0x0000000f features=[01]{32}1/);
    expect(virtio.length).toBe(1);
    expect(grep(/VMDEV-DRIVER \/sys\/devices\/pci0000:00\/0000:00:0c\.0\/virtio\d+ bound to virtio_net via virtio-pci/).length).toBe(1);
    const irq = grep(/VMDEV-IRQ .*virtio/);
    expect(irq.length).toBe(1);
    expect(irq[0]).toMatch(/XT-PIC|IO-APIC/);
    expect(Number(irq[0].match(/:\s+(\d+)/)![1])).toBeGreaterThan(300);
    expect(grep(/VMDEV-IPLINK .*eth0: <.*UP.*>/).length).toBe(1);
    expect(grep(/VMDEV-IPLINK .*link\/ether 52:54:00:12:34:56/).length).toBe(1);
    // Ping statistics: 20 + 100 before the save, 2 × 100 after the restore, all answered.
    expect(grep(/VMDEV-PING1 20 packets transmitted, 20 packets received, 0% packet loss/).length).toBe(1);
    for (const n of [2, 3, 4]) expect(grep(new RegExp(`VMDEV-PING${n} 100 packets transmitted, 100 packets received, 0% packet loss`)).length).toBe(1);
    expect(first.run.lines.some((l) => l.startsWith("VMDEV-PING3"))).toBe(false);
    expect(second.run.lines.filter((l) => /VMDEV-PING[34] 100 packets transmitted/.test(l)).length).toBe(2);

    // Frames as the host saw them: every echo request reached the responder and was answered.
    const r = responder.counters();
    expect(r.icmpEchoRequests).toBe(320);
    expect(r.icmpEchoReplies).toBe(320);
    expect(r.arpReplies).toBeGreaterThanOrEqual(1);
    expect(r.malformed).toBe(0);
    const isEcho = (f: Uint8Array, type: number) => f.length >= 42 && f[12] === 8 && f[13] === 0 && f[23] === 1 && f[34] === type;
    expect(tx.filter((f) => isEcho(f, 8)).length).toBe(320);
    expect(tx.filter((f) => isEcho(f, 8) && f.length === 14 + 20 + 8 + 1472).length).toBe(100);
    // ping -p a5: the 1472-byte payloads arrive intact (after busybox's 8-byte timestamp).
    expect(tx.filter((f) => isEcho(f, 8) && f.length === 1514).every((f) => f.subarray(50).every((b) => b === 0xa5))).toBe(true);
    expect(rx.filter((f) => isEcho(f, 0)).length).toBe(320);

    // Each device's accounting agrees with the host's, and neither saw a guest error.
    let txDevice = 0, rxDevice = 0;
    for (const m of [first, second]) {
      const c = m.net.counters();
      txDevice += Number(c.txFrames);
      rxDevice += Number(c.rxFrames);
      expect(Number(c.rxFrames)).toBe(m.link.counters().rxFrames);
      expect(m.link.counters().rxDropped).toBe(0);
      expect(Number(c.txMalformed)).toBe(0);
      expect(Number(c.badAccess)).toBe(0);
      expect(Number(c.rxDropped)).toBe(0);
      expect(m.net.needsReset).toBe(false);
      const a = m.adapter.counters();
      expect(a.irqRaised).toBeGreaterThan(0);
      expect(a.ramFaults).toBe(0);
      expect(a.msiDropped).toBe(0);
      expect(a.jitInvalidations).toBeGreaterThan(0);
    }
    expect(txDevice).toBe(tx.length);
    expect(rxDevice).toBe(rx.length);
    // The restored device did the second half of the traffic.
    expect(Number(second.net.counters().txFrames)).toBeGreaterThanOrEqual(200);
  }, 660_000);
});
