/**
 * The leaderboard chart as inline SVG: per row, a dot for the Bradley–Terry score with its interval as a
 * whisker (left axis), and a bar for the mean stars (0–5) with the number of ratings (right axis).
 */
import { LeaderRow } from './api';

const NS = 'http://www.w3.org/2000/svg';

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The [lo, hi] span the scores and intervals need, padded, never empty. */
export function scoreRange(rows: LeaderRow[]): [number, number] {
  const xs: number[] = [];
  for (const r of rows) {
    for (const v of [r.bt_score, r.ci_low, r.ci_high]) if (v !== null && v !== undefined && Number.isFinite(v)) xs.push(v);
  }
  if (!xs.length) return [-1, 1];
  let lo = Math.min(...xs);
  let hi = Math.max(...xs);
  if (hi - lo < 1e-9) {
    lo -= 1;
    hi += 1;
  }
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

export function leaderboardChart(rows: LeaderRow[], width = 320): SVGSVGElement {
  const rowH = 26;
  const labelW = Math.min(110, width * 0.3);
  const gap = 12;
  const plotW = (width - labelW - gap * 2) / 2; // two panels: BT score | mean stars
  const top = 18;
  const height = top + rows.length * rowH + 6;
  const svg = el('svg', { class: 'cx-chart', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' }) as SVGSVGElement;
  svg.append(el('title', {}, 'Bradley–Terry score (dot, interval whisker) and mean stars (bar) per row'));
  const [lo, hi] = scoreRange(rows);
  const x0 = labelW + gap;
  const sx = (v: number) => x0 + ((v - lo) / (hi - lo)) * plotW;
  const b0 = x0 + plotW + gap;
  const sb = (v: number) => b0 + (Math.max(0, Math.min(5, v)) / 5) * plotW;

  svg.append(el('text', { class: 'cx-chart-head', x: x0, y: 12 }, 'Bradley–Terry'));
  svg.append(el('text', { class: 'cx-chart-head', x: b0, y: 12 }, 'mean ★ (n)'));
  if (lo < 0 && hi > 0) {
    svg.append(el('line', { class: 'cx-chart-zero', x1: sx(0), x2: sx(0), y1: top - 2, y2: height - 4 }));
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    const key = r.label ?? String(r.key);
    const g = el('g', { class: 'cx-chart-row', 'data-key': key });
    const label = el('text', { class: 'cx-chart-label', x: labelW, y: y + 4, 'text-anchor': 'end' }, key.length > 18 ? `${key.slice(0, 17)}…` : key);
    label.append(el('title', {}, key));
    g.append(label);
    g.append(el('rect', { class: 'cx-chart-track', x: x0, y: y - rowH / 2 + 3, width: plotW, height: rowH - 6 }));
    if (r.ci_low !== null && r.ci_high !== null && r.ci_low !== undefined && r.ci_high !== undefined) {
      g.append(el('line', { class: 'cx-chart-whisker', x1: sx(r.ci_low), x2: sx(r.ci_high), y1: y, y2: y }));
      for (const v of [r.ci_low, r.ci_high]) g.append(el('line', { class: 'cx-chart-whisker', x1: sx(v), x2: sx(v), y1: y - 4, y2: y + 4 }));
    }
    if (r.bt_score !== null && r.bt_score !== undefined) {
      const dot = el('circle', { class: 'cx-chart-dot', cx: sx(r.bt_score), cy: y, r: 4.5 });
      dot.append(el('title', {}, `${key}: ${r.bt_score.toFixed(2)} [${r.ci_low?.toFixed(2) ?? '–'}, ${r.ci_high?.toFixed(2) ?? '–'}], ${r.votes} votes`));
      g.append(dot);
    }
    g.append(el('rect', { class: 'cx-chart-track', x: b0, y: y - rowH / 2 + 3, width: plotW, height: rowH - 6 }));
    if (r.mean_rating !== null && r.mean_rating !== undefined) {
      const bar = el('rect', { class: 'cx-chart-bar', x: b0, y: y - 6, width: Math.max(1, sb(r.mean_rating) - b0), height: 12 });
      bar.append(el('title', {}, `${key}: ${r.mean_rating.toFixed(2)}★ from ${r.ratings} ratings`));
      g.append(bar);
      g.append(el('text', { class: 'cx-chart-value', x: b0 + 3, y: y + 4 }, `${r.mean_rating.toFixed(1)} (${r.ratings})`));
    }
    svg.append(g);
  });
  return svg;
}
