// Sustained traffic on vmdev's virtio-net in v86 with the Debian guest
// (test/support/v86-workload.ts), its NIC on v86's network bus (linkV86NetworkBus,
// the host peer on the bus's public end): `ping -A` for 10 s at 56 and 1400 data bytes,
// 4 MiB over TCP from the guest to the host's discard port (busybox dd | nc),
// and a host → guest flood of ICMP echo requests and UDP datagrams. Every
// phase is watched: if no frame and no console line moves while v86 runs the
// guest for 3e9 instructions (the budget is in guest instructions, so a busy
// host does not look like a hung guest), the run stops and the test fails with v86's 8259
// state and every counter. Then the counters of the guest, the device, the
// adapter, the link and the host peer must agree, and the link must have
// moved the host's frames into the device in batches (fewer wasm calls than frames).
import { describe, expect, it } from "vitest";
import { guestFiles } from "../support/v86-guest.js";
import { runSustainedWorkload, type WorkloadResult } from "../support/v86-workload.js";

const files = guestFiles();
if (typeof files === "string") console.warn(`v86 sustained-traffic test skipped: ${files}`);

const TCP_BYTES = 4 << 20;

function summary(r: WorkloadResult): string {
  const { lines: _lines, ...rest } = r;
  return JSON.stringify(rest, null, 1);
}

describe.skipIf(typeof files === "string")("sustained traffic on vmdev's virtio-net in v86 (Linux guest)", () => {
  it("regression_v86_sustained_traffic_keeps_nic_interrupts_flowing: ping -A 56/1400 B, TCP guest→host, host→guest flood", async () => {
    if (typeof files === "string") return;
    const r = await runSustainedWorkload(files, { nic: "vmdev", viaBus: true, pingSeconds: 10, pingSizes: [56, 1400], tcpBytes: TCP_BYTES, floodMs: 8000 });
    console.log(`sustained traffic (vmdev): ${r.ping.map((p) => `ping -s ${p.size}: ${p.received}/${p.transmitted}, ${p.framesPerSec.toFixed(0)} frames/s`).join("; ")}; `
      + `tcp ${r.tcp?.megabytesPerSec.toFixed(2)} MB/s; flood ${r.flood?.framesPerSec.toFixed(0)} frames/s; boot ${(r.bootInstructions / 1e9).toFixed(2)}e9 instructions; guest irq: ${r.interrupts}`);
    if (r.hang || r.error) console.log(summary(r));
    expect(r.hang).toBeNull();
    expect(r.error).toBeNull();

    // ping -A: every request reached the host, and the replies came back (the last may be in flight at the deadline).
    expect(r.ping.map((p) => p.size)).toEqual([56, 1400]);
    for (const p of r.ping) {
      expect(p.transmitted).toBeGreaterThan(0);
      expect(p.received).toBeLessThanOrEqual(p.transmitted);
      expect(p.received).toBeGreaterThanOrEqual(p.transmitted - 1);
    }
    expect(r.responder.icmpEchoRequests).toBe(r.ping.reduce((n, p) => n + p.transmitted, 0));
    expect(r.responder.malformed).toBe(0);

    // TCP: every byte arrived in order exactly once, and the connection closed both ways.
    expect(r.tcp).not.toBeNull();
    expect(r.tcp!.status).toBe(0);
    expect(r.tcpService).toMatchObject({ connections: 1, closed: 1, bytes: TCP_BYTES, outOfOrder: 0, resetsSent: 0, resetsReceived: 0 });

    // Flood: every request answered; the guest counted each request and each datagram.
    const f = r.flood!;
    expect(f.echoRequests).toBeGreaterThan(0);
    expect(f.echoReplies).toBe(f.echoRequests);
    expect(r.snmp.IcmpInEchos).toBe(f.echoRequests);
    expect(r.snmp.IcmpOutEchoReps).toBe(f.echoRequests);
    expect(r.snmp.UdpNoPorts).toBe(f.udpDatagrams);
    expect(r.snmp.IcmpInErrors + r.snmp.UdpInErrors + r.snmp.UdpInCsumErrors).toBe(0);

    // The device, the link and the adapter agree, and nothing was dropped or refused.
    const d = r.device!;
    expect(d.rxFrames).toBe(r.link.rxFrames);
    expect(d.txFrames).toBe(r.link.txFrames);
    expect(r.link.rxDropped).toBe(0);
    // The link moved the host's frames in batches (receiveFrames): the flood starts with its whole window
    // delivered in one task, which goes to the device in one wasm call.
    expect(r.link.rxCalls).toBeLessThan(r.link.rxFrames);
    console.log(`sustained traffic (vmdev): ${r.link.rxFrames} host → guest frames in ${r.link.rxCalls} wasm calls`);
    for (const k of ["rxDropped", "txMalformed", "badAccess", "needsReset", "rxInvalid", "rxShortBuffer"]) expect(d[k], k).toBe(0);
    const a = r.adapter!;
    expect(a.ramFaults + a.deviceErrors + a.mmioOutside + a.msiDropped).toBe(0);
    expect(a.irqRaised - a.irqLowered).toBe(r.irqLevel ? 1 : 0);
    expect(a.irqHeld).toBeGreaterThan(0); // interrupts raised inside the guest's MMIO writes, the path that hung
    expect(r.interrupts).toMatch(/XT-PIC|IO-APIC/);
  }, 400_000);
});
