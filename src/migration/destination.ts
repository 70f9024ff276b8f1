// The destination side: accept a VM, apply pages, restore devices, verify
// the memory digest, and resume only after the source confirms.
//
// The incoming stream is hostile. Frames are checked (frames.ts), messages
// must arrive in protocol order, every page record is validated by the wasm
// before its page is written through the guest-memory port, and anything
// wrong ends the migration with this side never running the VM.

import { PAGE_SIZE, type VmCore } from "../vm-core.js";
import { Status, statusName } from "../status.js";
import { Link } from "./link.js";
import type { Frame } from "./frames.js";
import type { IoWindow } from "../io-buffer.js";
import type { Transport } from "./transport.js";
import type { DestinationFactory, MigrationDestination, MigratableDevice } from "./types.js";
import {
  Msg, PROTOCOL_VERSION, MAX_PAYLOAD, HELLO_DELTA, HELLO_FULL_VERIFY, HELLO_DEFERRED_VERIFY, ROUND_FINAL, ROUND_NEVER, Refuse, VERDICT_MAX_PAGES,
  PayloadReader, PayloadWriter, ProtocolError, decodeHello, encodeVerdict, msgName, type Hello, type Verdict,
} from "./wire.js";
import { CoreDefs, MigrationDefs } from "../generated/constants.js";

/** Largest guest the destination accepts (vmdev's own-placement limit, 3.75 GiB). */
export const MAX_RAM_PAGES = CoreDefs.MAX_OWN_RAM_PAGES;
const S = MigrationDefs.Stat;

/** Options of receiveMigration. */
export interface ReceiveOptions {
  /** Longest silence on the link before giving up (default 30 s). */
  idleTimeoutMs?: number;
  /** Called as the migration advances (for logs and progress). */
  onEvent?(what: string, detail?: Record<string, unknown>): void;
  /** Largest guest this side accepts (default and ceiling: 3.75 GiB, vmdev's own-placement limit). */
  maxRamBytes?: number;
  /** Test hook: runs once the final round and every device state are applied, before this side hashes its memory. */
  beforeVerify?(dest: MigrationDestination): void;
  /**
   * While waiting for round 0's next frame, make the RAM just ahead of it
   * resident (default true): the first write to fresh memory is a page fault,
   * which otherwise lands on the critical path when the page arrives. At most
   * PRETOUCH_AHEAD pages ahead of the pages applied, so a guest of mostly zero
   * pages (sent as runs, never written) is not made resident far ahead.
   */
  pretouch?: boolean;
}

/** How far ahead of round 0's frontier idle pre-touching goes (pages; 16 MiB). */
export const PRETOUCH_AHEAD = 4096;
/** Pages pre-touched per idle step (≈ 1 ms at a cold page fault's cost). */
const PRETOUCH_STEP = 64;

/** What the destination saw: whether it resumed the VM, and why not if it did not. */
export interface ReceiveResult {
  ok: boolean;
  /** True only if this side resumed the VM. */
  resumed: boolean;
  error?: string;
  /** Class of the error (ProtocolError, LinkError, ...): a hostile stream must only ever produce clean protocol or link errors. */
  errorName?: string;
  phase: string;
  rounds: number;
  pagesApplied: number;
  /** Pages made resident ahead of round 0 while this side waited for frames (ReceiveOptions.pretouch). */
  pagesPretouched: number;
  digest?: string;
  verdict?: Verdict;
  destination?: MigrationDestination;
  /** The most bytes this side ever held from the source without having read them as frames (bounded by the receive window). */
  bufferedHighWater: number;
  /**
   * Deferred verify: what the source found when, after this side resumed,
   * it hashed all of its frozen RAM against the pages it sent (CHECKED).
   * `changedPages` > 0: this side runs with memory that differs from the
   * source's (a source write escaped dirty tracking), first at `firstPage`.
   * Absent if the mode is not deferred or the source never said.
   */
  sourceCheck?: { changedPages: number; firstPage: number | null };
  /**
   * Proven that this side resumed with the source's memory: full verify
   * (before resuming) or deferred verify (the source's check came back clean).
   */
  memoryVerified: boolean;
}

/**
 * One incoming migration as the destination runs it: the link, the result
 * being filled in, the VM once the handshake made it, and the stream's
 * position. The phases are the functions below, one per section of
 * docs/migration-protocol.md.
 */
class DestinationSession {
  readonly link: Link;
  readonly idle: number;
  readonly res: ReceiveResult = { ok: false, resumed: false, phase: "handshake", rounds: 0, pagesApplied: 0, pagesPretouched: 0, bufferedHighWater: 0, memoryVerified: false };
  readonly ev: NonNullable<ReceiveOptions["onEvent"]>;
  // Set by the handshake.
  hello!: Hello;
  dest!: MigrationDestination;
  core!: VmCore;
  byName!: Map<string, MigratableDevice>;
  /** HELLO announced full verify. */
  full = false;
  /** HELLO announced deferred verify: the source checks its RAM after this side resumed (CHECKED). */
  deferred = false;
  // The stream's position.
  private round = -1;
  private inRound = false;
  private final = false;
  private finalDone = false;
  private count = 0;
  readonly restored = new Set<string>();
  readonly deviceErrors: string[] = [];
  digest: { value: bigint; rounds: number; devices: number } | null = null;
  private settled = false;
  /** The I/O window the link staged the current frame's payload in; given back once the payload is read. */
  private payload: IoWindow | null = null;

  constructor(transport: Transport, readonly factory: DestinationFactory, readonly opts: ReceiveOptions) {
    this.idle = opts.idleTimeoutMs ?? 30_000;
    this.link = new Link(transport, this.idle);
    this.ev = opts.onEvent ?? (() => {});
  }

  get e(): VmCore["exports"] { return this.core.exports; }

  /** Stage received payloads at I/O offset 0, where the wasm reads them in place. */
  stageInIo(): void {
    this.core.ensureIo(MAX_PAYLOAD);
    this.link.stagePayloads((len) => {
      this.releasePayload();
      this.payload = this.core.ioBuffer.claim("migration payload", 0, len);
      return this.payload.bytes();
    });
  }

  /** The next page idle pre-touching makes resident. */
  private touchCursor = 0;

  /** One idle step of pre-touching (ReceiveOptions.pretouch); true while more remains now. */
  readonly pretouchStep = (): boolean => {
    if (!this.inRound || this.round !== 0) return false;
    const limit = Math.min(this.pages, this.res.pagesApplied + PRETOUCH_AHEAD);
    this.touchCursor = Math.max(this.touchCursor, this.res.pagesApplied);
    if (this.touchCursor >= limit) return false;
    const n = Math.min(PRETOUCH_STEP, limit - this.touchCursor);
    this.res.pagesPretouched += this.e.mig_pretouch(this.touchCursor, n);
    this.touchCursor += n;
    if (this.touchCursor < limit) return true;
    this.ev("pretouched", { upTo: this.touchCursor, pages: this.res.pagesPretouched });
    return false;
  };

  /** The current payload has been read: its window is free. */
  releasePayload(): void {
    this.payload?.release();
    this.payload = null;
  }
  get pages(): number { return this.core.guest.pages; }

  /** The final round has begun: the source's vCPUs are frozen. */
  get stopped(): boolean { return this.final; }

  // Once the last page and device state are in, nothing but a fault writes
  // this side's RAM. Full verify hashes it all then, while the source is
  // still hashing its own (the two passes overlap when the sides run apart).
  settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.opts.beforeVerify?.(this.dest);
    if (!this.full) return;
    this.core.dirty.harvestEach(() => {});
    const s = this.e.mig_hash_range(0, this.pages);
    if (s !== Status.OK) throw new Error(`hashing guest memory: ${statusName(s)}`);
  }

  /** Take one frame of the page stream, in protocol order (pre-copy and stop-and-copy share the rules). */
  async take(f: Frame): Promise<void> {
    const { e, res, hello } = this;
    const what = msgName(f.type);
    switch (f.type) {
      case Msg.ROUND: {
        const r = new PayloadReader(f.payload, what);
        const n = r.u32(), flags = r.u32();
        r.end();
        this.releasePayload();
        if (this.inRound || this.finalDone) throw new ProtocolError(`ROUND ${n} out of order`);
        if (n !== this.round + 1) throw new ProtocolError(`ROUND ${n} after round ${this.round}`);
        if ((flags & ~ROUND_FINAL) !== 0) throw new ProtocolError("ROUND: unknown flags");
        this.round = n; this.inRound = true; this.final = (flags & ROUND_FINAL) !== 0; this.count = 0;
        if (this.final) res.phase = "stop-copy";
        this.ev("round", { round: this.round, final: this.final });
        break;
      }
      case Msg.PAGES: {
        if (!this.inRound) throw new ProtocolError("PAGES outside a round");
        if (f.payload.length < 4) throw new ProtocolError("PAGES: truncated payload");
        const r = new DataView(f.payload.buffer, f.payload.byteOffset, 4).getUint32(0, true);
        if (r !== this.round) throw new ProtocolError(`PAGES for round ${r} in round ${this.round}`);
        // The payload sits at I/O offset 0 (the link staged it there); records start at 4.
        // A frame with FRAME_RECORD_HASHES was not checked by the reader: its
        // checksum covers the round and the record headers, and mig_apply
        // checks each page against its record's hash before writing it.
        if (f.ownerChecksum !== undefined && BigInt.asUintN(64, e.mig_records_hash(0, f.payload.length, BigInt(f.seq))) !== f.ownerChecksum) {
          this.releasePayload();
          throw new ProtocolError(`frame ${f.seq} (PAGES): record checksum mismatch`);
        }
        const s = e.mig_apply(4, f.payload.length - 4, this.round);
        this.releasePayload();
        const applied = e.mig_stat(S.PAGES);
        this.count += applied; res.pagesApplied += applied;
        this.core.dirty.harvestEach(() => {});
        if (s !== Status.OK) {
          const page = e.mig_stat(S.BAD_PAGE) >>> 0;
          throw new ProtocolError(`round ${this.round}: bad page record at offset ${e.mig_stat(S.BAD_OFFSET)}${page !== 0xffffffff ? ` (page ${page})` : ""}: ${statusName(s)}`);
        }
        break;
      }
      case Msg.ROUND_END: {
        const r = new PayloadReader(f.payload, what);
        const n = r.u32(), records = r.u32();
        r.end();
        this.releasePayload();
        if (!this.inRound || n !== this.round) throw new ProtocolError(`ROUND_END ${n} in round ${this.round}`);
        if (records !== this.count) throw new ProtocolError(`round ${this.round}: source sent ${records} pages, ${this.count} arrived`);
        this.inRound = false;
        res.rounds = this.round + 1;
        this.dest.roundApplied?.(this.round, this.final);
        if (this.final) {
          this.finalDone = true;
          if (this.restored.size === hello.devices.length) this.settle();
        }
        // Tell the source this round is applied: it freezes the VM only once
        // the destination has caught up, so the downtime does not include a backlog.
        else await this.link.send(Msg.ROUND_ACK, new PayloadWriter().u32(this.round).done());
        break;
      }
      case Msg.DEVICE: {
        if (!this.finalDone) throw new ProtocolError("DEVICE before the final round");
        const r = new PayloadReader(f.payload, what);
        const kind = r.u32(), name = r.str();
        const blob = r.rest().slice();
        this.releasePayload();
        const dev = this.byName.get(name);
        if (!dev || dev.kind !== kind || !hello.devices.some((x) => x.name === name)) throw new ProtocolError(`DEVICE ${name}: not announced in HELLO`);
        if (this.restored.has(name)) throw new ProtocolError(`DEVICE ${name} sent twice`);
        this.restored.add(name);
        const s = dev.restoreState(blob);
        if (s !== Status.OK) this.deviceErrors.push(`${name}: ${statusName(s)}`);
        if (this.restored.size === hello.devices.length) this.settle();
        break;
      }
      case Msg.DIGEST: {
        if (!this.finalDone) throw new ProtocolError("DIGEST before the final round");
        const r = new PayloadReader(f.payload, what);
        const value = r.u64(), rounds = r.u32(), devices = r.u32(), mode = r.u32();
        r.end();
        this.releasePayload();
        if (mode > 2) throw new ProtocolError("DIGEST: unknown verify mode");
        const announced = this.full ? 1 : this.deferred ? 2 : 0;
        if (mode !== announced) throw new ProtocolError(`DIGEST: verify mode ${mode}, HELLO announced ${["sent", "full", "deferred"][announced]}`);
        if (rounds !== res.rounds) throw new ProtocolError(`DIGEST: source counts ${rounds} rounds, ${res.rounds} arrived`);
        this.digest = { value, rounds, devices };
        break;
      }
      case Msg.PING: {
        // The source times a round trip before it freezes the VM (its downtime estimate); pre-copy only.
        if (this.final || this.inRound) throw new ProtocolError("PING inside a round or after the final round");
        const r = new PayloadReader(f.payload, what);
        const nonce = r.u32();
        r.end();
        this.releasePayload();
        await this.link.send(Msg.PONG, new PayloadWriter().u32(nonce).done());
        break;
      }
      default:
        throw new ProtocolError(`unexpected ${what} during the stream`);
    }
  }
}

/** Receive one migration over `transport` into the VM `factory` makes. Never throws. */
export async function receiveMigration(transport: Transport, factory: DestinationFactory, opts: ReceiveOptions = {}): Promise<ReceiveResult> {
  const s = new DestinationSession(transport, factory, opts);
  try {
    await handshake(s);
    await precopy(s);
    await stopAndCopy(s);
    if (await verify(s)) {
      await commit(s);
      if (s.deferred) await awaitSourceCheck(s);
    }
  } catch (err) {
    s.res.error = err instanceof Error ? err.message : String(err);
    s.res.errorName = err instanceof Error ? err.name : typeof err;
    await s.link.abort(s.res.error);
  } finally {
    s.releasePayload();
    s.res.bufferedHighWater = s.link.bufferedHighWater;
  }
  return s.res;
}

/**
 * Handshake: check HELLO, build the VM (factory), check the source's
 * layout and devices against it, prepare the page tables, HELLO_ACK.
 */
async function handshake(s: DestinationSession): Promise<void> {
  const { link, idle, opts } = s;
  const hf = await link.expect(Msg.HELLO, idle);
  const hello = decodeHello(hf.payload.slice());
  s.hello = hello;
  const refuse = async (why: string): Promise<never> => {
    await link.send(Msg.HELLO_ACK, new PayloadWriter().u32(1).str(why).done());
    throw new ProtocolError(`refused the VM: ${why}`);
  };
  if (hello.version !== PROTOCOL_VERSION) await refuse(`protocol version ${hello.version}, this side speaks ${PROTOCOL_VERSION}`);
  if (hello.pageSize !== PAGE_SIZE) await refuse(`page size ${hello.pageSize}`);
  const maxPages = Math.min(MAX_RAM_PAGES, Math.floor((opts.maxRamBytes ?? Infinity) / PAGE_SIZE));
  if (hello.ramPages === 0 || hello.ramPages > maxPages) await refuse(`guest of ${hello.ramPages} pages (this side accepts up to ${maxPages})`);
  if ((hello.flags & ~(HELLO_DELTA | HELLO_FULL_VERIFY | HELLO_DEFERRED_VERIFY)) !== 0) await refuse(`unknown flags ${hello.flags}`);
  if ((hello.flags & HELLO_FULL_VERIFY) && (hello.flags & HELLO_DEFERRED_VERIFY)) await refuse("full and deferred verify together");
  let dest: MigrationDestination | undefined;
  try {
    dest = await s.factory({ ramBytes: hello.ramPages * PAGE_SIZE, devices: hello.devices });
  } catch (err) {
    await refuse(`cannot create the VM: ${err instanceof Error ? err.message : err}`);
  }
  const d = dest!;
  s.dest = d;
  s.res.destination = d;
  const core = d.core;
  s.core = core;
  // The wasm that applies the records must read the source wasm's records.
  if (hello.abiVersion >>> 16 !== core.abiVersion >>> 16) await refuse(`wasm ABI ${hello.abiVersion >>> 16}.x, this side has ${core.abiVersion >>> 16}.x`);
  if (core.guest.pages !== hello.ramPages) await refuse(`destination VM has ${core.guest.pages} pages, source ${hello.ramPages}`);
  // The layout is this side's configuration: the source's must agree with
  // it (a hole here is never written, so a source that declared RAM a hole
  // would have it skipped unchecked). Nothing of the source's is applied.
  if (hello.layout.length > core.exports.io_size()) await refuse(`guest-memory layout of ${hello.layout.length} bytes`);
  const ld = core.ioBuffer.use("migration layout", 0, hello.layout.length, (w) => {
    w.bytes().set(hello.layout);
    return core.exports.mig_layout_check(0, hello.layout.length);
  });
  if (ld < 0) await refuse(`guest-memory layout: ${statusName(-ld)}`);
  if (ld > 0) {
    const first = core.exports.mig_stat(S.BAD_PAGE) >>> 0, hole = core.exports.mig_stat(S.HOLE) === 1;
    await refuse(`the source's guest-memory layout differs from this side's in ${ld} pages (first: page ${first} is ${hole ? "a hole there and RAM here" : "RAM there and a hole here"})`);
  }
  s.byName = new Map<string, MigratableDevice>(d.devices.map((x) => [x.name, x]));
  for (const x of hello.devices) {
    const mine = s.byName.get(x.name);
    if (!mine || mine.kind !== x.kind) await refuse(`no device ${x.name} of kind ${x.kind} here`);
  }
  if (new Set(hello.devices.map((x) => x.name)).size !== hello.devices.length) await refuse("duplicate device names");
  s.stageInIo();
  const e = core.exports;
  if (e.mig_init(0) !== Status.OK) await refuse("no memory for page tables");
  const ps = e.mig_dest_prepare();
  if (ps !== Status.OK) await refuse(`preparing guest RAM: ${statusName(ps)}`);
  // Track writes on this side: after each batch the pages the stream wrote
  // are cleared (their hashes are in the table already), so whatever is
  // dirty at verify time was written by something else and is re-hashed.
  core.dirty.enable();
  // The source sends nothing but ABORT before HELLO_ACK: bytes that came
  // meanwhile (a source flooding while this side built the VM) break the protocol.
  const early = link.poll();
  if (early) throw new ProtocolError(`${msgName(early.type)} before HELLO_ACK`);
  if (link.reader.pending > 0) throw new ProtocolError(`${link.reader.pending} bytes before HELLO_ACK`);
  await link.send(Msg.HELLO_ACK, new PayloadWriter().u32(0).str("").done());
  s.ev("accepted", { ramBytes: hello.ramPages * PAGE_SIZE, devices: hello.devices.length });
  s.full = (hello.flags & HELLO_FULL_VERIFY) !== 0;
  s.deferred = (hello.flags & HELLO_DEFERRED_VERIFY) !== 0;
}

/** Pre-copy: apply rounds (ROUND, PAGES, ROUND_END, acknowledged) until the final round begins. */
async function precopy(s: DestinationSession): Promise<void> {
  s.res.phase = "precopy";
  const idleWork = s.opts.pretouch === false ? undefined : s.pretouchStep;
  while (!s.stopped) await s.take(await s.link.recv("the migration stream", s.idle, idleWork));
}

/** Stop-and-copy: the final round, every device state, then the source's DIGEST. */
async function stopAndCopy(s: DestinationSession): Promise<void> {
  while (!s.digest) await s.take(await s.link.recv("the migration stream", s.idle));
}

/**
 * Verify: hash what is still to hash, refuse pages never sent, compare the
 * digests (fetching the source's page hashes to name the pages on a
 * mismatch), check the device states, send the VERDICT. Returns whether it
 * accepted.
 */
async function verify(s: DestinationSession): Promise<boolean> {
  const { core, e, link, res, hello, pages } = s;
  const digest = s.digest!;
  res.phase = "verify";
  s.settle();
  // Whatever is dirty now was written on this side after its page was
  // applied (or, in full mode, hashed): hash it again.
  const ranges: Array<[number, number]> = [];
  core.dirty.harvestEach((p, n) => ranges.push([p, n]));
  for (const [p, n] of ranges) {
    const st = e.mig_hash_range(p, n);
    if (st !== Status.OK) throw new Error(`hashing guest memory: ${statusName(st)}`);
  }
  const mine = BigInt.asUintN(64, e.mig_digest(0n));
  res.digest = mine.toString(16).padStart(16, "0");
  let verdict: Verdict = { accept: true, reason: Refuse.NONE, message: "memory digest matches", mismatchTotal: 0, pages: [] };
  const missing = hello.devices.filter((x) => !s.restored.has(x.name)).map((x) => x.name);
  // Round 0 names every page outside holes. A page no record ever wrote
  // holds whatever this side had, and a digest is only the source's word:
  // refuse, naming the pages, whatever the digest says.
  const unsent = core.ioBuffer.use("migration unsent", 0, VERDICT_MAX_PAGES * 4, (w) => {
    const n = e.mig_unsent(0, pages, w.offset, VERDICT_MAX_PAGES);
    if (n < 0) throw new Error(`checking for pages never sent: ${statusName(-n)}`);
    const dv = w.view();
    return { total: e.mig_stat(S.MISMATCHES) >>> 0, list: Array.from({ length: n }, (_, i) => ({ page: dv.getUint32(i * 4, true), round: ROUND_NEVER })) };
  });
  const unsentTotal = unsent.total;
  if (unsentTotal > 0) {
    const list = unsent.list;
    verdict = { accept: false, reason: Refuse.PAGES_MISSING, message: `${unsentTotal} pages were never sent`, mismatchTotal: unsentTotal, pages: list };
  } else if (mine !== digest.value) {
    // Name the pages: fetch the source's page hashes and compare.
    await link.send(Msg.HASHES_REQ);
    const list: Array<{ page: number; round: number }> = [];
    let total = 0;
    for (let next = 0; next < pages;) {
      const f = await link.expect(Msg.HASHES, s.idle);
      const r = new PayloadReader(f.payload, "HASHES");
      const first = r.u32(), n = r.u32();
      if (first !== next || n === 0 || n > pages - first || r.remaining !== n * 8) throw new ProtocolError("HASHES: bad range");
      // Hashes sit at I/O offset 8 (the staged payload); mismatches go after them.
      const out = (8 + n * 8 + 7) & ~7;
      const cap = Math.max(0, Math.min(VERDICT_MAX_PAGES - list.length, Math.floor((core.exports.io_size() - out) / 8)));
      core.ioBuffer.use("migration mismatches", out, cap * 8, (w) => {
        const k = e.mig_compare(first, n, 8, w.offset, cap);
        if (k < 0) throw new Error(`comparing page hashes: ${statusName(-k)}`);
        total += e.mig_stat(S.MISMATCHES);
        const dv = w.view();
        for (let i = 0; i < k; i++) list.push({ page: dv.getUint32(i * 8, true), round: dv.getUint32(i * 8 + 4, true) });
      });
      s.releasePayload();
      next = first + n;
    }
    verdict = { accept: false, reason: Refuse.DIGEST_MISMATCH, message: `memory digest mismatch: ${total} pages differ`, mismatchTotal: total, pages: list };
  } else if (s.deviceErrors.length) {
    verdict = { accept: false, reason: Refuse.DEVICE_STATE, message: `device state rejected (${s.deviceErrors.join(", ")})`, mismatchTotal: 0, pages: [] };
  } else if (missing.length || digest.devices !== hello.devices.length) {
    verdict = { accept: false, reason: Refuse.DEVICE_MISSING, message: `no state for ${missing.join(", ") || "some devices"}`, mismatchTotal: 0, pages: [] };
  }
  res.verdict = verdict;
  await link.send(Msg.VERDICT, encodeVerdict(verdict));
  s.ev("verdict", { accept: verdict.accept, message: verdict.message });
  if (!verdict.accept) {
    res.error = verdict.message;
    link.close();
  }
  return verdict.accept;
}

/** Commit: run only once the source has let go (CONFIRM), then say so (RESUMED). */
async function commit(s: DestinationSession): Promise<void> {
  const { link, res } = s;
  res.phase = "commit";
  await link.expect(Msg.CONFIRM, s.idle);
  s.releasePayload();
  await s.dest.resume();
  res.resumed = true;
  for (const dev of s.dest.devices) dev.announce?.();
  try { await link.send(Msg.RESUMED); } catch { /* the source learns from the closed link; we run either way */ }
  res.phase = "done";
  res.ok = true;
  res.memoryVerified = s.full;
  s.ev("resumed");
  if (!s.deferred) link.close();
}

/**
 * Deferred verify: this side runs; the source hashes its frozen RAM against
 * what it sent and says what it found (CHECKED). A link that fails now, or
 * a malformed CHECKED, leaves the memory unverified (and the VM running:
 * this side is past the commit point); it never throws.
 */
async function awaitSourceCheck(s: DestinationSession): Promise<void> {
  const { link, res } = s;
  try {
    const f = await link.expect(Msg.CHECKED, s.idle);
    const r = new PayloadReader(f.payload, "CHECKED");
    const changed = r.u32(), first = r.u32();
    r.end();
    s.releasePayload();
    if ((changed === 0) !== (first === 0xffff_ffff) || (changed > 0 && first >= s.pages)) throw new ProtocolError("CHECKED: inconsistent page count and first page");
    res.sourceCheck = { changedPages: changed, firstPage: changed > 0 ? first : null };
    res.memoryVerified = changed === 0;
    if (changed > 0) res.error = `running with memory that differs from the source's: ${changed} source pages changed after they were last sent (first: page ${first}), found by the source after resume`;
    s.ev("source-check", { changedPages: changed, firstPage: res.sourceCheck.firstPage });
  } catch (err) {
    res.error = `memory not verified: no check from the source after resume (${err instanceof Error ? err.message : String(err)})`;
    s.ev("source-check", { error: res.error });
  } finally {
    link.close();
  }
}
