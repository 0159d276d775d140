import { Rng } from '@t2i/core';
import { describe, expect, it } from 'vitest';
import { courseScore, fid, fidLeaveOneOut, frechetDistance, gaussianOf, inceptionScore, jackknifeStandardError, meanStd, movingAverage, pairedDifference, rPrecision, sqrtPsd, symmetricEigen, topK, trueClassRanks } from '../src/metrics.ts';

describe('Inception Score', () => {
  it('is 1 for uniform predictions', () => {
    const probs = new Float32Array(40 * 5).fill(1 / 5);
    const is = inceptionScore(probs, 5, 10);
    expect(is.mean).toBeCloseTo(1, 6);
    expect(is.std).toBeCloseTo(0, 6);
  });

  it('is k for confident predictions spread evenly over k classes', () => {
    const k = 4;
    // Every split of 8 rows holds each class twice.
    const probs = new Float32Array(80 * k);
    for (let i = 0; i < 80; i++) probs[i * k + (i % k)] = 1;
    const is = inceptionScore(probs, k, 10);
    expect(is.mean).toBeCloseTo(k, 6);
    expect(is.std).toBeCloseTo(0, 6);
  });

  it('matches a hand computation on one split', () => {
    // p(y) = (0.5, 0.5); KL of (0.9, 0.1) and of (0.1, 0.9) to it are both 0.9 ln 1.8 + 0.1 ln 0.2.
    const kl = 0.9 * Math.log(1.8) + 0.1 * Math.log(0.2);
    expect(inceptionScore(Float32Array.of(0.9, 0.1, 0.1, 0.9), 2, 1).mean).toBeCloseTo(Math.exp(kl), 6);
  });
});

describe('matrix square root', () => {
  it('finds the eigenvalues of a known symmetric matrix', () => {
    const { values } = symmetricEigen(Float64Array.of(2, 1, 0, 1, 2, 0, 0, 0, 5), 3);
    expect([...values].sort((a, b) => a - b).map((v) => Number(v.toFixed(10)))).toEqual([1, 3, 5]);
  });

  it('gives [[2,1],[1,2]] for [[5,4],[4,5]]', () => {
    const root = sqrtPsd(Float64Array.of(5, 4, 4, 5), 2);
    [2, 1, 1, 2].forEach((v, i) => expect(root[i]).toBeCloseTo(v, 10));
  });

  it('squares back to a random 40-d covariance', () => {
    const rng = new Rng(3);
    const dim = 40;
    const x = Float64Array.from({ length: 200 * dim }, () => rng.normal());
    const { cov } = gaussianOf(x, dim);
    const root = sqrtPsd(cov, dim);
    for (let r = 0; r < dim; r++) {
      for (let c = 0; c < dim; c++) {
        let sum = 0;
        for (let k = 0; k < dim; k++) sum += root[r * dim + k] * root[k * dim + c];
        expect(sum).toBeCloseTo(cov[r * dim + c], 8);
      }
    }
  });
});

describe('FID', () => {
  it('is 0 for a set against itself', () => {
    const rng = new Rng(1);
    const x = Float32Array.from({ length: 300 * 16 }, () => rng.normal());
    expect(fid(x, x, 16)).toBeCloseTo(0, 6);
  });

  it('matches the closed form for two 1-D Gaussians', () => {
    // (m1 - m2)^2 + (s1 - s2)^2, with the sample mean and (n - 1) variance of each set.
    const rng = new Rng(2);
    const a = Float64Array.from({ length: 500 }, () => 1 + 2 * rng.normal());
    const b = Float64Array.from({ length: 700 }, () => -0.5 + 0.5 * rng.normal());
    const ga = gaussianOf(a, 1);
    const gb = gaussianOf(b, 1);
    const closed = (ga.mean[0] - gb.mean[0]) ** 2 + (Math.sqrt(ga.cov[0]) - Math.sqrt(gb.cov[0])) ** 2;
    expect(fid(a, b, 1)).toBeCloseTo(closed, 10);
    expect(closed).toBeGreaterThan(3);
  });

  it('matches the closed form for diagonal Gaussians', () => {
    const g = (mean: number[], variances: number[]) => ({ dim: mean.length, mean: Float64Array.from(mean), cov: Float64Array.from({ length: mean.length ** 2 }, (_, i) => (i % (mean.length + 1) === 0 ? variances[i / (mean.length + 1)] : 0)) });
    // |(1, 2) - (0, 0)|^2 + (2 - 1)^2 + (3 - 1)^2 = 5 + 1 + 4.
    expect(frechetDistance(g([1, 2], [4, 9]), g([0, 0], [1, 1]))).toBeCloseTo(10, 10);
  });
});

describe("FID's jackknife", () => {
  const normals = (rng: Rng, n: number, dim: number, shift = 0) => Float64Array.from({ length: n * dim }, () => shift + rng.normal());

  it('gives each leave-one-out FID as computed afresh without that part: rows g, g + 5, g + 10...', () => {
    const rng = new Rng(4);
    const dim = 3;
    const n = 53;
    const a = normals(rng, n, dim, 0.5);
    const real = gaussianOf(normals(rng, 80, dim), dim);
    const loo = fidLeaveOneOut(a, real, dim, 5);
    expect(loo).toHaveLength(5);
    loo.forEach((value, g) => {
      const kept = Float64Array.from({ length: n }, (_, i) => i).filter((i) => i % 5 !== g);
      const rows = Float64Array.from(Array.from(kept).flatMap((i) => Array.from(a.subarray(i * dim, (i + 1) * dim))));
      expect(value).toBeCloseTo(frechetDistance(gaussianOf(rows, dim), real), 9);
    });
    expect(() => fidLeaveOneOut(a, real, dim, 1)).toThrow(/cannot leave out/);
  });

  it("is the textbook standard error s / sqrt(n) for a mean's leave-one-out values", () => {
    const x = [2, 4, 4, 5, 7, 9];
    const n = x.length;
    const sum = x.reduce((a, b) => a + b, 0);
    const mean = sum / n;
    const s = Math.sqrt(x.reduce((acc, v) => acc + (v - mean) ** 2, 0) / (n - 1));
    expect(jackknifeStandardError(x.map((v) => (sum - v) / (n - 1)))).toBeCloseTo(s / Math.sqrt(n), 12);
    expect(() => jackknifeStandardError([1])).toThrow(/at least 2/);
  });

  it('is near the spread of FID over independent draws of the generated set', () => {
    // 40 draws of 200 rows against one real set: the jackknife from each single draw should land
    // near the spread the 40 draws show, the spread it stands in for.
    const rng = new Rng(6);
    const dim = 4;
    const real = gaussianOf(normals(rng, 400, dim), dim);
    const values: number[] = [];
    const errors: number[] = [];
    for (let k = 0; k < 40; k++) {
      const a = normals(rng, 200, dim, 0.3);
      values.push(frechetDistance(gaussianOf(a, dim), real));
      errors.push(jackknifeStandardError(fidLeaveOneOut(a, real, dim, 10)));
    }
    const spread = Math.sqrt(meanStd(values).std ** 2 * (40 / 39));
    const typical = meanStd(errors).mean;
    expect(typical / spread).toBeGreaterThan(0.6);
    expect(typical / spread).toBeLessThan(1.6);
  });
});

describe('R-precision', () => {
  const dim = 2;
  const captions = Float32Array.of(1, 0, 0, 1, -1, 0, 0, -1);

  it('is 1 when every image is nearest its own caption', () => {
    const images = Float32Array.of(1, 0.1, 0.1, 1, -1, 0.1, 0.1, -1);
    const candidates = [
      [0, 1, 2, 3],
      [1, 0, 2, 3],
      [2, 0, 1, 3],
      [3, 0, 1, 2],
    ];
    const r = rPrecision({ images, captions, dim, candidates }, 2);
    expect(r.mean).toBe(1);
    expect(r.std).toBe(0);
    expect([...r.ranks]).toEqual([0, 0, 0, 0]);
  });

  it('counts ranks and averages over splits', () => {
    // Image 1 points at caption 0 but its own is caption 1: caption 0 beats it, so it misses.
    const images = Float32Array.of(1, 0, 1, 0, -1, 0, 0, -1);
    const candidates = [
      [0, 1, 2],
      [1, 0, 2],
      [2, 0, 1],
      [3, 2, 1],
    ];
    const r = rPrecision({ images, captions, dim, candidates }, 2);
    expect([...r.ranks]).toEqual([0, 1, 0, 0]);
    // Splits: {0, 1} -> 0.5, {2, 3} -> 1.
    expect(r.mean).toBeCloseTo(0.75, 10);
    expect(r.std).toBeCloseTo(0.25, 10);
  });
});

describe('class consistency and the course score', () => {
  it('ranks the true class for top-k', () => {
    const probs = Float32Array.of(0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.5, 0.4, 0.1);
    const ranks = trueClassRanks(probs, 3, [0, 1, 2]);
    expect([...ranks]).toEqual([0, 1, 2]);
    expect(topK(ranks, 1)).toBeCloseTo(1 / 3);
    expect(topK(ranks, 2)).toBeCloseTo(2 / 3);
  });

  it('adds the mean cosine distance to the inverse spread', () => {
    const generated = Float32Array.of(1, 0, 0, 1, 1, 1);
    const truth = Float32Array.of(1, 0, 1, 0, -1, -1);
    const s = courseScore(generated, truth, 2);
    expect([...s.perImage].map((v) => Number(v.toFixed(6)))).toEqual([0, 1, 2]);
    // Per-dimension (n - 1) variances are both 1/3.
    expect(s.spread).toBeCloseTo(Math.sqrt(1 / 3), 10);
    expect(s.score).toBeCloseTo(1 + Math.sqrt(3), 6);
  });

  it('averages over a centred window', () => {
    expect([...movingAverage([1, 2, 3, 4, 5], 3)]).toEqual([1.5, 2, 3, 4, 4.5]);
    expect(meanStd([1, 3])).toEqual({ mean: 2, std: 1 });
  });
});

describe('paired difference', () => {
  it('counts the items only one set gets right, and gives the difference its standard error by hand', () => {
    // 10 items: both right on 3, only a on 3, only b on 1, neither on 3.
    const a = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0].map(Boolean);
    const b = [1, 1, 1, 0, 0, 0, 1, 0, 0, 0].map(Boolean);
    const p = pairedDifference(a, b);
    expect([p.onlyA, p.onlyB, p.items]).toEqual([3, 1, 10]);
    expect(p.difference).toBeCloseTo(0.2, 12);
    // d_i: three +1, one -1, six 0; population variance 4/10 - 0.2^2 = 0.36; SE sqrt(0.36 / 10).
    expect(p.standardError).toBeCloseTo(Math.sqrt(0.036), 12);
    // Sets that agree on every item differ by exactly 0, with no spread, however many they get right.
    expect(pairedDifference(a, a)).toEqual({ difference: 0, standardError: 0, onlyA: 0, onlyB: 0, items: 10 });
    expect(() => pairedDifference(a, b.slice(1))).toThrow(/differ in length/);
  });
});
