/**
 * Typed calls to Clip Explorer's REST API (explorer/server/openapi.yaml) through Jupyter's ServerConnection,
 * which adds the token or session cookie and the XSRF header; the server, not the page, names the author.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface Run {
  id: string;
  created_at: string;
  author: string;
  status: 'running' | 'succeeded' | 'failed' | 'cancelled';
  backend: string;
  model?: string | null;
  prompt: string;
  negative_prompt?: string | null;
  seed?: number;
  frames?: number;
  fps?: number;
  width?: number;
  height?: number;
  steps?: number;
  guidance?: number;
  sha256?: string | null;
  rating?: number | null;
  ratings?: number;
  my_rating?: number | null;
  tags?: string[];
}

export interface Annotation {
  id: string;
  run_id: string;
  author: string;
  created_at: string;
  frame: number;
  end_frame?: number | null;
  time_s?: number;
  text: string;
}

export interface RunDetail extends Run {
  annotations?: Annotation[];
  ratings_latest?: { author: string; score: number; tags?: string[]; note?: string | null }[];
}

export interface RunPage {
  total: number;
  limit: number;
  offset: number;
  items: Run[];
}

export interface RunFilters {
  text?: string;
  tag?: string;
  author?: string;
  backend?: string;
  model?: string;
  status?: string;
  min_rating?: number;
  sort?: 'newest' | 'oldest' | 'rating';
  limit?: number;
  offset?: number;
}

export interface QueueNext {
  item?: Run | null;
  pair?: [Run, Run] | null;
  /** mode=rate: clips I have not rated, the one given included. */
  remaining?: number | null;
  /** mode=battle: the two are takes of one idea; false only when no such pair is left. */
  related?: boolean | null;
  /** mode=battle: the relation ("same prompt", …) or why the pair is unrelated. */
  reason?: string | null;
}

/** The log the server reads (GET log): where it is, whether it exists yet, what it holds. */
export interface LogInfo {
  path: string;
  name: string;
  exists: boolean;
  runs: number;
  clips: number;
  ratings: number;
  votes: number;
  /** Clips the current user has not rated. */
  unrated: number;
}

export interface LeaderRow {
  key: string | number;
  /** The key as text; for by=run: prompt · seed · short id. */
  label?: string;
  bt_score: number | null;
  ci_low: number | null;
  ci_high: number | null;
  votes: number;
  mean_rating: number | null;
  rating_ci_low?: number | null;
  rating_ci_high?: number | null;
  ratings: number;
  runs: number;
  /** Seconds all the group's runs took (failed ones too). */
  device_s?: number;
  /** Clips the team kept: latest stars averaging 4 or more, or more than half of their battles won. */
  kept?: number;
  /** Device-seconds per kept clip; null when none was kept. */
  s_per_kept?: number | null;
}

/** One clip metric against the team's taste (GET metric-agreement). */
export interface MetricRow {
  metric: string;
  /** Share of the votes it could tell apart that it agrees with; null with no such vote. */
  accuracy: number | null;
  low: number | null;
  high: number | null;
  /** Which values win: 'higher' or 'lower'. */
  direction: string | null;
  votes: number;
  ties: number;
  /** Per reviewer: Spearman's rank correlation with their latest stars (null under three rated clips). */
  rho: Record<string, number | null>;
}

export interface TasteSummary {
  votes: number;
  star_pairs: number;
  ready: boolean;
  /** A refit is under way: what is here is the model fitted before. */
  fitting: boolean;
  /** A model exists (false: none yet). */
  fitted: boolean;
  accuracy?: number | null;
  low?: number | null;
  high?: number | null;
  held_out?: number;
}

export interface MetricAgreement {
  metrics: MetricRow[];
  reviewers: Record<string, number>;
  reference: { name: string; low: number; high: number; source?: string };
  votes: number;
  taste: TasteSummary;
}

export interface Leaderboard {
  /** The grouping used (what "auto" chose). */
  by: string;
  requested?: string;
  rows: LeaderRow[];
  /** Votes in the log, those between two runs of one group (not on the board), those off the board. */
  votes?: { total: number; within: number; outside: number };
  /** What the board leaves out, in a sentence, or "". */
  note?: string;
}

export interface Created {
  id: string;
  author: string;
}

/** An error the API reported ({error}) or a network failure, with a message fit to show. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | null | undefined>;

function queryString(query?: Query): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null || v === '') continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** The API client: one per panel (the settings carry the base URL and credentials). */
export class ExplorerApi {
  readonly settings: ServerConnection.ISettings;

  constructor(settings?: ServerConnection.ISettings) {
    this.settings = settings ?? ServerConnection.makeSettings();
  }

  /** URL of a clip (mp4), its poster (poster.jpg) or thumbnail (thumb.webp); same-origin cookies authorise it. */
  mediaUrl(sha256: string, kind: 'mp4' | 'poster.jpg' | 'thumb.webp' = 'mp4'): string {
    return URLExt.join(this.settings.baseUrl, 'explorer', 'media', `${sha256}.${kind}`);
  }

  async request<T>(path: string, init: RequestInit = {}, query?: Query): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, 'explorer', 'api', path) + queryString(query);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (e) {
      throw new ApiError(`network error: ${(e as Error).message ?? e}`, 0);
    }
    const text = await response.text();
    let body: unknown = undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const message =
        body && typeof body === 'object' && 'error' in body
          ? String((body as { error: unknown }).error)
          : `${response.status} ${response.statusText || 'error'}`;
      throw new ApiError(message, response.status);
    }
    return body as T;
  }

  private post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>(path, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' }
    });
  }

  me(): Promise<{ author: string; log?: string }> {
    return this.request('me');
  }

  log(): Promise<LogInfo> {
    return this.request('log');
  }

  runs(filters: RunFilters = {}): Promise<RunPage> {
    return this.request('runs', {}, filters as Query);
  }

  run(id: string): Promise<RunDetail> {
    return this.request(`runs/${encodeURIComponent(id)}`);
  }

  rate(run_id: string, score: number, tags: string[] = [], note: string | null = null): Promise<Created> {
    return this.post('ratings', { run_id, score, tags, note });
  }

  vote(winner_id: string, loser_id: string, tie = false): Promise<Created> {
    return this.post('votes', { winner_id, loser_id, tie });
  }

  annotate(run_id: string, text: string, frame: number): Promise<Created> {
    return this.post('annotations', { run_id, text, frame, region: null });
  }

  /** The next clip to rate, or pair to battle; `after`: the clip (or `a,b` pair) just left. */
  next(mode: 'rate' | 'battle', after?: string): Promise<QueueNext> {
    return this.request('queue/next', {}, { mode, after });
  }

  leaderboard(by = 'auto'): Promise<Leaderboard> {
    return this.request('leaderboard', {}, { by });
  }

  agreement(): Promise<Record<string, unknown>> {
    return this.request('agreement');
  }

  /** Which clip metric predicts the team's taste, and the taste model's held-out accuracy (never waits on a refit). */
  metricAgreement(): Promise<MetricAgreement> {
    return this.request('metric-agreement');
  }

  tags(): Promise<string[]> {
    return this.request('tags');
  }

  changes(): Promise<{ version: string }> {
    return this.request('changes');
  }
}
