/** Battle mode: a blind pair side by side (as the server ordered it); ←/a left, →/l right, ↓/t tie, s skip. */
import { Run } from './api';
import { fill, h } from './dom';
import { player } from './player';
import { Context, errorText, View } from './view';

export class BattleView implements View {
  readonly name = 'battle';
  readonly label = 'Battle';
  readonly node: HTMLElement;
  private arena: HTMLElement;
  private counter: HTMLElement;
  private pair: [Run, Run] | null = null;
  private remaining: number | null = null;
  private votes = 0;
  private loaded = false;
  private busy = false;

  constructor(private ctx: Context) {
    this.arena = h('div', { class: 'cx-arena' });
    this.counter = h('span', { class: 'cx-counter' });
    const button = (label: string, title: string, act: () => void) =>
      h('button', { class: 'jp-Button jp-mod-styled cx-btn', type: 'button', title, onclick: act }, label);
    this.node = h(
      'div',
      { class: 'cx-view cx-battle' },
      h('div', { class: 'cx-head' }, this.counter, h('div', { class: 'cx-keys' }, 'keys: ←/a left · →/l right · ↓/t tie · s skip')),
      this.arena,
      h(
        'div',
        { class: 'cx-row cx-actions' },
        button('◀ Left', 'left wins (← or a)', () => void this.vote('left')),
        button('Tie', 'tie (↓ or t)', () => void this.vote('tie')),
        button('Right ▶', 'right wins (→ or l)', () => void this.vote('right')),
        button('Skip', 'skip (s)', () => void this.next())
      )
    );
  }

  show(): void {
    if (!this.loaded) {
      this.loaded = true;
      void this.next();
    }
    this.arena.querySelectorAll('video').forEach(v => void v.play().catch(() => undefined));
  }

  hide(): void {
    this.arena.querySelectorAll('video').forEach(v => v.pause());
  }

  async refresh(): Promise<void> {
    if (!this.pair && this.loaded) {
      await this.next();
    }
  }

  keydown(event: KeyboardEvent): boolean {
    switch (event.key) {
      case 'ArrowLeft':
      case 'a':
        void this.vote('left');
        return true;
      case 'ArrowRight':
      case 'l':
        void this.vote('right');
        return true;
      case 'ArrowDown':
      case 't':
        void this.vote('tie');
        return true;
      case 's':
        void this.next();
        return true;
      default:
        return false;
    }
  }

  async vote(side: 'left' | 'right' | 'tie'): Promise<void> {
    const pair = this.pair;
    if (!pair || this.busy) return;
    this.busy = true;
    const [left, right] = pair;
    const [winner, loser] = side === 'right' ? [right, left] : [left, right];
    try {
      await this.ctx.api.vote(winner.id, loser.id, side === 'tie');
      this.votes++;
      this.ctx.say(`saved ✓ ${side === 'tie' ? 'tie' : `${side} wins`}`, 'ok');
      await this.next();
    } catch (e) {
      this.ctx.say(errorText(e), 'error');
    } finally {
      this.busy = false;
    }
  }

  async next(): Promise<void> {
    try {
      const r = await this.ctx.api.next('battle');
      this.remaining = r.remaining ?? null;
      this.pair = r.pair && r.pair.length === 2 ? [r.pair[0], r.pair[1]] : null;
    } catch (e) {
      this.pair = null;
      this.ctx.say(errorText(e), 'error');
    }
    this.draw();
  }

  private draw(): void {
    const votes = `${this.votes} vote${this.votes === 1 ? '' : 's'} this session`;
    this.counter.textContent = this.remaining === null ? votes : `${votes} · ${this.remaining} pairs left`;
    if (!this.pair) {
      fill(this.arena, h('div', { class: 'cx-empty' }, 'No pair to judge (it takes two finished clips).'));
      this.node.dataset.pair = '';
      return;
    }
    // Blind: no prompt, model or id on screen; the ids ride in data attributes for tests.
    this.node.dataset.pair = this.pair.map(r => r.id).join(',');
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
}
