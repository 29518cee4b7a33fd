/**
 * Leaderboard view: Bradley–Terry scores and mean stars by a chosen field, what each group's keepers cost
 * (device-seconds per kept clip), how much reviewers agree, and which measurement predicts the team's taste.
 * "auto" (the default) lets the server pick the grouping the votes split (model, …, prompt, else each clip),
 * and the view says which, and how many votes compare clips of one group (and so are not on the board).
 */
import { Leaderboard, MetricAgreement } from './api';
import { costChart, leaderboardChart, perKept, tasteChart } from './chart';
import { fill, fmt, h } from './dom';
import { Context, errorText, View } from './view';

const BY: [string, string][] = [
  ['auto', 'auto'],
  ['model', 'model'],
  ['backend', 'backend'],
  ['tag', 'tag'],
  ['run', 'clip'],
  ['prompt', 'prompt'],
  ['guidance', 'guidance'],
  ['steps', 'steps'],
  ['seed', 'seed']
];
const NAMES: Record<string, string> = Object.fromEntries(BY);

export class LeaderboardView implements View {
  readonly name = 'leaderboard';
  readonly label = 'Leaderboard';
  readonly node: HTMLElement;
  private by = 'auto';
  private chart: HTMLElement;
  private used: HTMLElement;
  private note: HTMLElement;
  private table: HTMLElement;
  private agreement: HTMLElement;
  private cost: HTMLElement;
  private taste: HTMLElement;
  private tasteTimer: number | undefined;
  private loaded = false;

  constructor(private ctx: Context) {
    const select = h('select', { class: 'cx-by', 'aria-label': 'group by' }, ...BY.map(([v, t]) => h('option', { value: v }, t)));
    select.addEventListener('change', () => {
      this.by = select.value;
      void this.refresh();
    });
    this.chart = h('div', { class: 'cx-chart-box' });
    this.table = h('div', { class: 'cx-table-box' });
    this.agreement = h('div', { class: 'cx-agreement' });
    this.cost = h('div', { class: 'cx-cost-box' });
    this.taste = h('div', { class: 'cx-taste' });
    this.used = h('span', { class: 'cx-dim cx-by-used' });
    this.note = h('div', { class: 'cx-vote-note', role: 'note' });
    this.node = h(
      'div',
      { class: 'cx-view cx-leaderboard' },
      h('div', { class: 'cx-row' }, h('label', { class: 'cx-dim' }, 'group by '), select, this.used),
      this.note,
      this.chart,
      this.cost,
      this.table,
      h('h3', { class: 'cx-subhead' }, 'Agreement'),
      this.agreement,
      h('h3', { class: 'cx-subhead' }, 'Which measurement predicts our taste'),
      this.taste
    );
  }

  show(): void {
    if (!this.loaded) {
      this.loaded = true;
      void this.refresh();
    } else if (this.taste.dataset.fitting === 'true') {
      void this.refreshTaste(); // left while the taste model was fitting: it may be done now
    }
  }

  private async refreshTaste(): Promise<void> {
    this.drawTaste(await this.ctx.api.metricAgreement().catch(e => errorText(e)));
  }

  hide(): void {
    // nothing plays here
  }

  keydown(): boolean {
    return false;
  }

  async refresh(): Promise<void> {
    try {
      const [board, agreement, taste] = await Promise.all([
        this.ctx.api.leaderboard(this.by),
        this.ctx.api.agreement().catch(e => ({ error: errorText(e) })),
        this.ctx.api.metricAgreement().catch(e => errorText(e))
      ]);
      this.draw(board);
      this.drawAgreement(agreement);
      this.drawTaste(taste);
    } catch (e) {
      this.ctx.say(errorText(e), 'error');
    }
  }

  private draw(board: Leaderboard): void {
    const by = board.by || this.by;
    const name = NAMES[by] ?? by;
    this.node.dataset.by = by;
    this.used.textContent = this.by === 'auto' ? `→ ${name}` : '';
    this.note.textContent = board.note ?? '';
    this.note.hidden = !this.note.textContent;
    const rows = (board.rows ?? []).map(r => ({ ...r, key: r.label ?? String(r.key) }));
    const width = Math.max(260, Math.min(560, this.node.clientWidth - 16 || 320));
    fill(this.chart, rows.length ? leaderboardChart(rows, width) : h('div', { class: 'cx-empty' }, 'No votes or ratings yet.'));
    const kept = rows.reduce((n, r) => n + (r.kept ?? 0), 0);
    fill(
      this.cost,
      !rows.length
        ? null
        : kept
          ? costChart(rows, width)
          : h('div', { class: 'cx-dim cx-cost-none' }, 'Nothing kept yet: device-seconds per kept clip show once a clip is rated 4★ or more, or wins most of its battles.')
    );
    const th = (t: string, title?: string) => h('th', { title }, t);
    fill(
      this.table,
      h(
        'table',
        { class: 'cx-table' },
        h('thead', {}, h('tr', {}, th(name), th('BT', 'Bradley–Terry score'), th('CI', '95% interval of the BT score'), th('votes'), th('★', 'mean stars'), th('n', 'ratings'), th('s / kept', 'device-seconds per kept clip (rated 4★ or more, or won most of its battles); hover a cell for the seconds and clips kept'))),
        h(
          'tbody',
          {},
          ...rows.map(r =>
            h(
              'tr',
              { 'data-key': String(r.key) },
              h('td', { class: 'cx-key', title: r.key }, r.key),
              h('td', {}, fmt(r.bt_score)),
              h('td', { class: 'cx-dim' }, r.ci_low === null || r.ci_low === undefined ? '–' : `${fmt(r.ci_low, 1)}…${fmt(r.ci_high, 1)}`),
              h('td', { 'data-col': 'votes' }, r.votes ?? 0),
              h('td', {}, fmt(r.mean_rating, 1)),
              h('td', { 'data-col': 'ratings', title: `${r.runs ?? 0} runs` }, r.ratings ?? 0),
              h(
                'td',
                { 'data-col': 's_per_kept', title: `${perKept(r.device_s ?? 0)} device-s, ${r.kept ?? 0} kept of ${r.runs ?? 0} runs` },
                perKept(r.s_per_kept)
              )
            )
          )
        )
      )
    );
  }

  /** Which measurement predicts our taste: the chart, who each metric follows (rank correlation with their stars). */
  private drawTaste(report: MetricAgreement | string): void {
    window.clearTimeout(this.tasteTimer);
    if (typeof report === 'string') {
      fill(this.taste, h('div', { class: 'cx-empty' }, report));
      return;
    }
    const taste = report.taste;
    this.taste.dataset.fitting = String(taste.fitting);
    this.taste.dataset.metrics = String(report.metrics.length);
    if (taste.fitting) {
      // the server did not wait for the refit: ask again shortly, while this view is on screen
      this.tasteTimer = window.setTimeout(() => {
        if (this.node.isConnected && this.node.offsetParent !== null) void this.refreshTaste();
      }, 1500);
    }
    if (!report.metrics.length) {
      fill(
        this.taste,
        h('div', { class: 'cx-empty' }, 'No clip metrics yet: they are measured after each run (`explorer metrics --backfill` for older runs).')
      );
      return;
    }
    const width = Math.max(260, Math.min(560, this.node.clientWidth - 16 || 320));
    const learnt = taste.fitted
      ? `Taste model: learnt from ${taste.votes} votes and ${taste.star_pairs} star comparisons` +
        (taste.accuracy !== null && taste.accuracy !== undefined ? `; right on ${Math.round(taste.accuracy * 100)}% of ${taste.held_out ?? 0} held-out votes.` : '; too few votes to say how often it is right.')
      : taste.fitting
        ? 'Taste model: fitting…'
        : 'Taste model: nothing to learn from yet.';
    const reviewers = Object.keys(report.reviewers).sort();
    const rho = reviewers.length
      ? h(
          'table',
          { class: 'cx-table cx-taste-rho' },
          h('thead', {}, h('tr', {}, h('th', { title: "Spearman's rank correlation with each reviewer's latest stars" }, 'ρ with stars'), ...reviewers.map(a => h('th', { title: `${report.reviewers[a]} measured clips rated` }, a)))),
          h('tbody', {}, ...report.metrics.map(m => h('tr', { 'data-metric': m.metric }, h('td', {}, m.metric), ...reviewers.map(a => h('td', {}, fmt(m.rho[a] ?? null))))))
        )
      : null;
    fill(
      this.taste,
      h('div', { class: `cx-taste-note${taste.fitting ? ' cx-dim' : ''}`, 'data-fitting': String(taste.fitting) }, learnt),
      tasteChart(report, width),
      h('div', { class: 'cx-dim cx-taste-note' }, `Shaded: ${report.reference.name}, ${Math.round(report.reference.low * 100)}–${Math.round(report.reference.high * 100)}%. Dashed: a coin (50%).`),
      rho
    );
  }

  /** The agreement report's shape is open ("object"): show alpha and per-reviewer rows if present, else key/values. */
  private drawAgreement(report: Record<string, unknown>): void {
    const alphaKey = Object.keys(report).find(k => /alpha/i.test(k));
    const perKey = Object.keys(report).find(k => /reviewer|rater|author|per_/i.test(k));
    const parts: (HTMLElement | null)[] = [];
    if (alphaKey !== undefined) {
      const alpha = report[alphaKey];
      parts.push(h('div', { class: 'cx-alpha' }, "Krippendorff's α (stars): ", h('strong', {}, typeof alpha === 'number' ? fmt(alpha) : alpha === null ? '– (too few ratings)' : String(alpha))));
    }
    const per = perKey !== undefined ? report[perKey] : undefined;
    const rows: Record<string, unknown>[] = Array.isArray(per)
      ? (per as Record<string, unknown>[])
      : per && typeof per === 'object'
        ? Object.entries(per as Record<string, unknown>).map(([k, v]) => (v && typeof v === 'object' ? { reviewer: k, ...(v as object) } : { reviewer: k, agreement: v }))
        : [];
    if (rows.length) {
      const cols = [...new Set(rows.flatMap(r => Object.keys(r)))];
      parts.push(
        h(
          'table',
          { class: 'cx-table' },
          h('thead', {}, h('tr', {}, ...cols.map(c => h('th', {}, c)))),
          h('tbody', {}, ...rows.map(r => h('tr', {}, ...cols.map(c => h('td', {}, cell(r[c]))))))
        )
      );
    }
    const rest = Object.entries(report).filter(([k]) => k !== alphaKey && k !== perKey);
    if (rest.length) {
      parts.push(h('dl', { class: 'cx-kv' }, ...rest.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, cell(v))])));
    }
    fill(this.agreement, ...(parts.length ? parts : [h('div', { class: 'cx-empty' }, 'Nothing to compare yet.')]));
  }
}


function cell(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : fmt(v);
  if (v === null || v === undefined) return '–';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}
