// Guest traffic across a real live migration, in process: a Machine with vCPU
// workers and a virtio-net exchanging frames with a peer VM migrates through
// the migration engine (pre-copy, stop-and-copy with quiesce and device
// states, digest verify) into a fresh Machine; the traffic is re-pointed and
// finishes with no frame lost or duplicated. The Machine ↔ migration adapters
// here are the minimal ones a test needs, not the product's wiring.
import { describe, it, expect } from "vitest";
import { ConfigTree } from "../../../src/config/tree.js";
import { Machine } from "../../../src/machine/machine.js";
import { migrate, receiveMigration, portPair, Msg, type MigrationSource, type MigrationDestination } from "../../../src/migration/index.js";
import { FaultyTransport } from "../../../src/testing/index.js";
import { createNetPeer, startNetTraffic } from "../../../src/guest/traffic.js";
import { debugWasm } from "../../support/core.js";
import { until } from "../../support/wait.js";

const CFG = "memory.size=16M\ncpus=2\nworkload.pages=3584\nworkload.rate=4000\npci.0.3.0.device=virtio-net\npci.0.3.0.mac=52:54:00:00:00:03\n";
const machine = (startVcpus: boolean) => { const c = new ConfigTree(); c.load(CFG); return Machine.create(c, { module: debugWasm(), variant: "debug", startVcpus }); };

/** Source adapter and an in-process destination that builds a fresh Machine; `target()` is that Machine once HELLO arrived. */
async function migrationPair(m1: Machine) {
  const src: MigrationSource = { core: m1.core, devices: m1.devices, writeLock: () => m1.writeLock(), setThrottle: () => {} };
  const [a, b] = portPair();
  let m2: Machine | null = null;
  const dest = receiveMigration(b, async (): Promise<MigrationDestination> => {
    m2 = await machine(false);
    return { core: m2.core, devices: m2.devices, resume: () => {} };
  });
  return { src, link: a, dest, target: () => m2 };
}

describe("guest traffic across live migration", () => {
  it("migrates a Machine mid-traffic: digest verified, framesLost 0, traffic lost 0 and duplicated 0", async () => {
    const m1 = await machine(true);
    const peer = await createNetPeer({ module: debugWasm(), variant: "debug" });
    let pair: Awaited<ReturnType<typeof migrationPair>> | null = null;
    try {
      const traffic = await startNetTraffic(m1, peer, { window: 64, rxBuffers: 32 });
      await until(() => traffic.stats().received >= 1000);
      pair = await migrationPair(m1);
      const { src, link: a, dest } = pair;
      let atFreeze = traffic.stats();
      const report = await migrate(src, a, { downtimeLimitMs: 20, maxRounds: 10, autoConverge: false, onFrozen: () => { atFreeze = traffic.stats(); } });
      const result = await dest;
      const m2 = pair.target();
      expect(report.error).toBeUndefined();
      expect(report.ok && result.ok && report.verified).toBe(true);
      expect(report.framesLost).toBe(0);
      const sentAtFreeze = traffic.stats().sent;
      expect(sentAtFreeze).toBe(atFreeze.sent);   // the driver stopped for the write lock
      expect(atFreeze.inFlight).toBeGreaterThan(0); // and frames were in flight when it did
      traffic.repoint(m2!);
      await until(() => traffic.stats().received >= sentAtFreeze + 1000);
      const s = await traffic.stop();
      expect(s.repoints).toBe(1);
      expect([s.lost, s.duplicated, s.outOfOrder]).toEqual([0, 0, 0]);
      expect(s.received).toBe(s.sent);
      expect(s.sent).toBeGreaterThan(sentAtFreeze);
    } finally {
      await m1.destroy();
      await pair?.target()?.destroy();
    }
  });

  it("a migration that fails in stop-and-copy leaves the source running its traffic: lost 0, duplicated 0", async () => {
    const m1 = await machine(true);
    const peer = await createNetPeer({ module: debugWasm(), variant: "debug" });
    let pair: Awaited<ReturnType<typeof migrationPair>> | null = null;
    try {
      const traffic = await startNetTraffic(m1, peer, { window: 64, rxBuffers: 32 });
      await until(() => traffic.stats().received >= 500);
      pair = await migrationPair(m1);
      const { src, link: a, dest } = pair;
      const report = await migrate(src, new FaultyTransport(a, { type: Msg.DIGEST, action: "drop" }), { downtimeLimitMs: 20, maxRounds: 5, autoConverge: false });
      await dest;
      expect(report.ok).toBe(false);
      expect(report.running).toBe("source");
      const at = traffic.stats();
      await until(() => traffic.stats().received >= at.sent + 500);
      const s = await traffic.stop();
      expect([s.lost, s.duplicated, s.outOfOrder, s.repoints]).toEqual([0, 0, 0, 0]);
      expect(s.pauses).toBeGreaterThanOrEqual(1);
    } finally {
      await m1.destroy();
      await pair?.target()?.destroy();
    }
  });
});
