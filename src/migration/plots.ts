// SVG plots of the migration report: axes with units and ticks a reader can
// use, a log scale where one value (round 0) would flatten the rest.
//
// Structure the tests read (not pixels): every plot is one <svg> with a
// <title>; each axis is <g class="axis x|y|y2"> holding a
// <text class="axis-label"> (quantity and unit) and one <g class="tick">
// per tick, each a short <line> and a <text> with the tick's value.

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

const W = 680, H = 270, L = 70, R = 60, T = 42, B = 46;
const plotW = W - L - R, plotH = H - T - B;

/** A tick's label: short, no float noise (0.30000000000000004). */
export function tickLabel(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(3));
}

/** Round tick values from 0 to at least `max`: steps of 1, 2 or 5 × 10^k, about `n` of them. */
export function linearTicks(max: number, n = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let i = 0; ; i++) {
    const v = +(i * step).toPrecision(12);
    ticks.push(v);
    if (v >= max) break;
  }
  return ticks;
}

/** Powers of ten from 1 to at least `max` (a log axis; values below 1 sit on its floor). */
export function logTicks(max: number): number[] {
  const ticks = [1];
  while (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] * 10);
  if (ticks.length === 1) ticks.push(10);
  return ticks;
}

interface Scale { (v: number): number; ticks: number[] }

function yScale(ticks: number[], log: boolean): Scale {
  const top = ticks[ticks.length - 1];
  const f = log
    ? (v: number) => T + plotH - (plotH * Math.log10(Math.max(1, v))) / Math.log10(top)
    : (v: number) => T + plotH - (plotH * v) / top;
  return Object.assign(f, { ticks });
}

function xScale(ticks: number[]): Scale {
  const top = ticks[ticks.length - 1];
  return Object.assign((v: number) => L + (plotW * v) / top, { ticks });
}

function yAxis(cls: "y" | "y2", s: Scale, label: string): string {
  const x = cls === "y" ? L : L + plotW;
  const dir = cls === "y" ? -1 : 1;
  const ticks = s.ticks.map((v) => `<g class="tick"><line x1="${x}" y1="${s(v).toFixed(1)}" x2="${x + dir * 5}" y2="${s(v).toFixed(1)}" stroke="#333"/>` +
    (cls === "y" ? `<line x1="${L}" y1="${s(v).toFixed(1)}" x2="${L + plotW}" y2="${s(v).toFixed(1)}" stroke="#ddd"/>` : "") +
    `<text x="${x + dir * 8}" y="${(s(v) + 3.5).toFixed(1)}" font-size="10" text-anchor="${cls === "y" ? "end" : "start"}">${tickLabel(v)}</text></g>`).join("");
  const lx = cls === "y" ? 14 : W - 10, ly = T + plotH / 2;
  return `<g class="axis ${cls}"><line x1="${x}" y1="${T}" x2="${x}" y2="${T + plotH}" stroke="#333"/>${ticks}` +
    `<text class="axis-label" x="${lx}" y="${ly}" font-size="11" text-anchor="middle" transform="rotate(-90 ${lx} ${ly})">${esc(label)}</text></g>`;
}

function xAxisLinear(s: Scale, label: string): string {
  const y = T + plotH;
  const ticks = s.ticks.map((v) => `<g class="tick"><line x1="${s(v).toFixed(1)}" y1="${y}" x2="${s(v).toFixed(1)}" y2="${y + 5}" stroke="#333"/>` +
    `<text x="${s(v).toFixed(1)}" y="${y + 17}" font-size="10" text-anchor="middle">${tickLabel(v)}</text></g>`).join("");
  return `<g class="axis x"><line x1="${L}" y1="${y}" x2="${L + plotW}" y2="${y}" stroke="#333"/>${ticks}` +
    `<text class="axis-label" x="${L + plotW / 2}" y="${H - 8}" font-size="11" text-anchor="middle">${esc(label)}</text></g>`;
}

/** An x axis of categories (rounds): a tick under each band's centre; labels thinned to fit. */
function xAxisBands(labels: string[], label: string): string {
  const y = T + plotH, bw = plotW / Math.max(1, labels.length);
  const every = Math.max(1, Math.ceil(labels.length / 20));
  const ticks = labels.map((l, i) => (i % every && i !== labels.length - 1 ? "" : `<g class="tick"><line x1="${(L + (i + 0.5) * bw).toFixed(1)}" y1="${y}" x2="${(L + (i + 0.5) * bw).toFixed(1)}" y2="${y + 5}" stroke="#333"/>` +
    `<text x="${(L + (i + 0.5) * bw).toFixed(1)}" y="${y + 17}" font-size="10" text-anchor="middle">${esc(l)}</text></g>`)).join("");
  return `<g class="axis x"><line x1="${L}" y1="${y}" x2="${L + plotW}" y2="${y}" stroke="#333"/>${ticks}` +
    `<text class="axis-label" x="${L + plotW / 2}" y="${H - 8}" font-size="11" text-anchor="middle">${esc(label)}</text></g>`;
}

function frame(title: string, body: string, legend = ""): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img"><title>${esc(title)}</title>` +
    `<rect width="${W}" height="${H}" fill="#fff"/><text x="${L}" y="18" font-size="13" font-weight="bold">${esc(title)}</text>${body}${legend}</svg>`;
}

/** A row of swatches under the title, from the plot's left edge. */
function legendOf(items: Array<[string, string]>): string {
  let pos = L;
  const y = 33;
  const out = items.map(([name, color]) => {
    const g = `<g class="legend-item"><rect x="${pos}" y="${y - 9}" width="10" height="10" fill="${color}"/><text x="${pos + 13}" y="${y}" font-size="10">${esc(name)}</text></g>`;
    pos += 22 + name.length * 5.5;
    return g;
  });
  return `<g class="legend">${out.join("")}</g>`;
}

/** Bars per category; log scale when asked (values below 1 are drawn at the floor). */
export function barPlot(o: { title: string; labels: string[]; values: number[]; xLabel: string; yLabel: string; color: string; log?: boolean; unit: string }): string {
  const max = Math.max(0, ...o.values);
  const s = yScale(o.log ? logTicks(max) : linearTicks(max), !!o.log);
  const bw = plotW / Math.max(1, o.values.length);
  const bars = o.values.map((v, i) => {
    const y = s(v), h = T + plotH - y;
    return `<rect class="bar" x="${(L + i * bw + bw * 0.1).toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, bw * 0.8).toFixed(1)}" height="${h.toFixed(1)}" fill="${o.color}"><title>${esc(o.labels[i])}: ${tickLabel(v)} ${esc(o.unit)}</title></rect>`;
  }).join("");
  return frame(o.title, yAxis("y", s, o.yLabel) + xAxisBands(o.labels, o.xLabel) + bars);
}

/** Bars on the left axis and a line on the right axis (e.g. dirty rate and throttle per round). */
export function barLinePlot(o: { title: string; labels: string[]; bars: number[]; line: number[]; xLabel: string; barLabel: string; lineLabel: string; lineMax: number; barName: string; lineName: string }): string {
  const s = yScale(linearTicks(Math.max(0, ...o.bars)), false);
  const s2 = yScale(linearTicks(o.lineMax), false);
  const bw = plotW / Math.max(1, o.bars.length);
  const bars = o.bars.map((v, i) => `<rect class="bar" x="${(L + i * bw + bw * 0.15).toFixed(1)}" y="${s(v).toFixed(1)}" width="${Math.max(1, bw * 0.7).toFixed(1)}" height="${(T + plotH - s(v)).toFixed(1)}" fill="#8a5cc2"><title>${esc(o.labels[i])}: ${tickLabel(v)}</title></rect>`).join("");
  const path = o.line.map((v, i) => `${i ? "L" : "M"}${(L + (i + 0.5) * bw).toFixed(1)},${s2(v).toFixed(1)}`).join(" ");
  const dots = o.line.map((v, i) => `<circle cx="${(L + (i + 0.5) * bw).toFixed(1)}" cy="${s2(v).toFixed(1)}" r="3" fill="#c0392b"/>`).join("");
  return frame(o.title, yAxis("y", s, o.barLabel) + yAxis("y2", s2, o.lineLabel) + xAxisBands(o.labels, o.xLabel) + bars +
    `<path class="line" d="${path}" fill="none" stroke="#c0392b" stroke-width="2"/>${dots}`, legendOf([[o.barName, "#8a5cc2"], [o.lineName, "#c0392b"]]));
}

/** A line over a linear x axis, with an optional vertical marker. */
export function linePlot(o: { title: string; points: Array<[number, number]>; xLabel: string; yLabel: string; mark?: { x: number; label: string } }): string {
  const sx = xScale(linearTicks(Math.max(0, ...o.points.map((p) => p[0]), o.mark?.x ?? 0)));
  const sy = yScale(linearTicks(Math.max(0, ...o.points.map((p) => p[1]))), false);
  const path = o.points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
  const mark = o.mark ? `<line class="marker" x1="${sx(o.mark.x).toFixed(1)}" y1="${T}" x2="${sx(o.mark.x).toFixed(1)}" y2="${T + plotH}" stroke="#c00" stroke-dasharray="4 3"/>` +
    `<text x="${(sx(o.mark.x) - 4).toFixed(1)}" y="${T + 12}" font-size="10" fill="#c00" text-anchor="end">${esc(o.mark.label)}</text>` : "";
  return frame(o.title, yAxis("y", sy, o.yLabel) + xAxisLinear(sx, o.xLabel) + (path ? `<path class="line" d="${path}" fill="none" stroke="#1f6fb2" stroke-width="2"/>` : "") + mark);
}

/** Horizontal stacked bars (one per row), segments named in a legend, on a linear x axis; optional per-row marker. */
export function stackedBarPlot(o: { title: string; rows: Array<{ label: string; parts: number[]; mark?: { x: number; label: string } }>; partNames: string[]; colors: string[]; xLabel: string }): string {
  const total = Math.max(0, ...o.rows.map((r) => r.parts.reduce((a, b) => a + b, 0)), ...o.rows.map((r) => r.mark?.x ?? 0));
  const sx = xScale(linearTicks(total));
  const rh = plotH / Math.max(1, o.rows.length);
  const rows = o.rows.map((r, i) => {
    const y = T + i * rh + rh * 0.2, h = rh * 0.6;
    let acc = 0;
    const segs = r.parts.map((v, k) => {
      const x0 = sx(acc); acc += v;
      return v > 0 ? `<rect class="segment" x="${x0.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0.5, sx(acc) - x0).toFixed(1)}" height="${h.toFixed(1)}" fill="${o.colors[k]}"><title>${esc(r.label)}, ${esc(o.partNames[k])}: ${tickLabel(v)} ms</title></rect>` : "";
    }).join("");
    const mark = r.mark ? `<line class="marker" x1="${sx(r.mark.x).toFixed(1)}" y1="${(y - 4).toFixed(1)}" x2="${sx(r.mark.x).toFixed(1)}" y2="${(y + h + 4).toFixed(1)}" stroke="#000" stroke-width="2"/>` +
      `<text x="${(sx(r.mark.x) + 3).toFixed(1)}" y="${(y - 5).toFixed(1)}" font-size="9">${esc(r.mark.label)}</text>` : "";
    return `<g class="row"><text x="${L - 6}" y="${(y + h / 2 + 3.5).toFixed(1)}" font-size="10" text-anchor="end">${esc(r.label)}</text>${segs}${mark}</g>`;
  }).join("");
  return frame(o.title, xAxisLinear(sx, o.xLabel) + `<line x1="${L}" y1="${T}" x2="${L}" y2="${T + plotH}" stroke="#333"/>` + rows,
    legendOf(o.partNames.map((n, k) => [n, o.colors[k]] as [string, string])));
}
