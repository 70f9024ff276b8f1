// A real guest's TCP through the e1000: the Debian guest in v86 moves a fixed
// number of bytes over TCP each way (guest → host: busybox dd | nc into the
// host's discard service; host → guest: busybox wget from the host's HTTP
// source), once on vmdev's e1000 (release build, through the v86 adapter,
// the kernel's e1000.ko) and once on each of v86's own NICs, its virtio-net
// and its default ne2k, in the same run, with the same peer, the same frame
// link and the same commands (test/support/e1000/v86-e1000.ts). Rows are
// vmdev e1000 ÷ v86's NIC. A NIC whose transfer stalls (the harness's
// watchdog: nothing moves for 30 s while the guest runs) is reported with its
// rate up to the stall, and the other direction is not run on it.
import { guestFiles } from "../test/support/v86-guest.js";
import { E1000Guest, TCP_DISCARD_PORT, type E1000GuestNic } from "../test/support/e1000/v86-e1000.js";
import type { BenchRow } from "./support.js";

const BYTES = 4 << 20;
const BLOCK = 64 << 10;

/** MB/s each way; `stalled` names the direction that stopped, with the bytes it moved. */
interface Tcp { out: number; in: number | null; stalled: string | null }

async function measure(files: Exclude<ReturnType<typeof guestFiles>, string>, nic: E1000GuestNic): Promise<Tcp> {
  const g = await E1000Guest.boot(files, { nic, variant: "release", httpBytes: BYTES });
  try {
    const peer = files.meta.guest.responderIp;
    await g.ready();
    await g.command("i=0; while [ \"$(cat /sys/class/net/eth0/carrier 2>/dev/null)\" != 1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done");
    const p = await g.command(`ping -c 3 -W 3 -w 30 ${peer} >/dev/null 2>&1; echo "VMDEV-R ping=$?"`);
    if (!p.out.includes("ping=0")) throw new Error(`${nic}: no ping`);
    const outRate = () => g.responder.tcpCounters().bytes / 1e3 / (g.tcpOutLast - g.tcpOutFirst);
    try {
      const o = await g.command(`dd if=/dev/zero bs=${BLOCK} count=${BYTES / BLOCK} 2>/dev/null | nc ${peer} ${TCP_DISCARD_PORT}; echo "VMDEV-R nc=$?"`);
      const tc = g.responder.tcpCounters();
      if (!o.out.includes("nc=0") || tc.bytes !== BYTES) throw new Error(`${nic}: guest → host moved ${tc.bytes} of ${BYTES} bytes`);
    } catch (e) {
      if (!E1000Guest.isHang(e)) throw e;
      return { out: outRate(), in: null, stalled: `guest → host stalled after ${g.responder.tcpCounters().bytes} of ${BYTES} bytes` };
    }
    const out = outRate();
    const inRate = () => { const hc = g.http.counters(); return hc.bodyAcked / 1e3 / (hc.lastAckAt - hc.firstByteAt); };
    try {
      const i = await g.command(`wget -q -O /dev/null http://${peer}/; echo "VMDEV-R wget=$?"`);
      const hc = g.http.counters();
      if (!i.out.includes("wget=0") || hc.bodyAcked !== BYTES) throw new Error(`${nic}: host → guest moved ${hc.bodyAcked} of ${BYTES} bytes`);
    } catch (e) {
      if (!E1000Guest.isHang(e)) throw e;
      return { out, in: inRate(), stalled: `host → guest stalled after ${g.http.counters().bodyAcked} of ${BYTES} bytes` };
    }
    return { out, in: inRate(), stalled: null };
  } finally {
    await g.stop();
  }
}

export async function run(): Promise<BenchRow[]> {
  const files = guestFiles();
  if (typeof files === "string") {
    console.warn(`v86 e1000 guest bench skipped: ${files}`);
    return [];
  }
  const ours = await measure(files, "vmdev");
  if (ours.stalled || ours.in === null) throw new Error(`vmdev e1000: ${ours.stalled}`);
  const rows: BenchRow[] = [];
  for (const [nic, label] of [["v86-virtio", "v86 virtio-net"], ["v86-ne2k", "v86 ne2k"]] as const) {
    const theirs = await measure(files, nic);
    const stall = theirs.stalled ? `; ${label} ${theirs.stalled} (its rate up to the stall)` : "";
    rows.push({
      name: `v86 Linux guest: TCP guest → host (dd | nc), vmdev e1000 ÷ ${label}`, value: ours.out, unit: "MB/s", baseline: theirs.out, ratio: ours.out / theirs.out,
      note: `${BYTES >> 20} MiB from SYN to FIN into the host's TCP discard service (64 KiB window), the same guest, peer and frame link; goal ≥ 1×${stall}`,
    });
    if (theirs.in !== null) {
      rows.push({
        name: `v86 Linux guest: TCP host → guest (wget), vmdev e1000 ÷ ${label}`, value: ours.in, unit: "MB/s", baseline: theirs.in, ratio: ours.in / theirs.in,
        note: `${BYTES >> 20} MiB of HTTP body from the host's TCP source (32 KiB in flight), first byte to last ACK; goal ≥ 1×${stall}`,
      });
    }
  }
  return rows;
}
