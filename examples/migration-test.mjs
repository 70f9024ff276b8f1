// Testing a live migration in Node, in one process: a Machine (guest RAM,
// vCPU workers dirtying it, a virtio-net) exchanges frames with a peer VM
// while it migrates into a fresh Machine; the example prints the migration's
// report and what happened to the frames.
//
//   1. The source: a Machine from a config (as `vmdev run -f` reads it). The
//      vCPU workload stays below the last 2 MiB of RAM, where the traffic's
//      driver model keeps its rings and buffers.
//   2. Traffic: the synthetic guest's virtio-net driver on the source's NIC
//      sends sequence-numbered frames; the peer echoes each one.
//   3. The destination: a frozen Machine built from the same config when the
//      stream's HELLO arrives (`machineDestinationFactory`); at resume the
//      traffic is re-pointed to it.
//   4. `migrate()` runs pre-copy rounds, stop-and-copy under the VM write
//      lock (devices quiesced and saved), and verifies that destination
//      memory equals source memory (XXH64 of all guest RAM on both sides).
//
//   node examples/migration-test.mjs          (after `npm run build`)
//
// Exits 1 if the migration failed or a frame was lost or duplicated.
import { pathToFileURL } from "node:url";
import {
  ConfigTree, Machine, loadModule, createNetPeer, startNetTraffic,
  MachineSource, machineDestinationFactory, migrate, receiveMigration, portPair,
} from "vmdev";

const CONFIG = `
memory.size=64M
cpus=2
# 64 MiB = 16384 pages; the last 512 (2 MiB) are the traffic driver's.
workload.pages=15872
workload.pattern=hot
workload.rate=4000
pci.0.3.0.device=virtio-net
pci.0.3.0.mac=52:54:00:00:00:03
`;

/** Resolve once `cond()` holds (checked every 5 ms); a watchdog throws after `ms`. */
async function until(cond, what, ms = 30_000) {
  for (const end = performance.now() + ms; !cond();) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Run the migration; returns the report, the destination's result and the traffic's final figures. */
export async function run() {
  const module = await loadModule("release");
  const config = new ConfigTree();
  config.load(CONFIG);
  const source = await Machine.create(config, { module, variant: "release" });
  const peer = await createNetPeer({ module, variant: "release" });
  let destination = null;
  try {
    const traffic = await startNetTraffic(source, peer);
    // Frames in flight before the first page moves (the traffic runs on a 1 ms timer).
    await until(() => traffic.stats().received >= 200, "200 answered frames");
    const answeredBefore = traffic.stats().received;

    const [sourceEnd, destinationEnd] = portPair();
    let inFlightAtFreeze = 0, answeredAtResume = 0;
    const received = receiveMigration(destinationEnd, machineDestinationFactory(config, {
      module, variant: "release",
      onCreated: (d) => { destination = d; },
      onResume: (d) => { answeredAtResume = traffic.stats().received; traffic.repoint(d.machine); },
    }));
    const report = await migrate(new MachineSource(source), sourceEnd, {
      downtimeLimitMs: 50,
      onFrozen: () => { inFlightAtFreeze = traffic.stats().inFlight; },
    });
    const result = await received;
    // Let the destination answer frames of its own before stopping (or the resumed source, if the migration failed).
    const mark = report.ok ? answeredAtResume : traffic.stats().received;
    await until(() => traffic.stats().received >= mark + 200, "200 frames answered after the migration");
    const frames = await traffic.stop();
    return { report, result, frames, answeredBefore, inFlightAtFreeze, answeredAtResume };
  } finally {
    await source.destroy();
    await destination?.machine.destroy();
    peer.nic.destroy();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { report: r, result, frames: f, answeredBefore, inFlightAtFreeze, answeredAtResume } = await run();
  const MiB = (b) => (b / 2 ** 20).toFixed(1);
  console.log(`migration: ${r.ok ? "completed" : `failed in ${r.failedPhase}: ${r.error}`}; the VM runs on the ${r.running}`);
  console.log(`  ${r.rounds} rounds, ${r.pagesSent} pages sent (${r.fullPages} whole, ${r.deltaPages} XBZRLE deltas, ${r.zeroPages} zero markers, ${r.skippedZeroPages} zero pages skipped)`);
  console.log(`  ${MiB(r.bytesSent)} MiB on the wire for ${MiB(r.ramBytes)} MiB of guest RAM, ${r.throughputMBps.toFixed(0)} MB/s; total ${r.totalTimeMs.toFixed(0)} ms, downtime ${r.downtimeMs.toFixed(1)} ms (verify ${r.verifyMs.toFixed(1)} ms)`);
  console.log(`  destination: ${result.ok ? "resumed" : `refused: ${result.error}`}; memory ${r.verified ? `equals the source's: digest ${r.digest} (all guest RAM hashed on both sides)` : "NOT verified"}`);
  console.log(`frames: ${f.sent} sent, ${f.received} answered (${answeredBefore} before the migration, ${r.ok ? `${f.received - answeredAtResume} on the destination` : "none on a destination"}), ` +
    `${inFlightAtFreeze} in flight at the freeze; lost ${f.lost}, duplicated ${f.duplicated}, out of order ${f.outOfOrder}`);
  if (!r.ok || !r.verified || f.lost || f.duplicated) process.exitCode = 1;
}
