// The pcap writer (src/net/pcap.ts): the file layout, the buffer bound,
// streaming to a file, and the files read back by tcpdump (an independent
// libpcap reader), as a tap on a host link and from `vmdev migrate --pcap`.
import { describe, expect, it, vi, afterEach } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { PcapWriter, PCAP_MAGIC_NS, PCAP_MAGIC_US, LINKTYPE_ETHERNET } from "../../src/net/pcap.js";
import { openPcapFile } from "../../src/net/pcap-file.js";
import { HostLink } from "../../src/net/host-link.js";
import { Status } from "../../src/status.js";
import { main } from "../../src/cli.js";
import { haveTool } from "../support/firmware-tools.js";
import { until } from "../support/wait.js";

afterEach(() => vi.restoreAllMocks());

const tcpdump = haveTool("tcpdump", "tcpdump");
const tmp = () => mkdtempSync(join(tmpdir(), "vmdev-pcap-"));

/** An Ethernet frame: dst, src, ethertype, then `payload` bytes counting up from `seed`. */
function ether(dst: number, src: number, type: number, payload: number, seed = 0): Uint8Array {
  const f = new Uint8Array(14 + payload);
  f.set([0x52, 0x54, 0, 0, 0, dst], 0);
  f.set([0x52, 0x54, 0, 0, 0, src], 6);
  f[12] = type >> 8; f[13] = type & 0xff;
  for (let i = 0; i < payload; i++) f[14 + i] = (seed + i) & 0xff;
  return f;
}

/** tcpdump -r: one summary line per frame (epoch timestamps, link-level header, no name lookups); its hex lines of unknown payloads left out. */
function readWithTcpdump(path: string, nano = false): string[] {
  const r = spawnSync("tcpdump", ["-r", path, "-nn", "-tt", "-e", ...(nano ? ["--time-stamp-precision=nano"] : [])], { encoding: "utf8", maxBuffer: 256 << 20 });
  expect(r.error).toBeUndefined();
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split("\n").filter((l) => /^\d+\.\d+ /.test(l));
}

describe("PcapWriter: the libpcap file layout", () => {
  it("writes the 24-byte file header and a 16-byte header per record, timestamps split into seconds and µs", () => {
    const w = PcapWriter.memory({ clock: () => 1_700_000_000_123_456_789n });
    w.write(ether(1, 2, 0x0800, 46));
    w.write(ether(2, 1, 0x0806, 28), 5_000_000_007n);
    const b = w.bytes();
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    expect(v.getUint32(0, true)).toBe(PCAP_MAGIC_US);
    expect([v.getUint16(4, true), v.getUint16(6, true)]).toEqual([2, 4]);
    expect(v.getUint32(16, true)).toBe(65535);
    expect(v.getUint32(20, true)).toBe(LINKTYPE_ETHERNET);
    expect([v.getUint32(24, true), v.getUint32(28, true), v.getUint32(32, true), v.getUint32(36, true)]).toEqual([1_700_000_000, 123_456, 60, 60]);
    expect([...b.subarray(40, 40 + 60)]).toEqual([...ether(1, 2, 0x0800, 46)]);
    const r2 = 40 + 60;
    expect([v.getUint32(r2, true), v.getUint32(r2 + 4, true), v.getUint32(r2 + 8, true)]).toEqual([5, 0, 42]);
    expect(b.length).toBe(24 + 16 + 60 + 16 + 42);
    expect(w.counters()).toEqual({ frames: 2, bytes: b.length, dropped: 0, truncated: 0 });
  });

  it("nanosecond files carry the nanosecond magic and the full fraction", () => {
    const w = PcapWriter.memory({ precision: "ns" });
    w.write(ether(1, 2, 0x0800, 46), 1_700_000_000_123_456_789n);
    const v = new DataView(w.bytes().buffer);
    expect(v.getUint32(0, true)).toBe(PCAP_MAGIC_NS);
    expect(v.getUint32(28, true)).toBe(123_456_789);
  });

  it("cuts frames at snaplen and records their original length", () => {
    const w = PcapWriter.memory({ snaplen: 20 });
    w.write(ether(1, 2, 0x0800, 100), 0n);
    const v = new DataView(w.bytes().buffer);
    expect([v.getUint32(32, true), v.getUint32(36, true)]).toEqual([20, 114]);
    expect(w.bytes().length).toBe(24 + 16 + 20);
    expect(w.counters().truncated).toBe(1);
  });

  it("past the buffer bound a frame is dropped whole and counted; the file stays well formed", () => {
    const w = PcapWriter.memory({ maxBufferedBytes: 24 + 2 * (16 + 60) + 10 });
    for (let i = 0; i < 5; i++) w.write(ether(1, 2, 0x0800, 46, i), BigInt(i));
    expect(w.counters()).toMatchObject({ frames: 2, dropped: 3 });
    expect(w.bytes().length).toBe(24 + 2 * (16 + 60));
  });

  it("vmdev migrate: --pcap without --traffic is refused, naming the flag; an unwritable file names it too", async () => {
    await expect(main(["node", "vmdev", "migrate", "--pcap", join(tmp(), "x.pcap"), "--no-report"])).rejects.toThrow(/^--pcap needs --traffic: without it no frames flow to capture$/);
    await expect(main(["node", "vmdev", "migrate", "--traffic", "--pcap", join(tmp(), "no", "such", "dir.pcap"), "--ram", "16M", "--no-report"]))
      .rejects.toThrow(/^--pcap .*dir\.pcap: ENOENT/);
  });

  it("streamed to a file, what the disk has not taken yet is bounded: a burst past it drops whole frames, later frames go in once it drained", async () => {
    const path = join(tmp(), "bound.pcap");
    const f = openPcapFile(path, { maxBufferedBytes: 24 + 10 * (16 + 60) });
    for (let i = 0; i < 20; i++) f.writer.write(ether(1, 2, 0x0800, 46, i), BigInt(i) * 1_000_000_000n); // one burst: nothing flushes in between
    expect(f.writer.counters()).toMatchObject({ frames: 10, dropped: 10 });
    await until(() => f.pending() === 0, "the file stream to drain");
    for (let i = 0; i < 5; i++) f.writer.write(ether(1, 2, 0x0800, 46, i), BigInt(100 + i) * 1_000_000_000n);
    await f.close();
    expect(f.writer.counters()).toMatchObject({ frames: 15, dropped: 10 });
    const b = readFileSync(path);
    expect(b.length).toBe(24 + 15 * (16 + 60));
    expect(b.readUInt32LE(24 + 9 * 76)).toBe(9); // record 10: the last of the burst, at 9 s
    expect(b.readUInt32LE(24 + 10 * 76)).toBe(100); // record 11: the first after the drain, at 100 s
    expect(b.readUInt32LE(24 + 9 * 76 + 16 + 14)).toBe(0x0c0b0a09); // record 10 holds frame 9 (payload counts up from 9)
    f.writer.write(ether(1, 2, 0x0800, 46)); // after close: ignored
    expect(f.writer.counters().frames).toBe(15);
  });

  it("refuses a snaplen or bound it cannot honour", () => {
    expect(() => PcapWriter.memory({ snaplen: 0 })).toThrow(/snaplen/);
    expect(() => PcapWriter.memory({ maxBufferedBytes: 10 })).toThrow(/maxBufferedBytes/);
  });

  it("is a host-link tap: both directions recorded in order, a direction can be left out", async () => {
    const nic = { onTransmit: null as ((f: Uint8Array) => void) | null, receive: () => Status.OK };
    const both = PcapWriter.memory(), txOnly = PcapWriter.memory({ directions: ["tx"] });
    const link = new HostLink(nic, () => {}, { delivery: "manual", tap: (d, f) => { both.tap(d, f); txOnly.tap(d, f); } });
    nic.onTransmit!(ether(9, 1, 0x0800, 46));
    link.deliver(ether(1, 9, 0x0800, 50));
    link.pump();
    expect(both.counters().frames).toBe(2);
    expect(txOnly.counters().frames).toBe(1);
    const b = both.bytes();
    expect(b[24 + 16 + 5]).toBe(9); // first record: the transmitted frame (dst ..:09)
    expect(b[24 + 16 + 60 + 16 + 5]).toBe(1); // then the delivered one
    link.close();
  });
});

describe.skipIf(!tcpdump)("pcap files read back by tcpdump", () => {
  it("a streamed file: every frame, its timestamp, MACs, ethertype and length (µs)", async () => {
    const path = join(tmp(), "a.pcap");
    const f = openPcapFile(path);
    const n = 50;
    for (let i = 0; i < n; i++) f.writer.write(ether(1 + (i % 2), 2 - (i % 2), i % 3 === 0 ? 0x0806 : 0x88b5, 46 + i, i), 1_700_000_000_000_000_000n + BigInt(i) * 1_001_000n);
    await f.close();
    expect(readFileSync(path).length).toBe(f.writer.counters().bytes);
    const lines = readWithTcpdump(path);
    expect(lines.length).toBe(n);
    lines.forEach((l, i) => {
      const us = 1_001 * i;
      expect(l.startsWith(`${1_700_000_000 + Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, "0")} `), l).toBe(true);
      const [src, dst] = i % 2 === 0 ? ["52:54:00:00:00:02", "52:54:00:00:00:01"] : ["52:54:00:00:00:01", "52:54:00:00:00:02"];
      expect(l).toContain(`${src} > ${dst}`);
      expect(l).toContain(i % 3 === 0 ? "ethertype ARP (0x0806)" : "ethertype Unknown (0x88b5)");
      expect(l).toContain(`length ${60 + i}`);
    });
  });

  it("a nanosecond file keeps the nanoseconds", async () => {
    const path = join(tmp(), "ns.pcap");
    const f = openPcapFile(path, { precision: "ns" });
    f.writer.write(ether(1, 2, 0x88b5, 46), 1_700_000_000_123_456_789n);
    await f.close();
    const [line] = readWithTcpdump(path, true);
    expect(line.startsWith("1700000000.123456789 ")).toBe(true);
  });

  it("vmdev migrate --traffic --pcap FILE captures the VM NIC's frames across the migration", async () => {
    const path = join(tmp(), "m.pcap");
    const out: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => { out.push(a.join(" ")); });
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const code = await main(["node", "vmdev", "migrate", "--traffic", "--pcap", path, "--ram", "16M", "--dirty", "8", "--json", "--no-report", "--downtime", "20", "--run-after", "200"]);
    expect(code ?? 0).toBe(0);
    const j = JSON.parse(out.join("\n"));
    const lines = readWithTcpdump(path);
    // Requests the VM sent (tx) and replies delivered to it (rx), each once: nothing lost or duplicated end to end.
    const traffic = lines.filter((l) => l.includes("ethertype Unknown (0x88b5)"));
    expect(j.traffic.lost).toBe(0);
    expect(traffic.length).toBe(j.traffic.sent + j.traffic.received);
    expect(j.pcap).toMatchObject({ file: path, frames: lines.length, dropped: 0, truncated: 0 });
    expect(j.pcap.bytes).toBe(readFileSync(path).length);
  }, 120_000);
});
