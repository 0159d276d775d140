import { Rng } from '@t2i/core';
import { describe, expect, it } from 'vitest';
import { averagedCaption } from '../src/index.ts';

describe('4-of-10 caption averaging', () => {
  it('averages k distinct caption vectors of the image, a fresh draw each time', () => {
    // caption k's vector is (k, 10k): any mean of 4 distinct ones is (m, 10m), m = the mean index.
    const all = Float32Array.from({ length: 20 }, (_, i) => (i % 2 ? 10 : 1) * Math.floor(i / 2));
    const rng = new Rng(3);
    const means = new Set<number>();
    for (let t = 0; t < 20; t++) {
      const v = averagedCaption(all, 2, 4, rng);
      expect(v[1]).toBeCloseTo(10 * v[0], 4);
      // four distinct indices of 0..9 sum to between 6 and 30
      expect(v[0] * 4).toBeGreaterThanOrEqual(6 - 1e-4);
      expect(v[0] * 4).toBeLessThanOrEqual(30 + 1e-4);
      means.add(Math.round(v[0] * 4));
    }
    expect(means.size).toBeGreaterThan(3);
    expect(Array.from(averagedCaption(all, 2, 10, rng))).toEqual([4.5, 45]);
  });
});
