// A small line plot on a <canvas>: labelled axes with units, a legend, "nice"
// tick steps. Drawn by hand (no dependency); redrawn whole on every update.

/** 1, 2 or 5 × 10^k: the tick step for about `ticks` ticks over [0, max]. */
export function niceStep(max, ticks = 5) {
  if (!(max > 0)) return 1;
  const raw = max / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/**
 * Draw `series` ({label, color, width?, dash?, points: [[x, y], …]}) into `canvas`, in order.
 * `x` spans the last `window` units of x; y starts at 0. Returns the plot
 * area in CSS pixels ({left, top, width, height}).
 */
export function drawPlot(canvas, series, { xLabel, yLabel, window: span = 60 } = {}) {
  const dpr = globalThis.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || canvas.width, cssH = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  g.font = "12px system-ui, sans-serif";

  const all = series.flatMap((s) => s.points);
  const xEnd = Math.max(span, ...all.map((p) => p[0]));
  const xStart = xEnd - span;
  const visible = all.filter((p) => p[0] >= xStart);
  const yMax0 = Math.max(1, ...visible.map((p) => p[1]));
  const yStep = niceStep(yMax0);
  const yMax = Math.ceil(yMax0 / yStep) * yStep;
  const xStep = niceStep(span, 6);

  const left = 64, right = 12, top = 28, bottom = 44;
  const w = cssW - left - right, h = cssH - top - bottom;
  const X = (x) => left + ((x - xStart) / span) * w;
  const Y = (y) => top + h - (y / yMax) * h;

  // Grid and ticks.
  g.strokeStyle = "#ddd";
  g.fillStyle = "#333";
  g.lineWidth = 1;
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    g.beginPath(); g.moveTo(left, Y(y)); g.lineTo(left + w, Y(y)); g.stroke();
    g.fillText(formatTick(y), left - 6, Y(y));
  }
  g.textAlign = "center";
  g.textBaseline = "top";
  for (let x = Math.ceil(xStart / xStep) * xStep; x <= xEnd + 1e-9; x += xStep) {
    g.beginPath(); g.moveTo(X(x), top); g.lineTo(X(x), top + h); g.stroke();
    g.fillText(formatTick(x), X(x), top + h + 6);
  }
  // Axes and their labels.
  g.strokeStyle = "#333";
  g.beginPath(); g.moveTo(left, top); g.lineTo(left, top + h); g.lineTo(left + w, top + h); g.stroke();
  g.fillText(xLabel ?? "", left + w / 2, top + h + 24);
  g.save();
  g.translate(14, top + h / 2);
  g.rotate(-Math.PI / 2);
  g.textBaseline = "middle";
  g.fillText(yLabel ?? "", 0, 0);
  g.restore();

  // Lines, clipped to the plot area.
  g.save();
  g.beginPath(); g.rect(left, top, w, h); g.clip();
  for (const s of series) {
    g.strokeStyle = s.color;
    g.lineWidth = s.width ?? 2;
    g.setLineDash(s.dash ?? []);
    g.beginPath();
    s.points.forEach(([x, y], i) => (i === 0 ? g.moveTo(X(x), Y(y)) : g.lineTo(X(x), Y(y))));
    g.stroke();
  }
  g.restore();

  // Legend, top right.
  g.textAlign = "left";
  g.textBaseline = "middle";
  let lx = left + w;
  for (const s of [...series].reverse()) {
    const tw = g.measureText(s.label).width;
    lx -= tw + 28;
    g.strokeStyle = s.color;
    g.lineWidth = s.width ?? 2;
    g.setLineDash(s.dash ?? []);
    g.beginPath(); g.moveTo(lx, 12); g.lineTo(lx + 16, 12); g.stroke();
    g.fillStyle = "#333";
    g.fillText(s.label, lx + 20, 12);
  }
  g.setLineDash([]);
  return { left, top, width: w, height: h };
}

function formatTick(v) {
  return Math.abs(v) >= 1000 ? `${+(v / 1000).toFixed(1)}k` : `${+v.toFixed(2)}`;
}
