// The source side: pre-copy rounds, stop-and-copy under the VM write lock,
// verification and the hand-over. See docs/migration-protocol.md.
//
// Invariant: exactly one side runs the VM. The source resumes on any failure
// up to the moment it sends CONFIRM (the commit point); after that it never
// runs again. The destination resumes only after CONFIRM.

import { PAGE_SIZE, type VmCore, type PageRange } from "../vm-core.js";
import { Link, PeerAbort } from "./link.js";
import type { Transport } from "./transport.js";
import type { MigrationSource, MigrationReport, Phase, RoundStats } from "./types.js";
import {
  Msg, PROTOCOL_VERSION, MAX_PAYLOAD, HELLO_DELTA, HELLO_FULL_VERIFY, ROUND_FINAL, RECORD_HEADER, ROUND_NEVER, Refuse,
  PayloadReader, PayloadWriter, ProtocolError, encodeHello, decodeVerdict, msgName, type Verdict,
} from "./wire.js";
import { MigrationDefs } from "../generated/constants.js";

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
   * What the digests compare. "full" (default): all guest RAM, hashed on both
   * sides under the freeze once the last page is in, so a verified migration
   * proves the destination's memory equals the source's, and a source write
   * that escaped dirty tracking is caught (and the source names the pages).
   * "sent": the hashes recorded as pages were sent and applied; cheaper (no
   * pass over RAM in the downtime) but it proves only that the destination
   * holds every page as sent: the source's memory is not read again.
   */
  verify?: "full" | "sent";
  /** How long to wait for each reply from the destination (default 30 s). */
  replyTimeoutMs?: number;
  /** Payload bytes per PAGES frame (default 1 MiB). */
  batchBytes?: number;
  /** Called after every round. */
  onRound?(r: RoundStats): void;
  /** Called about every 100 ms while pages flow. */
  onProgress?(p: Progress): void;
  /** Test hook: called when the vCPUs are frozen, before the last pages are harvested. */
  onFrozen?(core: VmCore): void;
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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const tick = () => new Promise<void>((r) => setImmediate(r));

/** Migrate `src` over `transport`. Never throws: the report says what happened and which side runs. */
export async function migrate(src: MigrationSource, transport: Transport, opts: MigrateOptions = {}): Promise<MigrationReport> {
  const o = {
    downtimeLimitMs: opts.downtimeLimitMs ?? 300,
    maxRounds: opts.maxRounds ?? 30,
    bandwidthLimit: opts.bandwidthLimit ?? 0,
    autoConverge: opts.autoConverge ?? true,
    delta: opts.delta ?? true,
    cacheMiB: opts.cacheMiB ?? 32,
    verify: opts.verify ?? "full",
    replyTimeoutMs: opts.replyTimeoutMs ?? 30_000,
    batchBytes: Math.min(opts.batchBytes ?? (1 << 20), MAX_PAYLOAD - 8),
  };
  const core = src.core;
  const e = core.exports;
  const pages = core.guest.pages;
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const link = new Link(transport, o.replyTimeoutMs);
  // PAGES and HASHES payloads are assembled at I/O offset 0 and framed from there.
  core.ensureIo(MAX_PAYLOAD);
  const report: MigrationReport = {
    ok: false, running: "source", totalTimeMs: 0, downtimeMs: 0, expectedDowntimeMs: 0, rounds: 0,
    pagesSent: 0, zeroPages: 0, deltaPages: 0, fullPages: 0, skippedZeroPages: 0, bytesSent: 0, bytesUncompressed: 0, verifyMs: 0,
    throughputMBps: 0, verified: false, verifyMode: o.verify, pagesAsSent: false, untrackedPages: null, digest: "", framesLost: null, throttleMax: 0,
    ramBytes: pages * PAGE_SIZE, roundStats: [], timeline: [],
  };
  let phase: Phase = "handshake";
  let release: (() => void) | null = null;
  let committed = false;
  let quiesced = false;
  let throttle = 0;
  let lastSample = { t: 0, bytes: 0 };
  let lastYield = 0;
  let dirtyRate = 0;
  let bandwidth = 0;

  const setThrottle = (f: number) => {
    throttle = f;
    report.throttleMax = Math.max(report.throttleMax, f);
    src.setThrottle(f);
  };

  // Records are encoded straight into the I/O buffer behind a u32 round
  // number; the link copies the payload into the frame.
  const PAYLOAD = 4;
  const cap = o.batchBytes - 4;
  let batchPos = 0;
  let round = 0;
  let roundRecords = 0;
  let progressPages = 0;
  let progressTotal = 0;

  const flush = async () => {
    if (batchPos === 0) return;
    new DataView(core.memory.buffer, core.ioPtr(), 4).setUint32(0, round, true);
    const len = 4 + batchPos;
    batchPos = 0;
    await link.send(Msg.PAGES, core.io().subarray(0, len));
    report.bytesSent = link.writer.bytes;
    const t = now();
    if (o.bandwidthLimit > 0) {
      const ahead = (report.bytesSent / o.bandwidthLimit) * 1000 - t;
      if (ahead > 1) await sleep(ahead);
    }
    if (t - lastSample.t >= 100) {
      const rate = ((report.bytesSent - lastSample.bytes) / (t - lastSample.t)) * 1000;
      report.timeline.push([Math.round(t), rate]);
      lastSample = { t, bytes: report.bytesSent };
      opts.onProgress?.({ round, pagesDone: progressPages, pagesInRound: progressTotal, bytesSent: report.bytesSent, throughput: rate,
        dirtyRate, etaMs: bandwidth > 0 ? ((progressTotal - progressPages) * PAGE_SIZE / bandwidth) * 1000 : 0 });
    }
    // Let timers, the peer's replies and the progress display run.
    if (t - lastYield > 20) { lastYield = t; await tick(); }
    takeAcks();
  };

  // The destination acknowledges each applied pre-copy round (ROUND_ACK);
  // anything else from it during the stream is a protocol error.
  let ackedRound = -1;
  const onAck = (f: { type: number; payload: Uint8Array }) => {
    if (f.type !== Msg.ROUND_ACK) throw new ProtocolError(`unexpected ${msgName(f.type)} from the destination during the stream`);
    const r = new PayloadReader(f.payload, "ROUND_ACK");
    const n = r.u32();
    r.end();
    if (n !== ackedRound + 1 || n >= report.rounds) throw new ProtocolError(`ROUND_ACK ${n} out of order`);
    ackedRound = n;
  };
  const takeAcks = () => { for (let f = link.poll(); f; f = link.poll()) onAck(f); };

  const sendRanges = async (ranges: PageRange[], flags: number, rs: RoundStats) => {
    for (const r of ranges) {
      let p = r.page, left = r.count;
      while (left > 0) {
        if (cap - batchPos < RECORD_HEADER + PAGE_SIZE) await flush();
        const n = e.mig_encode(p, left, flags, PAYLOAD + batchPos, cap - batchPos);
        if (n < 0) throw new Error(`encoding page ${p}: status ${-n}`);
        const used = e.mig_stat(S.PAGES) >>> 0;
        const full = e.mig_stat(S.FULL), zero = e.mig_stat(S.ZERO), delta = e.mig_stat(S.DELTA);
        rs.fullPages += full; rs.zeroPages += zero; rs.deltaPages += delta;
        rs.skippedZeroPages += e.mig_stat(S.SKIPPED);
        roundRecords += full + zero + delta + e.mig_stat(S.SKIPPED);
        progressPages += used;
        batchPos += n;
        p += used; left -= used;
      }
    }
    await flush();
  };

  const newRound = (r: number, final: boolean, pagesInRound: number): RoundStats => ({
    round: r, final, pages: pagesInRound, fullPages: 0, zeroPages: 0, deltaPages: 0, skippedZeroPages: 0,
    bytes: 0, ms: 0, throughput: 0, dirtyRate: 0, throttle, etaMs: 0, startMs: now(),
  });

  const runRound = async (r: number, ranges: PageRange[], count: number, final: boolean, flags: number): Promise<RoundStats> => {
    round = r; roundRecords = 0; progressPages = 0; progressTotal = count;
    const rs = newRound(r, final, count);
    const bytes0 = link.writer.bytes;
    await link.send(Msg.ROUND, new PayloadWriter().u32(r).u32(final ? ROUND_FINAL : 0).done());
    await sendRanges(ranges, flags, rs);
    await link.send(Msg.ROUND_END, new PayloadWriter().u32(r).u32(roundRecords).done());
    rs.bytes = link.writer.bytes - bytes0;
    rs.ms = now() - rs.startMs;
    rs.throughput = rs.ms > 0 ? (rs.bytes / rs.ms) * 1000 : 0;
    report.bytesSent = link.writer.bytes;
    report.rounds = r + 1;
    report.fullPages += rs.fullPages; report.zeroPages += rs.zeroPages; report.deltaPages += rs.deltaPages;
    report.skippedZeroPages += rs.skippedZeroPages;
    report.roundStats.push(rs);
    return rs;
  };

  const harvest = (): { ranges: PageRange[]; count: number } => {
    // harvestEach reports ranges through the I/O buffer: collect them before encoding reuses it.
    const ranges: PageRange[] = [];
    const count = core.dirty.harvestEach((page, n) => ranges.push({ page, count: n }));
    return { ranges, count };
  };

  try {
    // ---- handshake
    const flags = (o.delta ? HELLO_DELTA : 0) | (o.verify === "full" ? HELLO_FULL_VERIFY : 0);
    await link.send(Msg.HELLO, encodeHello({
      version: PROTOCOL_VERSION, abiVersion: core.abiVersion, pageSize: PAGE_SIZE, ramPages: pages, flags,
      devices: src.devices.map((d) => ({ kind: d.kind, name: d.name })), layout: core.saveLayout(),
    }));
    const ack = await link.expect(Msg.HELLO_ACK, o.replyTimeoutMs);
    const ar = new PayloadReader(ack.payload, "HELLO_ACK");
    const ackStatus = ar.u32(), ackMsg = ar.str();
    ar.end();
    if (ackStatus !== 0) throw new Error(`destination refused the VM: ${ackMsg}`);

    // ---- pre-copy
    phase = "precopy";
    const slots = o.delta ? Math.min(65536, Math.max(1, Math.floor((o.cacheMiB << 20) / PAGE_SIZE))) : 0;
    if (e.mig_init(slots) !== 0) throw new Error("mig_init: out of memory for page tables");
    // Tracking starts before round 0 reads a page: a write after the read is re-sent.
    core.dirty.enable();
    let lastHarvest = now();
    let rs = await runRound(0, [{ page: 0, count: pages }], pages, false, ENC_SKIP_ZERO);
    bandwidth = rs.throughput;
    for (let r = 1; ; r++) {
      const dirtyNow = core.dirty.count();
      const since = now() - lastHarvest;
      dirtyRate = since > 0 ? (dirtyNow / since) * 1000 : 0;
      rs.dirtyRate = dirtyRate;
      if (rs.bytes > (4 << 20) || bandwidth === 0) bandwidth = rs.throughput || bandwidth;
      const bw = o.bandwidthLimit > 0 ? Math.min(bandwidth, o.bandwidthLimit) : bandwidth;
      const etaMs = bw > 0 ? ((dirtyNow * PAGE_SIZE) / bw) * 1000 : Infinity;
      rs.etaMs = etaMs;
      rs.throttle = throttle;
      opts.onRound?.(rs);
      report.expectedDowntimeMs = etaMs;
      if (etaMs <= o.downtimeLimitMs || r >= o.maxRounds) {
        // Before freezing, let the destination catch up (its backlog would
        // otherwise be paid for while the VM is frozen), then look again:
        // the vCPUs kept dirtying meanwhile.
        while (ackedRound < report.rounds - 1) onAck(await link.recv("ROUND_ACK", o.replyTimeoutMs));
        const after = core.dirty.count();
        report.expectedDowntimeMs = bw > 0 ? ((after * PAGE_SIZE) / bw) * 1000 : Infinity;
        if (report.expectedDowntimeMs <= o.downtimeLimitMs || r >= o.maxRounds) break;
      }
      // Auto-converge (QEMU cpu-throttle): start at 20 %, add 10 % per round
      // while the vCPUs dirty more than half of what the link carries.
      if (o.autoConverge && r >= 2 && dirtyRate * PAGE_SIZE > 0.5 * bw) setThrottle(Math.min(0.99, throttle === 0 ? 0.2 : throttle + 0.1));
      const h = harvest();
      lastHarvest = now();
      rs = await runRound(r, h.ranges, h.count, false, o.delta ? ENC_DELTA : 0);
    }

    // Every pre-copy round is applied on the destination by now (the loop
    // above waited); this only matters if the loop is changed.
    while (ackedRound < report.rounds - 1) onAck(await link.recv("ROUND_ACK", o.replyTimeoutMs));

    // ---- stop-and-copy
    phase = "stop-copy";
    const tFreeze = performance.now();
    release = await src.writeLock();
    opts.onFrozen?.(core);
    quiesced = true;
    for (const d of src.devices) d.quiesce?.();
    const states = src.devices.map((d) => ({ d, blob: d.saveState() }));
    const h = harvest();
    const last = await runRound(report.rounds, h.ranges, h.count, true, o.delta ? ENC_DELTA : 0);
    opts.onRound?.(last);
    for (const { d, blob } of states) {
      await link.send(Msg.DEVICE, new PayloadWriter().u32(d.kind).str(d.name).bytes(blob).done());
    }
    const tVerify = performance.now();
    if (o.verify === "full") {
      // Every page again, under the freeze: a page whose hash changed since
      // it was last sent was written without being marked dirty.
      const s = e.mig_hash_range(0, pages);
      if (s !== 0) throw new Error(`hashing guest memory: status ${s}`);
      report.untrackedPages = e.mig_stat(S.MISMATCHES) >>> 0;
      if (report.untrackedPages > 0) report.untrackedFirstPage = e.mig_stat(S.BAD_PAGE) >>> 0;
    }
    const digest = BigInt.asUintN(64, e.mig_digest(0n));
    report.digest = digest.toString(16).padStart(16, "0");
    await link.send(Msg.DIGEST, new PayloadWriter().u64(digest).u32(report.rounds).u32(states.length).u32(o.verify === "full" ? 1 : 0).done());

    // ---- verify: the destination may ask for our page hashes to name the pages that differ.
    phase = "verify";
    let verdict: Verdict | null = null;
    while (!verdict) {
      const f = await link.recv("VERDICT", o.replyTimeoutMs);
      if (f.type === Msg.HASHES_REQ) {
        new PayloadReader(f.payload, "HASHES_REQ").end();
        const per = 65536;
        for (let first = 0; first < pages; first += per) {
          const n = Math.min(per, pages - first);
          if (e.mig_table_read(first, n, 8) !== 0) throw new Error("mig_table_read failed");
          const dv = new DataView(core.memory.buffer, core.ioPtr(), 8);
          dv.setUint32(0, first, true); dv.setUint32(4, n, true);
          await link.send(Msg.HASHES, core.io().subarray(0, 8 + n * 8));
        }
      } else if (f.type === Msg.VERDICT) {
        verdict = decodeVerdict(f.payload);
        report.verifyMs = performance.now() - tVerify;
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

    // ---- commit: from here on the source never runs again.
    phase = "commit";
    await link.send(Msg.CONFIRM);
    committed = true;
    report.running = "unknown";
    await link.expect(Msg.RESUMED, o.replyTimeoutMs);
    report.running = "destination";
    src.retire?.();
    report.downtimeMs = performance.now() - tFreeze;
    phase = "done";
    report.ok = true;
  } catch (err) {
    report.error = describe(err);
    report.failedPhase = phase;
    // After CONFIRM only an explicit ABORT proves the destination did not resume
    // (it sends ABORT only before resuming): then the source may take the VM back.
    if (!committed || err instanceof PeerAbort) {
      // Before the commit point the destination cannot run: take the VM back.
      report.running = "source";
      report.verified = false;
      report.pagesAsSent = false;
      await link.abort(report.error);
      setThrottle(0);
      try { core.dirty.disable(); } catch { /* tracking may not have started */ }
      release?.();
      release = null;
      // The source runs again: devices quiesced for the save go back to work.
      if (quiesced) for (const d of src.devices) d.resume?.();
    } else {
      // CONFIRM left and the link failed: the destination may be running.
      // The source stays frozen (write lock held) and is never resumed here.
      report.running = "unknown";
      link.close();
    }
  } finally {
    if (report.ok) {
      setThrottle(0);
      link.close();
    }
    report.totalTimeMs = now();
    report.bytesSent = link.writer.bytes;
    report.pagesSent = report.fullPages + report.zeroPages + report.deltaPages;
    report.bytesUncompressed = (report.fullPages + report.zeroPages + report.deltaPages) * PAGE_SIZE;
    report.throughputMBps = report.totalTimeMs > 0 ? report.bytesSent / 1e6 / (report.totalTimeMs / 1000) : 0;
    const lost = src.devices.filter((d) => d.framesLost).map((d) => d.framesLost!());
    report.framesLost = lost.length ? lost.reduce((a, b) => a + b, 0) : null;
  }
  return report;
}

/** The source's own account of pages that changed after they were last sent. */
function untrackedNote(n: number, first: number, core: VmCore): string {
  // Marked dirty now: written through the port after the final harvest (while frozen); not marked: behind dirty tracking.
  const how = core.dirty.test(first) ? "written after the final round, while the vCPUs were frozen" : "written without being marked dirty: the dirty tracking missed it";
  return `${n} pages changed after they were last sent (first: page ${first}, ${how})`;
}

function describe(err: unknown): string {
  if (err instanceof PeerAbort || err instanceof VerifyRefused) return err.message;
  if (err instanceof Error) return `${err.name === "Error" ? "" : err.name + ": "}${err.message}`;
  return String(err);
}
