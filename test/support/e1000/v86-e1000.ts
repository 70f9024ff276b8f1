// The Debian guest in v86 on vmdev's Intel 82540EM (src/devices/e1000 through
// the v86 adapter, driven by the kernel's own e1000.ko), or on one of v86's
// own NICs for comparison (`nic`), with one host peer:
// the ARP/ICMP/UDP responder with a TCP discard service on port 9 (guest →
// host bulk), an HTTP source on port 80 (host → guest bulk,
// test/support/tcp-source.ts), a second responder behind an 802.1Q tag
// (VLAN `VLAN_ID`, what the guest's 8021q interface talks to), and raw frames
// the test injects. The guest runs in its shell mode (scripts/fetch-guest.mjs):
// commands are typed on the serial console and their "VMDEV-R " lines read back.
//
// Waits are watched for a hang (test/support/v86-shell.ts).
import { Status } from "../../../src/status.js";
import { VmCore } from "../../../src/vm-core.js";
import { E1000 } from "../../../src/devices/e1000/device.js";
import { Responder } from "../../../src/net/responder.js";
import { loadModule } from "../../../src/load-node.js";
import { V86PciAdapter, saveV86Machine, restoreV86Machine } from "../../../src/adapters/v86/index.js";
import { linkResponder, type FrameEndpoint, type HostLink } from "../../../src/net/host-link.js";
import { debugWasm } from "../core.js";
import { bootGuest, type GuestFiles, type GuestRun } from "../v86-guest.js";
import { TcpSource } from "../tcp-source.js";
import { GuestShell, type ShellWatchOptions } from "../v86-shell.js";

export const GUEST_MAC = "52:54:00:12:34:56";
export const PEER_MAC = "52:54:00:00:00:02";
export const TCP_DISCARD_PORT = 9;
export const HTTP_PORT = 80;
/** The VLAN the guest's 8021q interface joins, and the peer's address on it. */
export const VLAN_ID = 5;
export const VLAN_PEER_IP = "10.0.5.2";
export const VLAN_GUEST_IP = "10.0.5.15";
const RAM = 128 << 20;

/** vmdev's e1000, or v86's own ne2k or virtio-net (same guest, same peer, same link). */
export type E1000GuestNic = "vmdev" | "v86-ne2k" | "v86-virtio";

export interface E1000GuestOptions extends ShellWatchOptions {
  /** Default "vmdev". */
  nic?: E1000GuestNic;
  variant?: "debug" | "release";
  /** Receive backlog of the device (frames). */
  backlogFrames?: number;
  /** HTTP body bytes (host → guest bulk). */
  httpBytes: number;
  echo?: boolean;
}

/** One machine: v86, and for vmdev the adapter, the core and the device. */
export interface E1000Box { run: GuestRun; adapter: V86PciAdapter | null; nic: E1000 | null; link: HostLink; counters: Record<string, bigint> | null }

/** v86's own NIC as a frame endpoint (its bus events), so it gets the same HostLink as vmdev's. */
function v86NicEndpoint(emulator: { add_listener(e: string, f: (d: Uint8Array) => void): void; bus: { send(e: string, d: unknown): void } }): FrameEndpoint {
  const ep: FrameEndpoint = { onTransmit: null, receive(frame) { emulator.bus.send("net0-receive", frame); return Status.OK; } };
  emulator.add_listener("net0-send", (f) => ep.onTransmit?.(new Uint8Array(f)));
  return ep;
}

/** `f` with an 802.1Q tag for `vid` after the source address. */
export function tagFrame(f: Uint8Array, vid: number): Uint8Array {
  const t = new Uint8Array(f.length + 4);
  t.set(f.subarray(0, 12), 0);
  t.set([0x81, 0x00, (vid >> 8) & 0x0f, vid & 0xff], 12);
  t.set(f.subarray(12), 16);
  return t;
}

/** The VLAN ID of a tagged frame, or -1. */
export function frameVid(f: Uint8Array): number {
  return f.length >= 18 && f[12] === 0x81 && f[13] === 0x00 ? ((f[14] << 8) | f[15]) & 0xfff : -1;
}

export class E1000Guest extends GuestShell {
  readonly responder: Responder;
  readonly vlanResponder: Responder;
  readonly http: TcpSource;
  /** Frames the guest sent through the link (every box). */
  readonly tx: Uint8Array[] = [];
  /** Host time (ms) of the guest's first SYN and of its latest segment to the TCP discard port. */
  tcpOutFirst = 0;
  tcpOutLast = 0;
  /** Tagged frames the guest sent, by VLAN ID. */
  readonly taggedTx = new Map<number, number>();
  /** Machines in order (the last is live); each migration adds one. */
  readonly boxes: E1000Box[] = [];
  private tick: ReturnType<typeof setInterval> | null = null;

  private constructor(private readonly files: GuestFiles, readonly opts: E1000GuestOptions) {
    super(opts);
    const peerIp = files.meta.guest.responderIp;
    this.responder = new Responder({ mac: PEER_MAC, ip: peerIp, udpEchoPorts: [7], tcpDiscardPorts: [TCP_DISCARD_PORT] });
    this.vlanResponder = new Responder({ mac: PEER_MAC, ip: VLAN_PEER_IP });
    this.http = new TcpSource({ mac: PEER_MAC, ip: peerIp, port: HTTP_PORT, bytes: opts.httpBytes });
  }

  static async boot(files: GuestFiles, opts: E1000GuestOptions): Promise<E1000Guest> {
    const g = new E1000Guest(files, opts);
    g.boxes.push(await g.machine(true));
    g.tick = setInterval(() => { const box = g.box; for (const f of g.http.tick()) box.link.deliver(f); }, 50);
    return g;
  }

  get box(): E1000Box { return this.boxes[this.boxes.length - 1]; }
  get run(): GuestRun { return this.box.run; }
  protected live(): E1000Box { return this.box; }

  private peerHandle(f: Uint8Array): Uint8Array[] {
    const vid = frameVid(f);
    if (vid >= 0) {
      this.taggedTx.set(vid, (this.taggedTx.get(vid) ?? 0) + 1);
      if (vid !== VLAN_ID) return [];
      const inner = new Uint8Array(f.length - 4);
      inner.set(f.subarray(0, 12), 0);
      inner.set(f.subarray(16), 12);
      return this.vlanResponder.handle(inner).map((r) => tagFrame(r, VLAN_ID));
    }
    if (this.http.serves(f)) return this.http.handle(f);
    return this.responder.handle(f);
  }

  private tap(d: "tx" | "rx", f: Uint8Array): void {
    if (d !== "tx") return;
    this.tx.push(f);
    // The guest's segments to the discard port (IPv4, TCP): the SYN, and the latest (the FIN once done).
    if (f.length >= 54 && f[12] === 0x08 && f[13] === 0 && f[23] === 6) {
      const l4 = 14 + (f[14] & 0x0f) * 4;
      if (((f[l4 + 2] << 8) | f[l4 + 3]) === TCP_DISCARD_PORT) {
        if ((f[l4 + 13] & 0x02) !== 0) this.tcpOutFirst = performance.now();
        this.tcpOutLast = performance.now();
      }
    }
  }

  private async machine(start: boolean): Promise<E1000Box> {
    const o = this.opts;
    const kind = o.nic ?? "vmdev";
    const peer = { handle: (f: Uint8Array) => this.peerHandle(f) };
    const linkOpts = { tap: (d: "tx" | "rx", f: Uint8Array) => this.tap(d, f), maxPending: 4096 };
    let adapter: V86PciAdapter | null = null, nic: E1000 | null = null, link!: HostLink;
    if (kind === "vmdev") {
      adapter = new V86PciAdapter({ name: "net0", deviceNumber: 12 });
      const variant = o.variant ?? "debug";
      const module = variant === "debug" ? debugWasm() : await loadModule("release");
      const core = await VmCore.create({ module, variant, ramBytes: RAM, foreign: adapter.guestRam });
      nic = E1000.create(core, { mac: GUEST_MAC, interrupts: adapter.interrupts, name: "net0", backlogFrames: o.backlogFrames });
      link = linkResponder(nic, peer, linkOpts);
    }
    const run = bootGuest(this.files, {
      memoryBytes: RAM, disk: true, start, echo: o.echo,
      cmdlineExtra: "vmdev.mode=shell",
      v86Options: kind === "vmdev" ? {} : { net_device: { type: kind === "v86-ne2k" ? "ne2k" : "virtio" } },
      onReady: (emu) => {
        if (adapter && nic) adapter.attach(emu, nic.pci);
        else link = linkResponder(v86NicEndpoint(emu as never), peer, linkOpts);
      },
    });
    await run.ready;
    return { run, adapter, nic, link, counters: null };
  }

  /** The device's counters (the last ones read, for a machine that is gone). */
  counters(box: E1000Box = this.box): Record<string, bigint> {
    if (!box.nic) throw new Error("counters: not vmdev's e1000");
    return box.counters ?? box.nic.counters();
  }

  /** Counters for failure reports. */
  state(): string {
    const b = this.box;
    const num = (c: Record<string, bigint>) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== 0n).map(([k, v]) => [k, Number(v)]));
    return [
      `link ${JSON.stringify(b.link.counters())}`,
      b.adapter ? `adapter ${JSON.stringify(b.adapter.counters())} line=${b.adapter.irqLevel}` : "",
      b.nic ? `device ${JSON.stringify(num(this.counters(b)))} backlog=${b.counters || b.nic.destroyed ? "-" : b.nic.backlogLength}` : "",
      `responder ${JSON.stringify(this.responder.counters())} tcp ${JSON.stringify(this.responder.tcpCounters())} http ${JSON.stringify(this.http.counters())}`,
      `last lines:\n${b.run.lines.slice(-20).join("\n")}`,
    ].filter(Boolean).join("\n");
  }

  /** Hand raw frames to the guest's NIC through the link. */
  deliver(frames: Uint8Array[]): void { for (const f of frames) this.box.link.deliver(f); }

  /** The guest's /proc/net/snmp Icmp and Udp counters by name (IcmpInEchos, UdpNoPorts, ...). */
  async snmp(): Promise<Record<string, number>> {
    const r = await this.command("grep -E '^(Icmp|Udp):' /proc/net/snmp | sed 's/^/VMDEV-R /'");
    const out: Record<string, number> = {};
    for (let i = 0; i + 1 < r.out.length; i += 2) {
      const [proto, ...names] = r.out[i].split(/\s+/), values = r.out[i + 1].split(/\s+/).slice(1);
      names.forEach((n, k) => { out[`${proto.slice(0, -1)}${n}`] = Number(values[k]); });
    }
    return out;
  }

  /**
   * Save the machine (v86 and the e1000, the link drained into the device
   * first) and restore it into a fresh v86 with a fresh core and device; the
   * guest carries on there. The old device's last counters are kept and the
   * device destroyed (its timers stop). The new machine's console lines
   * start empty: a command typed before the save finishes with finish(0).
   * Returns the blob size.
   */
  async migrate(): Promise<number> {
    const old = this.box;
    if (!old.nic || !old.adapter) throw new Error("migrate: vmdev's e1000 only");
    const emu1 = old.run.emulator;
    await emu1.stop?.();
    old.link.drain();
    const blob = await saveV86Machine(emu1, [{ device: old.nic, adapter: old.adapter }]);
    await old.run.stop();
    old.link.close();
    old.counters = old.nic.counters();
    old.nic.destroy();
    const next = await this.machine(false);
    const emu2 = next.run.emulator;
    const st = await restoreV86Machine(emu2, blob, [{ device: next.nic!, adapter: next.adapter! }]);
    if (st !== Status.OK) throw new Error(`restoreV86Machine: status ${st}`);
    this.boxes.push(next);
    void emu2.run?.();
    return blob.length;
  }

  async stop(): Promise<void> {
    if (this.tick) clearInterval(this.tick);
    this.tick = null;
    for (const b of this.boxes) {
      await b.run.stop().catch(() => {});
      b.link.close();
      if (b.nic && !b.nic.destroyed) { b.counters = b.nic.counters(); b.nic.destroy(); }
    }
  }
}
