/** The review panel: a Lumino widget for the right side bar holding the four modes, keyboard-driven, with the log it reads on top. */
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { ExplorerApi } from './api';
import { BattleView } from './battle';
import { BrowseView } from './browse';
import { fill, h, isTyping } from './dom';
import { LeaderboardView } from './leaderboard';
import { LogStatus } from './logstatus';
import { ChangePoller } from './poll';
import { QueueView } from './queue';
import { Context, View } from './view';

export class ReviewPanel extends Widget {
  readonly api: ExplorerApi;
  readonly views: View[];
  private current: View;
  private stale = new Set<View>();
  private shown = new Set<View>();
  private tabs: HTMLElement;
  private body: HTMLElement;
  private status: HTMLElement;
  private who: HTMLElement;
  private log: LogStatus;
  private poller: ChangePoller;
  private statusTimer = 0;
  private catchingUp: Promise<void> = Promise.resolve();

  constructor(api = new ExplorerApi()) {
    super();
    this.api = api;
    this.id = 'clip-explorer-review';
    this.addClass('cx-panel');
    this.title.caption = 'Clip Explorer review';
    this.title.iconClass = 'cx-review-icon';
    this.node.tabIndex = 0;

    this.log = new LogStatus(api);
    const ctx: Context = {
      api,
      logInfo: () => this.log.get(),
      say: (m, kind) => this.say(m, kind),
      focusPanel: () => this.node.focus()
    };
    this.views = [new QueueView(ctx), new BattleView(ctx), new BrowseView(ctx), new LeaderboardView(ctx)];
    this.current = this.views[0];
    this.tabs = h('div', { class: 'cx-tabs', role: 'tablist' });
    this.body = h('div', { class: 'cx-body' });
    this.status = h('div', { class: 'cx-status', role: 'status', 'aria-live': 'polite' });
    this.who = h('span', { class: 'cx-who' });
    this.node.append(
      h('div', { class: 'cx-top' }, h('span', { class: 'cx-title' }, 'Clip Explorer'), this.who),
      this.log.node,
      this.tabs,
      this.status,
      this.body
    );
    this.poller = new ChangePoller(api, version => this.onLogChanged(version));
    this.node.addEventListener('keydown', this);
    this.drawTabs();
    void this.loadMe();
  }

  get mode(): string {
    return this.current.name;
  }

  /** Switch to a mode by name ('queue', 'battle', 'browse', 'leaderboard'). */
  select(name: string): void {
    const view = this.views.find(v => v.name === name);
    if (!view) return;
    const switched = view !== this.current;
    if (switched) {
      this.current.hide();
      this.current = view;
    }
    this.drawTabs();
    fill(this.body, view.node);
    this.node.dataset.mode = view.name;
    if (this.isVisible) {
      const seen = this.shown.has(view);
      this.shown.add(view);
      view.show();
      // Coming back to a mode: bring it up to date (cheap, and the poll may not have ticked yet).
      if (this.stale.delete(view) || (switched && seen)) void view.refresh();
    }
    this.node.focus();
  }

  handleEvent(event: Event): void {
    if (event.type === 'keydown') this.onKeydown(event as KeyboardEvent);
  }

  say(message: string, kind: 'ok' | 'error' | 'info' = 'info'): void {
    this.status.textContent = message;
    this.status.dataset.kind = kind;
    window.clearTimeout(this.statusTimer);
    if (kind === 'ok') {
      this.statusTimer = window.setTimeout(() => {
        if (this.status.textContent === message) this.status.textContent = '';
      }, 4000);
    }
  }

  dispose(): void {
    this.poller.stop();
    this.node.removeEventListener('keydown', this);
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this.body.firstChild) fill(this.body, this.current.node);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.log.update();
    this.select(this.current.name);
    this.poller.start();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.poller.stop();
    this.current.hide();
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this.node.focus();
  }

  private onKeydown(event: KeyboardEvent): void {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event)) {
      if (event.key === 'Escape') {
        (event.target as HTMLElement).blur();
        this.node.focus();
        event.preventDefault();
        event.stopPropagation();
      }
      return;
    }
    if (this.current.keydown(event)) {
      event.preventDefault();
      event.stopPropagation();
    }
  }

  /** The log's version moved: catch up (one change after the other, so an older one never lands last). */
  private onLogChanged(version: string): void {
    this.catchingUp = this.catchingUp.then(() => this.catchUp(version));
  }

  private async catchUp(version: string): Promise<void> {
    for (const v of this.views) if (v !== this.current) this.stale.add(v);
    try {
      await this.log.update(); // counts first, so a mode that finds nothing to show says the right thing
      await this.current.refresh();
    } finally {
      this.node.dataset.version = version; // the log version the panel has caught up with
    }
  }

  private drawTabs(): void {
    fill(
      this.tabs,
      ...this.views.map(v =>
        h(
          'button',
          {
            class: `cx-tab${v === this.current ? ' cx-mod-active' : ''}`,
            type: 'button',
            role: 'tab',
            tabindex: -1,
            'aria-selected': v === this.current ? 'true' : 'false',
            'data-mode': v.name,
            onclick: () => this.select(v.name)
          },
          v.label
        )
      )
    );
  }

  private async loadMe(): Promise<void> {
    try {
      const me = await this.api.me();
      this.who.textContent = `as ${me.author}`;
      this.who.title = 'the author of your ratings, votes and notes';
    } catch (e) {
      this.say(`Clip Explorer API unavailable: ${(e as Error).message}`, 'error');
    }
  }
}
