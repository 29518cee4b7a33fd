/** What every mode of the panel provides, and what the panel lends them. */
import { ExplorerApi, LogInfo } from './api';

export interface Context {
  api: ExplorerApi;
  /** The log the panel reads (name, path, counts), as last asked; asks first if not yet. */
  logInfo(): Promise<LogInfo | null>;
  /** Show a short message in the panel's status line ("saved ✓", or an error). */
  say(message: string, kind?: 'ok' | 'error' | 'info'): void;
  /** Give the keyboard back to the panel (after Escape in a field). */
  focusPanel(): void;
}

export interface View {
  readonly name: string;
  readonly label: string;
  readonly node: HTMLElement;
  /** Shown: load if not loaded yet. */
  show(): void;
  /** Hidden: pause media. */
  hide(): void;
  /** The log changed: reload what is on screen without losing the user's place. */
  refresh(): Promise<void>;
  /** A key pressed while the panel has focus (not in a text field); true if handled. */
  keydown(event: KeyboardEvent): boolean;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
