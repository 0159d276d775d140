import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { beforeAll, describe, expect, it } from 'vitest';
import { scoreRetrieval, type SplitVectors } from '../src/quality.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const unit = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

/**
 * Two classes of 4 and 12 images, 2 captions each. Every vector is its class's axis plus `instance`
 * times a random direction of its own image (captions share their image's direction), so
 * `instance` 0 knows classes only and larger values tell siblings apart.
 */
function vectors(instance: number, seed = 1): SplitVectors {
  const rng = new Rng(seed);
  const dim = 40;
  const imageClass = [...Array(4).fill(7), ...Array(12).fill(3)];
  const own = imageClass.map(() => Array.from({ length: dim }, () => rng.normal()));
  const vec = (image: number, noise: number) =>
    unit(own[image].map((x, d) => (d === (imageClass[image] === 7 ? 0 : 1) ? 1 : 0) + instance * x / Math.sqrt(dim) + noise * rng.normal()));
  const captionImage = imageClass.flatMap((_, i) => [i, i]);
  return {
    dim,
    imageClass,
    imageVecs: Float32Array.from(imageClass.flatMap((_, i) => vec(i, 0.01))),
    textVecs: Float32Array.from(captionImage.flatMap((i) => vec(i, 0.01))),
    captionImage,
  };
}

describe('retrieval scores', () => {
  it('the class-only ceiling is the mean of min(10, n) / n over captions', async () => {
    const s = await scoreRetrieval(vectors(0));
    // 8 captions in the class of 4 (ceiling 1), 24 in the class of 12 (10/12).
    expect(s.classOracleR10).toBeCloseTo((8 * 1 + 24 * (10 / 12)) / 32, 6);
    expect(s.classes).toBe(2);
  });

  it('vectors that know only the class: zero-shot perfect, within-class equal to R@10', async () => {
    const s = await scoreRetrieval(vectors(0));
    expect(s.zeroShotTop1).toBe(1);
    expect(s.captionClassTop1).toBe(1);
    // Every image of the class outranks every other class's, so ranking among all images is ranking within the class.
    expect(s.withinClassR10).toBe(s.captionToImageR10);
    expect(s.captionToImageR1).toBeLessThan(0.5);
  });

  it('vectors that tell siblings apart find their own image first', async () => {
    const s = await scoreRetrieval(vectors(3));
    expect(s.zeroShotTop1).toBe(1);
    expect(s.captionToImageR1).toBe(1);
    expect(s.captionToImageR10).toBe(1);
    expect(s.withinClassR10).toBe(1);
  });

  it('captions pointing away from their images rank them last', async () => {
    const v = vectors(3);
    const s = await scoreRetrieval({ ...v, textVecs: v.textVecs.map((x) => -x) });
    expect(s.zeroShotTop1).toBe(0);
    expect(s.captionClassTop1).toBe(0);
    expect(s.captionToImageR1).toBe(0);
    // Own image last of 16 overall, last of its class within it: inside the top 10 only in the class of 4.
    expect(s.captionToImageR10).toBe(0);
    expect(s.withinClassR10).toBe(8 / 32);
  });

  it('within its class an image can only rank higher than among all images', async () => {
    let differ = 0;
    for (const seed of [1, 2, 3]) {
      const v = vectors(0.5, seed);
      // Noise on the captions' vectors mixes the classes up, so the two rankings differ.
      const rng = new Rng(seed);
      const mixed = v.textVecs.map((x) => x + 0.5 * rng.normal());
      const s = await scoreRetrieval({ ...v, textVecs: mixed });
      expect(s.withinClassR10).toBeGreaterThanOrEqual(s.captionToImageR10);
      if (s.withinClassR10 > s.captionToImageR10) differ++;
    }
    expect(differ).toBeGreaterThan(0);
  });
});
