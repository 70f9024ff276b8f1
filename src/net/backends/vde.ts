// A NIC on a VDE network (Virtual Distributed Ethernet, vde2): the backend
// runs `vde_plug SWITCH` as a child process and speaks its stdio frame
// stream (frame-stream.ts: a 2-byte big-endian length before each frame).
// vde_plug connects to the vde_switch whose control socket is SWITCH (or to
// any VDE URL it takes: vxvde://, tap://, ...), so VMs in many processes and,
// through switches cabled over ssh/dpipe, on many hosts share one LAN.
//
// Lifetime: the child belongs to the backend. close() (the NIC is detached,
// unplugged or destroyed) ends it (SIGTERM, SIGKILL if it lingers) and
// resolves once it has exited; a backend never restarts it. If it exits on
// its own (the switch went away, a bad socket path, no vde_plug installed)
// the backend goes "down", counts the exit and keeps the code and the tail
// of its stderr; guest frames are then dropped and counted. Children still
// running when the Node process exits are killed with it.
//
// Bounds: stdout is cut into frames by a fixed buffer (a length prefix
// cannot ask for more than 65535 bytes); frames outside the size bounds are
// counted (rxInvalid) and dropped; frames to the child are dropped and
// counted (txDropped) while its stdin holds more than `maxBufferedBytes`.

import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import type { FrameEndpoint } from "../host-link.js";
import { BackendPort, type BackendCounters, type BackendPortOptions, type BackendState, type NetworkBackend } from "./port.js";
import { FrameStreamReader, encodeStreamFrame } from "./frame-stream.js";

/** Options of {@link VdeBackend.connect}. */
export interface VdeOptions extends BackendPortOptions {
  /** The vde_plug program. Default "vde_plug" (on PATH). */
  command?: string;
  /** Bytes the child's stdin may hold unwritten before guest frames are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
}

/** Counters of a VDE backend. */
export interface VdeCounters extends BackendCounters {
  /** Times the child exited (at most 1: it is not restarted) other than by close(). */
  exits: number;
}

/** Why the child is gone, once it is. */
export interface VdeExit {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: string | null;
  /** A spawn error (e.g. ENOENT: no vde_plug), else null. */
  error: string | null;
  /** The last bytes of its stderr (at most 4 KiB). */
  stderr: string;
}

const live = new Set<ChildProcessByStdio<Writable, Readable, Readable>>();
let exitHook = false;
const STDERR_TAIL = 4096;

/** A NIC's frames on a VDE network through a vde_plug child (see the top of this file). */
export class VdeBackend implements NetworkBackend {
  readonly kind = "vde";
  private readonly port: BackendPort;
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly reader = new FrameStreamReader();
  private readonly maxBuffered: number;
  private exitInfo: VdeExit | null = null;
  private stderrTail = "";
  private exits = 0;
  private closing = false;
  private readonly exited: Promise<void>;

  private constructor(nic: FrameEndpoint, readonly socket: string, opts: VdeOptions) {
    this.maxBuffered = opts.maxBufferedBytes ?? 1 << 20;
    if (!Number.isInteger(this.maxBuffered) || this.maxBuffered < 0) throw new RangeError(`vde: maxBufferedBytes ${this.maxBuffered}: want a whole number >= 0`);
    this.port = new BackendPort(nic, (f) => this.send(f), opts);
    const child = spawn(opts.command ?? "vde_plug", [socket], { stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    live.add(child);
    if (!exitHook) {
      exitHook = true;
      process.once("exit", () => { for (const c of live) c.kill("SIGKILL"); });
    }
    let spawnError: string | null = null;
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: string | null) => {
        if (this.exitInfo) return;
        live.delete(child);
        this.exitInfo = { code, signal, error: spawnError, stderr: this.stderrTail };
        if (!this.closing) { this.exits++; this.port.setState("down"); }
        resolve();
      };
      // Every error is listened to: an unheard one would be thrown out of the process.
      child.on("error", (err) => { spawnError ??= err.message; if (child.pid === undefined) done(null, null); });
      child.once("close", (code, signal) => done(code, signal));
    });
    child.once("spawn", () => { if (!this.closing && !this.exitInfo) this.port.setState("up"); });
    child.stdout.on("data", (chunk: Buffer) => {
      this.reader.push(chunk, (f) => this.port.fromNetwork(f));
    });
    child.stderr.on("data", (chunk: Buffer) => { this.stderrTail = (this.stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL); });
    // A write to a child that died fails with EPIPE; the exit is reported by "close".
    for (const s of [child.stdin, child.stdout, child.stderr]) s.on("error", () => {});
  }

  /**
   * Put `nic` on the VDE network `socket` (a vde_switch control socket path,
   * or any URL vde_plug takes): the NIC's `onTransmit` is taken and vde_plug
   * starts now; the backend is "up" once it runs. Throws TypeError for an
   * empty socket.
   */
  static connect(nic: FrameEndpoint, socket: string, opts: VdeOptions = {}): VdeBackend {
    if (socket === "" || socket.startsWith("-")) throw new TypeError(`vde: '${socket}' is not a VDE socket`);
    return new VdeBackend(nic, socket, opts);
  }

  get state(): BackendState { return this.port.state; }
  get link() { return this.port.link; }
  /** The child's process id (undefined if it could not be started). */
  get pid(): number | undefined { return this.child.pid; }
  /** How the child ended, once it has. */
  get exit(): VdeExit | null { return this.exitInfo; }

  counters(): VdeCounters { return { ...this.port.counters(), exits: this.exits }; }

  /** Resolves when the child has exited (for whatever reason). */
  whenExited(): Promise<void> { return this.exited; }

  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.port.close();
      if (!this.exitInfo) {
        this.child.stdin.end();
        this.child.kill("SIGTERM");
        const force = setTimeout(() => this.child.kill("SIGKILL"), 2000);
        void this.exited.then(() => clearTimeout(force));
      }
    }
    await this.exited;
  }

  private send(f: Uint8Array): boolean {
    if (this.exitInfo || this.closing || this.port.state !== "up") return false;
    if (this.child.stdin.writableLength > this.maxBuffered) return false;
    this.child.stdin.write(encodeStreamFrame(f));
    return true;
  }
}
