// A small LAN for switch tests: one VM core with a virtio-net, an e1000 and
// an NE2000, each driven by its synthetic guest driver (src/guest/), all
// ports of one VirtualSwitch. Each NIC's guest takes frames with rx().
import { VirtioNet } from "../../src/devices/virtio-net/device.js";
import { E1000 } from "../../src/devices/e1000/device.js";
import { Ne2k } from "../../src/devices/ne2k/device.js";
import { VirtualSwitch, type SwitchPortDevice } from "../../src/net/switch.js";
import { VirtioNetDriver } from "../../src/guest/virtio/net-driver.js";
import { PciTransport } from "../../src/guest/virtio/transport.js";
import { GuestRam } from "../../src/guest/virtio/guest-ram.js";
import { InterruptRecorder } from "../../src/guest/virtio/interrupts.js";
import { Ctrl } from "../../src/guest/virtio/defs.js";
import { E1000Driver } from "../../src/guest/e1000/driver.js";
import { Ne2kDriver, IrqLine, pciPortIo } from "../../src/guest/ne2k/index.js";
import { ManualClock } from "../../src/clock.js";
import { parseMac } from "../../src/net/mac.js";
import type { VmCore } from "../../src/vm-core.js";
import { newCore } from "../support/core.js";

export const V_MAC = "52:54:00:00:00:0a";
export const E_MAC = "52:54:00:00:00:0e";
export const N_MAC = "52:54:00:00:00:02";
export const BCAST = "ff:ff:ff:ff:ff:ff";

/** One NIC and its guest: send a frame, take what the guest received, see its interrupt line. */
export interface Nic {
  dev: SwitchPortDevice & { destroy(): void };
  mac: string;
  send(frame: Uint8Array): void;
  /** Frames the guest's driver took from the device since the last call (the driver services its interrupt first). */
  rx(): Uint8Array[];
  /** Whether the device raised its interrupt since the last rx(). */
  interrupted(): boolean;
  /** Program the NIC's receive filter to accept these groups (virtio MAC_TABLE_SET, e1000 RAR/MTA, NE2000 MAR). */
  acceptGroups(groups: string[]): void;
  /** virtio-net only: MAC_TABLE_SET with these extra unicast addresses (and no groups). */
  acceptUnicast?(addrs: string[]): void;
  /** e1000 only: promiscuous (RCTL.UPE | MPE) on or off. */
  promisc?(on: boolean): void;
  /** Frames the device sent to the host (off the switch). */
  host: Uint8Array[];
  /** e1000 only: a TCP segmentation packet. */
  sendTso?(packet: Uint8Array, mss: number): void;
}

export interface Lan { core: VmCore; sw: VirtualSwitch; v: Nic; e: Nic; n: Nic }

/** A frame to `dst` from `src`, `len` bytes, its payload numbered by `seq`. */
export function frame(dst: string, src: string, seq = 0, len = 64): Uint8Array {
  const f = new Uint8Array(len);
  f.set(parseMac(dst), 0); f.set(parseMac(src), 6);
  f[12] = 0x88; f[13] = 0xb5;
  if (len >= 18) new DataView(f.buffer).setUint32(14, seq >>> 0);
  for (let i = 18; i < len; i++) f[i] = (seq + i) & 0xff;
  return f;
}

/** The sequence number of a received frame (the e1000 and NE2000 pad short frames; the number is in front). */
export const seqOf = (f: Uint8Array): number => new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(14);

export function virtioNic(core: VmCore, heap: [number, number]): Nic {
  const irq = new InterruptRecorder();
  const dev = VirtioNet.create(core, { mac: V_MAC, transport: "pci", interrupts: irq, name: "v" });
  const host: Uint8Array[] = [];
  dev.onTransmit = (f) => { host.push(f.slice()); };
  const drv = new VirtioNetDriver(new PciTransport(dev.pci!, { msixVectors: 64 }), new GuestRam(core), irq, { heap });
  drv.init();
  drv.setRxMode(Ctrl.RX_PROMISC, false);
  let seen = 0;
  return {
    dev, mac: V_MAC, host,
    send: (f) => { if (!drv.transmit(f)) throw new Error("virtio: TX ring full"); },
    rx: () => { drv.service(); drv.poll(); seen = irq.totalMsi; return drv.received.splice(0).map((r) => r.data); },
    interrupted: () => irq.totalMsi > seen,
    acceptGroups: (groups) => { drv.setMacTable([], groups.map((g) => parseMac(g))); },
    acceptUnicast: (addrs) => { drv.setMacTable(addrs.map((a) => parseMac(a)), []); },
  };
}

export function e1000Nic(core: VmCore, heap: [number, number], mac = E_MAC, name = "e"): Nic {
  const irq = new InterruptRecorder();
  const dev = E1000.create(core, { mac, interrupts: irq, clock: new ManualClock(), timers: "manual", name });
  const host: Uint8Array[] = [];
  dev.onTransmit = (f) => { host.push(f.slice()); };
  const drv = new E1000Driver(dev.pci, new GuestRam(core), { heap, rxDescs: 64, txDescs: 64 });
  drv.init();
  let edges = 0;
  return {
    dev, mac, host,
    send: (f) => { if (!drv.transmit(f)) throw new Error("e1000: TX ring full"); },
    sendTso: (p, mss) => { if (!drv.transmitTso(p, mss)) throw new Error("e1000: TX ring full"); },
    rx: () => { if (irq.intxLevel) drv.service(); drv.pollRx(); edges = irq.intxAsserts; return drv.takeReceived().map((r) => r.data); },
    interrupted: () => irq.intxAsserts > edges || irq.intxLevel,
    acceptGroups: (groups) => { drv.setMulticast(groups.map((g) => parseMac(g))); },
    promisc: (on) => { drv.setRxMode({ promisc: on, broadcast: true }); },
  };
}

export function ne2kNic(core: VmCore): Nic {
  const line = new IrqLine();
  const dev = Ne2k.create(core, { mac: N_MAC, interrupts: line, name: "n" });
  const host: Uint8Array[] = [];
  dev.onTransmit = (f) => { host.push(f.slice()); };
  dev.pci!.configWrite(4, 2, 1); // I/O space enable
  const drv = new Ne2kDriver(pciPortIo(dev.pci!));
  drv.probe(); drv.init();
  let edges = 0;
  return {
    dev, mac: N_MAC, host,
    send: (f) => { if (!drv.transmit(f)) throw new Error("ne2k: TX queue full"); drv.service(); },
    rx: () => { for (let i = 0; i < 64 && line.level; i++) drv.service(); edges = line.edges; return drv.takeReceived(); },
    interrupted: () => line.edges > edges || line.level,
    acceptGroups: (groups) => { drv.setMulticast(groups.map((g) => parseMac(g))); },
  };
}

/**
 * The three NICs on one switch, the NICs' own filters accepting `groups`.
 * With `reconcile` the switch follows each guest's filter (the default for a
 * real attach); without it the tests drive the membership by hand.
 */
export async function lan(groups: string[] = [], opts: { reconcile?: boolean } = {}): Promise<Lan> {
  const core = await newCore(32 << 20);
  const v = virtioNic(core, [4 << 20, 12 << 20]);
  const e = e1000Nic(core, [12 << 20, 20 << 20]);
  const n = ne2kNic(core);
  const sw = VirtualSwitch.create(core);
  for (const nic of [v, e, n]) { sw.attach(nic.dev, { reconcile: opts.reconcile ?? false }); nic.acceptGroups(groups); }
  return { core, sw, v, e, n };
}
