/**
 * Inline SVG charts for the report: axes with round ticks, lines and scatter points, a legend.
 * Plain strings, so that the page needs no script and no library.
 */

export interface Series {
  name: string;
  points: [number, number][];
  color: string;
  /** Scatter points instead of a line. */
  dots?: boolean;
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
  /** Fixed axis ranges (a probability axis is [0, 1]); otherwise the data's. */
  xRange?: [number, number];
  yRange?: [number, number];
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** About five round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / 5;
  const step = [1, 2, 2.5, 5, 10].map((m) => m * 10 ** Math.floor(Math.log10(raw))).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

function range(values: number[], fixed?: [number, number]): [number, number] {
  if (fixed) return fixed;
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

export function chart(o: ChartOptions): string {
  const width = o.width ?? 640;
  const height = o.height ?? 320;
  // The legend sits right of the plot, so that it never hides a line.
  const legend = 150;
  const m = { left: 56, right: 16 + legend, top: 28, bottom: 44 };
  const [x0, x1] = range(o.series.flatMap((s) => s.points.map((p) => p[0])), o.xRange);
  const [y0, y1] = range(o.series.flatMap((s) => s.points.map((p) => p[1])), o.yRange);
  const px = (x: number) => m.left + ((x - x0) / (x1 - x0)) * (width - m.left - m.right);
  const py = (y: number) => height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [];
  parts.push(`<text x="${(width - legend) / 2}" y="16" text-anchor="middle" font-weight="bold">${escapeHtml(o.title)}</text>`);
  for (const t of ticks(x0, x1)) {
    parts.push(`<line x1="${f(px(t))}" x2="${f(px(t))}" y1="${m.top}" y2="${height - m.bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${f(px(t))}" y="${height - m.bottom + 14}" text-anchor="middle">${t}</text>`);
  }
  for (const t of ticks(y0, y1)) {
    parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${f(py(t))}" y2="${f(py(t))}" stroke="#eee"/>`);
    parts.push(`<text x="${m.left - 4}" y="${f(py(t) + 4)}" text-anchor="end">${t}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${width - m.left - m.right}" height="${height - m.top - m.bottom}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${(width - legend) / 2}" y="${height - 8}" text-anchor="middle">${escapeHtml(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${height / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(o.yLabel)}</text>`);
  for (const s of o.series) {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (s.dots) {
      parts.push(`<g fill="${s.color}" fill-opacity="0.5">${pts.map(([x, y]) => `<circle cx="${f(px(x))}" cy="${f(py(y))}" r="2.5"/>`).join('')}</g>`);
    } else if (pts.length > 0) {
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="4 3"' : ''} points="${pts.map(([x, y]) => `${f(px(x))},${f(py(y))}`).join(' ')}"/>`);
    }
  }
  o.series.forEach((s, i) => {
    const y = m.top + 6 + i * 14;
    const x = width - legend + 4;
    parts.push(`<rect x="${x}" y="${y - 4}" width="10" height="${s.dots ? 8 : 3}" fill="${s.color}"/><text x="${x + 14}" y="${y + 3}">${escapeHtml(s.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11" role="img" aria-label="${escapeHtml(o.title)}">${parts.join('')}</svg>`;
}
