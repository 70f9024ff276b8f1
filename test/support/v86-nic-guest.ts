// The Debian guest in v86 with one of vmdev's NICs attached through the v86
// PCI adapter (any model: the caller makes the device), linked to a host peer
// through a HostLink whose tap records every frame each way. The guest runs in
// its shell mode (scripts/fetch-guest.mjs): commands are typed on the serial
// console and their "VMDEV-R " lines read back, each ending in
// "VMDEV-DONE <status>".
//
// A watchdog (StallWatch) samples what moves while the guest is alive (frames
// each way, console lines): frozen while v86 executes `stallInstructions`
// guest instructions (`bootInstructions` before the shell is up) and at least
// `stallMs` pass means a hang, and the wait in progress fails with every
// counter. The budget is in guest instructions: a busy host slows the guest,
// never its count, while a hung guest still runs its kernel.
import { VmCore } from "../../src/vm-core.js";
import { loadModule } from "../../src/load-node.js";
import type { PciFunction } from "../../src/pci.js";
import { V86PciAdapter, type V86Emulator } from "../../src/adapters/v86/index.js";
import { linkResponder, type FrameEndpoint, type HostLink } from "../../src/net/host-link.js";
import { debugWasm } from "./core.js";
import { bootGuest, type GuestFiles, type GuestRun } from "./v86-guest.js";
import { StallWatch } from "./stall-watch.js";

/** A NIC the guest drives: a frame endpoint with a PCI function and counters. */
export interface GuestNic extends FrameEndpoint {
  counters(): Record<string, bigint>;
  destroy(): void;
}

export interface NicGuestOptions<D extends GuestNic> {
  /** Make the device in `core`, interrupts through `adapter.interrupts`; return it and its PCI function. */
  create(core: VmCore, adapter: V86PciAdapter): { device: D; pci: PciFunction };
  /** What answers the guest's frames (a Responder, or a dispatcher over several services). */
  peer: { handle(frame: Uint8Array): Uint8Array[] };
  /** vmdev's wasm build. Default "debug". */
  variant?: "debug" | "release";
  /** Host → guest frames the link queues before it drops. Default 4096. */
  maxPending?: number;
  /** Guest instructions with frozen counters that mean a hang. Default 3e9 (≈ 30 s of a v86 on a quiet host). */
  stallInstructions?: number;
  /** The same budget while the guest boots. Default 20e9 (the Debian guest boots in ≈ 6.5e9). */
  bootInstructions?: number;
  /** The least wall time of frozen counters before a hang is called. Default 30 s. */
  stallMs?: number;
  echo?: boolean;
}

class Hang extends Error {}

const RAM = 128 << 20;

export class NicGuest<D extends GuestNic> {
  /** Guest instructions from power-on until the shell was ready. */
  bootInstructions = 0;
  private watch: StallWatch | null = null;
  private stopped = false;

  private constructor(
    readonly run: GuestRun, readonly adapter: V86PciAdapter, readonly device: D, readonly link: HostLink,
    /** Frames the guest sent and frames handed to it, in order. */
    readonly tx: Uint8Array[], readonly rx: Uint8Array[],
    private readonly opts: NicGuestOptions<D>,
  ) {}

  /** Boot the guest with a fresh core and device (the shell's "VMDEV-READY" is awaited by ready()). */
  static async boot<D extends GuestNic>(files: GuestFiles, opts: NicGuestOptions<D>): Promise<NicGuest<D>> {
    const adapter = new V86PciAdapter({ name: "net0", deviceNumber: 12 });
    const variant = opts.variant ?? "debug";
    const module = variant === "debug" ? debugWasm() : await loadModule("release");
    const core = await VmCore.create({ module, variant, ramBytes: RAM, foreign: adapter.guestRam });
    const { device, pci } = opts.create(core, adapter);
    const tx: Uint8Array[] = [], rx: Uint8Array[] = [];
    const link = linkResponder(device, opts.peer, { tap: (d, f) => (d === "tx" ? tx : rx).push(f), maxPending: opts.maxPending ?? 4096 });
    const run = bootGuest(files, {
      memoryBytes: RAM, echo: opts.echo, cmdlineExtra: "vmdev.mode=shell",
      onReady: (emu) => adapter.attach(emu as unknown as V86Emulator, pci),
    });
    await run.ready;
    return new NicGuest(run, adapter, device, link, tx, rx, opts);
  }

  /** Guest instructions v86 ran since the watchdog started (power-on, once ready() was called). */
  get instructions(): number { return this.watcher().total; }

  /** Wait for the guest's shell (the boot's instruction budget), then watch with the traffic budget. */
  async ready(): Promise<void> {
    await this.waitLine(/^VMDEV-READY$/, 0);
    this.bootInstructions = this.watcher().total;
    this.watcher().budget = this.opts.stallInstructions ?? 3e9;
  }

  /** Counters of every layer, for failure reports. */
  state(): string {
    const num = (c: Record<string, bigint>) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== 0n).map(([k, v]) => [k, Number(v)]));
    return [
      `link ${JSON.stringify(this.link.counters())}`,
      `adapter ${JSON.stringify(this.adapter.counters())} line=${this.adapter.irqLevel}`,
      this.stopped ? "" : `device ${JSON.stringify(num(this.device.counters()))}`,
      `last lines:\n${this.run.lines.slice(-20).join("\n")}`,
    ].filter(Boolean).join("\n");
  }

  private progressKey(): string { const c = this.link.counters(); return `${c.txFrames}/${c.rxFrames}/${this.run.lines.length}`; }

  private cpu(): { instruction_counter: Uint32Array } {
    return (this.run.emulator as unknown as { v86: { cpu: { instruction_counter: Uint32Array } } }).v86.cpu;
  }

  private watcher(): StallWatch {
    this.watch ??= new StallWatch(this.progressKey(), this.cpu().instruction_counter[0], performance.now(), this.opts.bootInstructions ?? 20e9, this.opts.stallMs ?? 30_000);
    return this.watch;
  }

  /** Throws a hang if nothing moved while the guest ran the watchdog's budget of instructions. */
  check(): void {
    const w = this.watcher();
    const frozenMs = w.sample(this.progressKey(), this.cpu().instruction_counter[0], performance.now());
    if (frozenMs !== null) throw new Hang(`no frame or console line for ${Math.round(frozenMs)} ms while the guest ran ${w.sinceChange} instructions\n${this.state()}`);
  }

  /** Wait until `done()` holds, watching for a hang (v86's 32-bit counter is sampled every 20 ms, far below its wrap). */
  async until(done: () => boolean): Promise<void> {
    for (;;) {
      if (done()) return;
      this.check();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Wait for a console line matching `re` from index `from`, watching for a hang. */
  async waitLine(re: RegExp, from = 0): Promise<string> {
    let found: string | null = null;
    await this.until(() => {
      const lines = this.run.lines;
      for (let i = from; i < lines.length; i++) if (re.test(lines[i])) { found = lines[i]; return true; }
      return false;
    });
    return found!;
  }

  /** Start a command without waiting for it; returns the console line index to finish() from. */
  type(cmd: string): number {
    const from = this.run.lines.length;
    (this.run.emulator as unknown as { serial0_send(s: string): void }).serial0_send(`${cmd}\n`);
    return from;
  }

  /** Wait for the command started at console line `from`: its exit status and its "VMDEV-R " lines. */
  async finish(from: number): Promise<{ status: number; out: string[] }> {
    const done = await this.waitLine(/^VMDEV-DONE -?\d+$/, from);
    const lines = this.run.lines;
    const at = lines.indexOf(done, from);
    return { status: Number(done.split(" ")[1]), out: lines.slice(from, at).filter((l) => l.startsWith("VMDEV-R ")).map((l) => l.slice(8)) };
  }

  /** Type a command and wait for it. */
  command(cmd: string): Promise<{ status: number; out: string[] }> { return this.finish(this.type(cmd)); }

  /** Hand raw frames to the guest's NIC through the link. */
  deliver(frames: Uint8Array[]): void { for (const f of frames) this.link.deliver(f); }

  /** A file's number in the guest (sysfs counters). */
  async readNumber(path: string): Promise<number> {
    const r = await this.command(`cat ${path} | sed 's/^/VMDEV-R /'`);
    return Number(r.out[0]);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.run.stop().catch(() => {});
    this.link.close();
    this.device.destroy();
  }

  static isHang(e: unknown): boolean { return e instanceof Hang; }
}
