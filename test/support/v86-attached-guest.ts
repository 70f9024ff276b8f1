// The Debian guest in v86 with a vmdev NIC plugged in the way users do it:
// one attachToV86 call on v86's own `V86` object, and v86's own "fetch"
// network backend on the far side of v86's network bus (its fake router
// answers ARP and ping at the guest's peer address: `router_ip`). v86's UI
// events for the NIC are counted. The guest runs in its shell mode
// (scripts/fetch-guest.mjs): commands typed on the serial console, "VMDEV-R "
// lines read back; waits are watched for a hang (test/support/v86-shell.ts).
import { attachToV86, type V86Nic, type V86NicModel } from "../../src/index.js";
import { bootGuest, type GuestFiles, type GuestRun } from "./v86-guest.js";
import { GuestShell, type ShellWatchOptions } from "./v86-shell.js";

export const GUEST_MAC = "52:54:00:12:34:56";
const RAM = 128 << 20;

/** v86's UI events for the NIC, counted. */
export interface UiEvents { rx: number; rxBytes: number; tx: number; txBytes: number }

export interface AttachedGuestOptions extends ShellWatchOptions {
  nic: V86NicModel;
  /**
   * When attachToV86 runs: "before-ready" right after `new V86` (the guest's
   * first start is held until the NIC is on the bus), or "after-ready" once
   * `emulator-ready` has fired, with the CPU not started yet.
   */
  attach: "before-ready" | "after-ready";
  echo?: boolean;
}

interface Box { run: GuestRun; nic: V86Nic; events: UiEvents; instructionsAtAttach: number }

export class AttachedGuest extends GuestShell {
  private constructor(private box: Box, private readonly files: GuestFiles, private readonly opts: AttachedGuestOptions) { super(opts); }

  static async boot(files: GuestFiles, opts: AttachedGuestOptions): Promise<AttachedGuest> {
    return new AttachedGuest(await machine(files, opts, opts.attach, true), files, opts);
  }

  get nic(): V86Nic { return this.box.nic; }
  get emulator(): GuestRun["emulator"] { return this.box.run.emulator; }
  /** Guest instructions the live machine had run when attachToV86 resolved (0: no instruction ran without the NIC). */
  get instructionsAtAttach(): number { return this.box.instructionsAtAttach; }
  /** v86's UI events of the live machine so far. */
  events(): UiEvents { return { ...this.box.events }; }

  protected live(): { run: GuestRun; link: V86Nic["link"] } { return { run: this.box.run, link: this.box.nic.link }; }

  state(): string {
    const { nic, events, run } = this.box;
    const c = nic.counters();
    const num = (r: Record<string, bigint>) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== 0n).map(([k, v]) => [k, Number(v)]));
    return [
      `link ${JSON.stringify(c.link)}`, `adapter ${JSON.stringify(c.adapter)} line=${nic.adapter.irqLevel}`,
      `device ${JSON.stringify(num(c.device))}`, `ui events ${JSON.stringify(events)}`,
      `last lines:\n${run.lines.slice(-20).join("\n")}`,
    ].join("\n");
  }

  /** `ping -A -c count` to the peer; what busybox ping reports. */
  async ping(count: number, size = 56): Promise<{ transmitted: number; received: number }> {
    const r = await this.command(`ping -A -c ${count} -s ${size} -W 5 ${this.files.meta.guest.responderIp} 2>&1 | tail -2 | sed 's/^/VMDEV-R /'`);
    const m = r.out.join(" ").match(/(\d+) packets transmitted, (\d+) packets received/);
    if (!m) throw new Error(`ping: no summary in ${JSON.stringify(r.out)}\n${this.state()}`);
    return { transmitted: Number(m[1]), received: Number(m[2]) };
  }

  /**
   * Save with `emulator.save_state()` (the NIC's state inside), stop and
   * destroy the machine, then build a fresh emulator, attach a fresh NIC
   * before it is ready, and `restore_state()` the blob there; the guest
   * carries on. `beforeRestore` sees the fresh emulator first. Returns the blob.
   */
  async migrate(beforeRestore?: (emulator: GuestRun["emulator"]) => Promise<void>): Promise<ArrayBuffer> {
    const old = this.box;
    const state = await old.run.emulator.save_state();
    await old.run.stop();
    old.nic.destroy();
    const box = await machine(this.files, this.opts, "before-ready", false);
    await beforeRestore?.(box.run.emulator);
    await box.run.emulator.restore_state(state);
    this.box = box;
    void box.run.emulator.run();
    return state;
  }

  async stop(): Promise<void> {
    await this.box.run.stop().catch(() => {});
    this.box.nic.destroy();
  }
}

async function machine(files: GuestFiles, opts: AttachedGuestOptions, when: "before-ready" | "after-ready", start: boolean): Promise<Box> {
  const run = bootGuest(files, {
    memoryBytes: RAM, disk: true, echo: opts.echo, cmdlineExtra: "vmdev.mode=shell",
    // Before ready, bootGuest's own start at emulator-ready is the start attachToV86 holds.
    start: when === "before-ready" && start,
    // A net_device without `type`: v86 builds no NIC of its own, and `relay_url` picks its backend.
    v86Options: { net_device: { relay_url: "fetch", router_ip: files.meta.guest.responderIp } },
  });
  const events: UiEvents = { rx: 0, rxBytes: 0, tx: 0, txBytes: 0 };
  run.emulator.add_listener("eth-receive-end", ([bytes]) => { events.rx++; events.rxBytes += bytes; });
  run.emulator.add_listener("eth-transmit-end", ([bytes]) => { events.tx++; events.txBytes += bytes; });
  const attach = () => attachToV86(run.emulator, { nic: opts.nic, mac: GUEST_MAC, variant: "debug", name: "net0" });
  let nic: V86Nic;
  let instructionsAtAttach: number;
  if (when === "before-ready") {
    nic = await attach();
    instructionsAtAttach = run.emulator.get_instruction_counter();
    await run.ready;
  } else {
    await run.ready;
    nic = await attach();
    instructionsAtAttach = run.emulator.get_instruction_counter();
    if (start) void run.emulator.run();
  }
  return { run, nic, events, instructionsAtAttach };
}
