/** Browse mode: the log's gallery with the notebook gallery's filters and pages; click a clip to play and annotate it. */
import { RunDetail, RunFilters, RunPage } from './api';
import { fill, fmt, h } from './dom';
import { noClipsText } from './logstatus';
import { currentFrame, player } from './player';
import { Context, errorText, View } from './view';

const PAGE = 12;

export class BrowseView implements View {
  readonly name = 'browse';
  readonly label = 'Browse';
  readonly node: HTMLElement;
  private filters: RunFilters = { sort: 'newest', limit: PAGE, offset: 0 };
  private grid: HTMLElement;
  private pager: HTMLElement;
  private detail: HTMLElement;
  private tagList: HTMLDataListElement;
  private page: RunPage | null = null;
  private open: RunDetail | null = null;
  private loaded = false;
  private typing = 0;

  constructor(private ctx: Context) {
    const text = (key: keyof RunFilters, placeholder: string, list?: string) => {
      const input = h('input', { class: 'cx-filter', type: 'search', placeholder, 'aria-label': placeholder, 'data-filter': key, list });
      input.addEventListener('input', () => {
        window.clearTimeout(this.typing);
        this.typing = window.setTimeout(() => this.setFilter(key, input.value.trim() || undefined), 300);
      });
      return input;
    };
    const select = (key: keyof RunFilters, label: string, options: [string, string][]) => {
      const el = h('select', { class: 'cx-filter', 'aria-label': label, 'data-filter': key }, ...options.map(([v, t]) => h('option', { value: v }, t)));
      el.addEventListener('change', () => this.setFilter(key, el.value === '' ? undefined : key === 'min_rating' ? Number(el.value) : el.value));
      return el;
    };
    this.tagList = h('datalist', { id: 'cx-browse-tags' });
    this.grid = h('div', { class: 'cx-grid' });
    this.pager = h('div', { class: 'cx-row cx-pager' });
    this.detail = h('div', { class: 'cx-detail' });
    this.node = h(
      'div',
      { class: 'cx-view cx-browse' },
      h(
        'div',
        { class: 'cx-filters' },
        text('text', 'prompt contains…'),
        text('tag', 'tag', 'cx-browse-tags'),
        text('author', 'author'),
        text('backend', 'backend'),
        text('model', 'model'),
        select('min_rating', 'min rating', [['', 'any rating'], ['1', '≥ 1★'], ['2', '≥ 2★'], ['3', '≥ 3★'], ['4', '≥ 4★'], ['5', '5★']]),
        select('sort', 'sort', [['newest', 'newest'], ['oldest', 'oldest'], ['rating', 'best rated']]),
        this.tagList
      ),
      this.detail,
      this.grid,
      this.pager
    );
  }

  show(): void {
    if (!this.loaded) {
      this.loaded = true;
      void this.load();
    }
  }

  hide(): void {
    this.detail.querySelector('video')?.pause();
  }

  async refresh(): Promise<void> {
    await this.load();
    if (this.open) {
      await this.openRun(this.open.id, false);
    }
  }

  keydown(event: KeyboardEvent): boolean {
    if (event.key === 'Escape' && this.open) {
      this.close();
      return true;
    }
    return false;
  }

  private setFilter(key: keyof RunFilters, value: unknown): void {
    (this.filters as Record<string, unknown>)[key] = value;
    this.filters.offset = 0;
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const [page, tags] = await Promise.all([this.ctx.api.runs(this.filters), this.ctx.api.tags().catch(() => [] as string[])]);
      fill(this.tagList, ...tags.map(t => h('option', { value: t })));
      if (page.items.length === 0 && page.total > 0 && (this.filters.offset ?? 0) > 0) {
        // The page emptied under us (runs deleted or filtered out): step back to the last page.
        this.filters.offset = Math.max(0, Math.floor((page.total - 1) / PAGE) * PAGE);
        return this.load();
      }
      this.page = page;
      this.draw();
    } catch (e) {
      this.ctx.say(errorText(e), 'error');
    }
  }

  /** "No clips match." under filters; with none, the log has no runs yet: say how to make some. */
  private emptyNote(): HTMLElement {
    const note = h('div', { class: 'cx-empty' }, 'No clips match.');
    const { text, tag, author, backend, model, min_rating } = this.filters;
    if ([text, tag, author, backend, model, min_rating].every(v => v === undefined)) {
      void this.ctx.logInfo().then(info => {
        if (note.isConnected && !info?.runs) note.textContent = noClipsText(info);
      });
    }
    return note;
  }

  private draw(): void {
    const page = this.page;
    if (!page) return;
    fill(
      this.grid,
      ...(page.items.length
        ? page.items.map(run =>
            h(
              'button',
              {
                class: `cx-tile${this.open?.id === run.id ? ' cx-mod-open' : ''}`,
                type: 'button',
                'data-id': run.id,
                title: run.prompt,
                onclick: () => void this.openRun(run.id)
              },
              run.sha256
                ? h('img', { class: 'cx-thumb', src: this.ctx.api.mediaUrl(run.sha256, 'thumb.webp'), alt: '', loading: 'lazy' })
                : h('div', { class: 'cx-thumb cx-empty' }, run.status),
              h('span', { class: 'cx-tile-prompt' }, run.prompt),
              h('span', { class: 'cx-tile-meta' }, run.rating ? `${fmt(run.rating, 1)}★ (${run.ratings ?? 0})` : 'unrated', ' · ', run.author)
            )
          )
        : [this.emptyNote()])
    );
    const offset = page.offset ?? 0;
    const last = Math.min(offset + page.items.length, page.total);
    const go = (delta: number) => {
      this.filters.offset = Math.max(0, offset + delta);
      void this.load();
    };
    fill(
      this.pager,
      h('button', { class: 'jp-Button jp-mod-styled cx-btn', type: 'button', disabled: offset <= 0, onclick: () => go(-PAGE) }, '‹ prev'),
      h('span', { class: 'cx-counter' }, page.total ? `${offset + 1}–${last} of ${page.total}` : '0 clips'),
      h('button', { class: 'jp-Button jp-mod-styled cx-btn', type: 'button', disabled: last >= page.total, onclick: () => go(PAGE) }, 'next ›')
    );
  }

  private close(): void {
    this.open = null;
    fill(this.detail);
    this.draw();
  }

  /** Show a run with its player and notes; `fresh` false keeps the playing video (a live refresh). */
  private async openRun(id: string, fresh = true): Promise<void> {
    let run: RunDetail;
    try {
      run = await this.ctx.api.run(id);
    } catch (e) {
      this.ctx.say(errorText(e), 'error');
      return;
    }
    const keepVideo = !fresh && this.open?.id === id ? this.detail.querySelector('video') : null;
    const keepDraft = !fresh ? this.detail.querySelector<HTMLInputElement>('.cx-annotate-text')?.value ?? '' : '';
    this.open = run;
    const video = keepVideo ?? (run.sha256 ? player(this.ctx.api.mediaUrl(run.sha256), { controls: true }) : null);
    const frameLabel = h('span', { class: 'cx-frame' }, 'frame 0');
    const showFrame = () => {
      if (video) frameLabel.textContent = `frame ${currentFrame(video, run.fps)}`;
    };
    video?.addEventListener('timeupdate', showFrame);
    video?.addEventListener('seeked', showFrame);
    const noteInput = h('input', { class: 'cx-annotate-text', type: 'text', placeholder: 'note on this frame…', 'aria-label': 'annotation' });
    noteInput.value = keepDraft;
    const add = async () => {
      const text = noteInput.value.trim();
      if (!text) return;
      const frame = video ? currentFrame(video, run.fps) : 0;
      try {
        await this.ctx.api.annotate(run.id, text, frame);
        noteInput.value = '';
        this.ctx.say(`saved ✓ note at frame ${frame}`, 'ok');
        await this.openRun(run.id, false);
      } catch (e) {
        this.ctx.say(errorText(e), 'error');
      }
    };
    noteInput.addEventListener('keydown', e => {
      if (e.key === 'Enter') {
        e.preventDefault();
        void add();
      }
    });
    const notes = (run.annotations ?? []).slice().sort((a, b) => a.frame - b.frame);
    fill(
      this.detail,
      h(
        'div',
        { class: 'cx-row cx-head' },
        h('strong', { class: 'cx-prompt', title: run.prompt }, run.prompt),
        h('button', { class: 'jp-Button jp-mod-styled cx-btn', type: 'button', title: 'close (Esc)', onclick: () => this.close() }, '×')
      ),
      video ?? h('div', { class: 'cx-empty' }, `no media (${run.status})`),
      h(
        'div',
        { class: 'cx-dim' },
        [run.model || run.backend, `seed ${run.seed}`, run.steps !== undefined ? `${run.steps} steps` : '', run.guidance !== undefined ? `cfg ${run.guidance}` : '', run.author, run.id.slice(0, 8)]
          .filter(Boolean)
          .join(' · '),
        run.rating ? ` · ${fmt(run.rating, 1)}★ (${run.ratings})` : '',
        run.tags?.length ? ` · ${run.tags.join(', ')}` : ''
      ),
      h(
        'div',
        { class: 'cx-row cx-annotate' },
        frameLabel,
        noteInput,
        h('button', { class: 'jp-Button jp-mod-styled cx-btn', type: 'button', onclick: () => void add() }, 'Add note')
      ),
      notes.length
        ? h(
            'ul',
            { class: 'cx-notes' },
            ...notes.map(a =>
              h(
                'li',
                {
                  class: 'cx-note-item',
                  title: 'seek here',
                  onclick: () => {
                    if (video) video.currentTime = (a.frame + 0.5) / (run.fps || 24);
                  }
                },
                h('span', { class: 'cx-frame' }, `#${a.frame}`),
                ' ',
                a.text,
                h('span', { class: 'cx-dim' }, ` — ${a.author}`)
              )
            )
          )
        : null
    );
    showFrame();
    this.draw();
  }
}
