import { describe, expect, it } from 'vitest';
import { augmentBatch, Rng } from '../src/index.ts';

describe('Rng', () => {
  it('repeats its sequence for the same seed and differs for another', () => {
    const a = new Rng(7), b = new Rng(7), c = new Rng(8);
    const draw = (r: Rng) => Array.from({ length: 5 }, () => r.next());
    const first = draw(a);
    expect(draw(b)).toEqual(first);
    expect(draw(c)).not.toEqual(first);
    for (const x of first) expect(x >= 0 && x < 1).toBe(true);
  });

  it('resumes from a saved state', () => {
    const a = new Rng(3);
    a.next();
    const saved = a.seedState;
    const expected = [a.next(), a.next()];
    const b = new Rng(0);
    b.seedState = saved;
    expect([b.next(), b.next()]).toEqual(expected);
  });

  it('samples distinct indices and normals with mean 0, variance 1', () => {
    const r = new Rng(1);
    const s = r.sample(10, 4);
    expect(new Set(s).size).toBe(4);
    for (const i of s) expect(i >= 0 && i < 10).toBe(true);
    expect(() => r.sample(3, 4)).toThrow(RangeError);
    const xs = Array.from({ length: 20000 }, () => r.normal());
    const mean = xs.reduce((a, b) => a + b) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });
});

/** A 4x4 RGB image whose pixel (y, x) is (10y + x, 100, 200). */
function pattern(count = 1, size = 4): Uint8Array {
  const px = new Uint8Array(count * size * size * 3);
  for (let n = 0; n < count; n++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) px.set([10 * y + x, 100, 200], ((n * size + y) * size + x) * 3);
  return px;
}
const scaled = (v: number) => v / 127.5 - 1;

describe('augmentBatch', () => {
  it('centre-crops and scales to [-1, 1] without flipping', () => {
    const out = augmentBatch({ pixels: pattern(), count: 1, size: 4 }, { crop: 2, mode: 'center', flip: true }, new Rng(0));
    // centre crop of 4 -> 2 starts at (1, 1)
    Array.from(out.filter((_, i) => i % 3 === 0)).forEach((v, i) => expect(v).toBeCloseTo(scaled([11, 12, 21, 22][i]), 6));
    expect(out[1]).toBeCloseTo(scaled(100), 6);
    expect(out[2]).toBeCloseTo(scaled(200), 6);
  });

  it('draws crops inside the image and flips some of them', () => {
    const rng = new Rng(42);
    const seen = new Set<string>();
    let flipped = 0;
    for (let i = 0; i < 200; i++) {
      const out = augmentBatch({ pixels: pattern(), count: 1, size: 4 }, { crop: 3, mode: 'random', flip: true }, rng);
      const red = Array.from(out.filter((_, j) => j % 3 === 0), (v) => Math.round((v + 1) * 127.5));
      const top = Math.floor(Math.min(...red) / 10);
      const left = Math.min(...red) % 10;
      expect(top + 3).toBeLessThanOrEqual(4);
      expect(left + 3).toBeLessThanOrEqual(4);
      if (red[0] > red[2]) flipped++;
      seen.add(`${top},${left}`);
    }
    expect(seen.size).toBe(4);
    expect(flipped).toBeGreaterThan(60);
    expect(flipped).toBeLessThan(140);
  });

  it('jitters saturation and brightness but keeps every pixel\'s hue, in training only', () => {
    const hue = (r: number, g: number, b: number) => Math.atan2(Math.sqrt(3) * (g - b), 2 * r - g - b);
    // Mid-range colours, so that no factor in [0.7, 1.3] clips a channel.
    const px = new Uint8Array(4 * 4 * 3);
    for (let i = 0; i < 16; i++) px.set([60 + 5 * i, 120 - 3 * i, 90 + (i % 4) * 10], i * 3);
    const batch = { pixels: px, count: 1, size: 4 };
    const plain = augmentBatch(batch, { crop: 4, mode: 'random', flip: false }, new Rng(5));
    const seen = new Set<string>();
    const rng = new Rng(5);
    for (let k = 0; k < 20; k++) {
      const out = augmentBatch(batch, { crop: 4, mode: 'random', flip: false, jitter: 0.3 }, rng);
      seen.add(out[0].toFixed(4));
      for (let i = 0; i < 16; i++) {
        const [r, g, b] = [0, 1, 2].map((c) => (out[i * 3 + c] + 1) * 127.5);
        const [r0, g0, b0] = [0, 1, 2].map((c) => (plain[i * 3 + c] + 1) * 127.5);
        expect(hue(r, g, b)).toBeCloseTo(hue(r0, g0, b0), 4);
      }
    }
    expect(seen.size).toBeGreaterThan(15);
    const centre = augmentBatch(batch, { crop: 4, mode: 'center', flip: false, jitter: 0.3 }, new Rng(5));
    expect(Array.from(centre)).toEqual(Array.from(plain));
  });

  it('rejects a batch whose byte count does not match', () => {
    expect(() => augmentBatch({ pixels: new Uint8Array(10), count: 1, size: 4 }, { crop: 2, mode: 'center', flip: false }, new Rng(0))).toThrow(/needs 48 bytes/);
  });
});
