// Multicast membership through the real Linux guest: `ip maddr add/del` in a
// loop on eth0 (virtio_net), and after every step the multicast table the
// device holds (read from its live state by the inspector's decoder) equals
// the link-layer groups the guest lists (`ip maddr show dev eth0`). Linux's
// virtio_net hands the device its whole list on every change
// (VIRTIO_NET_CTRL_MAC_TABLE_SET, with the rx-mode commands); past the table's
// bound the device keeps none and accepts every multicast frame. The NIC is
// also a port of an in-wasm VirtualSwitch (beside an NE2000 driven by the
// synthetic guest driver): the port's Reconciler turns each whole-table
// rewrite into the switch's individual joins and leaves, so after every step
// the switch's membership for the port equals the guest's list too. Frames
// the host sends, and frames the NE2000 sends through the switch, to a joined
// and a non-joined group show the filter and the pruning at work.
import { describe, expect, it } from "vitest";
import type { VirtioNet } from "../../src/devices/virtio-net/device.js";
import { FILTER_MAC_ENTRIES } from "../../src/devices/virtio-net/inspect.js";
import { parseMac } from "../../src/net/mac.js";
import { VirtualSwitch } from "../../src/net/switch.js";
import { frame, ne2kNic, N_MAC } from "../net/switch-lan.js";
import { Responder } from "../../src/net/responder.js";
import { rng, testSeed } from "../support/core.js";
import { guestFiles } from "../support/v86-guest.js";
import { PEER_MAC, bootVirtioNetGuest, inspectNet } from "../support/virtio-net/v86-virtio-net.js";

const files = guestFiles();
if (typeof files === "string") console.warn(`v86 ip maddr test skipped: ${files}`);

/** The groups the loop joins and leaves. */
const GROUPS = Array.from({ length: 4 }, (_, i) => `01:00:5e:42:00:${(i + 1).toString(16).padStart(2, "0")}`);
const ROUNDS = 20;
/** Past the device's table: this many more groups, joined in one go. */
const BULK = FILTER_MAC_ENTRIES;
const bulkGroup = (i: number) => `01:00:5e:43:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`;
/** A group nobody joins. */
const STRANGER = "01:00:5e:7f:00:01";

const IP = "/sbin/ip";
const SHOW = `${IP} maddr show dev eth0 | sed 's/^/VMDEV-R /'`;

/** Link-layer groups in `ip maddr show dev eth0` output ("link  01:00:5e:00:00:01 [static]"). */
function linkGroups(out: string[]): string[] {
  return out.map((l) => l.match(/^\s*link\s+([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b/)?.[1]).filter((m): m is string => !!m);
}

/**
 * The network's membership for the guest's port equals what the guest joined:
 * the device's multicast filter as the wasm holds it — the exact groups, or,
 * past FILTER_MAC_ENTRIES, none kept and every multicast accepted. (A switch
 * that tracks group membership per port is asserted here as well.)
 */
async function expectSwitchMembership(sw: VirtualSwitch, device: VirtioNet, guestGroups: readonly string[], step: string): Promise<void> {
  const rec = sw.reconcilerOf(device)!;
  await rec.idle();
  const m = sw.membership(device);
  if (guestGroups.length > FILTER_MAC_ENTRIES) {
    expect([m.all, m.groups, rec.reason], step).toEqual([true, [], "overflow"]);
  } else {
    expect(m.all, step).toBe(false);
    expect([...m.groups].sort(), step).toEqual([...guestGroups].sort());
  }
  const { filter } = await inspectNet(device);
  const mc = filter.multicast;
  if (guestGroups.length > FILTER_MAC_ENTRIES) {
    expect(mc, step).toEqual({ overflow: true, entries: [] });
  } else {
    expect(mc.overflow, step).toBe(false);
    expect([...mc.entries].sort(), step).toEqual([...guestGroups].sort());
  }
  expect(filter.rxModes, step).not.toContain("promisc");
  expect(filter.rxModes, step).not.toContain("allmulti");
}

/** Raw frames to `group` (a local experimental ethertype: counted by the driver, dropped by the stack). */
function groupFrames(group: string, n: number, tag: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => {
    const f = new Uint8Array(60);
    f.set(parseMac(group), 0);
    f.set(parseMac(PEER_MAC), 6);
    f[12] = 0x88; f[13] = 0xb5;
    f[14] = tag; f[15] = i;
    return f;
  });
}

describe.skipIf(typeof files === "string")("virtio-net in v86: ip maddr add/del through the Linux guest", () => {
  it("after every ip maddr add/del the device's multicast table equals the guest's list; past 64 groups it overflows to all-multicast and back", async () => {
    if (typeof files === "string") return;
    const seed = testSeed();
    const g = await bootVirtioNetGuest(files, { peer: new Responder({ mac: PEER_MAC, ip: files.meta.guest.responderIp }), echo: !!process.env.VMDEV_GUEST_ECHO });
    const report: string[] = [`seed ${seed} (VMDEV_SEED)`];
    // The guest's NIC and an NE2000 on one switch: the guest's frames go to the switch, the host's still come through the link.
    const sw = VirtualSwitch.create(g.device.core);
    const ne = ne2kNic(g.device.core);
    sw.attach(g.device);
    sw.attach(ne.dev, { reconcile: false });
    const joinsSeen = { joins: 0, leaves: 0 };
    sw.onMembership((ev) => { if (ev.port === g.device.name && ev.group !== "all-multicast") joinsSeen[ev.joined ? "joins" : "leaves"]++; });
    const ctrlPerStep = new Map<number, number>();
    let steps = 0;
    /** Run `cmd` then list the guest's groups; check the device against the list. */
    const step = async (cmd: string, label: string, expectStatus = 0): Promise<string[]> => {
      const c0 = g.device.counters();
      const r = await g.command(`${cmd}; echo "VMDEV-R status $?"; ${SHOW}`);
      const status = Number(r.out.find((l) => l.startsWith("status "))?.slice(7));
      expect(status, `${label}: ${JSON.stringify(r.out)}`).toBe(expectStatus);
      const listed = linkGroups(r.out);
      await expectSwitchMembership(sw, g.device, listed, `${label} (seed ${seed})`);
      const c1 = g.device.counters();
      expect(Number(c1.ctrlErr - c0.ctrlErr) + Number(c1.ctrlMalformed - c0.ctrlMalformed), label).toBe(0);
      const n = Number(c1.ctrlOk - c0.ctrlOk);
      ctrlPerStep.set(n, (ctrlPerStep.get(n) ?? 0) + 1);
      steps++;
      return listed;
    };
    const t0 = performance.now();
    let i0 = 0;
    try {
      await g.ready();
      i0 = g.instructions;
      const v = await g.command(`${IP} -V 2>&1 | sed 's/^/VMDEV-R /'`);
      report.push(`guest: ${v.out.join(" ")}`);
      expect(v.out.some((l) => /iproute2-/.test(l))).toBe(true);
      const base = await step("true", "initial");
      report.push(`initial groups: ${base.join(" ")}`);
      expect(base.length).toBeGreaterThan(0);
      for (const grp of GROUPS) expect(base).not.toContain(grp);

      // The loop: each round toggles a random subset of the groups, one ip command a step.
      const rand = rng(seed);
      const joined = new Set<string>();
      let listed = base;
      for (let round = 0; round < ROUNDS; round++) {
        for (const grp of GROUPS) {
          if (rand() < 0.5) continue;
          const op = joined.has(grp) ? "del" : "add";
          listed = await step(`${IP} maddr ${op} ${grp} dev eth0`, `round ${round}: ${op} ${grp}`);
          if (op === "add") joined.add(grp); else joined.delete(grp);
          expect([...listed].sort(), `round ${round}: ${op} ${grp}`).toEqual([...base, ...joined].sort());
        }
      }
      report.push(`${ROUNDS} rounds: ${steps - 1} add/del steps over ${GROUPS.length} groups; joined at the end: ${[...joined].join(" ")}`);
      // Leaving a group the guest never joined fails and changes nothing.
      await step(`${IP} maddr del ${STRANGER} dev eth0 2>/dev/null`, "del of a non-member", 1);

      // Host → guest: frames to a joined group pass, to a non-joined one the filter drops.
      if (joined.size === 0) {
        await step(`${IP} maddr add ${GROUPS[0]} dev eth0`, "join one for the frames");
        joined.add(GROUPS[0]);
      }
      const member = [...joined][0];
      const rx0 = await g.readNumber("/sys/class/net/eth0/statistics/rx_packets"), d0 = g.device.counters(), l0 = g.link.counters().rxFrames;
      g.deliver([...groupFrames(member, 10, 1), ...groupFrames(STRANGER, 10, 2)]);
      await g.until(() => g.link.counters().rxFrames >= l0 + 20);
      const rx1 = await g.readNumber("/sys/class/net/eth0/statistics/rx_packets"), d1 = g.device.counters();
      report.push(`frames to ${member} (joined) and ${STRANGER} (not): device rx +${Number(d1.rxFrames - d0.rxFrames)}, filtered +${Number(d1.rxFiltered - d0.rxFiltered)}; guest rx_packets +${rx1 - rx0}`);
      expect(Number(d1.rxFiltered - d0.rxFiltered)).toBe(10);
      expect(Number(d1.rxFrames - d0.rxFrames)).toBe(10);
      expect(rx1 - rx0).toBe(10);

      // NE2000 → switch → guest: the joined group's frames reach the guest, the other group's are pruned at the switch.
      const p0 = sw.membership(g.device).counters, e0 = g.device.counters(), q0 = await g.readNumber("/sys/class/net/eth0/statistics/rx_packets");
      for (let i = 0; i < 10; i++) { ne.send(frame(member, N_MAC, 100 + i)); ne.send(frame(STRANGER, N_MAC, 200 + i)); }
      await g.until(() => g.device.counters().rxFrames >= e0.rxFrames + 10n, "10 frames from the switch");
      const p1 = sw.membership(g.device).counters, q1 = await g.readNumber("/sys/class/net/eth0/statistics/rx_packets");
      report.push(`NE2000 → switch: ${member} delivered +${Number(p1.mcDelivered - p0.mcDelivered)}, ${STRANGER} pruned +${Number(p1.mcPruned - p0.mcPruned)}; guest rx_packets +${q1 - q0}`);
      expect(Number(p1.mcPruned - p0.mcPruned)).toBe(10);
      expect(Number(p1.mcDelivered - p0.mcDelivered)).toBe(10);
      expect(q1 - q0).toBe(10);
      expect(Number(g.device.counters().rxFiltered - e0.rxFiltered)).toBe(0);

      // Past the table: the device keeps no groups and accepts every multicast frame.
      const bulk = Array.from({ length: BULK }, (_, i) => bulkGroup(i + 1));
      const many = await step(`for g in ${bulk.join(" ")}; do ${IP} maddr add $g dev eth0 || break; done`, `add ${BULK} more groups`);
      expect(many.length).toBe(base.length + joined.size + BULK);
      expect(many.length).toBeGreaterThan(FILTER_MAC_ENTRIES);
      const s0 = g.device.counters(), m0 = g.link.counters().rxFrames;
      g.deliver(groupFrames(STRANGER, 10, 3));
      await g.until(() => g.link.counters().rxFrames >= m0 + 10);
      const s1 = g.device.counters();
      report.push(`${many.length} groups: device table overflowed; frames to ${STRANGER}: rx +${Number(s1.rxFrames - s0.rxFrames)}, filtered +${Number(s1.rxFiltered - s0.rxFiltered)}`);
      expect(Number(s1.rxFiltered - s0.rxFiltered)).toBe(0);
      expect(Number(s1.rxFrames - s0.rxFrames)).toBe(10);
      // One group back under the bound is not enough while the list is still past it; all of them is.
      await step(`${IP} maddr del ${bulk[0]} dev eth0`, `del one of ${BULK}`);
      const back = await step(`for g in ${bulk.slice(1).join(" ")}; do ${IP} maddr del $g dev eth0 || break; done`, `del the rest of ${BULK}`);
      expect([...back].sort()).toEqual([...base, ...joined].sort());
      const f0 = g.device.counters(), n0 = g.link.counters().rxFrames;
      g.deliver(groupFrames(STRANGER, 10, 4));
      await g.until(() => g.link.counters().rxFrames >= n0 + 10);
      expect(Number(g.device.counters().rxFiltered - f0.rxFiltered)).toBe(10);
      report.push(`ctrl commands per step (count: steps): ${[...ctrlPerStep].sort((a, b) => a[0] - b[0]).map(([k, n]) => `${k}: ${n}`).join(", ")}; ${steps} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${((g.instructions - i0) / 1e9).toFixed(2)}e9 guest instructions`);
      report.push(`switch membership events for the guest's port: ${joinsSeen.joins} joins, ${joinsSeen.leaves} leaves; reconciler ${JSON.stringify(sw.reconcilerOf(g.device)!.counters)}`);
      const c = g.device.counters();
      for (const k of ["ctrlErr", "ctrlMalformed", "rxDropped", "badAccess", "needsReset"]) expect(Number(c[k]), k).toBe(0);
    } finally {
      report.push(`boot ${(g.bootInstructions / 1e9).toFixed(2)}e9 instructions; ${((performance.now() - t0) / 1000).toFixed(1)} s from power-on`);
      console.log(`ip maddr (virtio-net, v86):\n${report.join("\n")}`);
      await g.stop();
      sw.destroy();
    }
  }, 1_500_000);
});
