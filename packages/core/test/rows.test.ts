import { describe, expect, it } from 'vitest';
import { gatherRows, repeatEachRow, span, tileRows } from '../src/rows.ts';

describe('rows of flat [n, d] matrices', () => {
  const m = Float32Array.from([1, 2, 3, 4, 5, 6]); // rows [1, 2], [3, 4], [5, 6]

  it('gathers rows in any order, repeats allowed', () => {
    expect([...gatherRows(m, 2, [2, 0, 2])]).toEqual([5, 6, 1, 2, 5, 6]);
    expect([...gatherRows(m, 2, [])]).toEqual([]);
    expect(span(3, 4)).toEqual([3, 4, 5, 6]);
  });

  it('repeats each row (one grid row per caption) or tiles the whole matrix (the same noise columns in every row)', () => {
    expect([...repeatEachRow(m, 2, 2)]).toEqual([1, 2, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6]);
    expect([...tileRows(m, 2, 2)]).toEqual([1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);
    expect([...repeatEachRow(m, 3, 1)]).toEqual([...m]);
  });
});
