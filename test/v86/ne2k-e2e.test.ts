// End to end: the Debian guest in v86 with vmdev's NE2000 (RTL8029AS on PCI
// through the v86 adapter) and the kernel's own 8390.ko + ne2k-pci.ko. In one
// boot: the driver binds and the link comes up; ping; a multicast join (an
// IPv6 address's solicited-node group) programs the MAR hash, and a group
// the hash does not select is filtered (device counters); promiscuous mode;
// TCP bulk guest → host and host → guest, 10 s each; a host burst of ICMP
// echo requests and UDP datagrams larger than the receive ring, every one of
// which arrives (back-pressure); and a save/restore mid-ping into a fresh v86
// with a fresh core and device. A second boot runs the same burst on v86's
// own ne2k, which drops what its ring cannot hold.
import { describe, expect, it } from "vitest";
import { guestFiles } from "../support/v86-guest.js";
import { Ne2kGuest, GUEST_MAC, PEER_MAC, TCP_DISCARD_PORT } from "../support/ne2k/v86-ne2k.js";
import { multicastHashIndex } from "../../src/guest/ne2k/index.js";
import { internetChecksum, onesComplementSum, parseIpv4, parseMac } from "../../src/net/responder.js";

const files = guestFiles();
if (typeof files === "string") console.warn(`v86 NE2000 end-to-end test skipped: ${files}`);

const BURST = 150; // echo requests, each followed by a UDP datagram: 300 frames, far more than the ring's ~51 pages hold
const FLOOD_ID = 0x4e32;

/** A raw frame to `dst` of `len` bytes (local experimental ethertype), as the multicast and promisc checks send. */
function rawFrame(dst: Uint8Array, seq: number, len = 80): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0); f.set(parseMac(PEER_MAC), 6); f[12] = 0x88; f[13] = 0xb5;
  f[14] = seq >> 8; f[15] = seq & 0xff;
  return f;
}

/** Echo request `seq` and a UDP datagram to the closed port 9, from the peer to the guest. */
function burstFrames(guestMac: Uint8Array, peerIp: string, guestIp: string, seq: number): Uint8Array[] {
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
  icmp[0] = 8; icmp[4] = FLOOD_ID >> 8; icmp[5] = FLOOD_ID & 0xff; icmp[6] = seq >> 8; icmp[7] = seq & 0xff;
  for (let i = 8; i < icmp.length; i++) icmp[i] = i;
  let ck = internetChecksum(icmp, 0, icmp.length); icmp[2] = ck >> 8; icmp[3] = ck & 0xff;
  const udp = new Uint8Array(8 + 32);
  udp.set([0x9c, 0x41, 0, TCP_DISCARD_PORT, 0, udp.length], 0);
  const pseudo = onesComplementSum(pip, 0, 4, onesComplementSum(gip, 0, 4, 17 + udp.length));
  ck = internetChecksum(udp, 0, udp.length, pseudo) || 0xffff; udp[6] = ck >> 8; udp[7] = ck & 0xff;
  return [ip(1, icmp), ip(17, udp)];
}

/** Echo replies to the burst the guest sent. */
const isBurstReply = (f: Uint8Array) => f.length >= 42 && f[12] === 8 && f[13] === 0 && f[23] === 1 && f[34] === 0 && ((f[38] << 8) | f[39]) === FLOOD_ID;

/** Run the burst; resolves with the replies seen and the guest's counters before/after. */
async function burst(g: Ne2kGuest, guestMac: Uint8Array): Promise<{ replies: number; snmp0: Record<string, number>; snmp1: Record<string, number> }> {
  const snmp0 = await g.snmp();
  const before = g.tx.filter(isBurstReply).length;
  const frames: Uint8Array[] = [];
  for (let i = 0; i < BURST; i++) frames.push(...burstFrames(guestMac, files === "string" ? "" : (files as Exclude<typeof files, string>).meta.guest.responderIp, (files as Exclude<typeof files, string>).meta.guest.ip, i));
  g.deliver(frames);
  // Let the guest drain what it got (replies stop coming), then read its counters.
  let last = -1;
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const n = g.tx.filter(isBurstReply).length;
    if (n - before >= BURST) break;
    if (n === last && i > 50) break;
    last = n;
  }
  const snmp1 = await g.snmp();
  return { replies: g.tx.filter(isBurstReply).length - before, snmp0, snmp1 };
}

const num = (c: Record<string, bigint>) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== 0n).map(([k, v]) => [k, Number(v)]));

describe.skipIf(typeof files === "string")("NE2000 in v86 with a Linux guest (8390.ko + ne2k-pci.ko)", () => {
  it("binds, pings, filters multicast by the MAR hash, promisc, TCP both ways, takes a burst without loss, survives save/restore mid-ping", async () => {
    if (typeof files === "string") return;
    const g = await Ne2kGuest.boot(files, { nic: "vmdev", httpMs: 10_000, echo: !!process.env.VMDEV_GUEST_ECHO });
    const report: string[] = [];
    const nic = () => g.box.nic!;
    const c = () => nic().counters();
    const delta = (a: Record<string, bigint>, b: Record<string, bigint>, k: string) => Number(b[k] - a[k]);
    let burstOurs: Awaited<ReturnType<typeof burst>> | null = null;
    let tcpOut: { status: number; ms: number } | null = null;
    let tcpIn: { status: number; ms: number } | null = null;
    let migrated = 0;
    let pingAfter: string[] = [];
    try {
      await g.waitLine(/^VMDEV-READY$/);
      // 1. The driver bound to our function and the link is up.
      const r0 = await g.command("dmesg | grep -E 'ne2k|8390' | sed 's/^/VMDEV-R /'; readlink /sys/class/net/eth0/device/driver | sed 's/^/VMDEV-R driver /'; ip link show eth0 | sed 's/^/VMDEV-R /'; grep eth0 /proc/interrupts | sed 's/^/VMDEV-R irq /'");
      report.push(...r0.out);
      expect(r0.out.some((l) => /ne2k-pci 0000:00:0c\.0 eth0: RealTek RTL-8029\(AS\) found at 0x[0-9a-f]+, IRQ \d+, 52:54:00:12:34:56/.test(l))).toBe(true);
      expect(r0.out.some((l) => /^driver .*\/ne2k-pci$/.test(l))).toBe(true);
      expect(r0.out.some((l) => /eth0: <.*UP,LOWER_UP>/.test(l))).toBe(true);

      // 2. ping.
      const p1 = await g.command(`ping -c 50 -A -W 3 -w 60 ${files.meta.guest.responderIp} 2>&1 | tail -2 | sed 's/^/VMDEV-R /'`);
      report.push(...p1.out.map((l) => `ping: ${l}`));
      expect(p1.out.join(" ")).toMatch(/50 packets transmitted, 50 packets received, 0% packet loss/);

      // 3. Multicast: joining a group (the solicited-node group of a new IPv6 address) programs the MAR.
      const group = parseMac("33:33:ff:ab:00:cd"); // ff02::1:ffab:cd, the solicited-node group of fd00::ab:cd
      const f0 = nic().filterState();
      const j = await g.command("ip -6 addr add fd00::ab:cd/64 dev eth0 && sleep 2");
      expect(j.status).toBe(0);
      const f1 = nic().filterState();
      const bit = (mar: Uint8Array, a: Uint8Array) => (mar[multicastHashIndex(a) >> 3] >> (multicastHashIndex(a) & 7)) & 1;
      report.push(`MAR before join ${Buffer.from(f0.mar).toString("hex")} after ${Buffer.from(f1.mar).toString("hex")}, RCR 0x${f1.rcr.toString(16)}`);
      expect(f1.rcr & 0x0c).toBe(0x0c); // AB | AM
      expect(bit(f1.mar, group)).toBe(1);
      // A group whose hash bit the guest left clear, and frames to both.
      let other: Uint8Array | null = null;
      for (let k = 1; k < 256 && !other; k++) { const a = parseMac(`01:00:5e:7f:00:${k.toString(16).padStart(2, "0")}`); if (!bit(f1.mar, a)) other = a; }
      expect(other).not.toBeNull();
      const nd0 = await g.netdev(), m0 = c();
      g.deliver([...Array.from({ length: 20 }, (_, i) => rawFrame(group, i)), ...Array.from({ length: 20 }, (_, i) => rawFrame(other!, 100 + i))]);
      await g.command("sleep 1");
      const nd1 = await g.netdev(), m1 = c();
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
      await g.command("sleep 1");
      const pr1 = await g.netdev(), pc1 = c();
      await g.command("ip link set eth0 promisc off");
      const pc2 = c();
      g.deliver(Array.from({ length: 20 }, (_, i) => rawFrame(stranger, 300 + i)));
      await g.command("sleep 1");
      const pc3 = c();
      report.push(`promisc on: +${delta(pc0, pc1, "rxFrames")} stored, guest rx +${pr1[1] - pr0[1]}; off: +${delta(pc2, pc3, "rxFiltered")} filtered`);
      expect(delta(pc0, pc1, "rxFrames")).toBe(20);
      expect(pr1[1] - pr0[1]).toBeGreaterThanOrEqual(20);
      expect(nic().filterState().rcr & 0x10).toBe(0);
      expect(delta(pc2, pc3, "rxFiltered")).toBe(20);

      // 5. TCP bulk, 10 s each way: guest → host into the discard service, host → guest from the HTTP source.
      let t = performance.now();
      const out = await g.command(`timeout 10 dd if=/dev/zero bs=16k 2>/dev/null | nc ${files.meta.guest.responderIp} ${TCP_DISCARD_PORT}; echo "VMDEV-R nc=$?"`);
      tcpOut = { status: Number(out.out.find((l) => l.startsWith("nc="))?.slice(3) ?? -1), ms: performance.now() - t };
      const tc = g.responder.tcpCounters();
      report.push(`tcp guest→host: ${tc.bytes} bytes in ${tcpOut.ms.toFixed(0)} ms, ${JSON.stringify(tc)}`);
      expect(tc).toMatchObject({ connections: 1, closed: 1, outOfOrder: 0, resetsSent: 0, resetsReceived: 0 });
      expect(tc.bytes).toBeGreaterThan(1 << 20);
      t = performance.now();
      const inn = await g.command(`wget -q -O /dev/null http://${files.meta.guest.responderIp}/; echo "VMDEV-R wget=$?"`);
      tcpIn = { status: Number(inn.out.find((l) => l.startsWith("wget="))?.slice(5) ?? -1), ms: performance.now() - t };
      const hc = g.http.counters();
      report.push(`tcp host→guest: ${hc.bodyAcked} bytes in ${((hc.lastAckAt - hc.firstByteAt) / 1000).toFixed(1)} s, ${JSON.stringify(hc)}`);
      expect(tcpIn.status).toBe(0);
      expect(hc).toMatchObject({ connections: 1, completed: 1, malformed: 0, resetsReceived: 0 });
      expect(hc.bodyAcked).toBeGreaterThan(1 << 20);
      expect(hc.lastAckAt - hc.firstByteAt).toBeGreaterThanOrEqual(10_000);

      // 6. A burst far larger than the ring: every echo request answered, every datagram counted.
      const b0 = c();
      burstOurs = await burst(g, parseMac(GUEST_MAC));
      const b1 = c();
      report.push(`burst (ours): ${BURST} echo requests + ${BURST} datagrams → ${burstOurs.replies} replies, IcmpInEchos +${burstOurs.snmp1.IcmpInEchos - burstOurs.snmp0.IcmpInEchos}, UdpNoPorts +${burstOurs.snmp1.UdpNoPorts - burstOurs.snmp0.UdpNoPorts}; device backlogged ${delta(b0, b1, "rxBacklogged")}, dropped ${delta(b0, b1, "rxDropped")}`);
      expect(burstOurs.replies).toBe(BURST);
      expect(burstOurs.snmp1.IcmpInEchos - burstOurs.snmp0.IcmpInEchos).toBe(BURST);
      expect(burstOurs.snmp1.UdpNoPorts - burstOurs.snmp0.UdpNoPorts).toBe(BURST);
      expect(delta(b0, b1, "rxBacklogged")).toBeGreaterThan(0);
      expect(delta(b0, b1, "rxDropped")).toBe(0);

      // 7. Save/restore mid-ping into a fresh machine.
      const echo0 = g.responder.counters().icmpEchoRequests;
      const from = g.type(`ping -c 200 -A -W 3 -w 120 ${files.meta.guest.responderIp} 2>&1 | tail -2 | sed 's/^/VMDEV-R /'`);
      for (let i = 0; i < 3000 && g.responder.counters().icmpEchoRequests - echo0 < 80; i++) await new Promise((r) => setTimeout(r, 20));
      migrated = await g.migrate();
      const first = g.boxes[0];
      void from;
      const done = await g.finish(0);
      pingAfter = done.out;
      report.push(`save/restore mid-ping: blob ${migrated} bytes; ${done.out.join(" ")}`);
      expect(done.out.join(" ")).toMatch(/200 packets transmitted, 200 packets received, 0% packet loss/);
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
  }, 900_000);

  it("v86's own ne2k, with the same driver and the same burst, loses what its ring cannot hold", async () => {
    if (typeof files === "string") return;
    const g = await Ne2kGuest.boot(files, { nic: "v86", echo: !!process.env.VMDEV_GUEST_ECHO });
    let b: Awaited<ReturnType<typeof burst>> | null = null;
    try {
      await g.waitLine(/^VMDEV-READY$/);
      const p = await g.command(`ping -c 5 -A -W 3 -w 30 ${files.meta.guest.responderIp} 2>&1 | tail -2 | sed 's/^/VMDEV-R /'`);
      expect(p.out.join(" ")).toMatch(/5 packets transmitted, 5 packets received/);
      const mac = g.responder.peerMac!;
      b = await burst(g, mac);
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
