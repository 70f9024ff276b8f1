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
  /** From freezing the vCPUs to the destination's confirmation that it resumed. */
  downtimeMs: number;
  /** The part of the downtime spent verifying: from the last device state sent to the verdict (full verify: both sides hashing all RAM). */
  verifyMs: number;
  /** Expected downtime from the last estimate before stop-and-copy. */
  expectedDowntimeMs: number;
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
   * Proven: the destination's memory equals the source's. Only full verify
   * proves it (all guest RAM hashed on both sides after the last page, the
   * digests equal); sent mode never sets it.
   */
  verified: boolean;
  /** What the digests compared: "full" (all guest RAM, re-read on both sides) or "sent" (the hashes of the pages as sent and as applied). */
  verifyMode: "full" | "sent";
  /** The destination holds every page as the source sent it (both modes check this). */
  pagesAsSent: boolean;
  /**
   * Full verify: source pages whose contents changed after they were last
   * sent and were not sent again (a write that escaped dirty tracking, or one
   * after the final round); null when the source's memory was not read again
   * (sent mode, or a failure before verify).
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
