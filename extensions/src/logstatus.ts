/** The log the panel reads: its name (full path on hover) and counts in the header, and what to say while it holds no clips. */
import { ExplorerApi, LogInfo } from './api';
import { fill, h } from './dom';

/** What an empty (or not yet created) log asks of the reviewer: make clips, and how. */
export function noClipsText(info: LogInfo | null): string {
  return `No clips in ${info?.name ?? 'the log'} yet. Make some: \`explorer demo\` in a terminal, or \`lab.generate(...)\` in a notebook.`;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export class LogStatus {
  readonly node: HTMLElement;
  private info: LogInfo | null = null;
  private asking: Promise<LogInfo | null> | null = null;
  private again = false;

  constructor(private api: ExplorerApi) {
    this.node = h('div', { class: 'cx-log' });
  }

  /** The latest answer, or null before the first. */
  get current(): LogInfo | null {
    return this.info;
  }

  /** The latest answer, asking the server first if there is none yet. */
  get(): Promise<LogInfo | null> {
    return this.info ? Promise.resolve(this.info) : this.update();
  }

  /** Ask the server again (when the panel opens and whenever the log's version moves); asked meanwhile, it asks once more after. */
  update(): Promise<LogInfo | null> {
    if (this.asking) {
      this.again = true;
      return this.asking;
    }
    this.asking = (async () => {
      do {
        this.again = false;
        try {
          this.info = await this.api.log();
          this.draw(this.info);
        } catch {
          // an older answer beats none; the API's errors show in the status line elsewhere
        }
      } while (this.again);
      this.asking = null;
      return this.info;
    })();
    return this.asking;
  }

  private draw(info: LogInfo): void {
    const d = this.node.dataset;
    d.exists = String(info.exists);
    d.clips = String(info.clips);
    d.ratings = String(info.ratings);
    d.votes = String(info.votes);
    d.unrated = String(info.unrated);
    const counts = info.exists
      ? [count(info.clips, 'clip'), count(info.ratings, 'rating'), count(info.votes, 'vote'), `${info.unrated} for you to rate`].join(' · ')
      : 'not created yet';
    const title = info.exists
      ? `${info.path}\n${count(info.runs, 'run')} (${info.clips} with a clip), ${count(info.ratings, 'rating')}, ${count(info.votes, 'vote')}`
      : `${info.path} does not exist yet: ${noClipsText(info)}`;
    this.node.title = title;
    fill(this.node, h('span', { class: 'cx-log-name' }, info.name), h('span', { class: 'cx-log-counts' }, counts));
  }
}
