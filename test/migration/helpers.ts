// Shared set-up for the migration suites: a stand-in source with vCPU
// workers dirtying memory, an in-process link, a destination factory.
import { VmCore } from "../../src/index.js";
import {
  migrate, receiveMigration, portPair, type MigratableDevice, type MigrateOptions, type ReceiveOptions, type MigrationReport, type ReceiveResult, type Transport,
} from "../../src/migration/index.js";
import { StandInSource, StandInDestination, fillRandom, FaultyTransport, type Fault } from "../../src/testing/index.js";
import { debugWasm } from "../support/core.js";

/** A device model with an opaque state, to carry DEVICE frames without a real NIC. */
export class FakeDevice implements MigratableDevice {
  readonly kind = 0x7001;
  state: Uint8Array;
  announced = 0;
  quiesced = 0;
  rejectRestore = false;
  constructor(readonly name: string, bytes: number[] = [1, 2, 3]) { this.state = new Uint8Array(bytes); }
  saveState(): Uint8Array { return this.state.slice(); }
  restoreState(blob: Uint8Array): number { if (this.rejectRestore) return 16; this.state = blob.slice(); return 0; }
  reset(): void { this.state = new Uint8Array(0); }
  quiesce(): void { this.quiesced++; }
  announce(): void { this.announced++; }
}

export interface Rig {
  src: StandInSource;
  dest?: StandInDestination;
  destDevices: FakeDevice[];
  srcDevices: FakeDevice[];
}

export async function rig(opts: { ramMiB?: number; vcpus?: number; dirtyMiBps?: number; pattern?: "uniform" | "hot" | "sequential"; fill?: number; workingSet?: number } = {}): Promise<Rig> {
  const ramBytes = (opts.ramMiB ?? 8) << 20;
  const srcDevices = [new FakeDevice("net0", [9, 8, 7, 6])];
  const src = await StandInSource.create({ module: debugWasm(), variant: "debug", ramBytes, vcpus: opts.vcpus ?? 2,
    dirtyBytesPerSec: (opts.dirtyMiBps ?? 4) << 20, pattern: opts.pattern ?? "hot", devices: srcDevices, workingSet: opts.workingSet });
  // Half the RAM random, the rest zero: both zero markers and full pages travel.
  fillRandom(src.core, opts.fill ?? ramBytes / 2, 3);
  return { src, destDevices: [new FakeDevice("net0", [])], srcDevices };
}

/** Run one in-process migration, optionally with a fault on either side's send path (or any other wrapper of the source's link). */
export async function runMigration(r: Rig, o: { mig?: MigrateOptions; recv?: ReceiveOptions; srcFault?: Fault; destFault?: Fault; srcWrap?: (t: Transport) => Transport } = {}): Promise<{
  report: MigrationReport; result: ReceiveResult; srcLink: Transport; destLink: Transport;
}> {
  const [a, b] = portPair();
  const srcLink = (o.srcWrap ?? ((t: Transport) => t))(o.srcFault ? new FaultyTransport(a, o.srcFault) : a);
  const destLink = o.destFault ? new FaultyTransport(b, o.destFault) : b;
  const factory = async ({ ramBytes }: { ramBytes: number }) => {
    r.dest = await StandInDestination.create({ module: debugWasm(), variant: "debug", ramBytes, devices: r.destDevices });
    return r.dest;
  };
  const [report, result] = await Promise.all([
    migrate(r.src, srcLink, { downtimeLimitMs: 50, maxRounds: 8, ...o.mig }),
    receiveMigration(destLink, factory, o.recv),
  ]);
  return { report, result, srcLink, destLink };
}

/** Digest of all guest RAM of `core` (full re-hash). */
export function fullDigest(core: VmCore): bigint {
  const e = core.exports;
  if (e.mig_init(0) !== 0 || e.mig_hash_range(0, core.guest.pages) !== 0) throw new Error("hash failed");
  return BigInt.asUintN(64, e.mig_digest(0n));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
