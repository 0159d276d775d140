/**
 * Maps items through an async function with at most `concurrency` calls in flight, yielding
 * results in input order. Lookahead is bounded, so memory stays flat however many items there are.
 */
export async function* mapOrdered<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): AsyncGenerator<R> {
  const inFlight: Promise<R>[] = [];
  let next = 0;
  const limit = Math.max(1, concurrency);
  const start = () => {
    const call = fn(items[next], next);
    // A call that fails while an earlier one is awaited must not count as unhandled; it is
    // rethrown when its turn comes.
    call.catch(() => undefined);
    inFlight.push(call);
    next++;
  };
  while (next < items.length && inFlight.length < limit) start();
  while (inFlight.length > 0) {
    const result = await inFlight.shift()!;
    if (next < items.length) start();
    yield result;
  }
}
