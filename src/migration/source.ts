// The source side: pre-copy rounds, stop-and-copy under the VM write lock,
// verification and the hand-over. See docs/migration-protocol.md.
//
// Invariant: exactly one side runs the VM. The source resumes on any failure
// up to the moment it sends CONFIRM (the commit point); after that it never
// runs again. The destination resumes only after CONFIRM.

import { PAGE_SIZE, type VmCore } from "../vm-core.js";
import type { IoWindow } from "../io-buffer.js";
import { Link, PeerAbort } from "./link.js";
import type { Transport } from "./transport.js";
import type { DowntimeEstimate, DowntimeParts, MigrationSource, MigrationReport, Phase, RoundStats } from "./types.js";
import {
  Msg, PROTOCOL_VERSION, MAX_PAYLOAD, HELLO_DELTA, HELLO_FULL_VERIFY, HELLO_DEFERRED_VERIFY, ROUND_FINAL, RECORD_HEADER, ROUND_NEVER, Refuse,
  PayloadReader, PayloadWriter, ProtocolError, encodeHello, decodeVerdict, msgName, type Verdict,
} from "./wire.js";
import { MigrationDefs } from "../generated/constants.js";
import { traceChannels } from "../trace.js";

const { ENC_SKIP_ZERO, ENC_DELTA, Stat: S } = MigrationDefs;

/** Options of migrate(). */
export interface MigrateOptions {
  /** Stop-and-copy once the estimated time to send what is dirty fits this (default 300 ms, QEMU's default). */
  downtimeLimitMs?: number;
  /** Stop-and-copy after this many rounds even if not converged (default 30). */
  maxRounds?: number;
  /** Cap on link use in bytes per second (0 = none). */
  bandwidthLimit?: number;
  /** Throttle the vCPUs when they dirty memory faster than the link sends it (default on). */
  autoConverge?: boolean;
  /** XBZRLE delta encoding of re-sent pages (default on) with a cache of this many MiB (default 32). */
  delta?: boolean;
  cacheMiB?: number;
  /**
   * How memory is checked (docs/migration-protocol.md, "Digest and verification").
   *
   * "deferred" (default): under the freeze the digests compare the pages as
   * sent with the pages as applied; once the destination runs, the source
   * (frozen for good) hashes all of its RAM against what it sent and tells
   * the destination (CHECKED). A source write that escaped dirty tracking is
   * found and named, and the report is *verified* only when none was, but
   * the finding comes after the destination resumed: it is detected, not
   * prevented. The pass over RAM is outside the downtime.
   *
   * "full": all guest RAM hashed on both sides under the freeze once the
   * last page is in: the destination never runs with memory that differs
   * (the migration is refused and the source resumes), at the price of a
   * pass over RAM in the downtime.
   *
   * "sent": only the hashes of the pages as sent and applied; the source's
   * memory is not read again, so an escaped write goes unseen.
   */
  verify?: "full" | "deferred" | "sent";
  /** How long to wait for each reply from the destination (default 30 s). */
  replyTimeoutMs?: number;
  /** Payload bytes per PAGES frame (default 1 MiB). */
  batchBytes?: number;
  /** Frame into a few reused buffers when the transport lends them back (default on; off: a fresh buffer per frame). */
  framePool?: boolean;
  /** Called after every round. */
  onRound?(r: RoundStats): void;
  /** Called about every 100 ms while pages flow. */
  onProgress?(p: Progress): void;
  /** Test hook: called when the vCPUs are frozen, before the last pages are harvested. */
  onFrozen?(core: VmCore): void;
  /** Called when the destination reported that it runs the VM (RESUMED), before the source's deferred check and retire. */
  onResumed?(): void;
  /**
   * Cancel the migration when this signal aborts: up to the commit point
   * (CONFIRM) the source takes the VM back and runs on (vCPUs resumed,
   * devices resumed, dirty tracking off), the destination is sent ABORT and
   * never resumes; the report says `cancelled`. From the commit point on it
   * is ignored (the destination may already run the VM).
   */
  signal?: AbortSignal;
}

/** What a migration is doing now ({@link MigrationSession.status}, and every migration event). */
export interface MigrationStatus {
  phase: Phase;
  /** The pre-copy round being sent (the final round during stop-and-copy). */
  round: number;
  pagesDone: number;
  pagesInRound: number;
  bytesSent: number;
  /** Pages dirty now and not yet sent again (0 before tracking starts and after it stops). */
  dirtyPages: number;
  throttle: number;
  elapsedMs: number;
  expectedDowntimeMs: number;
  /** Cancellation was asked for and will be (or was) honoured. */
  cancelled: boolean;
  /** Set once the migration ended: true on success. */
  ok: boolean | null;
}

/** The migration was cancelled before the commit point (MigrateOptions.signal or MigrationSession.cancel). */
export class MigrationCancelled extends Error {
  constructor(readonly reason: unknown) {
    super(`cancelled${reason === undefined ? "" : `: ${reason instanceof Error ? reason.message : String(reason)}`}`);
    this.name = "MigrationCancelled";
  }
}

/** Event types of a migration: "phase" (a phase began), "round" (a round was sent; `round` set), "progress" (about every 100 ms while pages flow). */
export type MigrationEventType = "phase" | "round" | "progress";

/** A migration event: the status at that moment, and for "round" the round's figures. */
export class MigrationEvent extends Event {
  constructor(type: MigrationEventType, readonly status: MigrationStatus, readonly round: RoundStats | null = null) { super(type); }
  /** The event as JSON (the control channel's trace sends this). */
  toJSON(): Record<string, unknown> { return { type: this.type, status: this.status, ...(this.round ? { round: this.round } : {}) }; }
}

/** The trace channel of each migration event type (src/trace.ts; node:diagnostics_channel in Node). */
export const MIGRATION_TRACE_CHANNELS: Readonly<Record<MigrationEventType, string>> = {
  phase: "vmdev:migration:phase", round: "vmdev:migration:round", progress: "vmdev:migration:progress",
};
const traces = traceChannels(MIGRATION_TRACE_CHANNELS);

/** A migration's events, typed. */
export interface MigrationEvents {
  addEventListener(type: MigrationEventType, listener: ((ev: MigrationEvent) => void) | { handleEvent(ev: MigrationEvent): void } | null, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}
export class MigrationEvents extends EventTarget {}

/**
 * A migration running on the source ({@link startMigration}): its live
 * status, its events, cancel, and the report when it ends.
 */
export class MigrationSession {
  readonly events = new MigrationEvents();
  /** The report, when the migration ends (never rejects). */
  readonly done: Promise<MigrationReport>;
  /** @internal */
  readonly s: SourceSession;

  /** @internal */
  constructor(src: MigrationSource, transport: Transport, opts: MigrateOptions) {
    this.s = new SourceSession(src, transport, opts, this);
    const signal = opts.signal;
    const onAbort = () => { this.cancel(signal!.reason); };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    // Begin on a later turn: listeners added right after startMigration see the first phase.
    this.done = Promise.resolve().then(() => run(this.s)).finally(() => signal?.removeEventListener("abort", onAbort));
  }

  /** What the migration is doing now. */
  status(): MigrationStatus { return this.s.status(); }

  /**
   * Cancel (as the signal would). True if it takes effect: before the commit
   * point; false once CONFIRM is on its way or the migration ended.
   */
  cancel(reason?: unknown): boolean { return this.s.cancel(reason); }
}

/** Start migrating `src` over `transport`; the session gives its status, events and cancel. */
export function startMigration(src: MigrationSource, transport: Transport, opts: MigrateOptions = {}): MigrationSession {
  return new MigrationSession(src, transport, opts);
}

/** A progress sample while pages flow. */
export interface Progress {
  round: number;
  pagesDone: number;
  pagesInRound: number;
  bytesSent: number;
  /** Bytes per second over the last interval. */
  throughput: number;
  /** Pages per second dirtied, as last measured. */
  dirtyRate: number;
  etaMs: number;
}

/** The destination refused the VM after the digest check. */
export class VerifyRefused extends Error {
  constructor(readonly verdict: Verdict, note = "") {
    const first = verdict.pages.slice(0, 4);
    const pages = verdict.reason === Refuse.PAGES_MISSING
      ? ` (first: ${first.map((p) => `page ${p.page}`).join(", ")})`
      : ` (${verdict.mismatchTotal} pages differ, first: ${first.map((p) => `page ${p.page} last sent in round ${p.round === ROUND_NEVER ? "never" : p.round}`).join(", ")})`;
    super(`destination refused: ${verdict.message}${verdict.mismatchTotal ? pages : ""}${note}`);
    this.name = "VerifyRefused";
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r));

type Resolved = Required<Omit<MigrateOptions, "onRound" | "onProgress" | "onFrozen" | "onResumed" | "signal">>;

/**
 * One migration as the source runs it: the options, the link, the report
 * being filled in, and what the phases hand each other. The phases are the
 * functions below, one per section of docs/migration-protocol.md.
 */
class SourceSession {
  readonly o: Resolved;
  readonly core: VmCore;
  readonly e: VmCore["exports"];
  readonly pages: number;
  readonly link: Link;
  readonly report: MigrationReport;
  private readonly t0 = performance.now();
  private ph: Phase = "handshake";
  /** Set by cancel(): the phases throw it at their next step. */
  cancelErr: MigrationCancelled | null = null;
  /** Resolves when cancel() is asked for (a bandwidth wait ends then). */
  private readonly cancelled: Promise<void>;
  private onCancelled!: () => void;
  ended = false;
  /** Releases the VM write lock (stop-and-copy took it). */
  release: (() => void) | null = null;
  /** CONFIRM left: from here on the source never runs again. */
  committed = false;
  /** Devices were quiesced for their save: they must resume if the source runs again. */
  quiesced = false;
  throttle = 0;
  dirtyRate = 0;
  bandwidth = 0;
  /** When the vCPUs were frozen (performance.now()). */
  tFreeze = 0;
  /** When the final round, the device states and the digest had been sent. */
  tVerify = 0;
  /** Timestamps (performance.now()) of the downtime's steps, from the freeze on. */
  readonly marks = { locked: 0, harvested: 0, sent: 0, devices: 0, digest: 0, verdict: 0, confirmed: 0, resumed: 0 };
  /** Rates measured before the freeze, for the downtime estimate. */
  readonly rates = { harvestMs: 0, hashMs: 0, hashedPages: 0, digestMs: -1, rttMs: Infinity, bytesPerPage: PAGE_SIZE + RECORD_HEADER };

  private lastSample = { t: 0, bytes: 0 };
  private lastYield = 0;
  /** Milliseconds of the last syncDirty (the next round's syncMs). */
  lastSyncMs = 0;
  // Records are encoded straight into the I/O buffer behind a u32 round
  // number; the link copies the payload into the frame.
  private readonly payload = 4;
  private readonly cap: number;
  private batchPos = 0;
  /** The I/O window the batch is encoded in, held from its first record until it is framed. */
  private batch: IoWindow | null = null;
  private round = 0;
  private roundRecords = 0;
  private progressPages = 0;
  private progressTotal = 0;
  /** The last pre-copy round the destination acknowledged (ROUND_ACK). */
  ackedRound = -1;
  /** One save of every device timed before the freeze (probeDevices). */
  deviceProbe = { ms: 0, bytes: 0 };
  /** Quiescing and saving the devices under the freeze took this long. */
  saveMs = 0;

  constructor(readonly src: MigrationSource, transport: Transport, readonly opts: MigrateOptions, readonly session: MigrationSession | null = null) {
    this.o = {
      downtimeLimitMs: opts.downtimeLimitMs ?? 300,
      maxRounds: opts.maxRounds ?? 30,
      bandwidthLimit: opts.bandwidthLimit ?? 0,
      autoConverge: opts.autoConverge ?? true,
      delta: opts.delta ?? true,
      cacheMiB: opts.cacheMiB ?? 32,
      verify: opts.verify ?? "deferred",
      replyTimeoutMs: opts.replyTimeoutMs ?? 30_000,
      batchBytes: Math.min(opts.batchBytes ?? (1 << 20), MAX_PAYLOAD - 8),
      framePool: opts.framePool ?? true,
    };
    this.cancelled = new Promise<void>((r) => { this.onCancelled = r; });
    this.core = src.core;
    this.e = this.core.exports;
    this.pages = this.core.guest.pages;
    this.link = new Link(transport, this.o.replyTimeoutMs, this.o.framePool);
    // PAGES and HASHES payloads are assembled at I/O offset 0 and framed from there.
    this.core.ensureIo(MAX_PAYLOAD);
    this.cap = this.o.batchBytes - 4;
    this.report = {
      ok: false, running: "source", totalTimeMs: 0, downtimeMs: 0, expectedDowntimeMs: 0, estimate: null, sourceCheckMs: 0, rounds: 0,
      downtime: { toLastByteMs: 0, toRunningMs: 0, parts: noParts() },
      pagesSent: 0, zeroPages: 0, deltaPages: 0, fullPages: 0, skippedZeroPages: 0, bytesSent: 0, bytesUncompressed: 0, verifyMs: 0,
      throughputMBps: 0, verified: false, verifyMode: this.o.verify, pagesAsSent: false, untrackedPages: null, digest: "", framesLost: null, throttleMax: 0,
      ramBytes: this.pages * PAGE_SIZE, roundStats: [], timeline: [],
    };
  }

  /** Milliseconds since the migration started. */
  now(): number { return performance.now() - this.t0; }

  get phase(): Phase { return this.ph; }
  set phase(p: Phase) { this.ph = p; this.emit("phase"); }

  status(): MigrationStatus {
    let dirtyPages = 0;
    try { dirtyPages = this.core.dirty.enabled ? this.core.dirty.count() : 0; } catch { /* tracking not started */ }
    return {
      phase: this.ph, round: this.round, pagesDone: this.progressPages, pagesInRound: this.progressTotal, bytesSent: this.link.writer.bytes, dirtyPages,
      throttle: this.throttle, elapsedMs: this.now(), expectedDowntimeMs: this.report.expectedDowntimeMs, cancelled: this.cancelErr !== null,
      ok: this.ended ? this.report.ok : null,
    };
  }

  /** Raise a migration event if anyone listens (or traces). */
  emit(type: MigrationEventType, round: RoundStats | null = null): void {
    const target = this.session?.events;
    const ch = traces[type];
    if (!ch.hasSubscribers && !target) return;
    const ev = new MigrationEvent(type, this.status(), round);
    target?.dispatchEvent(ev);
    if (ch.hasSubscribers) ch.publish(ev);
  }

  /** Ask to cancel: honoured before the commit point only. */
  cancel(reason: unknown): boolean {
    if (this.ended || this.committed || this.ph === "commit" || this.ph === "done") return false;
    if (this.cancelErr === null) {
      this.cancelErr = new MigrationCancelled(reason);
      // A wait on the destination (a reply, its window) or on the bandwidth cap ends now.
      this.link.cancel(this.cancelErr);
      this.onCancelled();
    }
    return true;
  }

  /** Throw the cancellation if one was asked for (between the steps of every phase). */
  checkCancel(): void { if (this.cancelErr !== null) throw this.cancelErr; }

  setThrottle(f: number): void {
    this.throttle = f;
    this.report.throttleMax = Math.max(this.report.throttleMax, f);
    this.src.setThrottle(f);
  }

  /** The encode flags of a round after round 0. */
  get resendFlags(): number { return this.o.delta ? ENC_DELTA : 0; }

  private async flush(): Promise<void> {
    this.checkCancel();
    if (this.batchPos === 0) return;
    const { link, report, o } = this;
    const w = this.batch!;
    w.view().setUint32(0, this.round, true);
    const len = 4 + this.batchPos;
    this.batchPos = 0;
    // The link frames (copies) the payload before its first await: the window is free again at once.
    // The frame checksum covers the round and the record headers; each page is covered by its record's hash.
    const e = this.e;
    const sent = link.send(Msg.PAGES, w.bytes().subarray(0, len), { hash: (seq) => BigInt.asUintN(64, e.mig_records_hash(0, len, BigInt(seq))) });
    this.releaseIo();
    await sent;
    report.bytesSent = link.writer.bytes;
    const t = this.now();
    if (o.bandwidthLimit > 0) {
      const ahead = (report.bytesSent / o.bandwidthLimit) * 1000 - t;
      if (ahead > 1) {
        let t: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([new Promise<void>((r) => { t = setTimeout(r, ahead); }), this.cancelled]);
        clearTimeout(t);
        this.checkCancel();
      }
    }
    if (t - this.lastSample.t >= 100) {
      const rate = ((report.bytesSent - this.lastSample.bytes) / (t - this.lastSample.t)) * 1000;
      report.timeline.push([Math.round(t), rate]);
      this.lastSample = { t, bytes: report.bytesSent };
      this.opts.onProgress?.({ round: this.round, pagesDone: this.progressPages, pagesInRound: this.progressTotal, bytesSent: report.bytesSent, throughput: rate,
        dirtyRate: this.dirtyRate, etaMs: this.bandwidth > 0 ? ((this.progressTotal - this.progressPages) * PAGE_SIZE / this.bandwidth) * 1000 : 0 });
      this.emit("progress");
    }
    // Let timers, the peer's replies and the progress display run.
    if (t - this.lastYield > 20) { this.lastYield = t; await tick(); }
    this.takeAcks();
  }

  // The destination acknowledges each applied pre-copy round (ROUND_ACK);
  // anything else from it during the stream is a protocol error.
  onAck(f: { type: number; payload: Uint8Array }): void {
    if (f.type !== Msg.ROUND_ACK) throw new ProtocolError(`unexpected ${msgName(f.type)} from the destination during the stream`);
    const r = new PayloadReader(f.payload, "ROUND_ACK");
    const n = r.u32();
    r.end();
    if (n !== this.ackedRound + 1 || n >= this.report.rounds) throw new ProtocolError(`ROUND_ACK ${n} out of order`);
    this.ackedRound = n;
  }

  private takeAcks(): void { for (let f = this.link.poll(); f; f = this.link.poll()) this.onAck(f); }

  /**
   * Time a round trip (PING, PONG) with the destination caught up: what
   * the VERDICT and RESUMED each cost beyond the destination's own work.
   */
  async probeRtt(): Promise<void> {
    // The median of three: one round trip on a busy machine is often a scheduling delay.
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const nonce = (this.report.rounds << 2) | i;
      const t = performance.now();
      await this.link.send(Msg.PING, new PayloadWriter().u32(nonce).done());
      const f = await this.link.expect(Msg.PONG, this.o.replyTimeoutMs);
      const r = new PayloadReader(f.payload, "PONG");
      const echoed = r.u32();
      r.end();
      if (echoed !== nonce) throw new ProtocolError(`PONG ${echoed} for PING ${nonce}`);
      times.push(performance.now() - t);
    }
    this.rates.rttMs = times.sort((x, y) => x - y)[1];
  }

  /** Wait until the destination has acknowledged every round sent. */
  async catchUp(): Promise<void> {
    while (this.ackedRound < this.report.rounds - 1) this.onAck(await this.link.recv("ROUND_ACK", this.o.replyTimeoutMs));
  }

  /** Send `ranges`, (firstPage, pageCount) pairs, as PAGES frames. */
  private async sendRanges(ranges: Uint32Array, flags: number, rs: RoundStats): Promise<void> {
    const e = this.e;
    for (let i = 0; i < ranges.length; i += 2) {
      let p = ranges[i], left = ranges[i + 1];
      while (left > 0) {
        if (this.cap - this.batchPos < RECORD_HEADER + PAGE_SIZE) await this.flush();
        this.batch ??= this.core.ioBuffer.claim("migration payload", 0, this.payload + this.cap);
        const t = performance.now();
        const n = e.mig_encode(p, left, flags, this.payload + this.batchPos, this.cap - this.batchPos);
        if (n < 0) throw new Error(`encoding page ${p}: status ${-n}`);
        const used = e.mig_stat(S.PAGES) >>> 0;
        const full = e.mig_stat(S.FULL), zero = e.mig_stat(S.ZERO), delta = e.mig_stat(S.DELTA);
        // Round 0 hashes and copies each whole page once: the rate of a hash pass over RAM.
        if (rs.round === 0 && full === used) { this.rates.hashMs += performance.now() - t; this.rates.hashedPages += full; }
        rs.fullPages += full; rs.zeroPages += zero; rs.deltaPages += delta;
        rs.skippedZeroPages += e.mig_stat(S.SKIPPED);
        this.roundRecords += full + zero + delta + e.mig_stat(S.SKIPPED);
        this.progressPages += used;
        this.batchPos += n;
        p += used; left -= used;
      }
    }
    await this.flush();
  }

  /** Send one round: ROUND, its PAGES, ROUND_END; the report counts it. */
  async runRound(r: number, ranges: Uint32Array, count: number, final: boolean, flags: number): Promise<RoundStats> {
    const { link, report } = this;
    this.checkCancel();
    this.round = r; this.roundRecords = 0; this.progressPages = 0; this.progressTotal = count;
    const rs: RoundStats = {
      round: r, final, pages: count, fullPages: 0, zeroPages: 0, deltaPages: 0, skippedZeroPages: 0,
      bytes: 0, ms: 0, throughput: 0, dirtyRate: 0, throttle: this.throttle, etaMs: 0, startMs: this.now(), syncMs: r === 0 ? 0 : this.lastSyncMs,
    };
    const bytes0 = link.writer.bytes;
    await link.send(Msg.ROUND, new PayloadWriter().u32(r).u32(final ? ROUND_FINAL : 0).done());
    await this.sendRanges(ranges, flags, rs);
    await link.send(Msg.ROUND_END, new PayloadWriter().u32(r).u32(this.roundRecords).done());
    rs.bytes = link.writer.bytes - bytes0;
    rs.ms = this.now() - rs.startMs;
    rs.throughput = rs.ms > 0 ? (rs.bytes / rs.ms) * 1000 : 0;
    report.bytesSent = link.writer.bytes;
    report.rounds = r + 1;
    report.fullPages += rs.fullPages; report.zeroPages += rs.zeroPages; report.deltaPages += rs.deltaPages;
    report.skippedZeroPages += rs.skippedZeroPages;
    report.roundStats.push(rs);
    this.emit("round", rs);
    return rs;
  }

  /** Give back the batch's I/O window (a failed encode leaves it held). */
  releaseIo(): void {
    this.batch?.release();
    this.batch = null;
  }

  harvest(): { ranges: Uint32Array; count: number } {
    // The ranges are copied out of the I/O buffer before encoding reuses it.
    const t = performance.now();
    const { ranges, pages } = this.core.dirty.harvestRanges();
    // The sync that brought the bitmap up to date is part of what a harvest costs.
    this.rates.harvestMs = performance.now() - t + this.lastSyncMs;
    return { ranges, count: pages };
  }

  /** The source's syncDirty hook, timed (lastSyncMs). */
  async syncDirty(): Promise<void> {
    if (!this.src.syncDirty) return;
    const t = performance.now();
    await this.src.syncDirty();
    this.lastSyncMs = performance.now() - t;
  }
}

/** Migrate `src` over `transport`. Never throws: the report says what happened and which side runs. */
export async function migrate(src: MigrationSource, transport: Transport, opts: MigrateOptions = {}): Promise<MigrationReport> {
  return startMigration(src, transport, opts).done;
}

async function run(s: SourceSession): Promise<MigrationReport> {
  s.emit("phase");
  try {
    await handshake(s);
    await precopy(s);
    await stopAndCopy(s);
    await verify(s);
    await commit(s);
  } catch (err) {
    await recover(s, err);
  } finally {
    finish(s);
  }
  return s.report;
}

/** Handshake: HELLO, and the destination's HELLO_ACK. */
async function handshake(s: SourceSession): Promise<void> {
  const { core, link, o, src } = s;
  const flags = (o.delta ? HELLO_DELTA : 0) | (o.verify === "full" ? HELLO_FULL_VERIFY : o.verify === "deferred" ? HELLO_DEFERRED_VERIFY : 0);
  await link.send(Msg.HELLO, encodeHello({
    version: PROTOCOL_VERSION, abiVersion: core.abiVersion, pageSize: PAGE_SIZE, ramPages: s.pages, flags,
    devices: src.devices.map((d) => ({ kind: d.kind, name: d.name })), layout: core.saveLayout(),
  }));
  const ack = await link.expect(Msg.HELLO_ACK, o.replyTimeoutMs);
  const ar = new PayloadReader(ack.payload, "HELLO_ACK");
  const ackStatus = ar.u32(), ackMsg = ar.str();
  ar.end();
  if (ackStatus !== 0) throw new Error(`destination refused the VM: ${ackMsg}`);
}

/**
 * Pre-copy: round 0 sends every page, later rounds what was dirtied, until
 * the estimate fits the downtime limit or the round cap is reached and the
 * destination has caught up; auto-converge throttles the vCPUs meanwhile.
 */
async function precopy(s: SourceSession): Promise<void> {
  s.phase = "precopy";
  const { core, e, o, report } = s;
  const slots = o.delta ? Math.min(65536, Math.max(1, Math.floor((o.cacheMiB << 20) / PAGE_SIZE))) : 0;
  if (e.mig_init(slots) !== 0) throw new Error("mig_init: out of memory for page tables");
  // Tracking starts before round 0 reads a page: a write after the read is re-sent.
  core.dirty.enable();
  let lastHarvest = s.now();
  let rs = await s.runRound(0, Uint32Array.of(0, s.pages), s.pages, false, ENC_SKIP_ZERO);
  s.bandwidth = rs.throughput;
  probeDevices(s);
  for (let r = 1; ; r++) {
    await s.syncDirty();
    const dirtyNow = core.dirty.count();
    const since = s.now() - lastHarvest;
    s.dirtyRate = since > 0 ? (dirtyNow / since) * 1000 : 0;
    rs.dirtyRate = s.dirtyRate;
    if (rs.bytes > (4 << 20) || s.bandwidth === 0) s.bandwidth = rs.throughput || s.bandwidth;
    if (rs.round > 0 && rs.pages > 0) s.rates.bytesPerPage = rs.bytes / rs.pages;
    const bw = o.bandwidthLimit > 0 ? Math.min(s.bandwidth, o.bandwidthLimit) : s.bandwidth;
    let est = estimateDowntime(s, dirtyNow, bw);
    rs.etaMs = est.ms;
    rs.throttle = s.throttle;
    s.opts.onRound?.(rs);
    report.estimate = est;
    report.expectedDowntimeMs = est.ms;
    if (fits(est, o) || r >= o.maxRounds) {
      // Before freezing, let the destination catch up (its backlog would
      // otherwise be paid for while the VM is frozen), then look again:
      // the vCPUs kept dirtying meanwhile.
      await s.catchUp();
      await s.probeRtt();
      est = estimateDowntime(s, core.dirty.count(), bw);
      report.estimate = est;
      report.expectedDowntimeMs = est.ms;
      if (fits(est, o) || r >= o.maxRounds) break;
    }
    // Auto-converge (QEMU cpu-throttle): start at 20 %, add 10 % per round
    // while the vCPUs dirty more than half of what the link carries.
    if (o.autoConverge && r >= 2 && s.dirtyRate * PAGE_SIZE > 0.5 * bw) s.setThrottle(Math.min(0.99, s.throttle === 0 ? 0.2 : s.throttle + 0.1));
    const h = s.harvest();
    lastHarvest = s.now();
    rs = await s.runRound(r, h.ranges, h.count, false, s.resendFlags);
  }
  // Every pre-copy round is applied on the destination by now (the loop
  // above waited); this only matters if the loop is changed.
  await s.catchUp();
}

const noParts = (): DowntimeParts => ({ lock: 0, harvest: 0, send: 0, deviceState: 0, verify: 0, confirm: 0, resume: 0 });

/**
 * Time one save of every device while the VM still runs, for the estimate's
 * device-state part (the states are discarded: the real ones are saved
 * under the freeze, after quiesce). A device that throws here counts as free.
 */
function probeDevices(s: SourceSession): void {
  const t = performance.now();
  let bytes = 0;
  for (const d of s.src.devices) {
    try { bytes += d.saveState().length + 16 + d.name.length; } catch { /* measured under the freeze instead */ }
  }
  s.deviceProbe = { ms: performance.now() - t, bytes };
}

/**
 * The downtime the source expects if it froze the vCPUs now with `pages`
 * dirty: every part of docs/migration-protocol.md's "Downtime", each from a
 * rate measured earlier in this migration. Only the write lock is not
 * modelled (it is taken for the first time at the freeze).
 */
function estimateDowntime(s: SourceSession, pages: number, bandwidth: number): DowntimeEstimate {
  const r = s.rates;
  if (r.digestMs < 0) {
    // mig_digest only reads the page-hash table: timing it changes nothing.
    const t = performance.now();
    s.e.mig_digest(0n);
    r.digestMs = performance.now() - t;
  }
  const rtt = Number.isFinite(r.rttMs) ? r.rttMs : 0;
  const hashMsPerPage = r.hashedPages > 0 ? r.hashMs / r.hashedPages : 0;
  const perSecond = (bytes: number) => (bandwidth > 0 ? (bytes / bandwidth) * 1000 : Infinity);
  const bytes = pages * r.bytesPerPage;
  // Full verify: one pass over RAM on the source; the destination's pass
  // runs at the same time (separate cores). Both: the digest on each side,
  // the destination's scan for pages never sent (a pass over its tables,
  // as long as a digest), and the DIGEST → VERDICT round trip.
  const pass = s.o.verify === "full" ? s.pages * hashMsPerPage : 0;
  const parts: DowntimeParts = {
    lock: 0,
    harvest: r.harvestMs,
    send: perSecond(bytes),
    deviceState: s.deviceProbe.ms + perSecond(s.deviceProbe.bytes),
    verify: pass + 3 * r.digestMs + rtt,
    confirm: 0,
    resume: rtt,
  };
  const ms = Object.values(parts).reduce((a, b) => a + b, 0);
  return { ms, parts, pages, bytes, rates: { bandwidth, bytesPerPage: r.bytesPerPage, harvestMs: r.harvestMs, hashMsPerPage, digestMs: r.digestMs, rttMs: rtt } };
}

/**
 * Whether to stop and copy on this estimate. More rounds shrink only the
 * harvest and the send; the rest of the downtime is the same whatever the
 * round, so they must fit what the rest leaves of the limit, but never
 * less than half the limit (a fixed part near or past the limit would
 * otherwise keep the rounds going to the cap for nothing).
 */
function fits(est: DowntimeEstimate, o: Resolved): boolean {
  const shrinking = est.parts.harvest + est.parts.send;
  const fixed = est.ms - shrinking;
  return shrinking <= Math.max(o.downtimeLimitMs - fixed, o.downtimeLimitMs / 2);
}

/**
 * Stop-and-copy: freeze the vCPUs (the write lock), quiesce and save the
 * devices, send the final round and the device states, then (full verify)
 * hash all of RAM again and send the digest.
 */
async function stopAndCopy(s: SourceSession): Promise<void> {
  s.phase = "stop-copy";
  const { core, e, link, o, report, src } = s;
  const m = s.marks;
  s.tFreeze = performance.now();
  s.release = await src.writeLock();
  m.locked = performance.now();
  s.checkCancel();
  s.opts.onFrozen?.(core);
  s.checkCancel();
  s.quiesced = true;
  for (const d of src.devices) d.quiesce?.();
  const states = src.devices.map((d) => ({ d, blob: d.saveState() }));
  s.saveMs = performance.now() - m.locked;
  // After the devices settled (quiesce may write guest RAM): the final sync sees their writes too.
  await s.syncDirty();
  const h = s.harvest();
  m.harvested = performance.now();
  const last = await s.runRound(report.rounds, h.ranges, h.count, true, s.resendFlags);
  m.sent = performance.now();
  s.opts.onRound?.(last);
  for (const { d, blob } of states) {
    s.checkCancel();
    await link.send(Msg.DEVICE, new PayloadWriter().u32(d.kind).str(d.name).bytes(blob).done());
  }
  s.checkCancel();
  s.tVerify = m.devices = performance.now();
  if (o.verify === "full") {
    // Every page again, under the freeze: a page whose hash changed since
    // it was last sent was written without being marked dirty.
    const st = e.mig_hash_range(0, s.pages);
    if (st !== 0) throw new Error(`hashing guest memory: status ${st}`);
    report.untrackedPages = e.mig_stat(S.MISMATCHES) >>> 0;
    if (report.untrackedPages > 0) report.untrackedFirstPage = e.mig_stat(S.BAD_PAGE) >>> 0;
  }
  const digest = BigInt.asUintN(64, e.mig_digest(0n));
  report.digest = digest.toString(16).padStart(16, "0");
  await link.send(Msg.DIGEST, new PayloadWriter().u64(digest).u32(report.rounds).u32(states.length).u32(DIGEST_MODE[o.verify]).done());
  m.digest = performance.now();
}

/** DIGEST's verify mode field (HELLO's flags say the same). */
const DIGEST_MODE = { sent: 0, full: 1, deferred: 2 } as const;

/** Verify: answer HASHES_REQ with the page-hash table until the VERDICT; a refusal fails the migration. */
async function verify(s: SourceSession): Promise<void> {
  s.phase = "verify";
  const { core, e, link, o, report } = s;
  let verdict: Verdict | null = null;
  while (!verdict) {
    const f = await link.recv("VERDICT", o.replyTimeoutMs);
    if (f.type === Msg.HASHES_REQ) {
      new PayloadReader(f.payload, "HASHES_REQ").end();
      const per = 65536;
      for (let first = 0; first < s.pages; first += per) {
        const n = Math.min(per, s.pages - first);
        // The link frames (copies) the payload before its first await: the window is free again at once.
        await core.ioBuffer.use("migration payload", 0, 8 + n * 8, (w) => {
          if (e.mig_table_read(first, n, 8) !== 0) throw new Error("mig_table_read failed");
          const dv = w.view();
          dv.setUint32(0, first, true); dv.setUint32(4, n, true);
          return link.send(Msg.HASHES, w.bytes());
        });
      }
    } else if (f.type === Msg.VERDICT) {
      verdict = decodeVerdict(f.payload);
      s.marks.verdict = performance.now();
      report.verifyMs = s.marks.verdict - s.tVerify;
    } else {
      throw new ProtocolError(`expected VERDICT, got ${msgName(f.type)}`);
    }
  }
  if (!verdict.accept) {
    report.mismatches = verdict.pages;
    report.mismatchTotal = verdict.mismatchTotal;
    throw new VerifyRefused(verdict, report.untrackedPages ? `; on the source, ${untrackedNote(report.untrackedPages, report.untrackedFirstPage!, core)}` : "");
  }
  report.pagesAsSent = true;
  report.verified = o.verify === "full";
}

/** The measured downtime by both definitions, and its parts (from the marks stopAndCopy, verify and commit set). */
function measureDowntime(s: SourceSession): void {
  const m = s.marks, t0 = s.tFreeze;
  const upTo = (t: number, from: number) => (t > 0 && from > 0 ? t - from : 0);
  s.report.downtime = {
    toLastByteMs: upTo(m.digest, t0),
    toRunningMs: upTo(m.resumed, t0),
    parts: {
      lock: upTo(m.locked, t0),
      harvest: upTo(m.harvested, m.locked) - (m.harvested > 0 ? s.saveMs : 0),
      send: upTo(m.sent, m.harvested),
      deviceState: s.saveMs + upTo(m.devices, m.sent),
      verify: upTo(m.verdict, m.devices),
      confirm: upTo(m.confirmed, m.verdict),
      resume: upTo(m.resumed, m.confirmed),
    },
  };
}

/** Commit: CONFIRM (the commit point: the source never runs again), then wait for RESUMED and retire. */
async function commit(s: SourceSession): Promise<void> {
  s.phase = "commit";
  const { link, o, report, src } = s;
  await link.send(Msg.CONFIRM);
  s.marks.confirmed = performance.now();
  s.committed = true;
  report.running = "unknown";
  await link.expect(Msg.RESUMED, o.replyTimeoutMs);
  s.marks.resumed = performance.now();
  report.running = "destination";
  s.opts.onResumed?.();
  report.downtimeMs = s.marks.resumed - s.tFreeze;
  if (o.verify === "deferred") await checkAfterResume(s);
  src.retire?.();
  s.phase = "done";
  report.ok = true;
}

/**
 * Deferred verify, once the destination runs: the source is frozen for
 * good (CONFIRM left, the write lock is never released), so its RAM is
 * what it was at the freeze. Hash all of it against the hashes of the pages
 * as sent, which the destination proved it holds (the digests matched):
 * equal means the destination resumed with the source's memory; a page
 * that differs was written without being sent again (a write that escaped
 * dirty tracking). Report it here and to the destination (CHECKED).
 */
async function checkAfterResume(s: SourceSession): Promise<void> {
  const { core, e, link, report } = s;
  const t = performance.now();
  // A source whose writes reach the bitmap only by a sync: a write that escaped the final one is in core's RAM only after another.
  await s.syncDirty();
  const st = e.mig_hash_range(0, s.pages);
  if (st !== 0) {
    report.integrityError = `checking the source's memory after resume: hashing failed (status ${st}); not verified`;
    return;
  }
  const changed = e.mig_stat(S.MISMATCHES) >>> 0;
  const first = changed > 0 ? e.mig_stat(S.BAD_PAGE) >>> 0 : ROUND_NEVER_PAGE;
  report.sourceCheckMs = performance.now() - t;
  report.untrackedPages = changed;
  if (changed > 0) {
    report.untrackedFirstPage = first;
    report.integrityError = `the destination runs with memory that differs from the source's: ${untrackedNote(changed, first, core)}`;
  }
  report.verified = changed === 0;
  // The destination runs either way; a link gone now only costs it the news.
  try {
    await link.send(Msg.CHECKED, new PayloadWriter().u32(changed).u32(first).done());
  } catch (err) {
    if (report.integrityError) report.integrityError += ` (the destination could not be told: ${describe(err)})`;
  }
}

/** CHECKED's first page when none changed. */
const ROUND_NEVER_PAGE = 0xffff_ffff;

/** A phase failed: take the VM back if the destination cannot be running, else stay frozen. */
async function recover(s: SourceSession, err: unknown): Promise<void> {
  const { core, link, report, src } = s;
  s.releaseIo();
  report.error = describe(err);
  report.failedPhase = s.phase;
  if (err instanceof MigrationCancelled) report.cancelled = true;
  // After CONFIRM only an explicit ABORT proves the destination did not resume
  // (it sends ABORT only before resuming): then the source may take the VM back.
  if (!s.committed || err instanceof PeerAbort) {
    // Before the commit point the destination cannot run: take the VM back.
    report.running = "source";
    report.verified = false;
    report.pagesAsSent = false;
    await link.abort(report.error);
    s.setThrottle(0);
    try { core.dirty.disable(); } catch { /* tracking may not have started */ }
    s.release?.();
    s.release = null;
    // The source runs again: devices quiesced for the save go back to work.
    if (s.quiesced) for (const d of src.devices) d.resume?.();
  } else {
    // CONFIRM left and the link failed: the destination may be running.
    // The source stays frozen (write lock held) and is never resumed here.
    report.running = "unknown";
    link.close();
  }
}

/** Totals of the report, whatever happened. */
function finish(s: SourceSession): void {
  const { link, report, src } = s;
  s.releaseIo();
  if (report.ok) {
    s.setThrottle(0);
    link.close();
  }
  report.totalTimeMs = s.now();
  measureDowntime(s);
  report.bytesSent = link.writer.bytes;
  report.pagesSent = report.fullPages + report.zeroPages + report.deltaPages;
  report.bytesUncompressed = (report.fullPages + report.zeroPages + report.deltaPages) * PAGE_SIZE;
  report.throughputMBps = report.totalTimeMs > 0 ? report.bytesSent / 1e6 / (report.totalTimeMs / 1000) : 0;
  const lost = src.devices.filter((d) => d.framesLost).map((d) => d.framesLost!());
  report.framesLost = lost.length ? lost.reduce((a, b) => a + b, 0) : null;
  s.ended = true;
  s.emit("phase");
}

/** The source's own account of pages that changed after they were last sent. */
function untrackedNote(n: number, first: number, core: VmCore): string {
  // Marked dirty now: written through the port after the final harvest (while frozen); not marked: behind dirty tracking.
  const how = core.dirty.test(first) ? "written after the final round, while the vCPUs were frozen" : "written without being marked dirty: the dirty tracking missed it";
  return `${n} pages changed after they were last sent (first: page ${first}, ${how})`;
}

function describe(err: unknown): string {
  if (err instanceof PeerAbort || err instanceof VerifyRefused || err instanceof MigrationCancelled) return err.message;
  if (err instanceof Error) return `${err.name === "Error" ? "" : err.name + ": "}${err.message}`;
  return String(err);
}
