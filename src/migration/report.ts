// Human-facing output of a migration: a summary in the style of QEMU's
// `info migrate`, the `--json` object, and an HTML report with SVG plots.

import type { DowntimeParts, MigrationReport } from "./types.js";
import { ROUND_NEVER } from "./wire.js";
import { barLinePlot, barPlot, linePlot, stackedBarPlot } from "./plots.js";

const kb = (b: number) => Math.round(b / 1024);
const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(0));

/** Lines of the `info migrate`-style summary. */
export function summaryLines(r: MigrationReport, notes: string[] = []): string[] {
  const status = r.ok ? "completed" : r.running === "unknown" ? "failed after commit (source frozen; destination state unknown)" : "failed (source resumed)";
  const lines = [
    `Migration status: ${status}`,
    ...(r.error ? [`error: ${r.error}`] : []),
    `total time: ${ms(r.totalTimeMs)} ms`,
    `downtime: ${r.ok ? `${ms(r.downtimeMs)} ms until the destination runs; ${ms(r.downtime.toLastByteMs)} ms until the last byte was sent` : "-"}`,
    ...(r.ok ? [`downtime parts: ${partsLine(r.downtime.parts)}`] : []),
    `expected downtime: ${r.estimate && Number.isFinite(r.estimate.ms) ? `${ms(r.estimate.ms)} ms (${partsLine(r.estimate.parts)})${r.ok && r.downtimeMs > 0 ? `; estimate ÷ actual ${(r.estimate.ms / r.downtimeMs).toFixed(2)}` : ""}` : "-"}`,
    ...(r.verifyMode === "deferred" && r.ok ? [`source memory check after resume: ${ms(r.sourceCheckMs)} ms (all guest RAM hashed against the pages as sent)`] : []),
    `rounds (dirty sync count): ${r.rounds}`,
    ...syncLine(r),
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

/** The source's dirty detection (a syncDirty hook, e.g. a RAM mirror), when it has one: its cost per round and under the freeze. */
function syncLine(r: MigrationReport): string[] {
  const synced = r.roundStats.filter((s) => s.round > 0 && s.syncMs > 0);
  if (!synced.length) return [];
  const pre = synced.filter((s) => !s.final), last = synced.find((s) => s.final);
  const mean = pre.length ? pre.reduce((a, s) => a + s.syncMs, 0) / pre.length : 0;
  const rounds = pre.length ? `${ms(mean)} ms per pre-copy round (mean of ${pre.length})` : "no pre-copy round after round 0";
  return [`dirty detection (sync before each harvest): ${rounds}${last ? `, ${ms(last.syncMs)} ms under the freeze (in the harvest part)` : ""}`];
}

/** Names of the downtime's parts, in order, as the summary, the JSON and the plot give them. */
export const PART_NAMES: Array<[keyof DowntimeParts, string]> = [
  ["lock", "lock"], ["harvest", "final harvest"], ["send", "send"], ["deviceState", "device state"], ["verify", "verify"], ["confirm", "confirm"], ["resume", "resume"],
];

function partsLine(p: DowntimeParts): string {
  return PART_NAMES.map(([k, name]) => `${name} ${Number.isFinite(p[k]) ? ms(p[k]) : "∞"}`).join(", ") + " ms";
}

/** What the verify step proved, in words: the summary's `verified:` line. */
export function verifiedLine(r: MigrationReport): string {
  if (r.verified && r.verifyMode === "deferred") return `yes, destination memory equals source memory (deferred: pages as applied equal pages as sent, digest ${r.digest}; after resume, all of the frozen source's RAM hashed equal to the pages as sent)`;
  if (r.integrityError) return `NO: ${r.integrityError}`;
  if (r.verified) return `yes, destination memory equals source memory (full: all guest RAM hashed on both sides after the last page; digest ${r.digest})`;
  if (r.pagesAsSent && r.verifyMode === "deferred") return `no: the destination holds every page as the source sent it (digest ${r.digest}), but the source's check of its memory after resume did not complete`;
  if (r.pagesAsSent) return `no: sent-page check only. The destination holds every page as the source sent it (digest ${r.digest}), but the source's memory was not read again, so a write that escaped dirty tracking would not be seen (--verify full checks it)`;
  return "no";
}

/** The machine-readable summary (`vmdev migrate --json`). */
export function jsonSummary(r: MigrationReport): Record<string, unknown> {
  return {
    ok: r.ok, running: r.running, error: r.error ?? null, failedPhase: r.failedPhase ?? null,
    totalTimeMs: round2(r.totalTimeMs), downtimeMs: round2(r.downtimeMs), verifyMs: round2(r.verifyMs), expectedDowntimeMs: Number.isFinite(r.expectedDowntimeMs) ? round2(r.expectedDowntimeMs) : null,
    downtime: { toLastByteMs: round2(r.downtime.toLastByteMs), toRunningMs: round2(r.downtime.toRunningMs), parts: roundParts(r.downtime.parts) },
    estimate: r.estimate ? { ms: finite(r.estimate.ms), parts: roundParts(r.estimate.parts), pages: r.estimate.pages, bytes: Math.round(r.estimate.bytes),
      rates: { bandwidthBytesPerSec: Math.round(r.estimate.rates.bandwidth), bytesPerPage: round2(r.estimate.rates.bytesPerPage), harvestMs: round2(r.estimate.rates.harvestMs),
        hashNsPerPage: Math.round(r.estimate.rates.hashMsPerPage * 1e6), digestMs: round2(r.estimate.rates.digestMs), rttMs: round2(r.estimate.rates.rttMs) } } : null,
    estimateRatio: r.estimate && r.ok && r.downtimeMs > 0 && Number.isFinite(r.estimate.ms) ? round2(r.estimate.ms / r.downtimeMs) : null,
    sourceCheckMs: round2(r.sourceCheckMs), integrityError: r.integrityError ?? null,
    rounds: r.rounds, pagesSent: r.pagesSent, zeroPages: r.zeroPages + r.skippedZeroPages, zeroRunPages: r.skippedZeroPages, deltaPages: r.deltaPages, fullPages: r.fullPages,
    bytesSent: r.bytesSent, throughputMBps: round2(r.throughputMBps), ramBytes: r.ramBytes, verified: r.verified, verifyMode: r.verifyMode, pagesAsSent: r.pagesAsSent,
    untrackedPages: r.untrackedPages, untrackedFirstPage: r.untrackedFirstPage ?? null, digest: r.digest,
    framesLost: r.framesLost, throttleMaxFraction: r.throttleMax, mismatchTotal: r.mismatchTotal ?? 0, mismatches: r.mismatches ?? [],
    roundStats: r.roundStats.map((s) => ({ round: s.round, final: s.final, pages: s.pages, fullPages: s.fullPages, zeroPages: s.zeroPages, deltaPages: s.deltaPages, bytesSent: s.bytes, durationMs: round2(s.ms),
      dirtyPagesPerSec: Math.round(s.dirtyRate), throttleFraction: s.throttle, throughputBytesPerSec: Math.round(s.throughput), etaMs: finite(s.etaMs), dirtySyncMs: round2(s.syncMs ?? 0) })),
  };
}
const round2 = (x: number) => Math.round(x * 100) / 100;
const finite = (x: number) => (Number.isFinite(x) ? round2(x) : null);
const roundParts = (p: DowntimeParts) => Object.fromEntries(PART_NAMES.map(([k]) => [k, finite(p[k])])) as Record<keyof DowntimeParts, number | null>;

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

const PART_COLORS = ["#7f8c8d", "#f1c40f", "#e67e22", "#16a085", "#c0392b", "#2980b9", "#8e44ad"];

/** The report's plots as SVG strings: pages per round, dirty rate and throttle per round, throughput over time, the downtime breakdown. */
export function reportPlots(r: MigrationReport): { pages: string; dirty: string; throughput: string; downtime: string } {
  const rounds = r.roundStats;
  const labels = rounds.map((s) => (s.final ? `${s.round}*` : String(s.round)));
  // Round 0 carries all of RAM and later rounds a few pages: a linear axis would show round 0 alone.
  const pages = barPlot({ title: "Pages sent per round (round 0: all RAM; later: dirty pages; * = stop-and-copy)", labels, values: rounds.map((s) => s.pages),
    xLabel: "round (number; * = stop-and-copy)", yLabel: "pages (log scale)", color: "#e08a1e", log: true, unit: "pages" });
  const dirty = barLinePlot({ title: "Dirty rate and vCPU throttle per round", labels, bars: rounds.map((s) => (s.dirtyRate * 4096) / 2 ** 20),
    line: rounds.map((s) => s.throttle * 100), xLabel: "round (number; * = stop-and-copy)", barLabel: "dirty rate (MiB/s)", lineLabel: "throttle (%)", lineMax: 100, barName: "dirty rate", lineName: "throttle" });
  const stopAt = rounds.find((s) => s.final)?.startMs;
  const throughput = linePlot({ title: "Throughput over time", points: r.timeline.map(([t, b]) => [t, b / 1e6]), xLabel: "time since start (ms)", yLabel: "throughput (MB/s)",
    mark: stopAt !== undefined ? { x: stopAt, label: "stop-and-copy" } : undefined });
  const row = (label: string, p: DowntimeParts) => ({ label, parts: PART_NAMES.map(([k]) => (Number.isFinite(p[k]) ? p[k] : 0)) });
  const rows = [{ ...row("measured", r.downtime.parts), mark: r.downtime.toLastByteMs > 0 ? { x: r.downtime.toLastByteMs, label: "last byte sent" } : undefined }];
  if (r.estimate) rows.push({ ...row("estimated", r.estimate.parts), mark: undefined });
  const downtime = stackedBarPlot({ title: "Downtime by part: measured vs. estimated before stop-and-copy", rows, partNames: PART_NAMES.map(([, n]) => n), colors: PART_COLORS, xLabel: "time since the freeze (ms)" });
  return { pages, dirty, throughput, downtime };
}

/** A self-contained HTML report with SVG plots: dirty pages per round, throughput over time, downtime. */
export function htmlReport(r: MigrationReport, notes: string[] = []): string {
  const p = reportPlots(r);
  return `<!doctype html><html><head><meta charset="utf-8"><title>vmdev migration report</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}svg{display:block;margin:1em 0}</style></head><body>
<h1>vmdev live migration</h1>
<pre>${esc(summaryLines(r, notes).join("\n"))}</pre>
${p.pages}${p.dirty}${p.throughput}${p.downtime}
<p>* the stop-and-copy round (vCPUs frozen). Downtime: “measured” runs from the freeze until the destination said it runs; the black mark is QEMU's definition, the freeze until the last byte of the VM's state was sent.</p>
</body></html>
`;
}
