// Human-facing output of a migration: a summary in the style of QEMU's
// `info migrate`, the `--json` object, and an HTML report with SVG plots.

import type { MigrationReport } from "./types.js";
import { ROUND_NEVER } from "./wire.js";

const kb = (b: number) => Math.round(b / 1024);
const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(0));

/** Lines of the `info migrate`-style summary. */
export function summaryLines(r: MigrationReport, notes: string[] = []): string[] {
  const status = r.ok ? "completed" : r.running === "unknown" ? "failed after commit (source frozen; destination state unknown)" : "failed (source resumed)";
  const lines = [
    `Migration status: ${status}`,
    ...(r.error ? [`error: ${r.error}`] : []),
    `total time: ${ms(r.totalTimeMs)} ms`,
    `downtime: ${r.ok ? `${ms(r.downtimeMs)} ms (verify ${ms(r.verifyMs)} ms)` : "-"}`,
    `expected downtime: ${Number.isFinite(r.expectedDowntimeMs) ? ms(r.expectedDowntimeMs) + " ms (the final round; verify comes on top)" : "-"}`,
    `rounds (dirty sync count): ${r.rounds}`,
    `transferred ram: ${kb(r.bytesSent)} kbytes`,
    `throughput: ${(r.throughputMBps * 8).toFixed(1)} mbps (${r.throughputMBps.toFixed(1)} MB/s)`,
    `total ram: ${kb(r.ramBytes)} kbytes`,
    `pages: normal ${r.fullPages}, zero ${r.zeroPages + r.skippedZeroPages} (${r.skippedZeroPages} as runs in round 0), xbzrle ${r.deltaPages}`,
    `savings: ${kb(r.bytesUncompressed + r.skippedZeroPages * 4096 - r.bytesSent)} kbytes vs. sending every page whole`,
    `cpu throttle percentage (max): ${Math.round(r.throttleMax * 100)}`,
    `verified: ${verifiedLine(r)}`,
    ...(r.untrackedPages ? [`source pages changed after they were last sent: ${r.untrackedPages} (first: page ${r.untrackedFirstPage})`] : []),
    `frames lost: ${r.framesLost ?? "n/a (no NIC in this VM)"}`,
    ...notes,
  ];
  if (r.mismatches?.length) {
    lines.push(`pages that differ: ${r.mismatchTotal} (${r.mismatches.slice(0, 8).map((m) => `page ${m.page} last sent in round ${m.round === ROUND_NEVER ? "never" : m.round}`).join(", ")}${(r.mismatchTotal ?? 0) > 8 ? ", ..." : ""})`);
  }
  return lines;
}

/** What the verify step proved, in words: the summary's `verified:` line. */
export function verifiedLine(r: MigrationReport): string {
  if (r.verified) return `yes, destination memory equals source memory (full: all guest RAM hashed on both sides after the last page; digest ${r.digest})`;
  if (r.pagesAsSent) return `no: sent-page check only. The destination holds every page as the source sent it (digest ${r.digest}), but the source's memory was not read again, so a write that escaped dirty tracking would not be seen (--verify full checks it)`;
  return "no";
}

/** The machine-readable summary (`vmdev migrate --json`). */
export function jsonSummary(r: MigrationReport): Record<string, unknown> {
  return {
    ok: r.ok, running: r.running, error: r.error ?? null, failedPhase: r.failedPhase ?? null,
    totalTimeMs: round2(r.totalTimeMs), downtimeMs: round2(r.downtimeMs), verifyMs: round2(r.verifyMs), expectedDowntimeMs: Number.isFinite(r.expectedDowntimeMs) ? round2(r.expectedDowntimeMs) : null,
    rounds: r.rounds, pagesSent: r.pagesSent, zeroPages: r.zeroPages + r.skippedZeroPages, zeroRunPages: r.skippedZeroPages, deltaPages: r.deltaPages, fullPages: r.fullPages,
    bytesSent: r.bytesSent, throughputMBps: round2(r.throughputMBps), ramBytes: r.ramBytes, verified: r.verified, verifyMode: r.verifyMode, pagesAsSent: r.pagesAsSent,
    untrackedPages: r.untrackedPages, untrackedFirstPage: r.untrackedFirstPage ?? null, digest: r.digest,
    framesLost: r.framesLost, throttleMaxFraction: r.throttleMax, mismatchTotal: r.mismatchTotal ?? 0, mismatches: r.mismatches ?? [],
    roundStats: r.roundStats.map((s) => ({ round: s.round, final: s.final, pages: s.pages, fullPages: s.fullPages, zeroPages: s.zeroPages, deltaPages: s.deltaPages, bytesSent: s.bytes, durationMs: round2(s.ms), dirtyPagesPerSec: Math.round(s.dirtyRate) })),
  };
}
const round2 = (x: number) => Math.round(x * 100) / 100;

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

function barChart(title: string, labels: string[], values: number[], unit: string, color: string): string {
  const W = 640, H = 220, L = 60, B = 30, T = 24;
  const max = Math.max(1, ...values);
  const bw = (W - L - 10) / Math.max(1, values.length);
  const bars = values.map((v, i) => {
    const h = ((H - B - T) * v) / max;
    const x = L + i * bw + 2, y = H - B - h;
    return `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, bw - 4).toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"><title>${esc(labels[i])}: ${v} ${unit}</title></rect>` +
      `<text x="${(x + bw / 2 - 2).toFixed(1)}" y="${H - B + 14}" font-size="10" text-anchor="middle">${esc(labels[i])}</text>`;
  }).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img"><title>${esc(title)}</title>` +
    `<text x="${L}" y="14" font-size="13" font-weight="bold">${esc(title)}</text>` +
    `<line x1="${L}" y1="${H - B}" x2="${W - 5}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>` +
    `<text x="${L - 4}" y="${T + 8}" font-size="10" text-anchor="end">${fmt(max)}</text><text x="${L - 4}" y="${H - B}" font-size="10" text-anchor="end">0</text>` +
    `<text x="4" y="${(H / 2).toFixed(0)}" font-size="10">${esc(unit)}</text>${bars}</svg>`;
}

function lineChart(title: string, pts: Array<[number, number]>, xUnit: string, yUnit: string, markX?: number, markLabel?: string): string {
  const W = 640, H = 220, L = 60, B = 30, T = 24;
  const maxX = Math.max(1, ...pts.map((p) => p[0]), markX ?? 0), maxY = Math.max(1, ...pts.map((p) => p[1]));
  const sx = (x: number) => L + ((W - L - 10) * x) / maxX, sy = (y: number) => H - B - ((H - B - T) * y) / maxY;
  const path = pts.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
  const mark = markX !== undefined ? `<line x1="${sx(markX).toFixed(1)}" y1="${T}" x2="${sx(markX).toFixed(1)}" y2="${H - B}" stroke="#c00" stroke-dasharray="4 3"/><text x="${(sx(markX) - 4).toFixed(1)}" y="${T + 10}" font-size="10" fill="#c00" text-anchor="end">${esc(markLabel ?? "")}</text>` : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img"><title>${esc(title)}</title>` +
    `<text x="${L}" y="14" font-size="13" font-weight="bold">${esc(title)}</text>` +
    `<line x1="${L}" y1="${H - B}" x2="${W - 5}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>` +
    `<text x="${L - 4}" y="${T + 8}" font-size="10" text-anchor="end">${fmt(maxY)}</text><text x="${L - 4}" y="${H - B}" font-size="10" text-anchor="end">0</text>` +
    `<text x="${W - 10}" y="${H - 4}" font-size="10" text-anchor="end">${fmt(maxX)} ${esc(xUnit)}</text><text x="4" y="${(H / 2).toFixed(0)}" font-size="10">${esc(yUnit)}</text>` +
    `<path d="${path}" fill="none" stroke="#1f6fb2" stroke-width="2"/>${mark}</svg>`;
}

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2));

/** A self-contained HTML report with SVG plots: dirty pages per round, throughput over time, downtime. */
export function htmlReport(r: MigrationReport, notes: string[] = []): string {
  const rounds = r.roundStats;
  const dirty = barChart("Pages sent per round (round 0: all non-zero pages; later: dirty pages)", rounds.map((s) => (s.final ? `${s.round}*` : String(s.round))), rounds.map((s) => s.pages), "pages", "#e08a1e");
  const rate = barChart("Dirty rate measured after each round", rounds.map((s) => String(s.round)), rounds.map((s) => Math.round(s.dirtyRate)), "pages/s", "#8a5cc2");
  const stopAt = rounds.find((s) => s.final)?.startMs;
  const tput = lineChart("Throughput over time", r.timeline.map(([t, b]) => [t, b / 1e6]), "ms", "MB/s", stopAt, "stop-and-copy");
  const dt = barChart("Downtime (measured) vs. estimate", ["measured", "estimated"], [Math.round(r.downtimeMs * 100) / 100, Number.isFinite(r.expectedDowntimeMs) ? Math.round(r.expectedDowntimeMs * 100) / 100 : 0], "ms", "#c0392b");
  return `<!doctype html><html><head><meta charset="utf-8"><title>vmdev migration report</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}pre{background:#f4f4f4;padding:1em}svg{display:block;margin:1em 0}</style></head><body>
<h1>vmdev live migration</h1>
<pre>${esc(summaryLines(r, notes).join("\n"))}</pre>
${dirty}${rate}${tput}${dt}
<p>* the stop-and-copy round (vCPUs frozen).</p>
</body></html>
`;
}
