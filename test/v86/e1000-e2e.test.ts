// End to end: the Debian guest in v86 with vmdev's Intel 82540EM (on PCI
// through the v86 adapter) and the kernel's own e1000.ko, in one boot: the
// driver binds and the link comes up; ping; multicast groups beyond the 15
// spare exact entries (RAR[1..15]) go into the MTA, a frame to such a group is
// accepted by the hash and a group the guest did not join is filtered (device
// counters); promiscuous mode; a VLAN interface (8021q) programs the VFTA, its
// traffic is tagged on the wire and stripped on receive, and a VLAN the guest
// did not join is filtered; MTU 9000 (jumbo frames across several
// descriptors); TCP bulk guest → host and host → guest, a fixed number of
// bytes each way, every byte counted; a host burst of ICMP echo requests and
// UDP datagrams far larger than the receive ring, every one of which arrives
// (back-pressure); and a save/restore mid-ping into a fresh v86 with a fresh
// core and device.
import { describe, expect, it } from "vitest";
import { guestFiles } from "../support/v86-guest.js";
import {
  E1000Guest, GUEST_MAC, PEER_MAC, TCP_DISCARD_PORT, VLAN_ID, VLAN_PEER_IP, VLAN_GUEST_IP, tagFrame,
} from "../support/e1000/v86-e1000.js";
import { Reg, Rctl, Ctrl, mtaBit } from "../../src/guest/e1000/index.js";
import { internetChecksum, onesComplementSum, parseIpv4 } from "../../src/net/responder.js";
import { parseMac } from "../../src/net/mac.js";

const files = guestFiles();
if (typeof files === "string") console.warn(`v86 e1000 end-to-end test skipped: ${files}`);

/**
 * Echo requests in the burst, each followed by a UDP datagram: 400 frames at
 * once against the driver's 256-descriptor ring; what the ring cannot take
 * waits in the device's receive backlog (256 frames by default).
 */
const BURST = 200;
const FLOOD_ID = 0x1e1e;
/** Bytes of the TCP bulk transfers, each way (about 2 900 full-size segments). */
const TCP_OUT_BYTES = 4 << 20;
const TCP_IN_BYTES = 4 << 20;
const TCP_BLOCK = 64 << 10;
/** Multicast groups the guest joins: more than the 14 spare exact entries the driver fills first. */
const GROUPS = 24;
const RCTL_VFE = Rctl.VFE;

/** A raw frame to `dst` of `len` bytes (local experimental ethertype). */
function rawFrame(dst: Uint8Array, seq: number, len = 80): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0); f.set(parseMac(PEER_MAC), 6); f[12] = 0x88; f[13] = 0xb5;
  f[14] = seq >> 8; f[15] = seq & 0xff;
  return f;
}

/** Echo request `seq` and a UDP datagram to the closed port 9, from the peer to the guest. */
function burstFrames(peerIp: string, guestIp: string, seq: number): Uint8Array[] {
  const pip = parseIpv4(peerIp), gip = parseIpv4(guestIp), mac = parseMac(GUEST_MAC);
  const ip = (proto: number, payload: Uint8Array) => {
    const f = new Uint8Array(Math.max(60, 34 + payload.length));
    f.set(mac, 0); f.set(parseMac(PEER_MAC), 6); f[12] = 0x08;
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

/** Echo replies to the burst. */
const isBurstReply = (f: Uint8Array) => f.length >= 42 && f[12] === 8 && f[13] === 0 && f[23] === 1 && f[34] === 0 && ((f[38] << 8) | f[39]) === FLOOD_ID;

const pingStats = (out: string[]) => {
  const m = out.join(" ").match(/(\d+) packets transmitted, (\d+) packets received/);
  return m ? { sent: Number(m[1]), received: Number(m[2]) } : { sent: -1, received: -1 };
};

const num = (c: Record<string, bigint>) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== 0n).map(([k, v]) => [k, Number(v)]));

/** Wait (bounded) in the guest for eth0's carrier after a driver reset. */
const CARRIER = "i=0; while [ \"$(cat /sys/class/net/eth0/carrier 2>/dev/null)\" != 1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; cat /sys/class/net/eth0/carrier | sed 's/^/VMDEV-R carrier /'";

describe.skipIf(typeof files === "string")("e1000 (82540EM) in v86 with a Linux guest (e1000.ko)", () => {
  it("binds, pings, filters multicast by the MTA, promisc, VLAN through the VFTA, MTU 9000, TCP both ways, takes a burst without loss, survives save/restore mid-ping", async () => {
    if (typeof files === "string") return;
    const peerIp = files.meta.guest.responderIp, guestIp = files.meta.guest.ip;
    const g = await E1000Guest.boot(files, { httpBytes: TCP_IN_BYTES, echo: !!process.env.VMDEV_GUEST_ECHO });
    const report: string[] = [];
    const nic = () => g.box.nic!;
    const c = () => nic().counters();
    const reg = (off: number) => nic().peekRegister(off);
    const delta = (a: Record<string, bigint>, b: Record<string, bigint>, k: string) => Number(b[k] - a[k]);
    const rar = (i: number) => ({ lo: reg(Reg.RAL + 8 * i), hi: reg(Reg.RAH + 8 * i) });
    const inRar = (a: Uint8Array) => {
      for (let i = 0; i < 16; i++) {
        const { lo, hi } = rar(i);
        if ((hi >>> 31) === 1 && lo === ((a[0] | (a[1] << 8) | (a[2] << 16) | (a[3] << 24)) >>> 0) && (hi & 0xffff) === (a[4] | (a[5] << 8))) return true;
      }
      return false;
    };
    const mtaHas = (a: Uint8Array) => { const b = mtaBit(a, (reg(Reg.RCTL) >> Rctl.MO_SHIFT) & 3); return ((reg(Reg.MTA + 4 * (b >> 5)) >>> (b & 31)) & 1) === 1; };
    let finished = false;
    try {
      await g.ready();
      // 1. The driver bound to our function and the link is up.
      const r0 = await g.command(`dmesg | grep -E 'e1000' | sed 's/^/VMDEV-R /'; readlink /sys/class/net/eth0/device/driver | sed 's/^/VMDEV-R driver /'; ${CARRIER}; ip link show eth0 | sed 's/^/VMDEV-R /'`);
      report.push(...r0.out);
      expect(r0.out.some((l) => /e1000 0000:00:0c\.0 eth0: \(PCI:33MHz:32-bit\) 52:54:00:12:34:56/.test(l))).toBe(true);
      expect(r0.out.some((l) => /e1000: eth0 NIC Link is Up 1000 Mbps Full Duplex/.test(l))).toBe(true);
      expect(r0.out.some((l) => /^driver .*\/e1000$/.test(l))).toBe(true);
      expect(r0.out).toContain("carrier 1");
      expect(r0.out.some((l) => /eth0: <.*UP,LOWER_UP>/.test(l))).toBe(true);

      // 2. ping, adaptive: the next request as soon as the reply is in.
      const p1 = await g.command(`ping -c 200 -A -W 3 -w 120 ${peerIp} 2>&1 | tail -2 | sed 's/^/VMDEV-R /'`);
      report.push(...p1.out.map((l) => `ping: ${l}`));
      expect(pingStats(p1.out)).toEqual({ sent: 200, received: 200 });

      // 3. Multicast: the driver puts the first groups into the spare exact entries, the rest into the MTA.
      const j = await g.command(`for i in $(seq 1 ${GROUPS}); do ip -6 addr add fd00::ab:$i/64 dev eth0 || exit 1; done; sleep 2`);
      expect(j.status).toBe(0);
      const joined = Array.from({ length: GROUPS }, (_, k) => parseMac(`33:33:ff:ab:00:${parseInt(String(k + 1), 16).toString(16).padStart(2, "0")}`));
      const hashed = joined.filter((a) => !inRar(a));
      const mtaBits = Array.from({ length: 128 }, (_, n) => reg(Reg.MTA + 4 * n)).reduce((s, w) => s + (w.toString(2).split("1").length - 1), 0);
      report.push(`multicast: ${GROUPS} groups joined, ${GROUPS - hashed.length} in RAR, ${hashed.length} only in the MTA; MTA bits set ${mtaBits}; RCTL 0x${reg(Reg.RCTL).toString(16)}`);
      expect(hashed.length).toBeGreaterThan(0);
      for (const a of joined) expect(inRar(a) || mtaHas(a)).toBe(true);
      const group = hashed[hashed.length - 1];
      const exact = joined.find((a) => inRar(a))!;
      expect(exact).toBeDefined();
      let other: Uint8Array | null = null;
      for (let k = 1; k < 256 && !other; k++) { const a = parseMac(`01:00:5e:7f:00:${k.toString(16).padStart(2, "0")}`); if (!mtaHas(a) && !inRar(a)) other = a; }
      expect(other).not.toBeNull();
      expect(reg(Reg.RCTL) & (Rctl.MPE | Rctl.UPE)).toBe(0);
      // The guest's rx_packets counts in its receive path (its multicast count comes from the
      // statistics registers every 2 s of guest time, so it would lag).
      const mc0 = await g.readNumber("/sys/class/net/eth0/statistics/rx_packets"), m0 = c();
      g.deliver([
        ...Array.from({ length: 20 }, (_, i) => rawFrame(group, i)),
        ...Array.from({ length: 20 }, (_, i) => rawFrame(exact, 50 + i)),
        ...Array.from({ length: 20 }, (_, i) => rawFrame(other!, 100 + i)),
      ]);
      await g.command("sleep 1");
      const mc1 = await g.readNumber("/sys/class/net/eth0/statistics/rx_packets"), m1 = c();
      report.push(`multicast frames: hash +${delta(m0, m1, "rxHashMatch")}, exact +${delta(m0, m1, "rxExactMatch")}, filtered +${delta(m0, m1, "rxFiltered")}; guest rx +${mc1 - mc0}`);
      expect(delta(m0, m1, "rxHashMatch")).toBe(20);
      expect(delta(m0, m1, "rxExactMatch")).toBeGreaterThanOrEqual(20); // plus the guest's own unicast traffic
      expect(delta(m0, m1, "rxFiltered")).toBe(20);
      expect(mc1 - mc0).toBeGreaterThanOrEqual(40);

      // 4. Promiscuous: frames to another station's address arrive; off again, they are filtered.
      const stranger = parseMac("52:54:00:99:99:99");
      await g.command("ip link set eth0 promisc on");
      expect(reg(Reg.RCTL) & (Rctl.UPE | Rctl.MPE)).toBe(Rctl.UPE | Rctl.MPE);
      const pr0 = await g.readNumber("/sys/class/net/eth0/statistics/rx_packets"), pc0 = c();
      g.deliver(Array.from({ length: 20 }, (_, i) => rawFrame(stranger, 200 + i)));
      await g.command("sleep 1");
      const pr1 = await g.readNumber("/sys/class/net/eth0/statistics/rx_packets"), pc1 = c();
      await g.command("ip link set eth0 promisc off");
      expect(reg(Reg.RCTL) & (Rctl.UPE | Rctl.MPE)).toBe(0);
      const pc2 = c();
      g.deliver(Array.from({ length: 20 }, (_, i) => rawFrame(stranger, 300 + i)));
      await g.command("sleep 1");
      const pc3 = c();
      report.push(`promisc on: +${delta(pc0, pc1, "rxFrames")} stored, guest rx +${pr1 - pr0}; off: +${delta(pc2, pc3, "rxFiltered")} filtered`);
      expect(delta(pc0, pc1, "rxFrames")).toBeGreaterThanOrEqual(20);
      expect(pr1 - pr0).toBeGreaterThanOrEqual(20);
      expect(delta(pc2, pc3, "rxFiltered")).toBe(20);

      // 5. VLAN: an 8021q interface programs the VFTA and turns on VLAN filtering and stripping.
      const v = await g.command(`(ip link add link eth0 name eth0.${VLAN_ID} type vlan id ${VLAN_ID} || vconfig add eth0 ${VLAN_ID}) && ip addr add ${VLAN_GUEST_IP}/24 dev eth0.${VLAN_ID} && ip link set eth0.${VLAN_ID} up && sleep 1`);
      expect(v.status).toBe(0);
      const vfta = reg(Reg.VFTA + 4 * (VLAN_ID >> 5));
      report.push(`vlan: VFTA[${VLAN_ID >> 5}] 0x${vfta.toString(16)}, RCTL 0x${reg(Reg.RCTL).toString(16)}, CTRL 0x${reg(Reg.CTRL).toString(16)}`);
      expect((vfta >>> (VLAN_ID & 31)) & 1).toBe(1);
      expect(reg(Reg.VFTA + 4 * (7 >> 5)) & (1 << 7)).toBe(0);
      expect(reg(Reg.RCTL) & RCTL_VFE).toBe(RCTL_VFE);
      expect(reg(Reg.CTRL) & Ctrl.VME).toBe(Ctrl.VME);
      const v0 = c(), tagged0 = g.taggedTx.get(VLAN_ID) ?? 0;
      const vp = await g.command(`ping -c 50 -A -W 3 -w 60 ${VLAN_PEER_IP} 2>&1 | tail -2 | sed 's/^/VMDEV-R /'`);
      const v1 = c();
      report.push(`vlan ping: ${vp.out.join(" ")}; tagged out +${(g.taggedTx.get(VLAN_ID) ?? 0) - tagged0} (inserted +${delta(v0, v1, "txVlanInserted")}), stripped in +${delta(v0, v1, "rxVlanStripped")}`);
      expect(pingStats(vp.out)).toEqual({ sent: 50, received: 50 });
      expect((g.taggedTx.get(VLAN_ID) ?? 0) - tagged0).toBeGreaterThanOrEqual(50);
      expect(delta(v0, v1, "rxVlanStripped")).toBeGreaterThanOrEqual(50);
      expect(g.vlanResponder.counters().icmpEchoRequests).toBe(50);
      const vr0 = await g.readNumber(`/sys/class/net/eth0.${VLAN_ID}/statistics/rx_packets`), vc0 = c();
      g.deliver([
        ...Array.from({ length: 20 }, (_, i) => tagFrame(rawFrame(parseMac(GUEST_MAC), 400 + i), VLAN_ID)),
        ...Array.from({ length: 20 }, (_, i) => tagFrame(rawFrame(parseMac(GUEST_MAC), 500 + i), 7)),
      ]);
      await g.command("sleep 1");
      const vr1 = await g.readNumber(`/sys/class/net/eth0.${VLAN_ID}/statistics/rx_packets`), vc1 = c();
      report.push(`vlan frames: VLAN ${VLAN_ID} stripped +${delta(vc0, vc1, "rxVlanStripped")} (eth0.${VLAN_ID} rx +${vr1 - vr0}), VLAN 7 filtered +${delta(vc0, vc1, "rxVlanFiltered")}`);
      expect(delta(vc0, vc1, "rxVlanStripped")).toBe(20);
      expect(vr1 - vr0).toBeGreaterThanOrEqual(20);
      expect(delta(vc0, vc1, "rxVlanFiltered")).toBe(20);

      // 6. MTU 9000: long frames span several receive buffers and transmit descriptors.
      const mt = await g.command(`ip link set eth0 mtu 9000 && ${CARRIER} && ping -c 20 -A -s 8000 -W 3 -w 60 ${peerIp} 2>&1 | tail -2 | sed 's/^/VMDEV-R /'`);
      report.push(`mtu 9000 (RCTL 0x${reg(Reg.RCTL).toString(16)}): ${mt.out.join(" ")}`);
      expect(mt.out).toContain("carrier 1");
      expect(reg(Reg.RCTL) & Rctl.LPE).toBe(Rctl.LPE);
      expect(pingStats(mt.out)).toEqual({ sent: 20, received: 20 });
      const mb = await g.command(`ip link set eth0 mtu 1500 && ${CARRIER}`);
      expect(mb.out).toContain("carrier 1");

      // 7. TCP bulk, a fixed number of bytes each way: guest → host into the discard service, host → guest from the HTTP source.
      const irq0 = c().irqRaised;
      let t = performance.now();
      const out = await g.command(`dd if=/dev/zero bs=${TCP_BLOCK} count=${TCP_OUT_BYTES / TCP_BLOCK} 2>/dev/null | nc ${peerIp} ${TCP_DISCARD_PORT}; echo "VMDEV-R nc=$?"`);
      const outMs = performance.now() - t;
      const tc = g.responder.tcpCounters();
      report.push(`tcp guest→host: ${tc.bytes} bytes in ${outMs.toFixed(0)} ms (${(tc.bytes / 1e3 / outMs).toFixed(2)} MB/s), ${JSON.stringify(tc)}`);
      expect(out.out).toContain("nc=0");
      expect(tc).toMatchObject({ connections: 1, closed: 1, bytes: TCP_OUT_BYTES, outOfOrder: 0, resetsSent: 0, resetsReceived: 0 });
      t = performance.now();
      const inn = await g.command(`wget -q -O /dev/null http://${peerIp}/; echo "VMDEV-R wget=$?"`);
      const inMs = performance.now() - t;
      const hc = g.http.counters();
      report.push(`tcp host→guest: ${hc.bodyAcked} bytes in ${inMs.toFixed(0)} ms (${(hc.bodyAcked / 1e3 / inMs).toFixed(2)} MB/s), ${JSON.stringify(hc)}; device interrupts +${Number(c().irqRaised - irq0)}`);
      expect(inn.out).toContain("wget=0");
      expect(hc).toMatchObject({ connections: 1, completed: 1, malformed: 0, resetsReceived: 0, bodyAcked: TCP_IN_BYTES });

      // 8. A burst far larger than the receive ring: every echo request answered, every datagram counted.
      const s0 = await g.snmp(), b0 = c(), replies0 = g.tx.filter(isBurstReply).length;
      const frames: Uint8Array[] = [];
      for (let i = 0; i < BURST; i++) frames.push(...burstFrames(peerIp, guestIp, i));
      g.deliver(frames);
      await g.command("sleep 1");
      await g.until(() => g.tx.filter(isBurstReply).length - replies0 >= BURST);
      const s1 = await g.snmp(), b1 = c(), replies = g.tx.filter(isBurstReply).length - replies0;
      report.push(`burst: ${BURST} echo requests + ${BURST} datagrams → ${replies} replies, IcmpInEchos +${s1.IcmpInEchos - s0.IcmpInEchos}, UdpNoPorts +${s1.UdpNoPorts - s0.UdpNoPorts}; device backlogged ${delta(b0, b1, "rxBacklogged")}, no buffer ${delta(b0, b1, "rxNoBuffer")}, dropped ${delta(b0, b1, "rxDropped")}`);
      expect(replies).toBe(BURST);
      expect(s1.IcmpInEchos - s0.IcmpInEchos).toBe(BURST);
      expect(s1.UdpNoPorts - s0.UdpNoPorts).toBe(BURST);
      expect(delta(b0, b1, "rxBacklogged")).toBeGreaterThan(0);
      expect(delta(b0, b1, "rxDropped")).toBe(0);

      // 9. Save/restore mid-ping into a fresh machine.
      const echo0 = g.responder.counters().icmpEchoRequests;
      // One command line, typed before the save: the ping that straddles it, then one on the VLAN.
      g.type(`ping -c 200 -A -W 3 -w 120 ${peerIp} 2>&1 | tail -2 | sed 's/^/VMDEV-R /'; ping -c 20 -A -W 3 -w 60 ${VLAN_PEER_IP} 2>&1 | tail -2 | sed 's/^/VMDEV-R vlan /'`);
      await g.until(() => g.responder.counters().icmpEchoRequests - echo0 >= 80);
      expect(g.responder.counters().icmpEchoRequests - echo0).toBeGreaterThanOrEqual(80);
      const blob = await g.migrate();
      const done = await g.finish(0); // the restored machine's console lines start after the save
      report.push(`save/restore mid-ping: blob ${blob} bytes; ${done.out.join(" ")}; frames sent by the first machine ${Number(g.counters(g.boxes[0]).txFrames)}, by the second ${Number(c().txFrames)}`);
      expect(pingStats(done.out.filter((l) => !l.startsWith("vlan ")))).toEqual({ sent: 200, received: 200 });
      expect(pingStats(done.out.filter((l) => l.startsWith("vlan ")))).toEqual({ sent: 20, received: 20 });
      expect(Number(c().txVlanInserted)).toBeGreaterThanOrEqual(20);
      expect(Number(c().rxVlanStripped)).toBeGreaterThanOrEqual(20);

      // Nothing lost or refused on either machine.
      for (const b of g.boxes) {
        const k = g.counters(b);
        for (const name of ["rxDropped", "txMalformed", "rxMalformed", "rxInvalid", "rxOversize", "badAccess", "ringFaults", "ringRejected"]) expect(Number(k[name]), name).toBe(0);
        expect(b.link.counters().rxDropped).toBe(0);
        const a = b.adapter!.counters();
        expect(a.ramFaults + a.deviceErrors + a.mmioOutside + a.msiDropped).toBe(0);
      }
      finished = true;
    } finally {
      console.log(`e1000 in v86:\n${report.join("\n")}`);
      if (!finished) console.log(g.state());
      await g.stop();
      for (const b of g.boxes) console.log(`device ${JSON.stringify(num(g.counters(b)))}; link ${JSON.stringify(b.link.counters())}`);
    }
  }, 1_500_000);
});
