/** Leaderboard view: Bradley–Terry scores and mean stars by a chosen field, plus how much reviewers agree. */
import { Leaderboard } from './api';
import { leaderboardChart } from './chart';
import { fill, fmt, h } from './dom';
import { Context, errorText, View } from './view';

const BY = ['model', 'backend', 'tag', 'guidance', 'steps', 'seed'];

export class LeaderboardView implements View {
  readonly name = 'leaderboard';
  readonly label = 'Leaderboard';
  readonly node: HTMLElement;
  private by = 'model';
  private chart: HTMLElement;
  private table: HTMLElement;
  private agreement: HTMLElement;
  private loaded = false;

  constructor(private ctx: Context) {
    const select = h('select', { class: 'cx-by', 'aria-label': 'group by' }, ...BY.map(b => h('option', { value: b }, b)));
    select.addEventListener('change', () => {
      this.by = select.value;
      void this.refresh();
    });
    this.chart = h('div', { class: 'cx-chart-box' });
    this.table = h('div', { class: 'cx-table-box' });
    this.agreement = h('div', { class: 'cx-agreement' });
    this.node = h(
      'div',
      { class: 'cx-view cx-leaderboard' },
      h('div', { class: 'cx-row' }, h('label', { class: 'cx-dim' }, 'group by '), select),
      this.chart,
      this.table,
      h('h3', { class: 'cx-subhead' }, 'Agreement'),
      this.agreement
    );
  }

  show(): void {
    if (!this.loaded) {
      this.loaded = true;
      void this.refresh();
    }
  }

  hide(): void {
    // nothing plays here
  }

  keydown(): boolean {
    return false;
  }

  async refresh(): Promise<void> {
    try {
      const [board, agreement] = await Promise.all([this.ctx.api.leaderboard(this.by), this.ctx.api.agreement().catch(e => ({ error: errorText(e) }))]);
      this.draw(board);
      this.drawAgreement(agreement);
    } catch (e) {
      this.ctx.say(errorText(e), 'error');
    }
  }

  private draw(board: Leaderboard): void {
    const rows = board.rows ?? [];
    const width = Math.max(260, Math.min(560, this.node.clientWidth - 16 || 320));
    fill(this.chart, rows.length ? leaderboardChart(rows, width) : h('div', { class: 'cx-empty' }, 'No votes or ratings yet.'));
    const th = (t: string, title?: string) => h('th', { title }, t);
    fill(
      this.table,
      h(
        'table',
        { class: 'cx-table' },
        h('thead', {}, h('tr', {}, th(board.by || this.by), th('BT', 'Bradley–Terry score'), th('CI', '95% interval of the BT score'), th('votes'), th('★', 'mean stars'), th('n', 'ratings'))),
        h(
          'tbody',
          {},
          ...rows.map(r =>
            h(
              'tr',
              { 'data-key': r.key },
              h('td', { class: 'cx-key', title: r.key }, r.key),
              h('td', {}, fmt(r.bt_score)),
              h('td', { class: 'cx-dim' }, r.ci_low === null || r.ci_low === undefined ? '–' : `${fmt(r.ci_low, 1)}…${fmt(r.ci_high, 1)}`),
              h('td', { 'data-col': 'votes' }, r.votes ?? 0),
              h('td', {}, fmt(r.mean_rating, 1)),
              h('td', { 'data-col': 'ratings', title: `${r.runs ?? 0} runs` }, r.ratings ?? 0)
            )
          )
        )
      )
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
