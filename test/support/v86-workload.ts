// Sustained traffic between the Debian guest in v86 and a host-side peer, on
// vmdev's virtio-net (through the v86 adapter) or on v86's own virtio-net, with
// the same peer, the same frame link and the same guest commands:
//   1. `ping -A` (adaptive flood) for a while at each payload size,
//   2. a TCP transfer guest → host (busybox dd | nc to the peer's TCP discard port),
//   3. a host → guest flood: ICMP echo requests kept `floodWindow` deep, each
//      followed by a UDP datagram to a closed port, for `floodMs`.
// The guest runs in its shell mode (scripts/fetch-guest.mjs): the host types
// each command on the serial console and reads the result lines back.
//
// A watchdog samples the counters that move while traffic flows (frames each
// way, console lines). If none moves while v86 executes `stallInstructions`
// guest instructions (and at least `stallMs` pass), the guest is hung: the run
// stops and reports v86's interrupt-controller state and every counter. The
// budget is counted in guest instructions, not wall time: a hung guest keeps
// its kernel running (timers, retransmits), while a slow or busy host only
// stretches the wall time each instruction takes. The boot, which prints no
// console line until the shell is ready, gets its own larger budget.
import { Status } from "../../src/status.js";
import { VmCore } from "../../src/vm-core.js";
import { VirtioNet } from "../../src/devices/virtio-net/device.js";
import { Responder, internetChecksum, onesComplementSum, parseIpv4 } from "../../src/net/responder.js";
import { parseMac } from "../../src/net/mac.js";
import { V86PciAdapter, linkV86NetworkBus } from "../../src/adapters/v86/index.js";
import { linkResponder, type FrameEndpoint, type HostLink } from "../../src/net/host-link.js";
import { loadModule } from "../../src/load-node.js";
import { debugWasm } from "./core.js";
import { bootGuest, type GuestFiles, type GuestRun } from "./v86-guest.js";
import { StallWatch } from "./stall-watch.js";

export type NicKind = "vmdev" | "v86";

export interface WorkloadOptions {
  /** vmdev's virtio-net through the adapter, or v86's own (`net_device: { type: "virtio" }`). */
  nic: NicKind;
  /** vmdev's wasm build. Default "debug" (tests); benches use "release". */
  variant?: "debug" | "release";
  /** Guest seconds of `ping -A` per payload size. */
  pingSeconds: number;
  pingSizes: number[];
  /** Bytes the guest sends over TCP (a multiple of `tcpBlock`). */
  tcpBytes: number;
  /** Block size of the guest's `dd` feeding `nc`. Default 64 KiB. */
  tcpBlock?: number;
  /** How long the host floods the guest. */
  floodMs: number;
  /** Echo requests outstanding during the flood. Default 64. */
  floodWindow?: number;
  /** Guest instructions with frozen counters that mean a hang. Default 3e9 (≈ 30 s of a v86 on a quiet host). */
  stallInstructions?: number;
  /** Guest instructions the boot may run without a console line. Default 20e9 (the Debian guest boots in ≈ 3.1e9). */
  bootInstructions?: number;
  /** The least wall time of frozen counters before a hang is called. Default 30 s. */
  stallMs?: number;
  /** v86 with ACPI (the guest then uses the IOAPIC and local APIC). */
  acpi?: boolean;
  /**
   * vmdev's NIC on v86's network bus (linkV86NetworkBus), the host peer and
   * the flood on the bus's public end (`net0-send` listener, `net0-receive`),
   * as an embedder's network adapter is; default: a HostLink straight to the peer.
   */
  viaBus?: boolean;
  echo?: boolean;
}

/** What a phase cost: guest instructions v86 executed and host CPU time (user + system) of this process. */
export interface PhaseCost { guestInstructions: number; hostCpuMs: number }
export interface PingResult extends PhaseCost { size: number; transmitted: number; received: number; wallMs: number; frames: number; framesPerSec: number }
export interface TcpResult extends PhaseCost { bytes: number; status: number; wallMs: number; megabytesPerSec: number }
export interface FloodResult extends PhaseCost {
  echoRequests: number; echoReplies: number; udpDatagrams: number; wallMs: number;
  /** Frames handed to the guest while flooding, and per second. */
  frames: number;
  framesPerSec: number;
}

export interface WorkloadResult {
  /** Guest instructions from power-on until the shell was ready. */
  bootInstructions: number;
  ping: PingResult[];
  tcp: TcpResult | null;
  flood: FloodResult | null;
  /** The guest's /proc/net/snmp Icmp and Udp counters after the flood, by name. */
  snmp: Record<string, number>;
  /** The guest's /proc/interrupts line for the NIC. */
  interrupts: string;
  /** Null, or why the watchdog declared a hang, with the state it saw. */
  hang: string | null;
  /** Any other failure (a command's output not as expected). */
  error: string | null;
  link: ReturnType<HostLink["counters"]>;
  responder: ReturnType<Responder["counters"]>;
  tcpService: ReturnType<Responder["tcpCounters"]>;
  /** vmdev only. */
  device: Record<string, number> | null;
  adapter: ReturnType<V86PciAdapter["counters"]> | null;
  irqLevel: boolean | null;
  lines: string[];
}

const GUEST_MAC = "52:54:00:12:34:56";
const PEER_MAC = "52:54:00:00:00:02";
const RAM = 128 << 20;
const TCP_PORT = 9;
/** A closed UDP port in the guest (discard): the flood's datagrams count in its Udp NoPorts. */
const UDP_PORT = 9;
const FLOOD_ID = 0x7e57;

class Hang extends Error {}

/** v86's own NIC as a frame endpoint (its bus events), so it gets the same HostLink as vmdev's. */
function v86NicEndpoint(emulator: { add_listener(e: string, f: (d: Uint8Array) => void): void; bus: { send(e: string, d: unknown): void } }): FrameEndpoint {
  const ep: FrameEndpoint = {
    onTransmit: null,
    receive(frame) { emulator.bus.send("net0-receive", frame); return Status.OK; },
  };
  emulator.add_listener("net0-send", (f) => ep.onTransmit?.(new Uint8Array(f)));
  return ep;
}

/** The host's flood: echo requests and UDP datagrams to the guest, replies counted. */
class Flood {
  requests = 0;
  replies = 0;
  datagrams = 0;
  active = false;
  private seq = 0;
  private readonly peerMac: Uint8Array;
  private readonly peerIp: Uint8Array;
  guestMac: Uint8Array;
  private readonly guestIp: Uint8Array;
  constructor(peerMac: string, peerIp: string, guestMac: string, guestIp: string) {
    this.peerMac = parseMac(peerMac); this.peerIp = parseIpv4(peerIp);
    this.guestMac = parseMac(guestMac); this.guestIp = parseIpv4(guestIp);
  }
  get outstanding(): number { return this.requests - this.replies; }

  /** An echo reply to one of our requests (counted), or not ours. */
  isReply(f: Uint8Array): boolean {
    if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0 || f[23] !== 1) return false;
    const l4 = 14 + (f[14] & 0x0f) * 4;
    if (f[l4] !== 0 || ((f[l4 + 4] << 8) | f[l4 + 5]) !== FLOOD_ID) return false;
    this.replies++;
    return true;
  }

  /** The next request and a datagram behind it. */
  next(): Uint8Array[] {
    this.requests++;
    this.datagrams++;
    const seq = this.seq++ & 0xffff;
    const icmp = new Uint8Array(8 + 56);
    icmp[0] = 8; icmp[4] = FLOOD_ID >> 8; icmp[5] = FLOOD_ID & 0xff; icmp[6] = seq >> 8; icmp[7] = seq & 0xff;
    for (let i = 8; i < icmp.length; i++) icmp[i] = i;
    const ck = internetChecksum(icmp, 0, icmp.length);
    icmp[2] = ck >> 8; icmp[3] = ck & 0xff;
    const udp = new Uint8Array(8 + 64);
    udp[0] = 0x9c; udp[1] = 0x40; udp[2] = UDP_PORT >> 8; udp[3] = UDP_PORT & 0xff; udp[4] = 0; udp[5] = udp.length;
    for (let i = 8; i < udp.length; i++) udp[i] = seq + i;
    const pseudo = onesComplementSum(this.peerIp, 0, 4, onesComplementSum(this.guestIp, 0, 4, 17 + udp.length));
    let uck = internetChecksum(udp, 0, udp.length, pseudo);
    if (uck === 0) uck = 0xffff;
    udp[6] = uck >> 8; udp[7] = uck & 0xff;
    return [this.ipFrame(1, icmp, seq), this.ipFrame(17, udp, seq)];
  }

  private ipFrame(proto: number, payload: Uint8Array, id: number): Uint8Array {
    const f = new Uint8Array(Math.max(60, 34 + payload.length));
    f.set(this.guestMac, 0); f.set(this.peerMac, 6); f[12] = 0x08; f[13] = 0;
    const total = 20 + payload.length;
    f.set([0x45, 0, total >> 8, total & 0xff, id >> 8, id & 0xff, 0x40, 0, 64, proto, 0, 0], 14);
    f.set(this.peerIp, 26); f.set(this.guestIp, 30);
    const ck = internetChecksum(f, 14, 20);
    f[24] = ck >> 8; f[25] = ck & 0xff;
    f.set(payload, 34);
    return f;
  }
}

function tcpToService(f: Uint8Array): number {
  // Flags of a guest → host TCP segment to the discard port, else -1.
  if (f.length < 54 || f[12] !== 0x08 || f[13] !== 0 || f[23] !== 6) return -1;
  const l4 = 14 + (f[14] & 0x0f) * 4;
  if (((f[l4 + 2] << 8) | f[l4 + 3]) !== TCP_PORT) return -1;
  return f[l4 + 13];
}

/** Boot the guest with the chosen NIC and run the sustained workload on it. */
export async function runSustainedWorkload(files: GuestFiles, opts: WorkloadOptions): Promise<WorkloadResult> {
  const stallMs = opts.stallMs ?? 30_000;
  const stallInstructions = opts.stallInstructions ?? 3e9;
  const window = opts.floodWindow ?? 64;
  const guestIp = files.meta.guest.ip, peerIp = files.meta.guest.responderIp;
  const responder = new Responder({ mac: PEER_MAC, ip: peerIp, tcpDiscardPorts: [TCP_PORT] });
  const flood = new Flood(PEER_MAC, peerIp, GUEST_MAC, guestIp);
  let tcpFirst = 0, tcpLast = 0;
  const tap = (dir: "tx" | "rx", f: Uint8Array) => {
    if (dir !== "tx") return;
    const flags = tcpToService(f);
    if (flags < 0) return;
    if ((flags & 0x02) !== 0 && tcpFirst === 0) tcpFirst = performance.now();
    if ((flags & 0x01) !== 0) tcpLast = performance.now();
  };
  let link!: HostLink;
  const peer = {
    handle(f: Uint8Array): Uint8Array[] {
      if (flood.isReply(f)) return flood.active ? flood.next() : [];
      return responder.handle(f);
    },
  };

  let adapter: V86PciAdapter | null = null;
  let net: VirtioNet | null = null;
  if (opts.nic === "vmdev") {
    adapter = new V86PciAdapter({ name: "net0", deviceNumber: 12 });
    const variant = opts.variant ?? "debug";
    const module = variant === "debug" ? debugWasm() : await loadModule("release");
    const core = await VmCore.create({ module, variant, ramBytes: RAM, foreign: adapter.guestRam });
    net = VirtioNet.create(core, { mac: GUEST_MAC, transport: "pci", interrupts: adapter.interrupts, name: "net0" });
    if (!opts.viaBus) link = linkResponder(net, peer, { tap });
  }
  /** How the host hands the guest a frame: into the link, or onto v86's bus. */
  let toGuest = (f: Uint8Array) => link.deliver(f);
  const run: GuestRun = bootGuest(files, {
    memoryBytes: RAM,
    echo: opts.echo,
    cmdlineExtra: "vmdev.mode=shell",
    v86Options: { ...(opts.nic === "v86" ? { net_device: { type: "virtio" } } : {}), ...(opts.acpi ? { acpi: true } : {}) },
    onReady: (emu) => {
      if (adapter && net) {
        adapter.attach(emu, net.pci!);
        if (opts.viaBus) {
          const pub = emu as unknown as { add_listener(e: string, f: (d: Uint8Array) => void): void; bus: { send(e: string, d: unknown): void } };
          link = linkV86NetworkBus(net, emu, 0, { tap });
          pub.add_listener("net0-send", (f) => { for (const r of peer.handle(f)) pub.bus.send("net0-receive", r); });
          toGuest = (f) => pub.bus.send("net0-receive", f);
        }
      } else link = linkResponder(v86NicEndpoint(emu as never), peer, { tap });
    },
  });
  await run.ready;
  const emu = run.emulator as unknown as { v86: { cpu: Record<string, never> & { instruction_counter: Uint32Array; flags: Int32Array; wasm_memory: WebAssembly.Memory; get_pic_addr_master(): number; get_pic_addr_slave(): number } }; serial0_send(s: string): void };
  const cpu = emu.v86.cpu;

  const device = () => (net ? Object.fromEntries(Object.entries(net.counters()).map(([k, v]) => [k, Number(v)])) : null);
  const state = () => {
    const pic = (a: number) => { const p = new Uint8Array(cpu.wasm_memory.buffer, a, 13); return `imr(enabled)=${p[0].toString(16)} isr=${p[2].toString(16)} irr=${p[3].toString(16)} elcr=${p[10].toString(16)}`; };
    return [
      `8259 master ${pic(cpu.get_pic_addr_master())}; slave ${pic(cpu.get_pic_addr_slave())}; IF=${(cpu.flags[0] >> 9) & 1}`,
      `link ${JSON.stringify(link.counters())}`,
      adapter ? `adapter ${JSON.stringify(adapter.counters())} line=${adapter.irqLevel}` : "",
      net ? `device ${JSON.stringify(device())}` : "",
      `flood outstanding ${flood.outstanding}; last lines:\n${run.lines.slice(-15).join("\n")}`,
    ].filter(Boolean).join("\n");
  };

  // The watchdog: what moves while the guest is alive and traffic flows.
  const progress = () => { const c = link.counters(); return `${c.txFrames}/${c.rxFrames}/${run.lines.length}`; };
  // v86's counter is 32 bits: sampled at least every 100 ms, far below its wrap at the fastest v86 runs.
  const watch = new StallWatch(progress(), cpu.instruction_counter[0], performance.now(), opts.bootInstructions ?? 20e9, stallMs);
  const check = () => {
    const frozenMs = watch.sample(progress(), cpu.instruction_counter[0], performance.now());
    if (frozenMs !== null) throw new Hang(`no frame or console line for ${Math.round(frozenMs)} ms while the guest ran ${watch.sinceChange} instructions\n${state()}`);
  };
  const waitLine = async (re: RegExp, from: number): Promise<string> => {
    for (;;) {
      for (let i = from; i < run.lines.length; i++) if (re.test(run.lines[i])) return run.lines[i];
      check();
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** Type a command; resolve with its result lines (those starting "VMDEV-R ") once it is done. */
  const command = async (cmd: string): Promise<{ status: number; out: string[] }> => {
    const from = run.lines.length;
    emu.serial0_send(`${cmd}\n`);
    const done = await waitLine(/^VMDEV-DONE -?\d+$/, from);
    const at = run.lines.indexOf(done, from);
    return { status: Number(done.split(" ")[1]), out: run.lines.slice(from, at).filter((l) => l.startsWith("VMDEV-R ")).map((l) => l.slice(8)) };
  };

  const cost = () => { check(); const u = process.cpuUsage(); return { insn: watch.total, cpu: (u.user + u.system) / 1000 }; };
  const since = (c0: { insn: number; cpu: number }): PhaseCost => { const c = cost(); return { guestInstructions: c.insn - c0.insn, hostCpuMs: c.cpu - c0.cpu }; };
  const result: WorkloadResult = {
    bootInstructions: 0, ping: [], tcp: null, flood: null, snmp: {}, interrupts: "", hang: null, error: null,
    link: link.counters(), responder: responder.counters(), tcpService: responder.tcpCounters(), device: null, adapter: null, irqLevel: null, lines: run.lines,
  };
  try {
    await waitLine(/^VMDEV-READY$/, 0);
    result.bootInstructions = watch.total;
    watch.budget = stallInstructions;
    for (const size of opts.pingSizes) {
      const before = link.counters(), t = performance.now(), c0 = cost();
      const r = await command(`ping -A -s ${size} -w ${opts.pingSeconds} ${peerIp} 2>&1 | tail -2 | sed 's/^/VMDEV-R /'`);
      const wallMs = performance.now() - t, after = link.counters();
      const m = r.out.join(" ").match(/(\d+) packets transmitted, (\d+) packets received/);
      if (!m) throw new Error(`ping -s ${size}: no statistics in ${JSON.stringify(r.out)}`);
      const frames = after.txFrames - before.txFrames + after.rxFrames - before.rxFrames;
      result.ping.push({ size, transmitted: Number(m[1]), received: Number(m[2]), wallMs, frames, framesPerSec: (frames * 1000) / wallMs, ...since(c0) });
    }
    {
      tcpFirst = tcpLast = 0;
      const c0 = cost();
      const block = opts.tcpBlock ?? 65536;
      const r = await command(`dd if=/dev/zero bs=${block} count=${Math.round(opts.tcpBytes / block)} 2>/dev/null | nc ${peerIp} ${TCP_PORT}; echo "VMDEV-R nc=$?"`);
      const status = Number(r.out.find((l) => l.startsWith("nc="))?.slice(3) ?? -1);
      const wallMs = tcpLast > tcpFirst ? tcpLast - tcpFirst : NaN;
      const bytes = responder.tcpCounters().bytes;
      result.tcp = { bytes, status, wallMs, megabytesPerSec: bytes / 1e6 / (wallMs / 1000), ...since(c0) };
    }
    {
      const t = performance.now(), c0 = cost();
      const before = link.counters().rxFrames;
      flood.guestMac = responder.peerMac ?? flood.guestMac; // the guest's NIC (v86's has its own MAC)
      flood.active = true;
      for (let i = 0; i < window; i++) for (const f of flood.next()) toGuest(f);
      while (performance.now() - t < opts.floodMs) { check(); await new Promise((r) => setTimeout(r, 100)); }
      flood.active = false;
      const delivered = link.counters().rxFrames - before;
      const wallMs = performance.now() - t, spent = since(c0);
      while (flood.outstanding > 0) { check(); await new Promise((r) => setTimeout(r, 50)); }
      result.flood = { echoRequests: flood.requests, echoReplies: flood.replies, udpDatagrams: flood.datagrams, wallMs, frames: delivered, framesPerSec: (delivered * 1000) / wallMs, ...spent };
    }
    {
      const r = await command(`grep -E '^(Icmp|Udp):' /proc/net/snmp | sed 's/^/VMDEV-R /'; grep -E 'virtio' /proc/interrupts | sed 's/^/VMDEV-R irq /'`);
      const rows = r.out.filter((l) => /^(Icmp|Udp):/.test(l));
      for (let i = 0; i + 1 < rows.length; i += 2) {
        const [proto, ...names] = rows[i].split(/\s+/), values = rows[i + 1].split(/\s+/).slice(1);
        names.forEach((n, k) => { result.snmp[`${proto.slice(0, -1)}${n}`] = Number(values[k]); });
      }
      result.interrupts = r.out.find((l) => l.startsWith("irq "))?.slice(4).trim() ?? "";
    }
  } catch (e) {
    if (e instanceof Hang) result.hang = e.message;
    else result.error = `${(e as Error).message}\n${state()}`;
  } finally {
    await run.stop();
    link.close();
  }
  result.link = link.counters();
  result.responder = responder.counters();
  result.tcpService = responder.tcpCounters();
  result.device = device();
  result.adapter = adapter?.counters() ?? null;
  result.irqLevel = adapter?.irqLevel ?? null;
  return result;
}
