/**
 * Battle mode: a blind pair of takes of one idea side by side (as the server ordered it); ←/a left, →/l right, ↓/t tie, s skip.
 *
 * The pair on screen stays until the reviewer votes or skips: a poll may refresh counts, never the pair, and one
 * pair is fetched at a time (so a refresh racing the first load cannot swap the pair under the reviewer).
 */
import { Run } from './api';
import { fill, h } from './dom';
import { noClipsText } from './logstatus';
import { player } from './player';
import { Context, errorText, View } from './view';

export class BattleView implements View {
  readonly name = 'battle';
  readonly label = 'Battle';
  readonly node: HTMLElement;
  private arena: HTMLElement;
  private counter: HTMLElement;
  private notice: HTMLElement;
  private pair: [Run, Run] | null = null;
  private related: boolean | null = null;
  private reason = '';
  private votes = 0;
  private loaded = false;
  private busy = false;
  private loading: Promise<void> | null = null;

  constructor(private ctx: Context) {
    this.arena = h('div', { class: 'cx-arena' });
    this.counter = h('span', { class: 'cx-counter' });
    this.notice = h('div', { class: 'cx-notice', role: 'note' });
    const button = (label: string, title: string, act: () => void) =>
      h('button', { class: 'jp-Button jp-mod-styled cx-btn', type: 'button', title, onclick: act }, label);
    this.node = h(
      'div',
      { class: 'cx-view cx-battle' },
      h('div', { class: 'cx-head' }, this.counter, h('div', { class: 'cx-keys' }, 'keys: ←/a left · →/l right · ↓/t tie · s skip')),
      this.notice,
      this.arena,
      h(
        'div',
        { class: 'cx-row cx-actions' },
        button('◀ Left', 'left wins (← or a)', () => void this.vote('left')),
        button('Tie', 'tie (↓ or t)', () => void this.vote('tie')),
        button('Right ▶', 'right wins (→ or l)', () => void this.vote('right')),
        button('Skip', 'skip (s)', () => void this.skip())
      )
    );
  }

  show(): void {
    if (!this.loaded) {
      this.loaded = true;
      void this.load();
    }
    this.arena.querySelectorAll('video').forEach(v => void v.play().catch(() => undefined));
  }

  hide(): void {
    this.arena.querySelectorAll('video').forEach(v => v.pause());
  }

  async refresh(): Promise<void> {
    // Only an empty arena is filled; a pair on screen is the reviewer's until they vote or skip.
    if (this.loaded && !this.pair) await this.load();
  }

  keydown(event: KeyboardEvent): boolean {
    const act = (fn: () => void) => {
      if (!event.repeat) fn(); // a key held down votes once, not for the pairs that follow
      return true;
    };
    switch (event.key) {
      case 'ArrowLeft':
      case 'a':
        return act(() => void this.vote('left'));
      case 'ArrowRight':
      case 'l':
        return act(() => void this.vote('right'));
      case 'ArrowDown':
      case 't':
        return act(() => void this.vote('tie'));
      case 's':
        return act(() => void this.skip());
      default:
        return false;
    }
  }

  async vote(side: 'left' | 'right' | 'tie'): Promise<void> {
    const pair = this.pair;
    if (!pair || this.busy || this.loading) return;
    this.busy = true;
    const [left, right] = pair;
    const [winner, loser] = side === 'right' ? [right, left] : [left, right];
    try {
      await this.ctx.api.vote(winner.id, loser.id, side === 'tie');
      this.votes++;
      this.ctx.say(`saved ✓ ${side === 'tie' ? 'tie' : `${side} wins`}`, 'ok');
      await this.load(pair);
    } catch (e) {
      this.ctx.say(errorText(e), 'error');
    } finally {
      this.busy = false;
    }
  }

  /** Another pair, not this one again at once. */
  async skip(): Promise<void> {
    const pair = this.pair;
    if (this.busy || this.loading) return;
    await this.load(pair ?? undefined);
  }

  /** Fetch the next pair (one fetch at a time); `left`: the pair just voted on or skipped. */
  private load(left?: [Run, Run]): Promise<void> {
    if (!this.loading) {
      this.loading = (async () => {
        try {
          const r = await this.ctx.api.next('battle', left ? `${left[0].id},${left[1].id}` : undefined);
          this.pair = r.pair && r.pair.length === 2 ? [r.pair[0], r.pair[1]] : null;
          this.related = r.related ?? null;
          this.reason = r.reason ?? '';
        } catch (e) {
          this.pair = null;
          this.ctx.say(errorText(e), 'error');
        }
        this.draw();
      })().finally(() => {
        this.loading = null;
      });
    }
    return this.loading;
  }

  private draw(): void {
    this.counter.textContent = `${this.votes} vote${this.votes === 1 ? '' : 's'} this session`;
    // Unrelated only when no two takes of one idea are left to judge: say so, the vote means less.
    this.notice.textContent = this.pair && this.related === false ? this.reason : '';
    this.notice.hidden = !this.notice.textContent;
    if (!this.pair) {
      const empty = h('div', { class: 'cx-empty' }, '…');
      fill(this.arena, empty);
      this.node.dataset.pair = '';
      delete this.node.dataset.related;
      void this.drawEmpty(empty);
      return;
    }
    // Blind: no prompt, model or id on screen; the ids ride in data attributes for tests.
    this.node.dataset.pair = this.pair.map(r => r.id).join(',');
    this.node.dataset.related = String(this.related);
    fill(
      this.arena,
      ...this.pair.map((run, i) =>
        h(
          'div',
          { class: 'cx-side', 'data-side': i ? 'right' : 'left', 'data-id': run.id },
          run.sha256 ? player(this.ctx.api.mediaUrl(run.sha256)) : h('div', { class: 'cx-empty' }, 'no media'),
          h('div', { class: 'cx-side-label' }, i ? 'B (right)' : 'A (left)')
        )
      )
    );
  }

  private async drawEmpty(empty: HTMLElement): Promise<void> {
    const info = await this.ctx.logInfo();
    if (this.pair || !empty.isConnected) return;
    const clips = info?.clips ?? 0;
    empty.textContent =
      clips === 0 ? noClipsText(info) : clips === 1 ? 'One clip so far: a battle takes two.' : 'You have judged every pair ✓ — new clips bring new pairs.';
  }
}
