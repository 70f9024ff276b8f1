// Guest traffic on an e1000 across a real live migration, in process: a
// Machine with vCPU workers whose e1000 carries sequence-numbered requests to
// a host-side echo peer migrates through the migration engine (pre-copy,
// stop-and-copy with quiesce and device states, digest verify) into a fresh
// Machine; the driver model (its rings and buffers in the copied guest RAM)
// continues on the restored device and every request is answered exactly once.
//
// The guest driver runs on a host timer only while it holds a lease on its
// machine, as traffic.ts does for virtio-net: the migration's write lock
// expires the lease, the driver stops like a frozen vCPU, and frames for the
// guest wait on the link meanwhile (never in guest RAM after the save).
import { describe, it, expect } from "vitest";
import { ConfigTree } from "../../../src/config/tree.js";
import { Machine } from "../../../src/machine/machine.js";
import { machinePciBus } from "../../../src/machine/pci-bus.js";
import { MachineE1000 } from "../../../src/devices/e1000/machine.js";
import { E1000Driver } from "../../../src/guest/e1000/driver.js";
import { GuestRam } from "../../../src/guest/virtio/guest-ram.js";
import { migrate, receiveMigration, portPair, type MigrationSource, type MigrationDestination } from "../../../src/migration/index.js";
import type { Lease } from "../../../src/sync/vm-lock.js";
import { frame, mac, seqOf } from "../../../src/guest/virtio/frames.js";
import { Status } from "../../../src/status.js";
import { debugWasm } from "../../support/core.js";
import { until } from "../../support/wait.js";

const CFG = "memory.size=16M\ncpus=2\nworkload.pages=3584\nworkload.rate=4000\npci.0.3.0.device=e1000\npci.0.3.0.mac=52:54:00:00:00:03\npci.0.3.0.backlog=512\n";
const HEAP: [number, number] = [14 << 20, 16 << 20];
const PEER = mac("02:00:00:00:00:99");
const machine = (startVcpus: boolean) => { const c = new ConfigTree(); c.load(CFG); return Machine.create(c, { module: debugWasm(), variant: "debug", startVcpus }); };
const nicOf = (m: Machine) => m.devicesByNode.get("pci.0.3.0") as MachineE1000;

/** Requests out, replies back, counted by sequence number, the driver under a lease. */
function traffic(m0: Machine, drv: E1000Driver) {
  let m = m0;
  const st = { sent: 0, received: 0, duplicated: 0, outOfOrder: 0, dropped: 0, pauses: 0 };
  const seen = new Set<number>();
  let maxSeen = -1;
  const inbox: Uint8Array[] = [];
  let lease: Lease | null = null, signing = false, up = false, stopped = false, sending = true;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const wire = () => { nicOf(m).nic.onTransmit = (f) => { if (f[12] === 0x88 && f[18] === 0x51) { const r = f.slice(); r.set(f.subarray(6, 12), 0); r.set(PEER, 6); r[18] = 0x52; inbox.push(r); } }; };
  wire();
  const sign = () => {
    if (signing || lease) return;
    signing = true;
    const mm = m;
    mm.signLease(() => { up = false; st.pauses++; return true; }, { timeoutMs: 1000 }).then((l) => {
      signing = false;
      if (stopped || mm !== m) { l.break(); return; }
      lease = l; up = true;
    }, () => { signing = false; });
  };
  const holds = () => {
    if (lease && (lease.poll() || lease.broken)) { lease.break(); lease = null; up = false; }
    if (!lease) { sign(); return false; }
    return up;
  };
  const tick = () => {
    timer = null;
    if (stopped) return;
    try {
      if (!holds()) return;
      drv.service();
      for (const rx of drv.takeReceived()) {
        if (rx.data[18] !== 0x52) continue;
        const s = seqOf(rx.data);
        if (seen.has(s)) st.duplicated++; else { seen.add(s); st.received++; if (s < maxSeen) st.outOfOrder++; else maxSeen = s; }
      }
      // Replies go to the device after the driver ran: some wait on the link, some in the backlog, some in the ring.
      for (let n = inbox.length; n > 0; n--) { if (nicOf(m).nic.receive(inbox.shift()!) === Status.ERR_FULL) st.dropped++; }
      for (let i = 0; sending && i < 16 && st.sent - st.received < 64; i++) {
        const f = frame({ dst: PEER, src: drv.mac, seq: st.sent, length: 128, ethertype: 0x88b5 });
        f[18] = 0x51;
        if (!drv.transmit(f)) break;
        st.sent++;
      }
    } finally { if (!stopped) timer = setTimeout(tick, 1); }
  };
  timer = setTimeout(tick, 0);
  return {
    stats: () => ({ ...st, inFlight: st.sent - st.received, linkQueued: inbox.length }),
    repoint(m2: Machine) {
      lease?.break(); lease = null; up = false;
      nicOf(m).nic.onTransmit = null;
      m = m2;
      const e = machinePciBus(m2).find(0, 3, 0)!;
      drv.rebind(e.fn, new GuestRam(m2.core));
      wire();
      sign();
    },
    async stop() {
      sending = false;
      await until(() => st.received >= st.sent, "the last replies");
      stopped = true;
      if (timer) clearTimeout(timer);
      lease?.break();
      return { ...st };
    },
  };
}

describe("e1000 across live migration", () => {
  it("migrates a Machine mid-traffic: digest verified, framesLost 0, traffic lost 0 and duplicated 0", async () => {
    const m1 = await machine(true);
    let m2: Machine | null = null;
    try {
      const e = machinePciBus(m1).find(0, 3, 0)!;
      const drv = new E1000Driver(e.fn, new GuestRam(m1.core), { heap: HEAP, rxDescs: 8, txDescs: 64 });
      { const l = await m1.signLease(() => true); drv.init(); l.break(); }
      const t = traffic(m1, drv);
      await until(() => t.stats().received >= 1000, "1000 replies before the migration");
      const src: MigrationSource = { core: m1.core, devices: m1.devices, writeLock: () => m1.writeLock(), setThrottle: () => {} };
      const [a, b] = portPair();
      const dest = receiveMigration(b, async (): Promise<MigrationDestination> => {
        m2 = await machine(false);
        return { core: m2.core, devices: m2.devices, resume: () => {} };
      });
      let atFreeze = t.stats();
      let backlogAtFreeze = -1;
      const report = await migrate(src, a, { downtimeLimitMs: 20, maxRounds: 10, autoConverge: false, onFrozen: () => { atFreeze = t.stats(); backlogAtFreeze = nicOf(m1).nic.backlogLength; } });
      const result = await dest;
      expect(report.error).toBeUndefined();
      expect(report.ok && result.ok && report.verified).toBe(true);
      expect(report.framesLost).toBe(0);
      console.log(`at freeze: ${JSON.stringify(atFreeze)}, device backlog ${backlogAtFreeze}; downtime ${report.downtimeMs.toFixed(1)} ms`);
      expect(atFreeze.inFlight).toBeGreaterThan(0);       // frames were in flight when the VM froze
      expect(nicOf(m1).nic.counters().rxBacklogged).toBeGreaterThan(0n); // and the 8-descriptor ring made the backlog carry some
      expect(backlogAtFreeze).toBeGreaterThan(0);                            // some of them in the saved state
      const sentAtFreeze = t.stats().sent;
      t.repoint(m2!);
      await until(() => t.stats().received >= sentAtFreeze + 1000, "1000 replies after the migration");
      const s = await t.stop();
      expect([s.duplicated, s.outOfOrder, s.dropped]).toEqual([0, 0, 0]);
      expect(s.received).toBe(s.sent);
      expect(s.pauses).toBeGreaterThanOrEqual(1);
      const c = nicOf(m2!).nic.counters();
      expect([c.rxDropped, c.txMalformed, c.rxMalformed, c.ringFaults, c.badAccess]).toEqual([0n, 0n, 0n, 0n, 0n]);
    } finally {
      await m1.destroy();
      await (m2 as Machine | null)?.destroy();
    }
  });
});
