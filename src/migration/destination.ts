// The destination side: accept a VM, apply pages, restore devices, verify
// the memory digest, and resume only after the source confirms.
//
// The incoming stream is hostile. Frames are checked (frames.ts), messages
// must arrive in protocol order, every page record is validated by the wasm
// before its page is written through the guest-memory port, and anything
// wrong ends the migration with this side never running the VM.

import { PAGE_SIZE } from "../vm-core.js";
import { Status, statusName } from "../status.js";
import { Link } from "./link.js";
import type { Transport } from "./transport.js";
import type { DestinationFactory, MigrationDestination, MigratableDevice } from "./types.js";
import {
  Msg, PROTOCOL_VERSION, MAX_PAYLOAD, HELLO_DELTA, HELLO_FULL_VERIFY, ROUND_FINAL, ROUND_NEVER, Refuse, VERDICT_MAX_PAGES,
  PayloadReader, PayloadWriter, ProtocolError, decodeHello, encodeVerdict, msgName, type Verdict,
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
}

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
  digest?: string;
  verdict?: Verdict;
  destination?: MigrationDestination;
  /** The most bytes this side ever held from the source without having read them as frames (bounded by the receive window). */
  bufferedHighWater: number;
}

/** Receive one migration over `transport` into the VM `factory` makes. Never throws. */
export async function receiveMigration(transport: Transport, factory: DestinationFactory, opts: ReceiveOptions = {}): Promise<ReceiveResult> {
  const idle = opts.idleTimeoutMs ?? 30_000;
  const link = new Link(transport, idle);
  const res: ReceiveResult = { ok: false, resumed: false, phase: "handshake", rounds: 0, pagesApplied: 0, bufferedHighWater: 0 };
  const ev = opts.onEvent ?? (() => {});
  let dest: MigrationDestination | undefined;
  try {
    // ---- handshake
    const hf = await link.expect(Msg.HELLO, idle);
    const hello = decodeHello(hf.payload.slice());
    const refuse = async (why: string): Promise<never> => {
      await link.send(Msg.HELLO_ACK, new PayloadWriter().u32(1).str(why).done());
      throw new ProtocolError(`refused the VM: ${why}`);
    };
    if (hello.version !== PROTOCOL_VERSION) await refuse(`protocol version ${hello.version}, this side speaks ${PROTOCOL_VERSION}`);
    if (hello.pageSize !== PAGE_SIZE) await refuse(`page size ${hello.pageSize}`);
    const maxPages = Math.min(MAX_RAM_PAGES, Math.floor((opts.maxRamBytes ?? Infinity) / PAGE_SIZE));
    if (hello.ramPages === 0 || hello.ramPages > maxPages) await refuse(`guest of ${hello.ramPages} pages (this side accepts up to ${maxPages})`);
    if ((hello.flags & ~(HELLO_DELTA | HELLO_FULL_VERIFY)) !== 0) await refuse(`unknown flags ${hello.flags}`);
    try {
      dest = await factory({ ramBytes: hello.ramPages * PAGE_SIZE, devices: hello.devices });
    } catch (err) {
      await refuse(`cannot create the VM: ${err instanceof Error ? err.message : err}`);
    }
    const d = dest!;
    res.destination = d;
    const core = d.core;
    // The wasm that applies the records must read the source wasm's records.
    if (hello.abiVersion >>> 16 !== core.abiVersion >>> 16) await refuse(`wasm ABI ${hello.abiVersion >>> 16}.x, this side has ${core.abiVersion >>> 16}.x`);
    if (core.guest.pages !== hello.ramPages) await refuse(`destination VM has ${core.guest.pages} pages, source ${hello.ramPages}`);
    // The layout is this side's configuration: the source's must agree with
    // it (a hole here is never written, so a source that declared RAM a hole
    // would have it skipped unchecked). Nothing of the source's is applied.
    if (hello.layout.length > core.exports.io_size()) await refuse(`guest-memory layout of ${hello.layout.length} bytes`);
    core.io().set(hello.layout, 0);
    const ld = core.exports.mig_layout_check(0, hello.layout.length);
    if (ld < 0) await refuse(`guest-memory layout: ${statusName(-ld)}`);
    if (ld > 0) {
      const first = core.exports.mig_stat(S.BAD_PAGE) >>> 0, hole = core.exports.mig_stat(S.HOLE) === 1;
      await refuse(`the source's guest-memory layout differs from this side's in ${ld} pages (first: page ${first} is ${hole ? "a hole there and RAM here" : "RAM there and a hole here"})`);
    }
    const byName = new Map<string, MigratableDevice>(d.devices.map((x) => [x.name, x]));
    for (const x of hello.devices) {
      const mine = byName.get(x.name);
      if (!mine || mine.kind !== x.kind) await refuse(`no device ${x.name} of kind ${x.kind} here`);
    }
    if (new Set(hello.devices.map((x) => x.name)).size !== hello.devices.length) await refuse("duplicate device names");
    // From here on payloads land at I/O offset 0, where the wasm reads them in place.
    core.ensureIo(MAX_PAYLOAD);
    link.stagePayloads((len) => core.io().subarray(0, len));
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
    ev("accepted", { ramBytes: hello.ramPages * PAGE_SIZE, devices: hello.devices.length });

    // ---- pages and device state, in protocol order
    res.phase = "precopy";
    const full = (hello.flags & HELLO_FULL_VERIFY) !== 0;
    const pages = core.guest.pages;
    let round = -1, inRound = false, final = false, finalDone = false, count = 0;
    const restored = new Set<string>();
    const deviceErrors: string[] = [];
    let digest: { value: bigint; rounds: number; devices: number } | null = null;
    // Once the last page and device state are in, nothing but a fault writes
    // this side's RAM. Full verify hashes it all then, while the source is
    // still hashing its own (the two passes overlap when the sides run apart).
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      opts.beforeVerify?.(d);
      if (!full) return;
      core.dirty.harvestEach(() => {});
      const s = e.mig_hash_range(0, pages);
      if (s !== Status.OK) throw new Error(`hashing guest memory: ${statusName(s)}`);
    };
    while (!digest) {
      const f = await link.recv("the migration stream", idle);
      const what = msgName(f.type);
      switch (f.type) {
        case Msg.ROUND: {
          const r = new PayloadReader(f.payload, what);
          const n = r.u32(), flags = r.u32();
          r.end();
          if (inRound || finalDone) throw new ProtocolError(`ROUND ${n} out of order`);
          if (n !== round + 1) throw new ProtocolError(`ROUND ${n} after round ${round}`);
          if ((flags & ~ROUND_FINAL) !== 0) throw new ProtocolError("ROUND: unknown flags");
          round = n; inRound = true; final = (flags & ROUND_FINAL) !== 0; count = 0;
          if (final) res.phase = "stop-copy";
          ev("round", { round, final });
          break;
        }
        case Msg.PAGES: {
          if (!inRound) throw new ProtocolError("PAGES outside a round");
          if (f.payload.length < 4) throw new ProtocolError("PAGES: truncated payload");
          const r = new DataView(f.payload.buffer, f.payload.byteOffset, 4).getUint32(0, true);
          if (r !== round) throw new ProtocolError(`PAGES for round ${r} in round ${round}`);
          // The payload sits at I/O offset 0 (FrameReader staged it there); records start at 4.
          const s = e.mig_apply(4, f.payload.length - 4, round);
          const applied = e.mig_stat(S.PAGES);
          count += applied; res.pagesApplied += applied;
          core.dirty.harvestEach(() => {});
          if (s !== Status.OK) {
            const page = e.mig_stat(S.BAD_PAGE) >>> 0;
            throw new ProtocolError(`round ${round}: bad page record at offset ${e.mig_stat(S.BAD_OFFSET)}${page !== 0xffffffff ? ` (page ${page})` : ""}: ${statusName(s)}`);
          }
          break;
        }
        case Msg.ROUND_END: {
          const r = new PayloadReader(f.payload, what);
          const n = r.u32(), records = r.u32();
          r.end();
          if (!inRound || n !== round) throw new ProtocolError(`ROUND_END ${n} in round ${round}`);
          if (records !== count) throw new ProtocolError(`round ${round}: source sent ${records} pages, ${count} arrived`);
          inRound = false;
          res.rounds = round + 1;
          if (final) {
            finalDone = true;
            if (restored.size === hello.devices.length) settle();
          }
          // Tell the source this round is applied: it freezes the VM only once
          // the destination has caught up, so the downtime does not include a backlog.
          else await link.send(Msg.ROUND_ACK, new PayloadWriter().u32(round).done());
          break;
        }
        case Msg.DEVICE: {
          if (!finalDone) throw new ProtocolError("DEVICE before the final round");
          const r = new PayloadReader(f.payload, what);
          const kind = r.u32(), name = r.str();
          const blob = r.rest().slice();
          const dev = byName.get(name);
          if (!dev || dev.kind !== kind || !hello.devices.some((x) => x.name === name)) throw new ProtocolError(`DEVICE ${name}: not announced in HELLO`);
          if (restored.has(name)) throw new ProtocolError(`DEVICE ${name} sent twice`);
          restored.add(name);
          const s = dev.restoreState(blob);
          if (s !== Status.OK) deviceErrors.push(`${name}: ${statusName(s)}`);
          if (restored.size === hello.devices.length) settle();
          break;
        }
        case Msg.DIGEST: {
          if (!finalDone) throw new ProtocolError("DIGEST before the final round");
          const r = new PayloadReader(f.payload, what);
          const value = r.u64(), rounds = r.u32(), devices = r.u32(), mode = r.u32();
          r.end();
          if (mode > 1) throw new ProtocolError("DIGEST: unknown verify mode");
          if ((mode === 1) !== full) throw new ProtocolError(`DIGEST: verify mode ${mode}, HELLO announced ${full ? "full" : "sent"}`);
          if (rounds !== res.rounds) throw new ProtocolError(`DIGEST: source counts ${rounds} rounds, ${res.rounds} arrived`);
          digest = { value, rounds, devices };
          break;
        }
        default:
          throw new ProtocolError(`unexpected ${what} during the stream`);
      }
    }

    // ---- verify
    res.phase = "verify";
    settle();
    // Whatever is dirty now was written on this side after its page was
    // applied (or, in full mode, hashed): hash it again.
    const ranges: Array<[number, number]> = [];
    core.dirty.harvestEach((p, n) => ranges.push([p, n]));
    for (const [p, n] of ranges) {
      const s = e.mig_hash_range(p, n);
      if (s !== Status.OK) throw new Error(`hashing guest memory: ${statusName(s)}`);
    }
    const mine = BigInt.asUintN(64, e.mig_digest(0n));
    res.digest = mine.toString(16).padStart(16, "0");
    let verdict: Verdict = { accept: true, reason: Refuse.NONE, message: "memory digest matches", mismatchTotal: 0, pages: [] };
    const missing = hello.devices.filter((x) => !restored.has(x.name)).map((x) => x.name);
    // Round 0 names every page outside holes. A page no record ever wrote
    // holds whatever this side had, and a digest is only the source's word:
    // refuse, naming the pages, whatever the digest says.
    const unsent = e.mig_unsent(0, pages, 0, VERDICT_MAX_PAGES);
    if (unsent < 0) throw new Error(`checking for pages never sent: ${statusName(-unsent)}`);
    const unsentTotal = e.mig_stat(S.MISMATCHES) >>> 0;
    if (unsentTotal > 0) {
      const dv = core.dv(), base = core.ioPtr();
      const list = Array.from({ length: unsent }, (_, i) => ({ page: dv.getUint32(base + i * 4, true), round: ROUND_NEVER }));
      verdict = { accept: false, reason: Refuse.PAGES_MISSING, message: `${unsentTotal} pages were never sent`, mismatchTotal: unsentTotal, pages: list };
    } else if (mine !== digest.value) {
      // Name the pages: fetch the source's page hashes and compare.
      await link.send(Msg.HASHES_REQ);
      const list: Array<{ page: number; round: number }> = [];
      let total = 0;
      for (let next = 0; next < pages;) {
        const f = await link.expect(Msg.HASHES, idle);
        const r = new PayloadReader(f.payload, "HASHES");
        const first = r.u32(), n = r.u32();
        if (first !== next || n === 0 || n > pages - first || r.remaining !== n * 8) throw new ProtocolError("HASHES: bad range");
        // Hashes sit at I/O offset 8; mismatches go after them.
        const out = (8 + n * 8 + 7) & ~7;
        const cap = Math.max(0, Math.min(VERDICT_MAX_PAGES - list.length, Math.floor((core.exports.io_size() - out) / 8)));
        const k = e.mig_compare(first, n, 8, out, cap);
        if (k < 0) throw new Error(`comparing page hashes: ${statusName(-k)}`);
        total += e.mig_stat(S.MISMATCHES);
        const dv = core.dv(), base = core.ioPtr() + out;
        for (let i = 0; i < k; i++) list.push({ page: dv.getUint32(base + i * 8, true), round: dv.getUint32(base + i * 8 + 4, true) });
        next = first + n;
      }
      verdict = { accept: false, reason: Refuse.DIGEST_MISMATCH, message: `memory digest mismatch: ${total} pages differ`, mismatchTotal: total, pages: list };
    } else if (deviceErrors.length) {
      verdict = { accept: false, reason: Refuse.DEVICE_STATE, message: `device state rejected (${deviceErrors.join(", ")})`, mismatchTotal: 0, pages: [] };
    } else if (missing.length || digest.devices !== hello.devices.length) {
      verdict = { accept: false, reason: Refuse.DEVICE_MISSING, message: `no state for ${missing.join(", ") || "some devices"}`, mismatchTotal: 0, pages: [] };
    }
    res.verdict = verdict;
    await link.send(Msg.VERDICT, encodeVerdict(verdict));
    ev("verdict", { accept: verdict.accept, message: verdict.message });
    if (!verdict.accept) {
      res.error = verdict.message;
      link.close();
      return res;
    }

    // ---- commit: run only once the source has let go.
    res.phase = "commit";
    await link.expect(Msg.CONFIRM, idle);
    await d.resume();
    res.resumed = true;
    for (const dev of d.devices) dev.announce?.();
    try { await link.send(Msg.RESUMED); } catch { /* the source learns from the closed link; we run either way */ }
    res.phase = "done";
    res.ok = true;
    ev("resumed");
    link.close();
  } catch (err) {
    res.error = err instanceof Error ? err.message : String(err);
    res.errorName = err instanceof Error ? err.name : typeof err;
    await link.abort(res.error);
  } finally {
    res.bufferedHighWater = link.bufferedHighWater;
  }
  return res;
}
