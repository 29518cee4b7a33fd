/** Small inputs shared by the modes: a star row and a tag field with suggestions. */
import { h, fill } from './dom';

/** Five clickable stars; `set(n)` shows n, clicking star i calls onPick(i). */
export class Stars {
  readonly node: HTMLElement;
  private value = 0;

  constructor(private onPick: (score: number) => void) {
    this.node = h('div', { class: 'cx-stars', role: 'radiogroup', 'aria-label': 'stars' });
    for (let i = 1; i <= 5; i++) {
      const star = h(
        'button',
        { class: 'cx-star', type: 'button', 'data-score': i, title: `${i} (key ${i})`, tabindex: -1 },
        '★'
      );
      star.addEventListener('click', () => this.onPick(i));
      this.node.append(star);
    }
  }

  get score(): number {
    return this.value;
  }

  set(score: number | null | undefined): void {
    this.value = score ?? 0;
    this.node.querySelectorAll<HTMLElement>('.cx-star').forEach((el, i) => {
      el.classList.toggle('cx-mod-on', i < this.value);
    });
  }
}

/** A tag list: type and press Enter (or comma) to add; click a chip to remove; suggestions from the log; onChange on every edit. */
export class TagInput {
  readonly node: HTMLElement;
  readonly input: HTMLInputElement;
  private chips: HTMLElement;
  private list: HTMLDataListElement;
  private values: string[] = [];
  private static counter = 0;

  constructor(private onChange: () => void = () => undefined) {
    const listId = `cx-tag-suggestions-${++TagInput.counter}`;
    this.chips = h('span', { class: 'cx-chips' });
    this.list = h('datalist', { id: listId });
    this.input = h('input', {
      class: 'cx-tag-input',
      type: 'text',
      list: listId,
      placeholder: 'tags (t): type, Enter',
      'aria-label': 'tags'
    });
    this.input.addEventListener('keydown', e => {
      if (e.key === 'Enter' || e.key === ',') {
        e.preventDefault();
        this.commit();
      } else if (e.key === 'Backspace' && !this.input.value && this.values.length) {
        this.values.pop();
        this.draw();
        this.onChange();
      }
    });
    this.input.addEventListener('input', () => this.onChange());
    this.input.addEventListener('change', () => this.commit());
    this.node = h('div', { class: 'cx-tags' }, this.chips, this.input, this.list);
  }

  /** The tags, including any typed but not yet committed. */
  get tags(): string[] {
    this.commit();
    return [...this.values];
  }

  /** The tags, with any typed but not yet committed, leaving the field as it is. */
  peek(): string[] {
    const typed = this.input.value.replace(/,/g, ' ').trim();
    return typed && !this.values.includes(typed) ? [...this.values, typed] : [...this.values];
  }

  set tags(values: string[]) {
    this.values = [...new Set(values)];
    this.input.value = '';
    this.draw();
  }

  suggest(tags: string[]): void {
    fill(this.list, ...tags.map(t => h('option', { value: t })));
  }

  private commit(): void {
    const v = this.input.value.replace(/,/g, ' ').trim();
    const changed = Boolean(v) && !this.values.includes(v);
    if (changed) {
      this.values.push(v);
    }
    this.input.value = '';
    this.draw();
    if (changed) this.onChange();
  }

  private draw(): void {
    fill(
      this.chips,
      ...this.values.map(t =>
        h(
          'button',
          {
            class: 'cx-chip',
            type: 'button',
            tabindex: -1,
            title: 'remove',
            onclick: () => {
              this.values = this.values.filter(x => x !== t);
              this.draw();
              this.onChange();
            }
          },
          t,
          ' ×'
        )
      )
    );
  }
}
