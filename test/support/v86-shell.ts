// The Debian guest's shell mode (scripts/fetch-guest.mjs, `vmdev.mode=shell`)
// as the v86 NIC harnesses drive it: commands typed on the serial console,
// their "VMDEV-R " lines read back up to "VMDEV-DONE <status>", and every wait
// watched for a hang.
//
// The watchdog (StallWatch) samples what moves while the guest is alive
// (frames each way on the live machine's link, console lines): frozen while
// v86 executes `stallInstructions` guest instructions (`bootInstructions`
// until the shell printed VMDEV-READY) and at least `stallMs` pass means a
// hang, and the wait in progress fails with the harness's state. The budget
// is in guest instructions: a busy host slows the guest, never its count,
// while a hung guest still runs its kernel. A machine restored from a
// migration gets a watch of its own (its instruction counter starts anew).
import type { HostLink } from "../../src/net/host-link.js";
import type { GuestRun } from "./v86-guest.js";
import { StallWatch } from "./stall-watch.js";

export interface ShellWatchOptions {
  /** Guest instructions with frozen counters that mean a hang. Default 3e9 (≈ 30 s of a v86 on a quiet host). */
  stallInstructions?: number;
  /** The same budget while the guest boots. Default 20e9 (the Debian guest boots in ≈ 3.1e9). */
  bootInstructions?: number;
  /** The least wall time of frozen counters before a hang is called. Default 30 s. */
  stallMs?: number;
}

class Hang extends Error {}

export abstract class GuestShell {
  /** Guest instructions from power-on until the shell was ready. */
  bootInstructions = 0;
  private up = false;
  /** How far the search for VMDEV-READY got in the live machine's lines. */
  private readyScan = 0;
  private watch: { run: GuestRun; w: StallWatch } | null = null;

  constructor(private readonly watchOpts: ShellWatchOptions) {}

  /** The live machine: its console and its host link. */
  protected abstract live(): { run: GuestRun; link: HostLink };
  /** Every counter, for a hang's report. */
  abstract state(): string;

  private progressKey(): string {
    const { run, link } = this.live();
    const c = link.counters();
    return `${c.txFrames}/${c.rxFrames}/${run.lines.length}`;
  }

  private counter(run: GuestRun): number {
    return (run.emulator as unknown as { v86: { cpu: { instruction_counter: Uint32Array } } }).v86.cpu.instruction_counter[0];
  }

  private watcher(): StallWatch {
    const { run } = this.live();
    if (this.watch?.run !== run) {
      const budget = this.up ? this.watchOpts.stallInstructions ?? 3e9 : this.watchOpts.bootInstructions ?? 20e9;
      this.watch = { run, w: new StallWatch(this.progressKey(), this.counter(run), performance.now(), budget, this.watchOpts.stallMs ?? 30_000) };
      this.readyScan = 0;
    }
    return this.watch.w;
  }

  /** Guest instructions the live machine ran since its watch started (power-on for the first one). */
  get instructions(): number { return this.watcher().total; }

  /** Throws a hang if nothing moved while the guest ran the watchdog's budget of instructions. */
  check(what?: string): void {
    const w = this.watcher();
    const { run } = this.live();
    if (!this.up) {
      for (; this.readyScan < run.lines.length; this.readyScan++) {
        if (run.lines[this.readyScan] !== "VMDEV-READY") continue;
        this.up = true;
        this.bootInstructions = w.total;
        w.budget = this.watchOpts.stallInstructions ?? 3e9;
        break;
      }
    }
    const frozenMs = w.sample(this.progressKey(), this.counter(run), performance.now());
    if (frozenMs !== null) throw new Hang(`${what ? `waiting for ${what}: ` : ""}no frame or console line for ${Math.round(frozenMs)} ms while the guest ran ${w.sinceChange} instructions\n${this.state()}`);
  }

  /**
   * Wait until `done()` holds. No deadline: the watchdog fails the wait only
   * when nothing moves while v86 runs the guest's budget of instructions
   * (v86's 32-bit counter is sampled every 20 ms, far below its wrap).
   */
  async until(done: () => boolean, what?: string): Promise<void> {
    for (;;) {
      if (done()) return;
      this.check(what);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** {@link until} with what is awaited named first (it is in the hang's message). */
  waitFor(what: string, done: () => boolean): Promise<void> { return this.until(done, what); }

  /** Wait for a console line of the live machine matching `re` from index `from`. */
  async waitLine(re: RegExp, from = 0): Promise<string> {
    let found = "";
    await this.until(() => {
      const lines = this.live().run.lines;
      for (let i = from; i < lines.length; i++) if (re.test(lines[i])) { found = lines[i]; return true; }
      return false;
    }, `a console line matching ${re}`);
    return found;
  }

  /** Wait for the guest's shell (the boot's budget), after which waits get the traffic budget. */
  async ready(): Promise<string> {
    const line = await this.waitLine(/^VMDEV-READY$/, 0);
    this.check();
    return line;
  }

  /** Start a command without waiting for it; returns the console line index to finish() from. */
  type(cmd: string): number {
    const { run } = this.live();
    const from = run.lines.length;
    (run.emulator as unknown as { serial0_send(s: string): void }).serial0_send(`${cmd}\n`);
    return from;
  }

  /** Wait for the command started at console line `from`: its exit status and its "VMDEV-R " lines. */
  async finish(from: number): Promise<{ status: number; out: string[] }> {
    const done = await this.waitLine(/^VMDEV-DONE -?\d+$/, from);
    const lines = this.live().run.lines;
    const at = lines.indexOf(done, from);
    return { status: Number(done.split(" ")[1]), out: lines.slice(from, at).filter((l) => l.startsWith("VMDEV-R ")).map((l) => l.slice(8)) };
  }

  /** Type a command and wait for it. */
  command(cmd: string): Promise<{ status: number; out: string[] }> { return this.finish(this.type(cmd)); }

  /** A file's number in the guest (sysfs counters). */
  async readNumber(path: string): Promise<number> {
    const r = await this.command(`cat ${path} | sed 's/^/VMDEV-R /'`);
    return Number(r.out[0]);
  }

  static isHang(e: unknown): boolean { return e instanceof Hang; }
}
