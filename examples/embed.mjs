// Embedding vmdev's virtio-net in your own host, in Node. The parts:
//
//   1. A VM core: guest RAM (here in vmdev's own wasm memory) and the
//      guest-memory port every device write goes through.
//   2. The device: a virtio-net on virtio-pci. Your emulator routes the guest's
//      PCI config and BAR accesses to `nic.pci` and its interrupts come back
//      through the `interrupts` sink you give it.
//   3. The host side of the wire: a HostLink between the NIC and whatever
//      carries frames on the host; here a Responder (ARP + ICMP echo), with a
//      PcapWriter as the link's tap.
//   4. The guest: where an emulator would run a real driver (see
//      examples/browser/ for Linux in v86), this example plays the guest with
//      the synthetic guest from `vmdev/testing`, a virtio 1.2 driver model
//      written from the spec: it resolves the responder's address with ARP
//      and pings it.
//
//   node examples/embed.mjs [capture.pcap]      (after `npm run build`)
//
// Prints what the guest got back and every counter, as JSON.
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { createVmCore, VirtioNet, Responder, linkResponder, PcapWriter, parseIpv4, parseMac, formatMac, internetChecksum } from "vmdev";
import { VirtioNetDriver, PciTransport, GuestRam, InterruptRecorder } from "vmdev/testing";

const GUEST = { mac: "52:54:00:12:34:56", ip: "10.0.2.15" };
const HOST = { mac: "52:54:00:00:00:02", ip: "10.0.2.2" };

/** An Ethernet II frame: destination, source, ethertype, payload. */
function ether(dst, src, type, payload) {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >> 8; f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

/** ARP request (RFC 826): who has `targetIp`? tell `senderIp`. */
function arpRequest(senderMac, senderIp, targetIp) {
  const a = new Uint8Array(28);
  a.set([0, 1, 0x08, 0x00, 6, 4, 0, 1], 0); // Ethernet, IPv4, op 1 (request)
  a.set(senderMac, 8); a.set(senderIp, 14); a.set(targetIp, 24);
  return ether(new Uint8Array(6).fill(0xff), senderMac, 0x0806, a);
}

/** ICMP echo request (RFC 792) in an IPv4 datagram (RFC 791), `data` bytes of payload. */
function echoRequest(dstMac, srcMac, srcIp, dstIp, id, seq, data) {
  const ip = new Uint8Array(20 + 8 + data);
  const v = new DataView(ip.buffer);
  v.setUint8(0, 0x45); v.setUint16(2, ip.length); v.setUint16(4, seq); v.setUint8(8, 64); v.setUint8(9, 1);
  ip.set(srcIp, 12); ip.set(dstIp, 16);
  v.setUint16(10, internetChecksum(ip, 0, 20));
  v.setUint8(20, 8); v.setUint16(24, id); v.setUint16(26, seq);
  for (let i = 0; i < data; i++) ip[28 + i] = (seq + i) & 0xff;
  v.setUint16(22, internetChecksum(ip, 20, 8 + data));
  return ether(dstMac, srcMac, 0x0800, ip);
}

const nextTurn = () => new Promise((r) => setImmediate(r));

/** Run the exchange; returns what it saw (the test checks it). */
export async function run({ pings = 8, pcapPath } = {}) {
  // 1. The VM core: 16 MiB of guest RAM.
  const core = await createVmCore({ ramBytes: 16 << 20 });
  // 2. The device, and the interrupt sink the guest's driver reads.
  const irq = new InterruptRecorder();
  const nic = VirtioNet.create(core, { mac: GUEST.mac, transport: "pci", interrupts: irq, name: "net0" });
  // 3. The host side: a responder on a link, captured.
  const responder = new Responder({ mac: HOST.mac, ip: HOST.ip });
  const pcap = PcapWriter.memory();
  const link = linkResponder(nic, responder, { tap: pcap.tap });
  // 4. The guest's driver: finds the device through its PCI capabilities, negotiates, posts RX buffers.
  const driver = new VirtioNetDriver(new PciTransport(nic.pci, { msixVectors: 8 }), new GuestRam(core), irq);
  driver.init();

  // The link hands replies to the NIC on the next event-loop turn; the driver services its interrupts then.
  async function exchange(frame) {
    if (!driver.transmit(frame)) throw new Error("the TX queue is full");
    for (let turn = 0; turn < 100; turn++) {
      await nextTurn();
      driver.service();
      const got = driver.takeReceived();
      if (got.length) return got.map((f) => f.data);
    }
    throw new Error("no reply within 100 event-loop turns");
  }

  const guestMac = parseMac(GUEST.mac), guestIp = parseIpv4(GUEST.ip), hostIp = parseIpv4(HOST.ip);
  const [arp] = await exchange(arpRequest(guestMac, guestIp, hostIp));
  if (arp[12] !== 0x08 || arp[13] !== 0x06 || arp[21] !== 2) throw new Error("the reply is not an ARP reply");
  const hostMac = arp.slice(22, 28);
  let replies = 0;
  for (let seq = 1; seq <= pings; seq++) {
    const [r] = await exchange(echoRequest(hostMac, guestMac, guestIp, hostIp, 0x1234, seq, 56));
    if (r[23] === 1 && r[34] === 0 && ((r[40] << 8) | r[41]) === seq) replies++;
  }

  const result = {
    resolved: formatMac(hostMac), pings, replies,
    // Device counters are bigints (64-bit); as numbers for JSON.
    device: Object.fromEntries(Object.entries(nic.counters()).map(([k, v]) => [k, Number(v)])),
    link: link.counters(), responder: responder.counters(), pcap: pcap.counters(),
    interrupts: [...irq.perVector.values()].reduce((a, n) => a + n, 0),
  };
  if (pcapPath) writeFileSync(pcapPath, pcap.bytes());
  link.close();
  nic.destroy();
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const pcapPath = process.argv[2];
  const r = await run({ pcapPath });
  console.log(`guest: ${r.resolved} is ${HOST.ip}; ${r.replies}/${r.pings} echo requests answered over vmdev's virtio-net (${r.interrupts} MSI-X interrupts)`);
  const nonZero = (c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== 0));
  console.log(`device counters: ${JSON.stringify(nonZero(r.device))}`);
  console.log(`link counters: ${JSON.stringify(r.link)}`);
  console.log(`responder counters: ${JSON.stringify(nonZero(r.responder))}`);
  console.log(`pcap: ${r.pcap.frames} frames, ${r.pcap.bytes} bytes${pcapPath ? ` in ${pcapPath}` : ""}`);
}
