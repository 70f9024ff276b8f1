// The examples in examples/, run as a reader runs them (`node examples/X.mjs`
// after `npm run build`), their output checked. They import vmdev by its
// package name, which resolves to this checkout through package.json's
// `exports` (a package may import itself by name).
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { haveTool } from "./support/firmware-tools.js";

const dir = fileURLToPath(new URL("../examples/", import.meta.url));
const tcpdump = haveTool("tcpdump", "tcpdump");

function runExample(file: string, args: string[] = []) {
  const p = spawnSync(process.execPath, [join(dir, file), ...args], { encoding: "utf8", timeout: 120_000 });
  expect(p.error).toBeUndefined();
  expect(p.stderr).toBe("");
  expect(p.status).toBe(0);
  return p.stdout.trimEnd().split("\n");
}

const json = (line: string, label: string) => {
  expect(line.startsWith(`${label}: `), line).toBe(true);
  return JSON.parse(line.slice(label.length + 2)) as Record<string, number>;
};

describe("examples", () => {
  it("import vmdev by its package name (or Node's own modules), never a path into the source tree", () => {
    const files = ["embed.mjs", "migration-test.mjs", "browser/serve.mjs"];
    for (const f of files) {
      const imports = [...readFileSync(join(dir, f), "utf8").matchAll(/^import [^;]* from "([^"]+)";$/gm)].map((m) => m[1]);
      expect(imports.length, f).toBeGreaterThan(0);
      expect(imports.filter((m) => !m.startsWith("node:") && m !== "vmdev" && m !== "vmdev/testing"), f).toEqual([]);
    }
  });

  it("examples/README.md describes every example", () => {
    const readme = readFileSync(join(dir, "README.md"), "utf8");
    const examples = [...readdirSync(dir).filter((f) => f.endsWith(".mjs")), "browser/"];
    for (const f of examples) expect(readme, f).toContain(`\`${f}\``);
  });

  it("embed.mjs: the synthetic guest resolves the responder with ARP and pings it over a virtio-net; every counter agrees", () => {
    const pcap = join(mkdtempSync(join(tmpdir(), "vmdev-embed-")), "embed.pcap");
    const out = runExample("embed.mjs", [pcap]);
    expect(out[0]).toBe("guest: 52:54:00:00:00:02 is 10.0.2.2; 8/8 echo requests answered over vmdev's virtio-net (18 MSI-X interrupts)");
    const device = json(out[1], "device counters"), link = json(out[2], "link counters"), responder = json(out[3], "responder counters");
    // 1 ARP + 8 echo requests out, 1 ARP reply + 8 echo replies in; an interrupt for each TX completion and each RX.
    expect(device).toMatchObject({ txFrames: 9, rxFrames: 9, irqRaised: 18 });
    expect(Object.keys(device).filter((k) => /bad|Malformed|Dropped|needsReset|Rejected/.test(k))).toEqual([]);
    expect(link).toEqual({ txFrames: 9, txBytes: device.txBytes, rxFrames: 9, rxBytes: device.rxBytes, rxRetries: 0, rxDropped: 0, rxCalls: 9, lost: 0, errors: 0 });
    expect(responder).toEqual({ frames: 9, arpRequests: 1, arpReplies: 1, icmpEchoRequests: 8, icmpEchoReplies: 8, echoPayloadBytes: 8 * 56 });
    expect(out[4]).toMatch(new RegExp(`^pcap: 18 frames, \\d+ bytes in ${pcap.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`));
    expect(out.length).toBe(5);
    if (tcpdump) {
      const r = spawnSync("tcpdump", ["-r", pcap, "-nn"], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.trimEnd().split("\n");
      expect(lines.length).toBe(18);
      expect(lines[0]).toMatch(/ARP, Request who-has 10\.0\.2\.2 tell 10\.0\.2\.15/);
      expect(lines[1]).toMatch(/ARP, Reply 10\.0\.2\.2 is-at 52:54:00:00:00:02/);
      for (let seq = 1; seq <= 8; seq++) {
        expect(lines[2 * seq]).toMatch(new RegExp(`IP 10\\.0\\.2\\.15 > 10\\.0\\.2\\.2: ICMP echo request, id 4660, seq ${seq}, length 64$`));
        expect(lines[2 * seq + 1]).toMatch(new RegExp(`IP 10\\.0\\.2\\.2 > 10\\.0\\.2\\.15: ICMP echo reply, id 4660, seq ${seq}, length 64$`));
      }
    }
  });

  it("migration-test.mjs: a Machine with traffic migrates in process; memory verified, no frame lost or duplicated", () => {
    const out = runExample("migration-test.mjs");
    expect(out[0]).toBe("migration: completed; the VM runs on the destination");
    expect(out[1]).toMatch(/^ {2}\d+ rounds, \d+ pages sent \(\d+ whole, \d+ XBZRLE deltas, \d+ zero markers, \d+ zero pages skipped\)$/);
    expect(out[2]).toMatch(/^ {2}[\d.]+ MiB on the wire for 64\.0 MiB of guest RAM, \d+ MB\/s; total \d+ ms, downtime [\d.]+ ms \(verify [\d.]+ ms\)$/);
    expect(out[3]).toMatch(/^ {2}destination: resumed; memory equals the source's: digest [0-9a-f]{16} \(all guest RAM hashed on both sides\)$/);
    const m = /^frames: (\d+) sent, (\d+) answered \((\d+) before the migration, (\d+) on the destination\), (\d+) in flight at the freeze; lost 0, duplicated 0, out of order 0$/.exec(out[4]);
    expect(m, out[4]).not.toBeNull();
    const [sent, answered, before, onDestination] = m!.slice(1, 5).map(Number);
    expect(answered).toBe(sent);
    expect(before).toBeGreaterThanOrEqual(200);
    expect(onDestination).toBeGreaterThanOrEqual(200);
    expect(out.length).toBe(5);
  });

  it("browser/plot.js: tick steps are 1, 2 or 5 × 10^k and give at most about the ticks asked for", async () => {
    // @ts-expect-error: a plain ES module of the demo page, without declarations
    const { niceStep } = await import("../examples/browser/plot.js");
    expect([1, 4, 5, 7, 10, 150, 999, 1000, 60].map((m) => niceStep(m))).toEqual([0.2, 1, 1, 2, 2, 50, 200, 200, 20]);
    expect(niceStep(60, 6)).toBe(10);
    expect(niceStep(0)).toBe(1);
    expect(niceStep(Number.NaN)).toBe(1);
  });

  it("plain-wasm.mjs: vmdev.wasm without the loader receives and transmits a frame", () => {
    const out = runExample("plain-wasm.mjs");
    expect(out.length).toBe(1);
    expect(out[0]).toMatch(/^vmdev\.wasm ABI \d+\.\d+: virtio-net received 64 bytes into the guest's RX buffer and transmitted 60; dirty pages 18, 32, 48; counters \{"rxFrames":1,"txFrames":1,"kicks":2,"badAccess":0\}$/);
  });
});
