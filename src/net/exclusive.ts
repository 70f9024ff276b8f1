// Exclusive operations on a quiesced NIC (the illumos IPSQ pattern: one
// operation at a time per interface; it brings the interface down, waits
// until every in-flight reference has drained by deferring itself rather
// than blocking, applies with resources prepared before it started, brings
// the interface up, finishes, and only then may the next one start).
//
//   run(op) ─ queued behind the running operation, then:
//     start     op.prepare(): checks and builds everything the apply needs;
//               a refusal ends the operation here, the device untouched.
//     quiesce   the NIC stops processing its queues; chains fetched but not
//               used go back to the guest; frames arriving from links, the
//               switch or the host are held in its receive backlog, not
//               dropped (up to the backlog's bound, counted beyond it).
//     drained   the in-flight probe reads 0. Re-checked on later event-loop
//               turns (setImmediate, or Atomics.waitAsync on a shared
//               counter), never in a spin; past `drainTimeoutMs` the
//               operation rolls back: the NIC resumes exactly as it was.
//     applied   op.apply(prepared): cannot fail half-way (prepare checked it);
//               a status other than OK anyway restores the snapshot taken
//               just before it.
//     up        the NIC resumes: held frames are judged by the receive
//               filter as it stands now, then delivered; the guest's queued
//               notifications (its own control commands) run now, after the
//               operation, in their order.
//     finish    the next queued operation may start.
//     announce  (ops that change the address) the NIC's announce: virtio
//               GUEST_ANNOUNCE, or a RARP the host sends on the guest's behalf.
//
// Each NIC model supplies an ExclusiveNic (src/devices/<model>/exclusive.ts).

import { Status } from "../status.js";
import { waitAsync } from "../sync/wait.js";

/** A later event-loop turn (setImmediate where there is one: Node; else a macrotask). */
const nextTurn = (): Promise<void> => new Promise((r) => (typeof setImmediate === "function" ? setImmediate(r) : setTimeout(r, 0)));

/** The phases of an exclusive operation, in order ("rollback" replaces the rest on failure). */
export type ExclusivePhase = "start" | "quiesce" | "drained" | "applied" | "up" | "complete" | "finish" | "announce" | "rollback";

/** How a NIC announced its address after an operation. */
export type AnnounceKind = "guest" | "rarp" | "none";

/** What one NIC model offers the serializer. */
export interface ExclusiveNic {
  readonly name: string;
  /** Stop queue processing; give back chains fetched but not used; hold received frames. */
  quiesce(): void;
  /** Undo quiesce: held frames through the filter, queued guest notifications processed. */
  resume(): void;
  /** Frames waiting in the receive backlog (held frames are counted from its growth while quiesced). */
  backlogLength(): number;
  /** Frames the device dropped on receive so far (held frames beyond the backlog's bound show here). */
  rxDropped(): bigint;
  /** The device's saved state (the rollback snapshot). */
  saveState(): Uint8Array;
  /** Restore a snapshot; a Status. */
  restoreState(blob: Uint8Array): number;
  /** References the host can see in flight today (a TX batch running, a settle in progress). */
  busy(): number;
  /** Ask the guest to announce (virtio GUEST_ANNOUNCE); false when the model or the driver cannot. */
  guestAnnounce(): boolean;
  /** Send a frame into the NIC's network on the guest's behalf (its link, switch, or onTransmit); a Status. */
  sendAs(frame: Uint8Array): number;
  /** Host-initiated MAC change on the quiesced device; a Status. */
  applyMac(mac: Uint8Array): number;
  /** Replace the VLAN filter table (4096-bit map, 512 bytes), or a refusal. */
  vlanTable: ((map: Uint8Array) => number) | RefusedFeature;
  /** Change the MTU, or a refusal. `check` says whether a change to `mtu` would be taken now (prepare). */
  mtu: { check(mtu: number): Refusal | null; apply(mtu: number): number } | RefusedFeature;
}

/** What every NIC model's host class offers alike (VirtioNet, E1000, Ne2k). */
export interface QuiescableDevice {
  readonly name: string;
  quiesce(): void;
  resume(): void;
  readonly backlogLength: number;
  /** Its counters by name; `rxDropped` among them. */
  counters(): Record<string, bigint>;
  saveState(): Uint8Array;
  restoreState(blob: Uint8Array): number;
  onTransmit: ((frame: Uint8Array) => void) | null;
}

/** The ExclusiveNic members that only forward to the device's host class. */
export function deviceBasics(dev: QuiescableDevice): Pick<ExclusiveNic, "name" | "quiesce" | "resume" | "backlogLength" | "rxDropped" | "saveState" | "restoreState"> {
  return {
    name: dev.name,
    quiesce: () => dev.quiesce(),
    resume: () => dev.resume(),
    backlogLength: () => dev.backlogLength,
    rxDropped: () => dev.counters().rxDropped ?? 0n,
    saveState: () => dev.saveState(),
    restoreState: (blob) => dev.restoreState(blob),
  };
}

/** A feature the model does not have: why. */
export interface RefusedFeature { refused: string; status: number }

/** Why an operation was refused or rolled back. */
export interface Refusal { status: number; reason: string }

/** Thrown by ExclusiveOp.prepare to refuse an operation before it touches the device. */
export class ExclusiveRefusal extends Error {
  constructor(readonly status: number, reason: string) { super(reason); this.name = "ExclusiveRefusal"; }
}

/** One exclusive operation: `prepare` builds what `apply` needs and refuses early; `apply` takes it. */
export interface ExclusiveOp<P = unknown> {
  readonly name: string;
  /** Runs before the device is quiesced; throw ExclusiveRefusal to refuse. */
  prepare(nic: ExclusiveNic): P;
  /** Runs on the quiesced, drained device; a Status (OK expected: prepare checked everything). */
  apply(nic: ExclusiveNic, prepared: P): number;
  /** The address to announce after the operation, if it changes one. */
  announce?(prepared: P): Uint8Array | null;
  /**
   * For an operation that takes full effect only once a peer did its part (a
   * ring → copy switch waits for the backend to give its ring slots back):
   * polled after the device is up, by deferral, never a spin, until it
   * returns true; the serializer holds every later operation meanwhile.
   * Past `completeTimeoutMs`, or on {@link Exclusive.cancelRunning}, `cancel`
   * undoes the operation and the result says why.
   */
  complete?(nic: ExclusiveNic, prepared: P): boolean;
  cancel?(nic: ExclusiveNic, prepared: P): void;
}

/** One phase reached, at performance.now() milliseconds. */
export interface PhaseMark { phase: ExclusivePhase; at: number }

/** What an operation did. */
export interface ExclusiveResult {
  op: string;
  ok: boolean;
  /** Status.OK, or why it was refused or rolled back. */
  status: number;
  reason?: string;
  timeline: PhaseMark[];
  /** Frames that arrived while the device was quiesced and waited in its backlog. */
  held: number;
  /** Frames dropped on receive meanwhile (backlog full). */
  heldDropped: number;
  /** In-flight checks before the device drained (1 when it was idle at once). */
  drainChecks: number;
  announced: AnnounceKind;
}

/** A shared counter of in-flight references, waited on with Atomics.waitAsync. */
export interface InFlightCell { array: Int32Array; index: number }

/** Options of {@link Exclusive}. */
export interface ExclusiveOptions {
  /**
   * In-flight references on the device (default: ExclusiveNic.busy, which
   * each model's adapter reads from the wasm reference count its entry
   * points take, core/lifecycle.ts). A function, or a shared cell to wait on.
   */
  inFlight?: (() => number) | InFlightCell;
  /** Give up waiting for in-flight references after this long and roll back (default 1000 ms). */
  drainTimeoutMs?: number;
  /** Give up waiting for an operation's `complete` after this long and cancel it (default 10 000 ms). */
  completeTimeoutMs?: number;
  /** Called at each phase (synchronously, with the device in that phase). */
  onPhase?: (op: string, phase: ExclusivePhase) => void;
  /** Clock for the timeline (default performance.now). */
  now?: () => number;
}

const OK = Status.OK;

/** One serializer per NIC: every exclusive operation on it runs through `run`, one at a time. */
export class Exclusive {
  private tail: Promise<unknown> = Promise.resolve();
  private active: string | null = null;
  private waiting = 0;
  private cancelAsked = false;
  private readonly now: () => number;

  constructor(readonly nic: ExclusiveNic, private readonly opts: ExclusiveOptions = {}) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** The operation running now, or null. */
  get running(): string | null { return this.active; }
  /** Operations queued behind the running one. */
  get queued(): number { return this.waiting; }

  /**
   * Cancel the running operation while it waits for its `complete` (a ring
   * → copy switch whose backend never drains): its `cancel` undoes it and
   * its result reports "cancelled". False when none is waiting so.
   */
  cancelRunning(): boolean {
    if (!this.completing) return false;
    this.cancelAsked = true;
    return true;
  }
  private completing = false;

  /** Queue `op`; it starts when every earlier operation has finished. Never rejects: failures are in the result. */
  run<P>(op: ExclusiveOp<P>): Promise<ExclusiveResult> {
    this.waiting++;
    const next = this.tail.then(() => { this.waiting--; return this.execute(op); });
    this.tail = next;
    return next;
  }

  private async execute<P>(op: ExclusiveOp<P>): Promise<ExclusiveResult> {
    const nic = this.nic;
    const timeline: PhaseMark[] = [];
    const res: ExclusiveResult = { op: op.name, ok: false, status: OK, timeline, held: 0, heldDropped: 0, drainChecks: 0, announced: "none" };
    const mark = (phase: ExclusivePhase) => { timeline.push({ phase, at: this.now() }); this.opts.onPhase?.(op.name, phase); };
    this.active = op.name;
    let quiesced = false;
    try {
      mark("start");
      let prepared: P;
      try { prepared = op.prepare(nic); } catch (err) {
        if (!(err instanceof ExclusiveRefusal)) throw err;
        res.status = err.status; res.reason = err.message;
        mark("rollback");
        return res;
      }
      const backlog0 = nic.backlogLength(), dropped0 = nic.rxDropped();
      nic.quiesce();
      quiesced = true;
      mark("quiesce");
      const heldNow = () => { res.held = nic.backlogLength() - backlog0; res.heldDropped = Number(nic.rxDropped() - dropped0); };
      const drained = await this.drain(res);
      if (!drained) {
        heldNow();
        quiesced = false;
        nic.resume();
        res.status = Status.ERR_BAD_STATE;
        res.reason = `in-flight references did not drain within ${this.opts.drainTimeoutMs ?? 1000} ms`;
        mark("rollback");
        return res;
      }
      mark("drained");
      const snapshot = nic.saveState();
      const s = op.apply(nic, prepared);
      if (s !== OK) {
        const r = nic.restoreState(snapshot);
        nic.quiesce(); // a restore leaves the device running: hold it until the common resume below
        heldNow();
        quiesced = false;
        nic.resume();
        res.status = s;
        res.reason = `apply failed (status ${s}); snapshot restored (status ${r})`;
        mark("rollback");
        return res;
      }
      mark("applied");
      heldNow();
      quiesced = false;
      nic.resume();
      mark("up");
      if (op.complete) {
        const why = await this.awaitComplete(op, prepared);
        if (why !== null) {
          op.cancel?.(nic, prepared);
          res.status = Status.ERR_BAD_STATE;
          res.reason = why === "cancelled" ? "cancelled while waiting to complete" : `did not complete within ${this.opts.completeTimeoutMs ?? 10_000} ms`;
          mark("rollback");
          return res;
        }
        mark("complete");
      }
      res.ok = true;
      mark("finish");
      const addr = op.announce?.(prepared) ?? null;
      if (addr) {
        res.announced = nic.guestAnnounce() ? "guest" : nic.sendAs(rarpAnnounce(addr)) === OK ? "rarp" : "none";
        mark("announce");
      }
      return res;
    } catch (err) {
      // Something threw (a device call, a probe, a phase hook): the device comes back up and the queue moves on.
      if (quiesced) { try { nic.resume(); } catch { /* reported below */ } }
      res.ok = false;
      res.status = typeof (err as { status?: unknown }).status === "number" ? (err as { status: number }).status : Status.ERR_HOST;
      res.reason = `threw: ${(err as Error)?.message ?? String(err)}`;
      timeline.push({ phase: "rollback", at: this.now() });
      return res;
    } finally {
      this.active = null;
    }
  }

  /** Poll op.complete by deferral: null once it holds, else why it stopped waiting. */
  private async awaitComplete<P>(op: ExclusiveOp<P>, prepared: P): Promise<"cancelled" | "timeout" | null> {
    const limit = this.now() + (this.opts.completeTimeoutMs ?? 10_000);
    this.completing = true;
    this.cancelAsked = false;
    try {
      // Bounded by the timeout and the cancel: each round waits for a later event-loop turn.
      for (;;) {
        if (op.complete!(this.nic, prepared)) return null;
        if (this.cancelAsked) return "cancelled";
        if (this.now() >= limit) return "timeout";
        await nextTurn();
      }
    } finally {
      this.completing = false;
      this.cancelAsked = false;
    }
  }

  /** Wait by deferral until the in-flight probe reads 0; false past the timeout. */
  private async drain(res: ExclusiveResult): Promise<boolean> {
    const probe = this.opts.inFlight ?? (() => this.nic.busy());
    const limit = this.now() + (this.opts.drainTimeoutMs ?? 1000);
    // Bounded by the timeout: each round waits for a later event-loop turn or a change of the shared counter.
    for (;;) {
      res.drainChecks++;
      const n = typeof probe === "function" ? probe() : Atomics.load(probe.array, probe.index);
      if (n === 0) return true;
      const left = limit - this.now();
      if (left <= 0) return false;
      if (typeof probe !== "function") await waitAsync(probe.array, probe.index, n, left);
      else await nextTurn();
    }
  }

  /** Host-initiated live MAC change; announced afterwards. */
  setMac(mac: Uint8Array): Promise<ExclusiveResult> { return this.run(macOp(mac)); }
  /** Change the MTU where the model and the driver's state allow it. */
  setMtu(mtu: number): Promise<ExclusiveResult> { return this.run(mtuOp(mtu)); }
  /** Replace the VLAN filter: exactly `vids` pass (each 0..4095). */
  setVlanFilter(vids: Iterable<number>): Promise<ExclusiveResult> { return this.run(vlanOp(vids)); }
}

/** A live MAC change: checked (unicast, non-zero) before the device is touched. */
export function macOp(mac: Uint8Array): ExclusiveOp<Uint8Array> {
  return {
    name: "setMac",
    prepare() {
      if (mac.length !== 6) throw new ExclusiveRefusal(Status.ERR_INVALID_ARG, "a MAC address is 6 bytes");
      if (mac[0] & 1) throw new ExclusiveRefusal(Status.ERR_INVALID_ARG, "a group address cannot be a station address");
      if (mac.every((b) => b === 0)) throw new ExclusiveRefusal(Status.ERR_INVALID_ARG, "the zero address cannot be a station address");
      return Uint8Array.from(mac);
    },
    apply: (nic, m) => nic.applyMac(m),
    announce: (m) => m,
  };
}

/** A VLAN filter replacement: the map is built before the device is touched. */
export function vlanOp(vids: Iterable<number>): ExclusiveOp<Uint8Array> {
  return {
    name: "setVlanFilter",
    prepare(nic) {
      if (!(typeof nic.vlanTable === "function")) throw new ExclusiveRefusal(nic.vlanTable.status, nic.vlanTable.refused);
      const map = new Uint8Array(512);
      for (const v of vids) {
        if (!Number.isInteger(v) || v < 0 || v > 4095) throw new ExclusiveRefusal(Status.ERR_INVALID_ARG, `VLAN id ${v} is not in 0..4095`);
        map[v >> 3] |= 1 << (v & 7);
      }
      return map;
    },
    apply: (nic, map) => (nic.vlanTable as (m: Uint8Array) => number)(map),
  };
}

/** An MTU change, refused before the device is touched where the model or the driver's state does not allow it. */
export function mtuOp(mtu: number): ExclusiveOp<number> {
  return {
    name: "setMtu",
    prepare(nic) {
      if ("refused" in nic.mtu) throw new ExclusiveRefusal(nic.mtu.status, nic.mtu.refused);
      const r = nic.mtu.check(mtu);
      if (r) throw new ExclusiveRefusal(r.status, r.reason);
      return mtu;
    },
    apply: (nic, m) => (nic.mtu as { apply(m: number): number }).apply(m),
  };
}

/**
 * The frame QEMU's self-announce sends for a NIC (net/announce.c,
 * qemu_announce_self): a RARP request (RFC 903, opcode 3) from `mac` to
 * broadcast, sender and target hardware address `mac`, protocol addresses 0,
 * padded to the 60-byte minimum. A learning switch relearns the port from
 * its source at once.
 */
export function rarpAnnounce(mac: Uint8Array): Uint8Array {
  const f = new Uint8Array(60);
  f.fill(0xff, 0, 6);
  f.set(mac, 6);
  f[12] = 0x80; f[13] = 0x35;        // ETH_P_RARP
  f[14] = 0x00; f[15] = 0x01;        // hardware: Ethernet
  f[16] = 0x08; f[17] = 0x00;        // protocol: IPv4
  f[18] = 6; f[19] = 4;              // address lengths
  f[20] = 0x00; f[21] = 0x03;        // reverse request
  f.set(mac, 22);                    // sender hardware address; sender protocol address 0
  f.set(mac, 32);                    // target hardware address; target protocol address 0
  return f;
}
