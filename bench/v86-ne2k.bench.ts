// A real guest's TCP through an NE2000: the Debian guest in v86 with the
// kernel's 8390.ko + ne2k-pci.ko, once on vmdev's NE2000 (release build,
// through the v86 adapter) and once on v86's own ne2k (`net_device: { type:
// "ne2k" }`), in the same run, with the same host peer, frame link and guest
// commands (test/support/ne2k/v86-ne2k.ts). Guest → host: busybox dd | nc
// into the host's TCP discard service; host → guest: wget from the host's
// HTTP source. Each transfer is BYTES or what arrives within LIMIT_S
// seconds (the guest's `timeout` ends it: v86's ne2k can stall a transfer,
// its driver reporting transmit timeouts), MB/s over the command's time.
// Rows are vmdev ÷ v86 ne2k. The two alternate
// VMDEV_BENCH_V86_ROUNDS times (default 2) and each NIC's best round counts.
import { guestFiles } from "../test/support/v86-guest.js";
import { Ne2kGuest, TCP_DISCARD_PORT, type Ne2kNic } from "../test/support/ne2k/v86-ne2k.js";
import type { BenchRow } from "./support.js";

const BYTES = 4 << 20;

interface Round { out: number; in: number; outBytes: number; inBytes: number; retransmits: number; txTimeouts: number }

/** Seconds each transfer may take: the guest's `timeout` ends it, and the rate counts what arrived. */
const LIMIT_S = 30;

async function round(files: Exclude<ReturnType<typeof guestFiles>, string>, nic: Ne2kNic): Promise<Round> {
  const g = await Ne2kGuest.boot(files, { nic, variant: "release", httpBytes: BYTES, stallMs: 2 * LIMIT_S * 1000 });
  try {
    await g.waitLine(/^VMDEV-READY$/);
    const ip = files.meta.guest.responderIp;
    await g.command(`ping -c 3 -W 10 ${ip} >/dev/null 2>&1`);
    let t0 = performance.now();
    await g.command(`dd if=/dev/zero bs=16k count=${BYTES / 16384} 2>/dev/null | timeout ${LIMIT_S} nc ${ip} ${TCP_DISCARD_PORT}`);
    const outS = (performance.now() - t0) / 1000;
    const tc = g.responder.tcpCounters();
    t0 = performance.now();
    await g.command(`timeout ${LIMIT_S} wget -q -O /dev/null http://${ip}/`);
    const inS = (performance.now() - t0) / 1000;
    const hc = g.http.counters();
    const wd = await g.command(`echo "VMDEV-R $(dmesg | grep -c 'transmit queue 0 timed out')"`);
    return { txTimeouts: Number(wd.out[0] ?? -1), out: tc.bytes / 1e6 / outS, in: hc.bodyAcked / 1e6 / inS, outBytes: tc.bytes, inBytes: hc.bodyAcked, retransmits: hc.fastRetransmits + hc.timeouts };
  } finally {
    await g.stop();
  }
}

export async function run(): Promise<BenchRow[]> {
  const files = guestFiles();
  if (typeof files === "string") {
    console.warn(`v86 NE2000 guest bench skipped: ${files}`);
    return [];
  }
  const rounds = Math.max(1, Number(process.env.VMDEV_BENCH_V86_ROUNDS ?? 2));
  const got: Record<Ne2kNic, Round[]> = { vmdev: [], v86: [] };
  for (let i = 0; i < rounds; i++) for (const nic of ["vmdev", "v86"] as const) got[nic].push(await round(files, nic));
  const best = (nic: Ne2kNic, k: "out" | "in") => Math.max(...got[nic].map((r) => r[k]));
  const moved = (k: "outBytes" | "inBytes") => `bytes moved per round: vmdev ${got.vmdev.map((r) => r[k]).join(", ")}, v86 ${got.v86.map((r) => r[k]).join(", ")} of ${BYTES}`;
  const timeouts = `the guest driver's transmit timeouts (NETDEV WATCHDOG) per round: vmdev ${got.vmdev.map((r) => r.txTimeouts).join(", ")}, v86 ${got.v86.map((r) => r.txTimeouts).join(", ")}`;
  const note = `${BYTES >> 20} MiB per direction or ${LIMIT_S} s, the same guest, driver (8390.ko + ne2k-pci.ko), host peer and frame link; the guest copies every byte through the data port with insl/outsl, so the guest's CPU in v86 bounds both`;
  return [
    { name: "v86 Linux guest: TCP guest → host (dd | nc) through NE2000, vmdev ÷ v86 ne2k", value: best("vmdev", "out"), unit: "MB/s", baseline: best("v86", "out"), ratio: best("vmdev", "out") / best("v86", "out"), note: `${note}; ${moved("outBytes")}; ${timeouts}` },
    { name: "v86 Linux guest: TCP host → guest (wget) through NE2000, vmdev ÷ v86 ne2k", value: best("vmdev", "in"), unit: "MB/s", baseline: best("v86", "in"), ratio: best("vmdev", "in") / best("v86", "in"), note: `${note}; ${moved("inBytes")}; the host's retransmissions (fast + timeout) per round: vmdev ${got.vmdev.map((r) => r.retransmits).join(", ")}, v86 ${got.v86.map((r) => r.retransmits).join(", ")}` },
  ];
}
