// The seam between migration and the machine that runs the VM.
//
// Migration needs very little from a machine: its VmCore (guest RAM and the
// dirty bitmap), its device models, a way to freeze every vCPU (the VM write
// lock: vCPUs frozen, leases broken, nothing writes guest memory while held),
// and a throttle for auto-converge. The Machine runtime satisfies both ends
// through machine-adapter.ts; StandInSource (src/testing/migration/) is a bare VM for the
// engine's own tests and bench.

import type { VmCore } from "../vm-core.js";
import type { MigratableDevice } from "../device.js";

export type { MigratableDevice };

/**
 * The VM being migrated away. While a migration runs it owns the guest-RAM
 * dirty bitmap: it enables it (which clears it) before round 0, harvests it
 * every round, and disables it if the migration fails.
 */
export interface MigrationSource {
  readonly core: VmCore;
  readonly devices: readonly MigratableDevice[];
  /**
   * Take the VM write lock: freeze every vCPU, break every lease, wait until
   * no one writes guest memory. Resolves to the release function, which
   * resumes the vCPUs. May reject (timeout); migration then aborts.
   */
  writeLock(): Promise<() => void>;
  /** Slow the vCPUs to `fraction` (0 = full speed, 0.99 = nearly stopped) of their run time. */
  setThrottle(fraction: number): void;
  /**
   * Bring the dirty bitmap up to date with writes it cannot see as they
   * happen (an emulator's CPU writing its own memory: a RAM mirror's sync,
   * src/migration/ram-mirror.ts). Called before every harvest of a
   * pre-copy round, before the final harvest (with the write lock held),
   * and, with deferred verify, before the frozen source's RAM is hashed
   * again. Its time is each round's `syncMs` and part of the harvest.
   */
  syncDirty?(): void | Promise<void>;
  /**
   * The destination confirmed it runs the VM: the source must never run
   * again. Called with the write lock still held (it is never released).
   */
  retire?(): void;
}

/** The VM being migrated in. Built from what HELLO announces (size, devices). */
export interface MigrationDestination {
  readonly core: VmCore;
  readonly devices: readonly MigratableDevice[];
  /** Start the vCPUs. Called once, only after the memory digest matched and the source confirmed. */
  resume(): void | Promise<void>;
  /**
   * Every page of round `round` is applied (its ROUND_END checked), before the
   * source hears so. A destination whose VM's RAM is elsewhere (an emulator's)
   * can move the round's pages there now, off the downtime but for the final
   * round: they are the pages whose `mig_round_of` is `round`.
   */
  roundApplied?(round: number, final: boolean): void;
}

/** What the destination is told before any page arrives. */
export interface IncomingVm {
  ramBytes: number;
  devices: Array<{ kind: number; name: string }>;
}

/** Makes the destination VM for an incoming migration. */
export type DestinationFactory = (vm: IncomingVm) => Promise<MigrationDestination>;

/** Phases of a migration, named in errors, fault tests and reports. */
export type Phase = "handshake" | "precopy" | "stop-copy" | "verify" | "commit" | "done";

/** One pre-copy round as measured on the source. */
export interface RoundStats {
  round: number;
  final: boolean;
  /** Dirty pages harvested (round 0: all pages scanned). */
  pages: number;
  fullPages: number;
  zeroPages: number;
  deltaPages: number;
  /** Zero pages in round 0, sent as runs (one 16-byte record per run of zero pages). */
  skippedZeroPages: number;
  bytes: number;
  ms: number;
  /** Bytes per second on the link during the round. */
  throughput: number;
  /** Pages dirtied per second while the round ran. */
  dirtyRate: number;
  /** Throttle in force at the end of the round. */
  throttle: number;
  /** Estimated seconds to send what is dirty now. */
  etaMs: number;
  startMs: number;
  /** Milliseconds the source's syncDirty took before this round's harvest (dirty detection; 0 without the hook and in round 0). */
  syncMs: number;
}

/**
 * The parts of a downtime, in milliseconds, in the order they happen under
 * the freeze (docs/migration-protocol.md, "Downtime").
 */
export interface DowntimeParts {
  /** Taking the VM write lock: every vCPU frozen, every lease broken. */
  lock: number;
  /** The final harvest of the dirty bitmap. */
  harvest: number;
  /** Sending the final round (ROUND, PAGES, ROUND_END). */
  send: number;
  /** Quiescing and saving the devices and sending their states (DEVICE). */
  deviceState: number;
  /** From the last device state sent to the VERDICT: the digest on both sides (full verify: all RAM hashed) and one round trip. */
  verify: number;
  /** From the VERDICT to CONFIRM on the wire. */
  confirm: number;
  /** From CONFIRM to RESUMED: the destination resumes the VM and says so (one round trip). */
  resume: number;
}

/** Downtime by both definitions, and its parts. */
export interface Downtime {
  /** From the freeze until the last byte of the VM's state (final round, device states, digest) was sent: QEMU's definition. */
  toLastByteMs: number;
  /** From the freeze until the destination reported that it runs the VM (RESUMED): vmdev's definition, the one `downtimeMs` gives. */
  toRunningMs: number;
  parts: DowntimeParts;
}

/**
 * What the source predicted, before it froze the vCPUs, that the downtime
 * would cost: each part modelled from rates measured earlier in the same
 * migration (docs/migration-protocol.md, "Estimating the downtime").
 */
export interface DowntimeEstimate {
  /** The predicted freeze-to-running downtime (the sum of the parts). */
  ms: number;
  parts: DowntimeParts;
  /** Pages predicted for the final round (dirty when the estimate was made). */
  pages: number;
  /** Bytes predicted for the final round. */
  bytes: number;
  /** The rates the model used, all measured in this migration. */
  rates: {
    /** Link bandwidth, bytes per second. */
    bandwidth: number;
    /** Bytes per record in the last pre-copy round (with delta and zero pages). */
    bytesPerPage: number;
    /** Milliseconds per harvest (the last pre-copy round's). */
    harvestMs: number;
    /** Milliseconds to hash one page (from round 0's encoding of whole pages). */
    hashMsPerPage: number;
    /** Milliseconds for the digest over the page-hash table (timed once before the freeze). */
    digestMs: number;
    /** A round trip (PING to PONG, the median of three) with the destination caught up, timed just before the last estimate; 0 before the first. */
    rttMs: number;
  };
}

/** The source's account of a migration (the `info migrate` of vmdev). */
export interface MigrationReport {
  ok: boolean;
  /** Which side runs the VM now: "source" after a failure, "destination" after success, "unknown" when CONFIRM left but RESUMED never came back (the source stays paused). */
  running: "source" | "destination" | "unknown";
  error?: string;
  failedPhase?: Phase;
  /** The migration was cancelled (MigrateOptions.signal, MigrationSession.cancel) before the commit point: the source runs. */
  cancelled?: boolean;
  totalTimeMs: number;
  /** From freezing the vCPUs to the destination's confirmation that it resumed (= downtime.toRunningMs). */
  downtimeMs: number;
  /** Both downtime definitions and the parts; zeros until the freeze. */
  downtime: Downtime;
  /** The part of the downtime spent verifying: from the last device state sent to the verdict (full verify: both sides hashing all RAM). */
  verifyMs: number;
  /** Expected downtime from the last estimate before stop-and-copy (= estimate.ms). */
  expectedDowntimeMs: number;
  /** The last estimate before stop-and-copy, by part; null until one was made. */
  estimate: DowntimeEstimate | null;
  /**
   * Deferred verify: milliseconds the source spent, after the destination
   * resumed, hashing all of its (frozen) RAM against what it sent; 0 otherwise.
   */
  sourceCheckMs: number;
  /**
   * Deferred verify found source pages that changed after they were last
   * sent: the destination runs with memory that differs from the source's.
   * The migration completed (`ok`), but it is not verified; this says why.
   */
  integrityError?: string;
  rounds: number;
  /** Page records sent (full, zero marker, delta); pages inside round-0 zero runs are counted in skippedZeroPages. */
  pagesSent: number;
  /** Zero-page marker records (rounds ≥ 1). */
  zeroPages: number;
  deltaPages: number;
  fullPages: number;
  skippedZeroPages: number;
  bytesSent: number;
  /** Bytes a naive stream (every sent page whole) would have carried. */
  bytesUncompressed: number;
  throughputMBps: number;
  /**
   * Proven: the destination's memory (when it resumed) equals the source's
   * (when it froze). Full verify proves it before the destination runs (all
   * guest RAM hashed on both sides after the last page, the digests equal);
   * deferred verify proves it after (the pages as sent equal the pages as
   * applied, and the frozen source's RAM, hashed again, equals the pages as
   * sent); sent mode never sets it.
   */
  verified: boolean;
  /** How memory was checked: "full", "deferred" or "sent" (MigrateOptions.verify). */
  verifyMode: "full" | "deferred" | "sent";
  /** The destination holds every page as the source sent it (both modes check this). */
  pagesAsSent: boolean;
  /**
   * Full and deferred verify: source pages whose contents changed after they
   * were last sent and were not sent again (a write that escaped dirty
   * tracking, or one after the final round); null when the source's memory
   * was not read again (sent mode, or a failure before the check).
   */
  untrackedPages: number | null;
  /** The first of them. */
  untrackedFirstPage?: number;
  digest: string;
  /** Frames lost by devices (NICs) across the migration; null if no device reports it. */
  framesLost: number | null;
  throttleMax: number;
  ramBytes: number;
  mismatches?: Array<{ page: number; round: number }>;
  mismatchTotal?: number;
  roundStats: RoundStats[];
  /** Throughput samples over time: [ms since start, bytes/s]. */
  timeline: Array<[number, number]>;
}
