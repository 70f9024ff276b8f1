// Boots the Debian i386 guest (scripts/fetch-guest.mjs) in v86 under Node and
// collects its serial console. Used by the v86 boot and end-to-end tests.
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { V86 } from "v86";
// @ts-expect-error: a plain ES module without types
import { RECIPE } from "../../scripts/fetch-guest.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const guestDir = `${root}.cache/guest/`;

export interface GuestFiles { bios: ArrayBuffer; vmlinuz: ArrayBuffer; initrd: ArrayBuffer; meta: GuestMeta }
export interface GuestMeta {
  recipe: number; kernel: string; modules: string[];
  /** Programs beyond busybox (iproute2's /sbin/ip) with their loader and libraries, and the Debian packages they came from. */
  userland: { files: string[]; packages: Record<string, string> };
  guest: { ip: string; responderIp: string; prefix: number };
}

function ab(path: string): ArrayBuffer {
  const b = readFileSync(path);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/**
 * The guest files, fetching them first if needed. Returns a reason string when
 * the Debian archive is unreachable (exit 2 of the fetch script); in CI (`CI` or
 * `VMDEV_REQUIRE_GUEST` set, as .ci/run does) that is a failure, elsewhere the caller skips.
 */
export function guestFiles(): GuestFiles | string {
  const stale = () => { try { return JSON.parse(readFileSync(`${guestDir}guest.json`, "utf8")).recipe !== RECIPE; } catch { return true; } };
  if (stale()) {
    const r = spawnSync(process.execPath, [`${root}scripts/fetch-guest.mjs`], { encoding: "utf8", timeout: 600_000 });
    if (r.status !== 0) {
      const why = `guest image unavailable (fetch-guest exit ${r.status}): ${(r.stderr ?? "").trim().split("\n").pop()}`;
      if (r.status === 2 && !process.env.CI && !process.env.VMDEV_REQUIRE_GUEST) return why;
      throw new Error(why);
    }
  }
  return {
    bios: ab(`${guestDir}bios.bin`),
    vmlinuz: ab(`${guestDir}vmlinuz`),
    initrd: ab(`${guestDir}initramfs.cpio`),
    meta: JSON.parse(readFileSync(`${guestDir}guest.json`, "utf8")) as GuestMeta,
  };
}

export interface GuestRun {
  readonly emulator: V86;
  /** Serial console lines so far (without CR/LF). */
  readonly lines: string[];
  /** Resolves after `emulator-ready` (and `onReady`) ran. */
  readonly ready: Promise<void>;
  /** Resolves with the first line matching `re` (searching past lines too); rejects after `ms`. */
  waitFor(re: RegExp, ms: number): Promise<string>;
  /** Stop the emulator and release its timers. */
  stop(): Promise<void>;
}

export interface BootOptions {
  /** Called from v86's `emulator-ready` event, before the BIOS runs. */
  onReady?: (emulator: V86) => void;
  memoryBytes?: number;
  /** Echo serial lines to stderr (debugging). */
  echo?: boolean;
  /** Start the CPU after `onReady` (default true); false to restore a saved machine first. */
  start?: boolean;
  /**
   * Give the machine a small blank disk. v86 0.5.462 cannot restore a saved
   * machine whose IDE controller has no drive, so machines that are saved need one.
   */
  disk?: boolean;
  /** Appended to the kernel command line (e.g. "vmdev.mode=shell"). */
  cmdlineExtra?: string;
  /** More v86 options (e.g. `net_device`, `acpi`), applied over the defaults above. */
  v86Options?: Record<string, unknown>;
}

/**
 * The kernel command line every boot starts with. `cryptomgr.notests` skips the
 * crypto API's boot-time self-tests (crypto_algapi_init), over half of the
 * instructions the guest runs to its shell (≈ 3.7e9 of 6.8e9) and nothing a NIC
 * driver or the network stack uses: the algorithms stay registered, untested.
 */
export const KERNEL_CMDLINE = "console=ttyS0 loglevel=6 tsc=reliable mitigations=off random.trust_cpu=on cryptomgr.notests";

/** Boot the guest: SeaBIOS, bzImage + initramfs, serial console on ttyS0, v86's own NIC off. */
export function bootGuest(files: GuestFiles, opts: BootOptions = {}): GuestRun {
  const emulator = new V86({
    wasm_path: `${root}node_modules/v86/build/v86.wasm`,
    bios: { buffer: files.bios },
    bzimage: { buffer: files.vmlinuz },
    initrd: { buffer: files.initrd },
    cmdline: `${KERNEL_CMDLINE}${opts.cmdlineExtra ? ` ${opts.cmdlineExtra}` : ""}`,
    memory_size: opts.memoryBytes ?? 128 << 20,
    vga_memory_size: 2 << 20,
    net_device: { type: "none" },
    ...(opts.disk ? { hda: { buffer: new ArrayBuffer(1 << 20) } } : {}),
    autostart: false,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
    ...opts.v86Options,
  } as unknown as ConstructorParameters<typeof V86>[0]);
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  let partial = "";
  emulator.add_listener("serial0-output-byte", (byte: number) => {
    if (byte === 10) {
      lines.push(partial);
      if (opts.echo) process.stderr.write(`guest| ${partial}\n`);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].re.test(partial)) { waiters[i].resolve(partial); waiters.splice(i, 1); }
      }
      partial = "";
    } else if (byte !== 13) {
      partial += String.fromCharCode(byte);
    }
  });
  let readyResolve: () => void;
  const ready = new Promise<void>((r) => { readyResolve = r; });
  emulator.add_listener("emulator-ready", () => {
    opts.onReady?.(emulator);
    if (opts.start !== false) void emulator.run();
    readyResolve();
  });
  return {
    emulator,
    lines,
    ready,
    waitFor(re, ms) {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { re, resolve: (l: string) => { clearTimeout(t); resolve(l); } };
        const t = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`guest: no line matching ${re} within ${ms} ms; last lines:\n${lines.slice(-25).join("\n")}`));
        }, ms);
        waiters.push(w);
      });
    },
    async stop() {
      await emulator.stop();
      await emulator.destroy();
    },
  };
}
