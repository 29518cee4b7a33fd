/** Polls api/changes while asked to, and calls back when the log's version moves. */
import { ExplorerApi } from './api';

export class ChangePoller {
  private timer = 0;
  private version: string | null = null;
  private inFlight = false;

  constructor(
    private api: ExplorerApi,
    private onChange: (version: string) => void,
    readonly intervalMs = 3000
  ) {}

  get running(): boolean {
    return this.timer !== 0;
  }

  start(): void {
    if (this.timer) return;
    this.timer = window.setInterval(() => void this.tick(), this.intervalMs);
    void this.tick();
  }

  stop(): void {
    window.clearInterval(this.timer);
    this.timer = 0;
  }

  /** Ask once now (also what the timer does); a failed poll is skipped quietly. */
  async tick(): Promise<void> {
    if (this.inFlight || document.hidden) return;
    this.inFlight = true;
    try {
      const { version } = await this.api.changes();
      const before = this.version;
      this.version = version;
      if (before !== null && version !== before) this.onChange(version);
    } catch {
      // the server may be restarting; try again next tick
    } finally {
      this.inFlight = false;
    }
  }
}
