// The NE2000 as a Machine device: the config tree (`pci.B.S.F.device=ne2k`
// and its keys), the function on the machine's PCI bus, and a live migration
// inside a Machine with vCPU workers running, in the middle of traffic
// between the driver model and a host peer: lost 0, duplicated 0.
import { describe, expect, it } from "vitest";
import { ConfigTree, ConfigError } from "../../../src/config/tree.js";
import { Machine } from "../../../src/machine/machine.js";
import { machinePciBus } from "../../../src/machine/pci-bus.js";
import { VmCore } from "../../../src/vm-core.js";
import { migrate, receiveMigration, portPair, type MigrationSource, type MigrationDestination } from "../../../src/migration/index.js";
import { MachineNe2k } from "../../../src/devices/ne2k/machine.js";
import { Ne2kDriver, IrqLine, pciPortIo, type PortIo } from "../../../src/guest/ne2k/index.js";
import type { Lease } from "../../../src/sync/vm-lock.js";
import { Status } from "../../../src/status.js";
import { debugWasm } from "../../support/core.js";
import { until } from "../../support/wait.js";
import { ethFrame, seqOf } from "../../support/ne2k/rig.js";

const NODE = "pci.0.4.0";
const MAC = "52:54:00:00:00:04";
const CFG = `memory.size=16M\ncpus=2\nworkload.rate=4000\n${NODE}.device=ne2k\n${NODE}.mac=${MAC}\n${NODE}.backlog=64\n`;
const machine = (startVcpus: boolean, cfg = CFG) => { const c = new ConfigTree(); c.load(cfg); return Machine.create(c, { module: debugWasm(), variant: "debug", startVcpus }); };
const nicOf = (m: Machine) => m.devicesByNode.get(NODE) as MachineNe2k;

describe("NE2000 in the machine config", () => {
  it("builds an RTL8029AS at the node, on the machine's PCI bus, with its keys", async () => {
    const m = await machine(false);
    try {
      const nic = nicOf(m);
      expect(nic).toBeInstanceOf(MachineNe2k);
      const found = machinePciBus(m).findById(0x10ec, 0x8029);
      expect(found.map((e) => e.node)).toEqual([NODE]);
      const drv = new Ne2kDriver(pciPortIo(found[0].fn));
      found[0].fn.configWrite(4, 2, 1);
      expect([...drv.probe().mac]).toEqual(MAC.split(":").map((x) => parseInt(x, 16)));
    } finally { await m.destroy(); }
  });

  it("refuses a multicast MAC, a backlog out of range, an unknown key", async () => {
    for (const [bad, key] of [[`${NODE}.mac=01:00:00:00:00:01`, "mac"], [`${NODE}.backlog=0`, "backlog"], [`${NODE}.backlog=4097`, "backlog"], [`${NODE}.queues=2`, "queues"], [`${NODE}.backend=switch:`, "backend"], [`${NODE}.backend=bridge`, "backend"]]) {
      await expect(machine(false, `memory.size=16M\n${NODE}.device=ne2k\n${bad}\n`)).rejects.toThrow(ConfigError);
      await expect(machine(false, `memory.size=16M\n${NODE}.device=ne2k\n${bad}\n`)).rejects.toThrow(new RegExp(`${NODE}\\.${key}`));
    }
  });

  it("backend=loopback receives what the guest sends", async () => {
    const m = await machine(false, `memory.size=16M\n${NODE}.device=ne2k\n${NODE}.mac=${MAC}\n${NODE}.backend=loopback\n`);
    try {
      const fn = machinePciBus(m).find(0, 4, 0)!.fn;
      fn.configWrite(4, 2, 1);
      const drv = new Ne2kDriver(pciPortIo(fn));
      drv.probe(); drv.init();
      drv.transmit(ethFrame(MAC, 9));
      drv.service();
      expect(drv.takeReceived().map(seqOf)).toEqual([9]);
    } finally { await m.destroy(); }
  });
});

/**
 * Traffic from the machine's NE2000 (the driver model, under a lease like a
 * device worker, so a writer such as migration's stop-and-copy stops it) to
 * a host echo peer and back. Frames toward the machine wait on the link while
 * its side is stopped.
 */
function ne2kTraffic(m0: Machine, window = 32) {
  let m = m0;
  let fn = machinePciBus(m).find(0, 4, 0)!.fn;
  const line = new IrqLine();
  const io: PortIo = { read: (o, w) => fn.barRead(0, o, w), write: (o, w, v) => fn.barWrite(0, o, w, v) };
  const drv = new Ne2kDriver(io, { dataWidth: 32, rxBudget: 9 });
  let unlisten = m.interrupts.listen({ msi: () => {}, intx: (src, pin, level) => { if (src === nicOf(m).name) line.intx(pin, level); } });
  const toMachine: Uint8Array[] = [];
  const st = { sent: 0, received: 0, duplicated: 0, outOfOrder: 0, pauses: 0, lost: 0 };
  const seen = new Set<number>();
  let maxSeen = -1;
  const wire = () => { nicOf(m).nic.onTransmit = (f) => { const r = f.slice(); r.set(f.subarray(6, 12), 0); r.set(f.subarray(0, 6), 6); toMachine.push(r); }; };
  wire();
  let lease: Lease | null = null, signing = false, up = false, stopped = false, sending = true, gen = 0;
  const sign = () => {
    if (signing || lease || stopped) return;
    signing = true;
    const g = gen;
    m.signLease(() => { up = false; st.pauses++; return true; }, { timeoutMs: 1000 }).then((l) => {
      signing = false;
      if (g !== gen || stopped) { l.break(); return; }
      lease = l; up = true;
    }, () => { signing = false; });
  };
  const holds = () => {
    if (lease && (lease.poll() || lease.broken)) { lease.break(); lease = null; up = false; }
    if (!lease) { sign(); return false; }
    return up;
  };
  let timer: ReturnType<typeof setTimeout> | null = null;
  const tick = () => {
    timer = null;
    if (stopped) return;
    if (holds()) {
      // Replies wait on the link until the machine's side runs: deliver, then let the driver work.
      for (let n = toMachine.length; n > 0; n--) { const s = nicOf(m).nic.receive(toMachine.shift()!); if (s !== Status.OK) st.lost++; }
      drv.service();
      for (const f of drv.takeReceived()) {
        const seq = seqOf(f);
        if (seen.has(seq)) st.duplicated++;
        else { seen.add(seq); st.received++; if (seq < maxSeen) st.outOfOrder++; else maxSeen = seq; }
      }
      for (let i = 0; sending && i < 8 && st.sent - st.received < window; i++) {
        if (!drv.transmit(ethFrame("52:54:00:00:00:02", st.sent, 64 + (st.sent % 1400), MAC))) break;
        st.sent++;
      }
    }
    timer = setTimeout(tick, 1);
  };
  return {
    line, st, drv,
    async start() {
      lease = await m.signLease(() => { up = false; st.pauses++; return true; }, { timeoutMs: 5000 });
      up = true;
      fn.configWrite(4, 2, 1);
      drv.probe(); drv.init();
      timer = setTimeout(tick, 0);
    },
    repoint(next: Machine) {
      gen++;
      lease?.break(); lease = null; up = false;
      unlisten();
      nicOf(m).nic.onTransmit = null;
      m = next;
      fn = machinePciBus(m).find(0, 4, 0)!.fn;
      unlisten = m.interrupts.listen({ msi: () => {}, intx: (src, pin, level) => { if (src === nicOf(m).name) line.intx(pin, level); } });
      line.intx(0, nicOf(m).nic.irqLevel);
      wire();
      sign();
    },
    async stop() {
      sending = false;
      await until(() => st.received >= st.sent, "every request answered").catch(() => {});
      stopped = true;
      if (timer) clearTimeout(timer);
      lease?.break();
      unlisten();
      return { ...st, inFlight: st.sent - st.received };
    },
  };
}

describe("NE2000 live migration inside a Machine", () => {
  it("migrates mid-traffic with vCPUs running: digest verified, framesLost 0, traffic lost 0 and duplicated 0", async () => {
    const m1 = await machine(true);
    let m2: Machine | null = null;
    try {
      const t = ne2kTraffic(m1);
      await t.start();
      await until(() => t.st.received >= 500, "500 replies before the migration");
      const src: MigrationSource = { core: m1.core, devices: m1.devices, writeLock: () => m1.writeLock(), setThrottle: () => {} };
      const [a, b] = portPair();
      const dest = receiveMigration(b, async (): Promise<MigrationDestination> => {
        m2 = await machine(false);
        return { core: m2.core, devices: m2.devices, resume: () => {} };
      });
      let atFreeze = { ...t.st };
      const report = await migrate(src, a, { downtimeLimitMs: 20, maxRounds: 10, autoConverge: false, onFrozen: () => { atFreeze = { ...t.st }; } });
      const result = await dest;
      expect(report.error).toBeUndefined();
      expect(report.ok && result.ok && report.verified).toBe(true);
      expect(report.framesLost).toBe(0);
      expect(t.st.sent).toBe(atFreeze.sent); // the driver stopped for the write lock
      t.repoint(m2!);
      const sentAtMove = t.st.sent;
      await until(() => t.st.received >= sentAtMove + 500, "500 replies after it");
      const s = await t.stop();
      expect([s.lost, s.duplicated, s.outOfOrder, s.inFlight]).toEqual([0, 0, 0, 0]);
      expect(s.pauses).toBeGreaterThanOrEqual(1);
      expect(s.sent).toBeGreaterThan(sentAtMove);
      expect(Number(nicOf(m2!).nic.counters().rxFrames)).toBeGreaterThan(0);
      expect(nicOf(m2!).framesLost()).toBe(0);
      expect(t.line.edges).toBeGreaterThan(0);
    } finally {
      await m1.destroy();
      await (m2 as Machine | null)?.destroy();
    }
  });
});
