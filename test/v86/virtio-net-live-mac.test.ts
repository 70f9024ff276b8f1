// A live MAC change through the real Linux guest: while `ping -A` floods the
// host's responder from the guest, `ip link set eth0 address` changes eth0's
// address. Linux's virtio_net sends VIRTIO_NET_CTRL_MAC_ADDR_SET on the control
// queue (the device offers CTRL_VQ, CTRL_RX and CTRL_MAC_ADDR); the device's
// filter must take the new primary MAC at once, so the responder's replies to
// the new address are received and only the replies in flight to the old one
// are lost. The guest's gratuitous ARP (arp_notify) announces the new address.
import { describe, expect, it } from "vitest";
import { Responder, parseIpv4 } from "../../src/net/responder.js";
import { formatMac } from "../../src/net/mac.js";
import { guestFiles } from "../support/v86-guest.js";
import { GUEST_MAC, PEER_MAC, bootVirtioNetGuest, inspectNet } from "../support/virtio-net/v86-virtio-net.js";

const files = guestFiles();
if (typeof files === "string") console.warn(`v86 live MAC change test skipped: ${files}`);

const NEW_MAC = "52:54:00:aa:bb:cc";
/** Echo requests in the flood, and how many of them go out before the change is typed. */
const PINGS = 1200;
const BEFORE = 150;
/**
 * Echo requests the new MAC must carry. How many go out while the host types
 * the change depends on how busy the machine is (44 on a quiet one, 216 on a
 * loaded one, of the 250 the flood first had left), so the flood is long and
 * this floor far below what it leaves: the change must land mid-flood.
 */
const AFTER_MIN = 200;

const src = (f: Uint8Array) => formatMac(f.subarray(6, 12));
const dst = (f: Uint8Array) => formatMac(f.subarray(0, 6));
const isEcho = (f: Uint8Array, type: number) => f.length >= 42 && f[12] === 0x08 && f[13] === 0 && f[23] === 1 && f[14 + (f[14] & 15) * 4] === type;
/** An ARP frame announcing `ip` (sender and target protocol address both `ip`: RFC 5227 §3 gratuitous ARP), with its sender hardware address. */
function gratuitousArp(f: Uint8Array, ip: Uint8Array): string | null {
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x06) return null;
  const same = (o: number) => ip.every((b, i) => f[o + i] === b);
  return same(28) && same(38) ? formatMac(f.subarray(22, 28)) : null;
}

/** What a guest frame is, for the report. */
function frameKind(f: Uint8Array, guestIp: string): string {
  const type = (f[12] << 8) | f[13];
  if (type === 0x0806 && f.length >= 42) {
    const ip = (o: number) => [...f.subarray(o, o + 4)].join(".");
    const op = (f[20] << 8) | f[21];
    return `ARP ${op === 1 ? "request" : op === 2 ? "reply" : `op ${op}`} ${ip(28)} → ${ip(38)}${gratuitousArp(f, parseIpv4(guestIp)) ? " (gratuitous)" : ""}`;
  }
  if (isEcho(f, 8)) return "ICMP echo request";
  return `ethertype 0x${type.toString(16)}`;
}

describe.skipIf(typeof files === "string")("virtio-net in v86: live MAC change under a ping flood (Linux guest)", () => {
  it("ip link set eth0 address under ping -A: the filter takes the new MAC via CTRL_MAC_ADDR_SET, replies to it arrive, loss ≤ the replies in flight, gratuitous ARP seen", async () => {
    if (typeof files === "string") return;
    const peerIp = files.meta.guest.responderIp, guestIp = files.meta.guest.ip;
    const responder = new Responder({ mac: PEER_MAC, ip: peerIp });
    const g = await bootVirtioNetGuest(files, { peer: responder, echo: !!process.env.VMDEV_GUEST_ECHO });
    const report: string[] = [];
    const t0 = performance.now();
    try {
      await g.ready();
      report.push(`boot ${(g.bootInstructions / 1e9).toFixed(2)}e9 instructions`);
      const before = await inspectNet(g.device);
      // The driver negotiated the control queue with the receive-filter and MAC-address commands.
      expect(before.acked).toEqual(expect.arrayContaining(["CTRL_VQ", "CTRL_RX", "CTRL_MAC_ADDR"]));
      expect(before.mac).toBe(GUEST_MAC);
      expect(before.filter.mac).toBe(GUEST_MAC);
      // Linux announces a changed address only with arp_notify (net/ipv4/devinet.c, NETDEV_CHANGEADDR).
      expect((await g.command("echo 1 > /proc/sys/net/ipv4/conf/eth0/arp_notify")).status).toBe(0);

      const c0 = g.device.counters();
      const flood = g.type(`ping -A -c ${PINGS} ${peerIp} > /tmp/flood.out 2>&1 &`);
      expect((await g.finish(flood)).status).toBe(0);
      await g.until(() => responder.counters().icmpEchoRequests >= BEFORE);
      const txAtChange = g.tx.length, rxAtChange = g.rx.length;
      const requestsAtChange = responder.counters().icmpEchoRequests;
      const set = await g.command(`/sbin/ip link set eth0 address ${NEW_MAC}; /sbin/ip link show eth0 | sed 's/^/VMDEV-R /'`);
      expect(set.status).toBe(0);
      expect(set.out.some((l) => l.includes(`link/ether ${NEW_MAC}`))).toBe(true);
      const c1 = g.device.counters();
      const after = await inspectNet(g.device);
      const done = await g.command("wait; tail -3 /tmp/flood.out | sed 's/^/VMDEV-R /'");
      const stats = done.out.join(" ").match(/(\d+) packets transmitted, (\d+) packets received/);
      report.push(...done.out.map((l) => `ping: ${l}`));
      expect(stats).not.toBeNull();
      const [sent, received] = [Number(stats![1]), Number(stats![2])];
      const c2 = g.device.counters();
      const delta = (a: Record<string, bigint>, b: Record<string, bigint>, k: string) => Number(b[k] - a[k]);

      // The device: one MAC_ADDR_SET (plus the rx-mode commands the driver sends), none refused;
      // its configuration and its filter hold the new address.
      report.push(`ctrl during the change: ok +${delta(c0, c1, "ctrlOk")}, err +${delta(c0, c1, "ctrlErr")}; filtered over the flood +${delta(c0, c2, "rxFiltered")}`);
      expect(delta(c0, c1, "ctrlOk")).toBeGreaterThanOrEqual(1);
      expect(delta(c0, c2, "ctrlErr") + delta(c0, c2, "ctrlMalformed")).toBe(0);
      expect(after.mac).toBe(NEW_MAC);
      expect(after.filter.mac).toBe(NEW_MAC);
      expect(after.filter.rxModes).not.toContain("promisc");

      // The wire, guest → host: frames carry the old MAC, then (from the first new one on) only the new.
      const out = g.tx.slice(txAtChange);
      const first = out.findIndex((f) => src(f) === NEW_MAC);
      expect(first).toBeGreaterThanOrEqual(0);
      expect(g.tx.slice(0, txAtChange).every((f) => src(f) === GUEST_MAC)).toBe(true);
      expect(out.slice(first).every((f) => src(f) === NEW_MAC)).toBe(true);
      const shown = out.slice(Math.max(0, first - 2), first + 6).map((f) => `${src(f)} → ${dst(f)} ${frameKind(f, guestIp)}`);
      report.push(`guest frames around the change:\n  ${shown.join("\n  ")}`);
      // The gratuitous ARP for the guest's address from the new MAC.
      expect(out.slice(first).some((f) => gratuitousArp(f, parseIpv4(guestIp)) === NEW_MAC)).toBe(true);
      // Hundreds of echo requests on each side of the change, every one answered by the responder.
      const reqOld = g.tx.filter((f) => isEcho(f, 8) && src(f) === GUEST_MAC).length;
      const reqNew = g.tx.filter((f) => isEcho(f, 8) && src(f) === NEW_MAC).length;
      report.push(`echo requests: ${reqOld} from the old MAC, ${reqNew} from the new (${requestsAtChange} when the change was typed)`);
      expect(reqOld + reqNew).toBe(sent);
      expect(reqOld).toBeGreaterThanOrEqual(BEFORE);
      expect(reqNew).toBeGreaterThanOrEqual(AFTER_MIN);
      expect(responder.counters().icmpEchoRequests).toBe(sent);

      // Host → guest: the replies to the new MAC were received; what was lost is what the
      // filter dropped, replies to the old MAC in flight at the change (ping -A keeps one out).
      const replies = g.rx.filter((f) => isEcho(f, 0));
      const toOld = g.rx.slice(rxAtChange).filter((f) => isEcho(f, 0) && dst(f) === GUEST_MAC).length;
      const toNew = replies.filter((f) => dst(f) === NEW_MAC).length;
      report.push(`echo replies: ${replies.length - toNew} to the old MAC (${toOld} after the change was typed), ${toNew} to the new; ping ${received}/${sent}`);
      expect(replies.length).toBe(sent);
      expect(toNew).toBe(reqNew);
      const lost = sent - received;
      expect(lost).toBe(delta(c0, c2, "rxFiltered"));
      expect(lost).toBeLessThanOrEqual(2);
      expect(delta(c0, c2, "rxDropped")).toBe(0);
      for (const k of ["txMalformed", "badAccess", "needsReset", "rxInvalid", "rxShortBuffer"]) expect(Number(c2[k]), k).toBe(0);
    } finally {
      report.push(`${((performance.now() - t0) / 1000).toFixed(1)} s and ${(g.instructions / 1e9).toFixed(2)}e9 guest instructions from power-on`);
      console.log(`live MAC change (virtio-net, v86):\n${report.join("\n")}`);
      await g.stop();
    }
  }, 1_500_000);
});
