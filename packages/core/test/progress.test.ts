import { describe, expect, it } from 'vitest';
import { formatEta } from '../src/progress.ts';

describe('formatEta', () => {
  it('rounds to whole seconds before splitting, so no field reads 60', () => {
    expect(formatEta(179.6)).toBe('3m00s');
    expect(formatEta(59.7)).toBe('1m00s');
    expect(formatEta(3599.6)).toBe('1h00m');
  });
  it('reads seconds, minutes and hours', () => {
    expect(formatEta(12.2)).toBe('12s');
    expect(formatEta(245)).toBe('4m05s');
    expect(formatEta(3 * 3600 + 125)).toBe('3h02m');
  });
  it('says nothing sure before the first item', () => {
    expect(formatEta(Infinity)).toBe('…');
  });
});
