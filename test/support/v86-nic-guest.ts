// The Debian guest in v86 with one of vmdev's NICs attached through the v86
// PCI adapter (any model: the caller makes the device), linked to a host peer
// through a HostLink whose tap records every frame each way. The guest runs in
// its shell mode (scripts/fetch-guest.mjs): commands are typed on the serial
// console and their "VMDEV-R " lines read back, each ending in
// "VMDEV-DONE <status>".
//
// Waits are watched for a hang (test/support/v86-shell.ts).
import { VmCore } from "../../src/vm-core.js";
import { loadModule } from "../../src/load-node.js";
import type { PciFunction } from "../../src/pci.js";
import { V86PciAdapter } from "../../src/adapters/v86/index.js";
import { linkResponder, type FrameEndpoint, type HostLink } from "../../src/net/host-link.js";
import { debugWasm } from "./core.js";
import { bootGuest, type GuestFiles, type GuestRun } from "./v86-guest.js";
import { GuestShell, type ShellWatchOptions } from "./v86-shell.js";

/** A NIC the guest drives: a frame endpoint with a PCI function and counters. */
export interface GuestNic extends FrameEndpoint {
  counters(): Record<string, bigint>;
  destroy(): void;
}

export interface NicGuestOptions<D extends GuestNic> extends ShellWatchOptions {
  /** Make the device in `core`, interrupts through `adapter.interrupts`; return it and its PCI function. */
  create(core: VmCore, adapter: V86PciAdapter): { device: D; pci: PciFunction };
  /** What answers the guest's frames (a Responder, or a dispatcher over several services). */
  peer: { handle(frame: Uint8Array): Uint8Array[] };
  /** vmdev's wasm build. Default "debug". */
  variant?: "debug" | "release";
  /** Host → guest frames the link queues before it drops. Default 4096. */
  maxPending?: number;
  echo?: boolean;
}

const RAM = 128 << 20;

export class NicGuest<D extends GuestNic> extends GuestShell {
  private stopped = false;

  private constructor(
    readonly run: GuestRun, readonly adapter: V86PciAdapter, readonly device: D, readonly link: HostLink,
    /** Frames the guest sent and frames handed to it, in order. */
    readonly tx: Uint8Array[], readonly rx: Uint8Array[],
    opts: NicGuestOptions<D>,
  ) { super(opts); }

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
      onReady: (emu) => adapter.attach(emu, pci),
    });
    await run.ready;
    return new NicGuest(run, adapter, device, link, tx, rx, opts);
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

  protected live(): { run: GuestRun; link: HostLink } { return this; }

  /** Hand raw frames to the guest's NIC through the link. */
  deliver(frames: Uint8Array[]): void { for (const f of frames) this.link.deliver(f); }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.run.stop().catch(() => {});
    this.link.close();
    this.device.destroy();
  }
}
