// The Debian guest in v86 on an NE2000: vmdev's (src/devices/ne2k through
// the v86 adapter, driven by the kernel's 8390.ko + ne2k-pci.ko) or v86's own
// (`net_device: { type: "ne2k" }`, the same kernel driver), with one host
// peer for both: the ARP/ICMP/UDP responder with a TCP discard service on
// port 9 (guest → host bulk), an HTTP source on port 80 (host → guest bulk,
// test/support/tcp-source.ts), and raw frames the test injects. The guest runs
// in its shell mode (scripts/fetch-guest.mjs): commands are typed on the
// serial console and their "VMDEV-R " lines read back.
//
// Waits are watched for a hang (test/support/v86-shell.ts).
import { Status } from "../../../src/status.js";
import { VmCore } from "../../../src/vm-core.js";
import { Ne2k } from "../../../src/devices/ne2k/device.js";
import { Responder } from "../../../src/net/responder.js";
import { loadModule } from "../../../src/load-node.js";
import { V86PciAdapter, saveV86Machine, restoreV86Machine } from "../../../src/adapters/v86/index.js";
import { linkResponder, type FrameEndpoint, type HostLink } from "../../../src/net/host-link.js";
import { GuestShell, type ShellWatchOptions } from "../v86-shell.js";
import { debugWasm } from "../core.js";
import { bootGuest, type GuestFiles, type GuestRun } from "../v86-guest.js";
import { TcpSource } from "../tcp-source.js";

export const GUEST_MAC = "52:54:00:12:34:56";
export const PEER_MAC = "52:54:00:00:00:02";
export const TCP_DISCARD_PORT = 9;
export const HTTP_PORT = 80;
const RAM = 128 << 20;

export type Ne2kNic = "vmdev" | "v86";

export interface Ne2kGuestOptions extends ShellWatchOptions {
  nic: Ne2kNic;
  variant?: "debug" | "release";
  /** Backlog of vmdev's NE2000 (frames). */
  backlogFrames?: number;
  /** HTTP body: bytes or a duration (host → guest bulk). */
  httpBytes?: number;
  httpMs?: number;
  echo?: boolean;
}

/** One machine: v86, and for vmdev the adapter, the core and the device. */
interface Box { run: GuestRun; adapter: V86PciAdapter | null; nic: Ne2k | null; link: HostLink }

/** v86's own NIC as a frame endpoint (its bus events), so it gets the same HostLink as vmdev's. */
function v86NicEndpoint(emulator: { add_listener(e: string, f: (d: Uint8Array) => void): void; bus: { send(e: string, d: unknown): void } }): FrameEndpoint {
  const ep: FrameEndpoint = { onTransmit: null, receive(frame) { emulator.bus.send("net0-receive", frame); return Status.OK; } };
  emulator.add_listener("net0-send", (f) => ep.onTransmit?.(new Uint8Array(f)));
  return ep;
}

export class Ne2kGuest extends GuestShell {
  readonly responder: Responder;
  readonly http: TcpSource;
  /** Frames the guest sent / received through the link (every box), for tests that look at them. */
  readonly tx: Uint8Array[] = [];
  readonly rx: Uint8Array[] = [];
  /** Extra frame handler the test installs (returns true when it took the frame). */
  onGuestFrame: ((f: Uint8Array) => Uint8Array[] | null) | null = null;
  /** Machines in order (the last is live); each migration adds one. */
  readonly boxes: Box[] = [];
  private tick: ReturnType<typeof setInterval> | null = null;
  private readonly files: GuestFiles;

  private constructor(files: GuestFiles, readonly opts: Ne2kGuestOptions) {
    super(opts);
    this.files = files;
    const peerIp = files.meta.guest.responderIp;
    this.responder = new Responder({ mac: PEER_MAC, ip: peerIp, udpEchoPorts: [7], tcpDiscardPorts: [TCP_DISCARD_PORT] });
    this.http = new TcpSource({ mac: PEER_MAC, ip: peerIp, port: HTTP_PORT, bytes: opts.httpBytes, durationMs: opts.httpMs });
  }

  static async boot(files: GuestFiles, opts: Ne2kGuestOptions): Promise<Ne2kGuest> {
    const g = new Ne2kGuest(files, opts);
    g.boxes.push(await g.machine(true));
    g.tick = setInterval(() => { const box = g.box; for (const f of g.http.tick()) box.link.deliver(f); }, 50);
    return g;
  }

  get box(): Box { return this.boxes[this.boxes.length - 1]; }
  get run(): GuestRun { return this.box.run; }
  protected live(): Box { return this.box; }
  /** Every console line of every machine so far. */
  get lines(): string[] { return this.boxes.flatMap((b) => b.run.lines); }

  private peerHandle(f: Uint8Array): Uint8Array[] {
    const extra = this.onGuestFrame?.(f);
    if (extra) return extra;
    if (this.http.serves(f)) return this.http.handle(f);
    return this.responder.handle(f);
  }

  private async machine(start: boolean): Promise<Box> {
    const o = this.opts;
    let adapter: V86PciAdapter | null = null, nic: Ne2k | null = null, link!: HostLink;
    const tap = (d: "tx" | "rx", f: Uint8Array) => (d === "tx" ? this.tx : this.rx).push(f);
    const peer = { handle: (f: Uint8Array) => this.peerHandle(f) };
    if (o.nic === "vmdev") {
      adapter = new V86PciAdapter({ name: "net0", deviceNumber: 12 });
      const variant = o.variant ?? "debug";
      const module = variant === "debug" ? debugWasm() : await loadModule("release");
      const core = await VmCore.create({ module, variant, ramBytes: RAM, foreign: adapter.guestRam });
      nic = Ne2k.create(core, { mac: GUEST_MAC, interrupts: adapter.interrupts, name: "net0", backlogFrames: o.backlogFrames });
      link = linkResponder(nic, peer, { tap, maxPending: 4096 });
    }
    const run = bootGuest(this.files, {
      memoryBytes: RAM, disk: true, start, echo: o.echo,
      cmdlineExtra: "vmdev.mode=shell",
      v86Options: o.nic === "v86" ? { net_device: { type: "ne2k" } } : {},
      onReady: (emu) => {
        if (adapter && nic) adapter.attach(emu, nic.pci!);
        else link = linkResponder(v86NicEndpoint(emu as never), peer, { tap, maxPending: 4096 });
      },
    });
    await run.ready;
    return { run, adapter, nic, link };
  }

  /** Counters for failure reports. */
  state(): string {
    const b = this.box;
    const num = (c: Record<string, bigint>) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== 0n).map(([k, v]) => [k, Number(v)]));
    return [
      `link ${JSON.stringify(b.link.counters())}`,
      b.adapter ? `adapter ${JSON.stringify(b.adapter.counters())} line=${b.adapter.irqLevel}` : "",
      b.nic ? `device ${JSON.stringify(num(b.nic.counters()))} backlog=${b.nic.backlogLength}` : "",
      `responder ${JSON.stringify(this.responder.counters())} tcp ${JSON.stringify(this.responder.tcpCounters())} http ${JSON.stringify(this.http.counters())}`,
      `last lines:\n${b.run.lines.slice(-20).join("\n")}`,
    ].filter(Boolean).join("\n");
  }

  /** Hand raw frames to the guest's NIC through the link. */
  deliver(frames: Uint8Array[]): void { for (const f of frames) this.box.link.deliver(f); }

  /** The guest's /proc/net/dev row for eth0 as numbers (rx bytes, packets, errs, drop, fifo, frame, compressed, multicast, tx ...). */
  async netdev(): Promise<number[]> {
    const r = await this.command("grep eth0 /proc/net/dev | sed 's/^/VMDEV-R /'");
    return r.out[0].split(":")[1].trim().split(/\s+/).map(Number);
  }

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
   * Save the machine (v86 and the NE2000, the link drained into the device
   * first) and restore it into a fresh v86 with a fresh core and device; the
   * guest carries on there. vmdev only. Returns the blob size.
   */
  async migrate(): Promise<number> {
    const old = this.box;
    if (!old.nic || !old.adapter) throw new Error("migrate: vmdev NIC only");
    const emu1 = old.run.emulator;
    await emu1.stop?.();
    old.link.drain();
    const blob = await saveV86Machine(emu1, [{ device: old.nic, adapter: old.adapter }]);
    await old.run.stop();
    old.link.close();
    const next = await this.machine(false);
    const emu2 = next.run.emulator;
    const st = await restoreV86Machine(emu2, blob, [{ device: next.nic!, adapter: next.adapter! }]);
    if (st !== Status.OK) throw new Error(`restoreV86Machine: status ${st}`);
    // The serial console: keep the lines of the old machine visible to waiters from here on.
    this.boxes.push(next);
    void emu2.run?.();
    return blob.length;
  }

  async stop(): Promise<void> {
    if (this.tick) clearInterval(this.tick);
    this.tick = null;
    for (const b of this.boxes) { await b.run.stop().catch(() => {}); b.link.close(); }
  }
}
