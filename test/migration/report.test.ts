// The report's plots, by structure (not pixels): every plot has labelled
// axes with units and real ticks, the pages plot is on a log scale, the
// dirty-rate plot carries the throttle on a second axis, and the downtime
// plot breaks both the measured and the estimated downtime into parts.
import { describe, it, expect } from "vitest";
import { htmlReport, reportPlots } from "../../src/migration/report.js";
import { linearTicks, logTicks, tickLabel } from "../../src/migration/plots.js";
import type { MigrationReport, RoundStats } from "../../src/migration/index.js";

function round(i: number, pages: number, dirtyRate: number, throttle: number, final = false): RoundStats {
  return { round: i, final, pages, fullPages: pages, zeroPages: 0, deltaPages: 0, skippedZeroPages: 0, bytes: pages * 4112, ms: 10, throughput: 3e8,
    dirtyRate, throttle, etaMs: 5, startMs: 100 * i, syncMs: 0 };
}

const parts = { lock: 0.4, harvest: 0.1, send: 6.2, deviceState: 0.2, verify: 1.9, confirm: 0.05, resume: 0.6 };
const report: MigrationReport = {
  ok: true, running: "destination", totalTimeMs: 5200, downtimeMs: 9.45, verifyMs: 1.9, expectedDowntimeMs: 8.1, sourceCheckMs: 310,
  downtime: { toLastByteMs: 7.1, toRunningMs: 9.45, parts },
  estimate: { ms: 8.1, parts: { ...parts, lock: 0, send: 5.1 }, pages: 400, bytes: 1.6e6, rates: { bandwidth: 3e8, bytesPerPage: 4000, harvestMs: 0.1, hashMsPerPage: 0.004, digestMs: 0.3, rttMs: 0.6 } },
  rounds: 6, pagesSent: 270000, zeroPages: 0, deltaPages: 0, fullPages: 270000, skippedZeroPages: 0, bytesSent: 1.1e9, bytesUncompressed: 1.1e9, throughputMBps: 210,
  verified: true, verifyMode: "deferred", pagesAsSent: true, untrackedPages: 0, digest: "0123456789abcdef", framesLost: null, throttleMax: 0.3, ramBytes: 1 << 30,
  roundStats: [round(0, 262144, 16000, 0), round(1, 9000, 16400, 0), round(2, 3000, 16300, 0.2), round(3, 1200, 12000, 0.3), round(4, 600, 9000, 0.3), round(5, 450, 8000, 0.3, true)],
  timeline: [[100, 2.9e8], [200, 3.1e8], [300, 3.0e8], [4000, 2.8e8], [5100, 1e8]],
};

interface Axis { label: string; ticks: string[] }
function axes(svg: string): Record<string, Axis> {
  const out: Record<string, Axis> = {};
  for (const m of svg.matchAll(/<g class="axis (x|y|y2)">(.*?)<text class="axis-label"[^>]*>([^<]*)<\/text><\/g>/g)) {
    out[m[1]] = { label: m[3], ticks: [...m[2].matchAll(/<g class="tick"><line[^>]*\/>(?:<line[^>]*\/>)?<text[^>]*>([^<]*)<\/text><\/g>/g)].map((t) => t[1]) };
  }
  return out;
}
const num = (t: string) => Number(t.replace(/k$/, "e3").replace(/M$/, "e6"));

describe("report plots", () => {
  const p = reportPlots(report);

  it("every plot: a title, an x and a y axis, each labelled with its unit and carrying at least three ticks in increasing order", () => {
    for (const [name, svg] of Object.entries(p)) {
      expect(svg, name).toMatch(/^<svg [^>]*><title>[^<]+<\/title>/);
      const a = axes(svg);
      for (const k of ["x", "y"] as const) {
        if (name === "downtime" && k === "y") continue; // rows, not a scale
        expect(a[k], `${name} ${k}`).toBeDefined();
        expect(a[k].label, `${name} ${k}`).toMatch(/\(.+\)/);
        expect(a[k].ticks.length, `${name} ${k}`).toBeGreaterThanOrEqual(name === "pages" || name === "dirty" ? (k === "x" ? 6 : 3) : 3);
      }
      if (name !== "pages" && name !== "dirty") {
        const xs = a.x.ticks.map(num);
        for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThan(xs[i - 1]);
      }
    }
  });

  it("pages per round: a log scale (powers of ten up to round 0), so the later rounds are not flattened", () => {
    const a = axes(p.pages);
    expect(a.y.label).toBe("pages (log scale)");
    expect(a.y.ticks.map(num)).toEqual([1, 10, 100, 1000, 1e4, 1e5, 1e6]);
    expect(a.x.label).toBe("round (number; * = stop-and-copy)");
    expect(a.x.ticks).toEqual(["0", "1", "2", "3", "4", "5*"]);
    // Round 5's 450 pages stand more than a third of the plot high (linear: 0.2 %).
    const heights = [...p.pages.matchAll(/<rect class="bar"[^>]* height="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(heights).toHaveLength(6);
    expect(heights[5] / heights[0]).toBeGreaterThan(0.4);
  });

  it("dirty rate (MiB/s) and throttle (%) per round, the throttle on its own axis from 0 to 100", () => {
    const a = axes(p.dirty);
    expect(a.y.label).toBe("dirty rate (MiB/s)");
    expect(a.y2.label).toBe("throttle (%)");
    expect(a.y2.ticks.map(num)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(a.y.ticks.map(num)[a.y.ticks.length - 1]).toBeGreaterThanOrEqual((16400 * 4096) / 2 ** 20);
    expect(p.dirty).toMatch(/<g class="legend">.*dirty rate.*throttle/);
    expect([...p.dirty.matchAll(/<circle /g)]).toHaveLength(6);
  });

  it("downtime: measured and estimated rows, each split into the seven parts in a legend, QEMU's last-byte mark on the measured row", () => {
    const a = axes(p.downtime);
    expect(a.x.label).toBe("time since the freeze (ms)");
    expect(a.x.ticks.map(num).at(-1)).toBeGreaterThanOrEqual(9.45);
    const legend = [...p.downtime.matchAll(/<g class="legend-item"><rect[^>]*\/><text[^>]*>([^<]*)<\/text><\/g>/g)].map((m) => m[1]);
    expect(legend).toEqual(["lock", "final harvest", "send", "device state", "verify", "confirm", "resume"]);
    const rows = [...p.downtime.matchAll(/<g class="row"><text[^>]*>([^<]*)<\/text>(.*?)<\/g>(?=<g class="row">|<g class="legend">)/g)];
    expect(rows.map((r) => r[1])).toEqual(["measured", "estimated"]);
    expect([...rows[0][2].matchAll(/class="segment"/g)]).toHaveLength(7);
    expect([...rows[1][2].matchAll(/class="segment"/g)]).toHaveLength(6); // the estimate's lock is 0
    expect(rows[0][2]).toContain("last byte sent");
  });

  it("the HTML report holds the four plots and the summary", () => {
    const html = htmlReport(report);
    expect(html.match(/<svg /g)).toHaveLength(4);
    expect(html).toContain("downtime parts: lock 0.40, final harvest 0.10, send 6.20");
  });

  it("ticks: 1-2-5 steps from 0 past the maximum; powers of ten; labels without float noise", () => {
    expect(linearTicks(9.45)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(linearTicks(100)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(linearTicks(0.3)).toEqual([0, 0.1, 0.2, 0.3]);
    expect(linearTicks(0)).toEqual([0, 1]);
    expect(logTicks(262144)).toEqual([1, 10, 100, 1000, 1e4, 1e5, 1e6]);
    expect(logTicks(0)).toEqual([1, 10]);
    expect([0.1 + 0.2, 12000, 2.5e6, 0.004].map(tickLabel)).toEqual(["0.3", "12k", "2.5M", "0.004"]);
  });
});
