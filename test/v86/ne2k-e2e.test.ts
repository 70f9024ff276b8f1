// End to end: the Debian guest in v86 with vmdev's NE2000 (RTL8029AS on PCI
// through the v86 adapter) and the kernel's own 8390.ko + ne2k-pci.ko. In one
// boot, under sustained load: the driver binds and the link comes up;
// `ping -A` at 56 and 1400 data bytes; a multicast join (an IPv6 address's
// solicited-node group) programs the MAR hash, and a group the hash does not
// select is filtered (device counters); promiscuous mode; TCP bulk guest →
// host and host → guest, 4 MiB each; a host → guest flood of echo requests
// and UDP datagrams kept 64 deep; a one-shot burst larger than the receive
// ring, every frame of which arrives (back-pressure); and a save/restore
// mid-ping into a fresh v86 with a fresh core and device. A second boot runs
// the same burst on v86's own ne2k, which drops what its ring cannot hold.
//
// Every assertion is on counts (the guest's, the device's, the link's, the
// host peer's); waits end on events, and the only failure of a wait is the
// watchdog's (nothing moved while the guest ran), never a deadline.
import { describe, expect, it } from "vitest";
import { guestFiles } from "../support/v86-guest.js";
import { Ne2kGuest, GUEST_MAC, PEER_MAC, TCP_DISCARD_PORT } from "../support/ne2k/v86-ne2k.js";
import { multicastHashIndex } from "../../src/guest/ne2k/index.js";
import { internetChecksum, onesComplementSum, parseIpv4 } from "../../src/net/responder.js";
import { parseMac } from "../../src/net/mac.js";

const files = guestFiles();
if (typeof files === "string") console.warn(`v86 NE2000 end-to-end test skipped: ${files}`);

const BURST = 150; // echo requests, each followed by a UDP datagram: 300 frames, far more than the ring's ~51 pages hold
const BURST_ID = 0x4e32;
const FLOOD = 3000; // echo requests in the sustained flood, each followed by a datagram
const FLOOD_WINDOW = 64;
const FLOOD_ID = 0x4e33;
const PING = 300; // echo requests per ping -A size
const TCP_BYTES = 4 << 20;

/** A raw frame to `dst` of `len` bytes (local experimental ethertype), as the multicast and promisc checks send. */
function rawFrame(dst: Uint8Array, seq: number, len = 80): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0); f.set(parseMac(PEER_MAC), 6); f[12] = 0x88; f[13] = 0xb5;
  f[14] = seq >> 8; f[15] = seq & 0xff;
  return f;
}

/** Echo request `seq` (ICMP id `id`) and a UDP datagram to the closed port 9, from the peer to the guest. */
function burstFrames(guestMac: Uint8Array, peerIp: string, guestIp: string, seq: number, id = BURST_ID): Uint8Array[] {
  const pip = parseIpv4(peerIp), gip = parseIpv4(guestIp);
  const ip = (proto: number, payload: Uint8Array) => {
    const f = new Uint8Array(Math.max(60, 34 + payload.length));
    f.set(guestMac, 0); f.set(parseMac(PEER_MAC), 6); f[12] = 0x08;
    const total = 20 + payload.length;
    f.set([0x45, 0, total >> 8, total & 0xff, seq >> 8, seq & 0xff, 0x40, 0, 64, proto, 0, 0], 14);
    f.set(pip, 26); f.set(gip, 30);
    const ck = internetChecksum(f, 14, 20); f[24] = ck >> 8; f[25] = ck & 0xff;
    f.set(payload, 34);
    return f;
  };
  const icmp = new Uint8Array(64);
  icmp[0] = 8; icmp[4] = id >> 8; icmp[5] = id & 0xff; icmp[6] = seq >> 8; icmp[7] = seq & 0xff;
  for (let i = 8; i < icmp.length; i++) icmp[i] = i;
  let ck = internetChecksum(icmp, 0, icmp.length); icmp[2] = ck >> 8; icmp[3] = ck & 0xff;
  const udp = new Uint8Array(8 + 32);
  udp.set([0x9c, 0x41, 0, TCP_DISCARD_PORT, 0, udp.length], 0);
  const pseudo = onesComplementSum(pip, 0, 4, onesComplementSum(gip, 0, 4, 17 + udp.length));
  ck = internetChecksum(udp, 0, udp.length, pseudo) || 0xffff; udp[6] = ck >> 8; udp[7] = ck & 0xff;
  return [ip(1, icmp), ip(17, udp)];
}

/** An echo reply the guest sent to a request with ICMP id `id`. */
const isReplyTo = (id: number) => (f: Uint8Array) => f.length >= 42 && f[12] === 8 && f[13] === 0 && f[23] === 1 && f[34] === 0 && ((f[38] << 8) | f[39]) === id;
const isBurstReply = isReplyTo(BURST_ID);

/**
 * The one-shot burst: BURST echo requests and BURST datagrams handed to the
 * link at once. `lossless`: wait for every reply (vmdev). Otherwise (a NIC
 * that drops) wait until the link has handed every frame to the NIC, then
 * until the guest has answered a ping of its own — its interrupts have then
 * pulled whatever the ring kept — and count what arrived.
 */
async function burst(g: Ne2kGuest, guestMac: Uint8Array, lossless: boolean): Promise<{ replies: number; snmp0: Record<string, number>; snmp1: Record<string, number> }> {
  if (typeof files === "string") throw new Error("no guest");
  const snmp0 = await g.snmp();
  const before = g.tx.filter(isBurstReply).length;
  const frames: Uint8Array[] = [];
  for (let i = 0; i < BURST; i++) frames.push(...burstFrames(guestMac, files.meta.guest.responderIp, files.meta.guest.ip, i));
  g.deliver(frames);
  if (lossless) await g.waitFor(`${BURST} burst replies`, () => g.tx.filter(isBurstReply).length - before >= BURST);
  else {
    await g.waitFor("the link to hand the burst over", () => g.box.link.pendingFrames === 0);
    await g.command(`ping -c 3 -W 3 ${files.meta.guest.responderIp} >/dev/null 2>&1`);
  }
  const snmp1 = await g.snmp();
  return { replies: g.tx.filter(isBurstReply).length - before, snmp0, snmp1 };
}

/** Poll a guest-side count (one command per poll) until `done`; at most `polls` commands. */
async function untilGuest<T>(poll: () => Promise<T>, done: (v: T) => boolean, polls = 50): Promise<T> {
  let v = await poll();
  for (let i = 1; i < polls && !done(v); i++) v = await poll();
  return v;
}

const num = (c: Record<string, bigint>) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== 0n).map(([k, v]) => [k, Number(v)]));

describe.skipIf(typeof files === "string")("NE2000 in v86 with a Linux guest (8390.ko + ne2k-pci.ko)", () => {
  it("under sustained load: binds, ping -A, filters multicast by the MAR hash, promisc, TCP both ways, a flood and a burst without loss, save/restore mid-ping", async () => {
    if (typeof files === "string") return;
    const g = await Ne2kGuest.boot(files, { nic: "vmdev", httpBytes: TCP_BYTES, echo: !!process.env.VMDEV_GUEST_ECHO });
    const peerIp = files.meta.guest.responderIp;
    const report: string[] = [];
    const nic = () => g.box.nic!;
    const c = () => nic().counters();
    const delta = (a: Record<string, bigint>, b: Record<string, bigint>, k: string) => Number(b[k] - a[k]);
    let pingAfter: string[] = [];
    try {
      await g.waitLine(/^VMDEV-READY$/);
      // 1. The driver bound to our function and the link is up.
      const r0 = await g.command("dmesg | grep -E 'ne2k|8390' | sed 's/^/VMDEV-R /'; readlink /sys/class/net/eth0/device/driver | sed 's/^/VMDEV-R driver /'; ip link show eth0 | sed 's/^/VMDEV-R /'; grep eth0 /proc/interrupts | sed 's/^/VMDEV-R irq /'");
      report.push(...r0.out);
      expect(r0.out.some((l) => /ne2k-pci 0000:00:0c\.0 eth0: RealTek RTL-8029\(AS\) found at 0x[0-9a-f]+, IRQ \d+, 52:54:00:12:34:56/.test(l))).toBe(true);
      expect(r0.out.some((l) => /^driver .*\/ne2k-pci$/.test(l))).toBe(true);
      expect(r0.out.some((l) => /eth0: <.*UP,LOWER_UP>/.test(l))).toBe(true);

      // 2. ping -A (the next request as soon as the reply is in) at 56 and 1400 data bytes: every one answered.
      for (const size of [56, 1400]) {
        const e0 = g.responder.counters().icmpEchoRequests;
        const p1 = await g.command(`ping -c ${PING} -s ${size} -A -W 10 ${peerIp} 2>&1 | tail -2 | sed 's/^/VMDEV-R /'`);
        report.push(...p1.out.map((l) => `ping -s ${size}: ${l}`));
        expect(p1.out.join(" ")).toMatch(new RegExp(`${PING} packets transmitted, ${PING} packets received, 0% packet loss`));
        expect(g.responder.counters().icmpEchoRequests - e0).toBe(PING);
      }

      // 3. Multicast: joining a group (the solicited-node group of a new IPv6 address) programs the MAR.
      const group = parseMac("33:33:ff:ab:00:cd"); // ff02::1:ffab:cd, the solicited-node group of fd00::ab:cd
      const bit = (mar: Uint8Array, a: Uint8Array) => (mar[multicastHashIndex(a) >> 3] >> (multicastHashIndex(a) & 7)) & 1;
      const f0 = nic().filterState();
      const j = await g.command("ip -6 addr add fd00::ab:cd/64 dev eth0");
      expect(j.status).toBe(0);
      await g.waitFor("the MAR bit of the joined group", () => bit(nic().filterState().mar, group) === 1);
      const f1 = nic().filterState();
      report.push(`MAR before join ${Buffer.from(f0.mar).toString("hex")} after ${Buffer.from(f1.mar).toString("hex")}, RCR 0x${f1.rcr.toString(16)}`);
      expect(f1.rcr & 0x0c).toBe(0x0c); // AB | AM
      // A group whose hash bit the guest left clear, and frames to both.
      let other: Uint8Array | null = null;
      for (let k = 1; k < 256 && !other; k++) { const a = parseMac(`01:00:5e:7f:00:${k.toString(16).padStart(2, "0")}`); if (!bit(f1.mar, a)) other = a; }
      expect(other).not.toBeNull();
      const nd0 = await g.netdev(), m0 = c();
      g.deliver([...Array.from({ length: 20 }, (_, i) => rawFrame(group, i)), ...Array.from({ length: 20 }, (_, i) => rawFrame(other!, 100 + i))]);
      await g.waitFor("the 40 multicast frames to be decided", () => { const m = c(); return delta(m0, m, "rxMulticast") + delta(m0, m, "rxMulticastFiltered") >= 40; });
      const m1 = c();
      const nd1 = await untilGuest(() => g.netdev(), (nd) => nd[7] - nd0[7] >= 20);
      report.push(`multicast: joined +${delta(m0, m1, "rxMulticast")} accepted, other +${delta(m0, m1, "rxMulticastFiltered")} filtered; guest multicast +${nd1[7] - nd0[7]}`);
      expect(delta(m0, m1, "rxMulticast")).toBe(20);
      expect(delta(m0, m1, "rxMulticastFiltered")).toBe(20);
      expect(nd1[7] - nd0[7]).toBeGreaterThanOrEqual(20);

      // 4. Promiscuous: frames to another station's address arrive; off again, they are filtered.
      const stranger = parseMac("52:54:00:99:99:99");
      await g.command("ip link set eth0 promisc on");
      const fp = nic().filterState();
      expect(fp.rcr & 0x1c).toBe(0x1c); // AB | AM | PRO
      expect([...fp.mar]).toEqual(new Array(8).fill(0xff));
      const pr0 = await g.netdev(), pc0 = c();
      g.deliver(Array.from({ length: 20 }, (_, i) => rawFrame(stranger, 200 + i)));
      await g.waitFor("20 frames to a stranger stored", () => delta(pc0, c(), "rxFrames") >= 20);
      const pc1 = c();
      const pr1 = await untilGuest(() => g.netdev(), (nd) => nd[1] - pr0[1] >= 20);
      await g.command("ip link set eth0 promisc off");
      expect(nic().filterState().rcr & 0x10).toBe(0);
      const pc2 = c();
      g.deliver(Array.from({ length: 20 }, (_, i) => rawFrame(stranger, 300 + i)));
      await g.waitFor("20 frames to a stranger filtered", () => delta(pc2, c(), "rxFiltered") >= 20);
      const pc3 = c();
      report.push(`promisc on: +${delta(pc0, pc1, "rxFrames")} stored, guest rx +${pr1[1] - pr0[1]}; off: +${delta(pc2, pc3, "rxFiltered")} filtered, +${delta(pc2, pc3, "rxFrames")} stored`);
      expect(delta(pc0, pc1, "rxFrames")).toBe(20);
      expect(pr1[1] - pr0[1]).toBeGreaterThanOrEqual(20);
      expect(delta(pc2, pc3, "rxFiltered")).toBe(20);

      // 5. TCP bulk: TCP_BYTES guest → host into the discard service, then TCP_BYTES host → guest from the HTTP source.
      const out = await g.command(`dd if=/dev/zero bs=16k count=${TCP_BYTES / 16384} 2>/dev/null | nc ${peerIp} ${TCP_DISCARD_PORT}; echo "VMDEV-R nc=$?"`);
      const tc = g.responder.tcpCounters();
      report.push(`tcp guest→host: ${JSON.stringify(tc)}`);
      expect(out.out).toContain("nc=0");
      expect(tc).toMatchObject({ connections: 1, closed: 1, bytes: TCP_BYTES, outOfOrder: 0, resetsSent: 0, resetsReceived: 0 });
      const inn = await g.command(`wget -q -O /dev/null http://${peerIp}/; echo "VMDEV-R wget=$?"`);
      const hc = g.http.counters();
      report.push(`tcp host→guest: ${JSON.stringify(hc)}`);
      expect(inn.out).toContain("wget=0");
      expect(hc).toMatchObject({ connections: 1, completed: 1, bodyAcked: TCP_BYTES, malformed: 0, resetsReceived: 0 });

      // 6. A sustained host → guest flood: FLOOD echo requests kept FLOOD_WINDOW deep, each followed by a
      // datagram to a closed port; every request answered, every datagram counted by the guest.
      {
        const isFloodReply = isReplyTo(FLOOD_ID);
        const s0 = await g.snmp(), k0 = c();
        let sent = 0, replies = 0;
        const pair = () => burstFrames(parseMac(GUEST_MAC), peerIp, files.meta.guest.ip, sent++, FLOOD_ID);
        g.onGuestFrame = (f) => {
          if (!isFloodReply(f)) return null;
          replies++;
          return sent < FLOOD ? pair() : [];
        };
        const first: Uint8Array[] = [];
        for (let i = 0; i < FLOOD_WINDOW; i++) first.push(...pair());
        g.deliver(first);
        await g.waitFor(`${FLOOD} flood replies`, () => replies >= FLOOD);
        g.onGuestFrame = null;
        const s1 = await g.snmp(), k1 = c();
        report.push(`flood: ${sent} echo requests + ${sent} datagrams → ${replies} replies, IcmpInEchos +${s1.IcmpInEchos - s0.IcmpInEchos}, UdpNoPorts +${s1.UdpNoPorts - s0.UdpNoPorts}; device rx +${delta(k0, k1, "rxFrames")}, backlogged +${delta(k0, k1, "rxBacklogged")}, dropped +${delta(k0, k1, "rxDropped")}`);
        expect(sent).toBe(FLOOD);
        expect(replies).toBe(FLOOD);
        expect(s1.IcmpInEchos - s0.IcmpInEchos).toBe(FLOOD);
        expect(s1.UdpNoPorts - s0.UdpNoPorts).toBe(FLOOD);
        expect(s1.IcmpInErrors - s0.IcmpInErrors + s1.UdpInErrors - s0.UdpInErrors).toBe(0);
        expect(delta(k0, k1, "rxBacklogged")).toBeGreaterThan(0); // 128 frames at once into a ring of ~51 pages
        expect(delta(k0, k1, "rxDropped")).toBe(0);
      }

      // 7. A burst far larger than the ring, at once: every echo request answered, every datagram counted.
      const b0 = c();
      const burstOurs = await burst(g, parseMac(GUEST_MAC), true);
      const b1 = c();
      report.push(`burst (ours): ${BURST} echo requests + ${BURST} datagrams → ${burstOurs.replies} replies, IcmpInEchos +${burstOurs.snmp1.IcmpInEchos - burstOurs.snmp0.IcmpInEchos}, UdpNoPorts +${burstOurs.snmp1.UdpNoPorts - burstOurs.snmp0.UdpNoPorts}; device backlogged ${delta(b0, b1, "rxBacklogged")}, dropped ${delta(b0, b1, "rxDropped")}`);
      expect(burstOurs.replies).toBe(BURST);
      expect(burstOurs.snmp1.IcmpInEchos - burstOurs.snmp0.IcmpInEchos).toBe(BURST);
      expect(burstOurs.snmp1.UdpNoPorts - burstOurs.snmp0.UdpNoPorts).toBe(BURST);
      expect(delta(b0, b1, "rxBacklogged")).toBeGreaterThan(0);
      expect(delta(b0, b1, "rxDropped")).toBe(0);

      // 8. Save/restore mid-ping into a fresh machine.
      const echo0 = g.responder.counters().icmpEchoRequests;
      const from = g.type(`ping -c 200 -A -W 10 ${peerIp} 2>&1 | tail -2 | sed 's/^/VMDEV-R /'`);
      await g.waitFor("80 echo requests before the save", () => g.responder.counters().icmpEchoRequests - echo0 >= 80);
      const migrated = await g.migrate();
      const first = g.boxes[0];
      void from; // an index into the first machine's console; the restored one's starts empty
      const done = await g.finish(0);
      pingAfter = done.out;
      report.push(`save/restore mid-ping: blob ${migrated} bytes; ${done.out.join(" ")}`);
      expect(done.out.join(" ")).toMatch(/200 packets transmitted, 200 packets received, 0% packet loss/);
      expect(g.responder.counters().icmpEchoRequests - echo0).toBe(200);
      expect(Number(g.box.nic!.counters().txFrames)).toBeGreaterThan(0);
      expect(Number(first.nic!.counters().txFrames)).toBeGreaterThan(0);
      // No frame lost or refused on either machine.
      for (const b of g.boxes) {
        const k = b.nic!.counters();
        expect(Number(k.rxDropped), "rxDropped").toBe(0);
        expect(Number(k.txMalformed + k.badAccess + k.rxInvalid + k.dmaOutside + k.dmaRefused), "guest errors").toBe(0);
        expect(b.link.counters().rxDropped).toBe(0);
        const a = b.adapter!.counters();
        expect(a.ramFaults + a.deviceErrors + a.msiDropped).toBe(0);
      }
    } finally {
      console.log(`NE2000 in v86:\n${report.join("\n")}`);
      for (const b of g.boxes) console.log(`device ${JSON.stringify(num(b.nic!.counters()))}; link ${JSON.stringify(b.link.counters())}`);
      if (!pingAfter.length) console.log(g.state());
      await g.stop();
    }
  }, 1_200_000);

  it("v86's own ne2k, with the same driver and the same burst, loses what its ring cannot hold", async () => {
    if (typeof files === "string") return;
    const g = await Ne2kGuest.boot(files, { nic: "v86", echo: !!process.env.VMDEV_GUEST_ECHO });
    let b: Awaited<ReturnType<typeof burst>> | null = null;
    try {
      await g.waitLine(/^VMDEV-READY$/);
      const p = await g.command(`ping -c 5 -A -W 10 ${files.meta.guest.responderIp} 2>&1 | tail -2 | sed 's/^/VMDEV-R /'`);
      expect(p.out.join(" ")).toMatch(/5 packets transmitted, 5 packets received/);
      const mac = g.responder.peerMac!;
      b = await burst(g, mac, false);
      console.log(`burst (v86 ne2k): ${BURST} echo requests + ${BURST} datagrams → ${b.replies} replies, IcmpInEchos +${b.snmp1.IcmpInEchos - b.snmp0.IcmpInEchos}, UdpNoPorts +${b.snmp1.UdpNoPorts - b.snmp0.UdpNoPorts}: ${BURST - b.replies} echo requests and ${BURST - (b.snmp1.UdpNoPorts - b.snmp0.UdpNoPorts)} datagrams never reached the guest's stack`);
      // The link handed every frame to v86's NIC: what its ring could not hold it dropped silently, and
      // what the driver's 9-packet pass left in the ring waits for another arrival that never comes.
      expect(g.box.link.counters().rxDropped).toBe(0);
      expect(b.replies).toBeLessThan(BURST);
      expect(b.snmp1.UdpNoPorts - b.snmp0.UdpNoPorts).toBeLessThan(BURST);
    } finally {
      if (!b) console.log(g.state());
      await g.stop();
    }
  }, 600_000);
});
