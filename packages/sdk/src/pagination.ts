import type { Page } from './contract/common.js';

/** Refuses to gather more than this many items into memory unless asked. */
const DEFAULT_MAX_ITEMS = 10_000;

/**
 * A list call: `await` it for the first page, or iterate it with `for await` to walk every item across
 * pages. Each page is fetched once, even when iterated by several consumers.
 */
export class AutoPaginator<T> implements AsyncIterable<T>, PromiseLike<Page<T>> {
  private readonly pages: Promise<Page<T>>[] = [];

  constructor(private readonly fetchPage: (cursor: string | undefined) => Promise<Page<T>>) {}

  private page(index: number): Promise<Page<T>> {
    while (this.pages.length <= index) {
      const previous = this.pages[this.pages.length - 1];
      this.pages.push(
        previous
          ? previous.then((p) =>
              p.has_more && p.next_cursor ? this.fetchPage(p.next_cursor) : emptyPage<T>(),
            )
          : this.fetchPage(undefined),
      );
    }
    return this.pages[index]!;
  }

  // biome-ignore lint/suspicious/noThenProperty: a list call is awaitable for its first page, like stripe-node's
  then<A = Page<T>, B = never>(
    onfulfilled?: ((value: Page<T>) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.page(0).then(onfulfilled, onrejected);
  }

  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<Page<T> | B> {
    return this.page(0).catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<Page<T>> {
    return this.page(0).finally(onfinally);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (let i = 0; ; i++) {
      const p = await this.page(i);
      yield* p.data;
      if (!p.has_more || !p.next_cursor) return;
    }
  }

  /** Every item, up to `limit` (default 10,000: a guard against pulling a huge list by mistake). */
  async toArray(options: { limit?: number } = {}): Promise<T[]> {
    const limit = options.limit ?? DEFAULT_MAX_ITEMS;
    const out: T[] = [];
    for await (const item of this) {
      if (out.length >= limit) break;
      out.push(item);
    }
    return out;
  }
}

const emptyPage = <T>(): Page<T> => ({ object: 'list', data: [], has_more: false, next_cursor: null });
