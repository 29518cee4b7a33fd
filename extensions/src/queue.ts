/**
 * Queue mode: clips I have not rated, one at a time; 1–5 rate (with the tags and note) and move on, j/k next/previous.
 *
 * A rating needs stars, so tags and a note typed before a star are a draft of that clip: marked "unsaved" on
 * screen, kept per clip when j/k move on (and said so), brought back with the clip, saved with its stars.
 */
import { Run } from './api';
import { Stars, TagInput } from './controls';
import { fill, h } from './dom';
import { noClipsText } from './logstatus';
import { player } from './player';
import { Context, errorText, View } from './view';

const HISTORY = 20;

/** Tags and a note typed for a clip and not saved yet. */
interface Draft {
  tags: string[];
  note: string;
}

export class QueueView implements View {
  readonly name = 'queue';
  readonly label = 'Rate';
  readonly node: HTMLElement;
  private stage: HTMLElement;
  private meta: HTMLElement;
  private counter: HTMLElement;
  private pending: HTMLElement;
  private stars: Stars;
  private tagInput: TagInput;
  private note: HTMLTextAreaElement;
  private history: Run[] = [];
  private index = -1; // position in history; -1: nothing shown yet
  private remaining: number | null = null;
  private drafts = new Map<string, Draft>();
  private loaded = false;
  private busy = false;
  private loading: Promise<void> | null = null; // the next clip being fetched: one fetch at a time
  private asked = 0; // queue requests sent; only the latest one's count is shown

  constructor(private ctx: Context) {
    this.stars = new Stars(score => void this.rate(score));
    this.tagInput = new TagInput(() => this.edited());
    this.note = h('textarea', {
      class: 'cx-note',
      rows: 2,
      placeholder: 'note (n)',
      'aria-label': 'note'
    });
    this.note.addEventListener('input', () => this.edited());
    this.stage = h('div', { class: 'cx-stage' });
    this.meta = h('div', { class: 'cx-meta' });
    this.counter = h('span', { class: 'cx-counter' });
    this.pending = h('div', { class: 'cx-pending', role: 'status' });
    this.node = h(
      'div',
      { class: 'cx-view cx-queue' },
      h('div', { class: 'cx-head' }, this.counter, h('div', { class: 'cx-keys' }, 'keys: 1–5 rate & next · j/k next/prev · t tags · n note · Esc back')),
      this.stage,
      this.meta,
      this.stars.node,
      this.tagInput.node,
      this.note,
      this.pending
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
    // Keep the clip on screen; update the count (and fill an empty screen) only.
    if (this.busy) return; // a rating is being saved: it brings its own count
    if (this.loading) await this.loading;
    const asked = ++this.asked;
    try {
      const r = await this.ctx.api.next('rate', this.current?.id);
      if (asked === this.asked) this.remaining = r.remaining ?? this.remaining;
      if (!this.current && r.item && !this.loading) {
        this.push(r.item);
      } else if (!this.current) {
        this.draw();
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
      if (!event.repeat) void this.rate(Number(k)); // a key held down rates one clip, not the ones after it
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
    const first = !run.my_rating; // my first rating of this clip: one fewer left to rate
    try {
      await this.ctx.api.rate(run.id, score, this.tagInput.tags, this.note.value.trim() || null);
      ++this.asked; // a count asked before this rating was saved is out of date
      if (first && this.remaining !== null) this.remaining = Math.max(0, this.remaining - 1);
      run.my_rating = score;
      this.drafts.delete(run.id);
      this.ctx.say(`saved ✓ ${score}★ ${run.id.slice(0, 8)}`, 'ok');
      await this.forward();
    } catch (e) {
      this.ctx.say(errorText(e), 'error');
    } finally {
      this.busy = false;
    }
  }

  /** Forward in the history, or the next unrated clip after the one on screen (j). */
  async next(): Promise<void> {
    if (this.busy) return;
    this.leaving();
    await this.forward();
  }

  /** Back in the history (k). */
  previous(): void {
    if (this.busy || this.index <= 0) return;
    this.leaving();
    this.index--;
    void this.reloadCurrent();
  }

  private async forward(): Promise<void> {
    if (this.index < this.history.length - 1) {
      this.index++;
      void this.reloadCurrent(); // on screen at once; my latest stars follow
      return;
    }
    if (!this.loading) this.loading = this.fetchNext(this.current?.id).finally(() => (this.loading = null));
    await this.loading;
  }

  private async fetchNext(after: string | undefined): Promise<void> {
    const asked = ++this.asked;
    try {
      const r = await this.ctx.api.next('rate', after);
      if (asked === this.asked) this.remaining = r.remaining ?? null;
      if (r.item) {
        this.push(r.item);
      } else {
        this.index = this.history.length; // past the end: all rated, or nothing to rate
        this.draw();
      }
    } catch (e) {
      this.ctx.say(errorText(e), 'error');
    }
  }

  /** Moving off a clip with unsaved tags or a note: they stay with that clip, and the reviewer is told. */
  private leaving(): void {
    const run = this.current;
    if (!run) return;
    this.edited();
    if (this.drafts.has(run.id)) {
      this.ctx.say(`kept unsaved tags/note of ${run.id.slice(0, 8)}: they come back with the clip; press 1–5 there to save them`, 'info');
    }
  }

  /** The tags or note changed: keep them as the clip's draft (or drop an empty one). */
  private edited(): void {
    const run = this.current;
    if (!run) return;
    const draft = { tags: this.tagInput.peek(), note: this.note.value };
    if (draft.tags.length || draft.note.trim()) this.drafts.set(run.id, draft);
    else this.drafts.delete(run.id);
    this.drawPending();
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
        this.drawPending();
      }
    } catch {
      // keep what we have
    }
  }

  private draw(): void {
    const run = this.current;
    this.drawCounter();
    const draft = run ? this.drafts.get(run.id) : undefined;
    this.tagInput.tags = draft?.tags ?? [];
    this.note.value = draft?.note ?? '';
    this.drawPending();
    if (!run) {
      const empty = h('div', { class: 'cx-empty' }, 'Loading…');
      fill(this.stage, empty);
      fill(this.meta);
      this.stars.set(0);
      this.node.dataset.runId = '';
      if (this.loaded) void this.drawEmpty(empty);
      return;
    }
    delete this.node.dataset.empty;
    this.node.dataset.runId = run.id;
    fill(this.stage, run.sha256 ? player(this.ctx.api.mediaUrl(run.sha256)) : h('div', { class: 'cx-empty' }, `no media (${run.status})`));
    this.stars.set(run.my_rating);
    this.drawMeta(run);
  }

  /** Nothing to rate: all rated (there are clips, all rated by me), or no clips in the log yet (say how to make some). */
  private async drawEmpty(empty: HTMLElement): Promise<void> {
    const info = await this.ctx.logInfo();
    if (this.current || !empty.isConnected) return;
    const allRated = info !== null && info.clips > 0;
    this.node.dataset.empty = allRated ? 'all-rated' : 'no-clips';
    empty.textContent = allRated ? `All ${info.clips} clips rated ✓ — nothing left in your queue.` : noClipsText(info);
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

  private drawPending(): void {
    const run = this.current;
    const draft = run ? this.drafts.get(run.id) : undefined;
    if (!run || !draft) {
      this.pending.hidden = true;
      this.pending.textContent = '';
      delete this.node.dataset.pending;
    } else {
      const what = [draft.tags.length ? `${draft.tags.length} tag${draft.tags.length === 1 ? '' : 's'}` : '', draft.note.trim() ? 'a note' : '']
        .filter(Boolean)
        .join(' and ');
      const stars = run.my_rating ? ` (your stars now: ${run.my_rating}★)` : '';
      this.pending.hidden = false;
      this.pending.textContent = `unsaved: ${what} — press 1–5 to save with stars${stars}`;
      this.node.dataset.pending = 'true';
    }
    this.drawCounter();
  }

  private drawCounter(): void {
    const pos = this.history.length ? `${Math.min(this.index + 1, this.history.length)}/${this.history.length} seen` : '';
    const left = this.remaining === null ? '' : `${this.remaining} left to rate`;
    const unsaved = this.drafts.size ? `${this.drafts.size} unsaved` : '';
    this.counter.textContent = [left, pos, unsaved].filter(Boolean).join(' · ');
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
