/** Queue mode: clips I have not rated, one at a time; 1–5 rate and move on, j/k next/previous. */
import { Run } from './api';
import { Stars, TagInput } from './controls';
import { fill, h } from './dom';
import { player } from './player';
import { Context, errorText, View } from './view';

const HISTORY = 20;

export class QueueView implements View {
  readonly name = 'queue';
  readonly label = 'Rate';
  readonly node: HTMLElement;
  private stage: HTMLElement;
  private meta: HTMLElement;
  private counter: HTMLElement;
  private stars: Stars;
  private tagInput = new TagInput();
  private note: HTMLTextAreaElement;
  private history: Run[] = [];
  private index = -1; // position in history; -1: nothing shown yet
  private remaining: number | null = null;
  private loaded = false;
  private busy = false;

  constructor(private ctx: Context) {
    this.stars = new Stars(score => void this.rate(score));
    this.note = h('textarea', {
      class: 'cx-note',
      rows: 2,
      placeholder: 'note (n)',
      'aria-label': 'note'
    });
    this.stage = h('div', { class: 'cx-stage' });
    this.meta = h('div', { class: 'cx-meta' });
    this.counter = h('span', { class: 'cx-counter' });
    this.node = h(
      'div',
      { class: 'cx-view cx-queue' },
      h('div', { class: 'cx-head' }, this.counter, h('div', { class: 'cx-keys' }, 'keys: 1–5 rate & next · j/k next/prev · t tags · n note · Esc back')),
      this.stage,
      this.meta,
      this.stars.node,
      this.tagInput.node,
      this.note
    );
  }

  get current(): Run | null {
    return this.history[this.index] ?? null;
  }

  show(): void {
    if (!this.loaded) {
      this.loaded = true;
      void this.next();
      void this.loadTags();
    }
    this.video()?.play().catch(() => undefined);
  }

  hide(): void {
    this.video()?.pause();
  }

  async refresh(): Promise<void> {
    // Keep the clip on screen; update the count and suggestions only.
    try {
      const r = await this.ctx.api.next('rate', this.current?.id);
      this.remaining = r.remaining ?? this.remaining;
      if (!this.current && r.item) {
        this.push(r.item);
      }
      this.drawCounter();
    } catch (e) {
      this.ctx.say(errorText(e), 'error');
    }
    void this.loadTags();
  }

  keydown(event: KeyboardEvent): boolean {
    const k = event.key;
    if (/^[1-5]$/.test(k)) {
      void this.rate(Number(k));
    } else if (k === 'j') {
      void this.next();
    } else if (k === 'k') {
      this.previous();
    } else if (k === 't') {
      this.tagInput.input.focus();
    } else if (k === 'n') {
      this.note.focus();
    } else {
      return false;
    }
    return true;
  }

  /** Rate the clip on screen with the stars, tags and note, then move on. */
  async rate(score: number): Promise<void> {
    const run = this.current;
    if (!run || this.busy) return;
    this.busy = true;
    this.stars.set(score);
    try {
      await this.ctx.api.rate(run.id, score, this.tagInput.tags, this.note.value.trim() || null);
      run.my_rating = score;
      this.ctx.say(`saved ✓ ${score}★ ${run.id.slice(0, 8)}`, 'ok');
      await this.next();
    } catch (e) {
      this.ctx.say(errorText(e), 'error');
    } finally {
      this.busy = false;
    }
  }

  /** Forward in the history, or the next unrated clip after the one on screen. */
  async next(): Promise<void> {
    if (this.index < this.history.length - 1) {
      this.index++;
      await this.reloadCurrent();
      return;
    }
    try {
      const r = await this.ctx.api.next('rate', this.current?.id);
      this.remaining = r.remaining ?? null;
      if (r.item) {
        this.push(r.item);
      } else {
        this.index = this.history.length; // past the end: "all rated"
        this.draw();
      }
    } catch (e) {
      this.ctx.say(errorText(e), 'error');
    }
  }

  previous(): void {
    if (this.index > 0) {
      this.index--;
      void this.reloadCurrent();
    }
  }

  private push(run: Run): void {
    // Drop the forward history, append, and keep only the last few.
    this.history = this.history.slice(0, this.index + 1);
    this.history.push(run);
    if (this.history.length > HISTORY) this.history.shift();
    this.index = this.history.length - 1;
    this.draw();
  }

  /** Show a clip from the history with my latest rating (it may have changed). */
  private async reloadCurrent(): Promise<void> {
    const run = this.current;
    this.draw();
    if (!run) return;
    try {
      const fresh = await this.ctx.api.run(run.id);
      if (this.current?.id === run.id) {
        Object.assign(run, fresh);
        this.stars.set(run.my_rating);
        this.drawMeta(run);
      }
    } catch {
      // keep what we have
    }
  }

  private draw(): void {
    const run = this.current;
    this.drawCounter();
    this.tagInput.tags = [];
    this.note.value = '';
    if (!run) {
      fill(this.stage, h('div', { class: 'cx-empty' }, this.loaded ? 'All clips rated ✓ — nothing left in your queue.' : 'Loading…'));
      fill(this.meta);
      this.stars.set(0);
      this.node.dataset.runId = '';
      return;
    }
    this.node.dataset.runId = run.id;
    fill(this.stage, run.sha256 ? player(this.ctx.api.mediaUrl(run.sha256)) : h('div', { class: 'cx-empty' }, `no media (${run.status})`));
    this.stars.set(run.my_rating);
    this.drawMeta(run);
  }

  private drawMeta(run: Run): void {
    fill(
      this.meta,
      h('div', { class: 'cx-prompt', title: run.prompt }, run.prompt),
      h(
        'div',
        { class: 'cx-dim' },
        [run.model || run.backend, run.seed !== undefined ? `seed ${run.seed}` : '', run.id.slice(0, 8)].filter(Boolean).join(' · ')
      )
    );
  }

  private drawCounter(): void {
    const pos = this.history.length ? `${Math.min(this.index + 1, this.history.length)}/${this.history.length} seen` : '';
    const left = this.remaining === null ? '' : `${this.remaining} left to rate`;
    this.counter.textContent = [left, pos].filter(Boolean).join(' · ');
  }

  private async loadTags(): Promise<void> {
    try {
      this.tagInput.suggest(await this.ctx.api.tags());
    } catch {
      // suggestions are optional
    }
  }

  private video(): HTMLVideoElement | null {
    return this.stage.querySelector('video');
  }
}
