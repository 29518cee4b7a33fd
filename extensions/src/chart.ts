/**
 * The leaderboard chart as inline SVG: per row, a dot for the Bradley–Terry score with its interval as a
 * whisker (left axis), and a bar for the mean stars (0–5) with the number of ratings (right axis).
 */
import { LeaderRow, MetricAgreement } from './api';

const NS = 'http://www.w3.org/2000/svg';

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** One chart row: a group with its label (cut to ``most`` characters, whole on hover) and an empty track to draw on. */
function chartRow(cls: string, key: string, title: string, y: number, labelW: number, x0: number, plotW: number, rowH: number, most = 18): SVGElement {
  const g = el('g', { class: cls, 'data-key': key });
  const label = el('text', { class: 'cx-chart-label', x: labelW, y: y + 4, 'text-anchor': 'end' }, key.length > most ? `${key.slice(0, most - 1)}…` : key);
  label.append(el('title', {}, title));
  g.append(label);
  g.append(el('rect', { class: 'cx-chart-track', x: x0, y: y - rowH / 2 + 3, width: plotW, height: rowH - 6 }));
  return g;
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
    const g = chartRow('cx-chart-row', key, key, y, labelW, x0, plotW, rowH);
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

const pct = (v: number) => `${Math.round(v * 100)}%`;

/** Device-seconds per kept clip as shown: one decimal from 1 s, three below; "–" when nothing was kept, never Infinity or NaN. */
export function perKept(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return v >= 1 ? v.toFixed(1) : v.toFixed(3);
}

/**
 * Device-seconds per kept clip, one bar per row (shorter is cheaper), scaled to the dearest; "–" where nothing was kept
 * (never Infinity). Each bar's title says the seconds and the clips kept.
 */
export function costChart(rows: LeaderRow[], width = 320): SVGSVGElement {
  const rowH = 20;
  const labelW = Math.min(110, width * 0.3);
  const gap = 12;
  const plotW = width - labelW - gap * 2 - 70;
  const top = 18;
  const height = top + rows.length * rowH + 6;
  const svg = el('svg', { class: 'cx-chart cx-cost-chart', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' }) as SVGSVGElement;
  svg.append(el('title', {}, 'Device-seconds per kept clip (bar; shorter is cheaper), kept clips in brackets'));
  const finite = rows.map(r => r.s_per_kept).filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v));
  const most = Math.max(...finite, 1e-9);
  const x0 = labelW + gap;
  svg.append(el('text', { class: 'cx-chart-head', x: x0, y: 12 }, 'device-s per kept clip (kept)'));
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    const key = r.label ?? String(r.key);
    const g = chartRow('cx-chart-row', key, key, y, labelW, x0, plotW, rowH);
    const value = r.s_per_kept;
    const seconds = `${perKept(r.device_s ?? 0)} device-s, ${r.kept ?? 0} kept of ${r.runs} runs`;
    if (value !== null && value !== undefined && Number.isFinite(value)) {
      const bar = el('rect', { class: 'cx-chart-bar cx-cost-bar', x: x0, y: y - 5, width: Math.max(1, (value / most) * plotW), height: 10 });
      bar.append(el('title', {}, `${key}: ${perKept(value)} s per kept clip (${seconds})`));
      g.append(bar);
    }
    const text = value !== null && value !== undefined && Number.isFinite(value) ? `${perKept(value)} s (${r.kept ?? 0})` : '– (0 kept)';
    const shown = el('text', { class: 'cx-chart-value', x: x0 + plotW + 4, y: y + 4 }, text);
    shown.append(el('title', {}, seconds));
    g.append(shown);
    svg.append(g);
  });
  return svg;
}

/**
 * Which measurement predicts the team's taste: per row a bar for the pairwise accuracy against the votes with its 95%
 * interval as a whisker, on 0–100% with 50% (a coin) marked; the taste model's held-out accuracy first; the reference
 * band (what learned video reward models reach) shaded behind every row.
 */
export function tasteChart(report: MetricAgreement, width = 320): SVGSVGElement {
  const rowH = 22;
  const labelW = Math.min(120, width * 0.32);
  const gap = 10;
  const plotW = width - labelW - gap * 2 - 96;
  const top = 18;
  const taste = report.taste;
  type Row = { key: string; kind: string; acc: number | null; low: number | null; high: number | null; text: string; title: string };
  const tasteText = taste.fitted && taste.accuracy !== null && taste.accuracy !== undefined
    ? `${pct(taste.accuracy)} · ${taste.votes} votes`
    : taste.fitting
      ? 'fitting…'
      : taste.fitted
        ? `too few votes (${taste.votes})`
        : 'no model yet';
  const rows: Row[] = [
    {
      key: 'taste model',
      kind: 'taste',
      acc: taste.fitted ? (taste.accuracy ?? null) : null,
      low: taste.fitted ? (taste.low ?? null) : null,
      high: taste.fitted ? (taste.high ?? null) : null,
      text: tasteText,
      title: `the team's taste model: learnt from ${taste.votes} votes and ${taste.star_pairs} star comparisons` +
        (taste.accuracy !== null && taste.accuracy !== undefined ? `; right on ${pct(taste.accuracy)} of ${taste.held_out ?? 0} held-out votes` : '') +
        (taste.fitting ? ' (refitting…)' : '')
    },
    ...report.metrics.map(m => ({
      key: `${m.metric} ${m.direction === 'lower' ? '↓' : m.direction === 'higher' ? '↑' : ''}`.trim(),
      kind: 'metric',
      acc: m.accuracy,
      low: m.low,
      high: m.high,
      text: m.accuracy === null ? `– (${m.votes} votes)` : `${pct(m.accuracy)} · ${m.votes} votes`,
      title: `${m.metric}: ${m.direction ?? '?'} values win; agrees with ${m.accuracy === null ? '–' : pct(m.accuracy)} of ${m.votes} votes ` +
        `(95% interval ${m.low === null ? '–' : pct(m.low)}–${m.high === null ? '–' : pct(m.high)}; ${m.ties} left out)`
    }))
  ];
  const height = top + rows.length * rowH + 16;
  const svg = el('svg', { class: 'cx-chart cx-taste-chart', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' }) as SVGSVGElement;
  svg.append(el('title', {}, 'Pairwise accuracy against the votes (bar) with its 95% interval (whisker); shaded: learned reward models'));
  const x0 = labelW + gap;
  const sx = (v: number) => x0 + Math.max(0, Math.min(1, v)) * plotW;
  svg.append(el('text', { class: 'cx-chart-head', x: x0, y: 12 }, 'agrees with our votes'));
  const ref = report.reference;
  const band = el('rect', { class: 'cx-taste-reference', x: sx(ref.low), y: top - 2, width: sx(ref.high) - sx(ref.low), height: rows.length * rowH + 4 });
  band.append(el('title', {}, `${ref.name}: ${pct(ref.low)}–${pct(ref.high)}`));
  svg.append(band);
  svg.append(el('text', { class: 'cx-chart-value cx-taste-reference-label', x: sx(ref.low), y: height - 2 }, `reward models ${pct(ref.low)}–${pct(ref.high)}`));
  svg.append(el('line', { class: 'cx-chart-zero', x1: sx(0.5), x2: sx(0.5), y1: top - 2, y2: top + rows.length * rowH + 2 }));
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    const g = chartRow(`cx-chart-row cx-taste-row cx-taste-${r.kind}`, r.key, r.title, y, labelW, x0, plotW, rowH, 20);
    if (r.acc !== null) {
      const bar = el('rect', { class: `cx-chart-bar cx-taste-bar`, x: x0, y: y - 5, width: Math.max(1, sx(r.acc) - x0), height: 10 });
      bar.append(el('title', {}, r.title));
      g.append(bar);
    }
    if (r.low !== null && r.high !== null) {
      g.append(el('line', { class: 'cx-chart-whisker', x1: sx(r.low), x2: sx(r.high), y1: y, y2: y }));
      for (const v of [r.low, r.high]) g.append(el('line', { class: 'cx-chart-whisker', x1: sx(v), x2: sx(v), y1: y - 4, y2: y + 4 }));
    }
    g.append(el('text', { class: 'cx-chart-value', x: x0 + plotW + 4, y: y + 4 }, r.text));
    svg.append(g);
  });
  return svg;
}
