import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { toBytes } from '@t2i/gan';
import { upscaleImages } from 'preprocess-images';
import { beforeAll, describe, expect, it } from 'vitest';
import { bandEnergies, DETAIL_BANDS, detailScore } from '../src/detail.ts';

const SIDE = 64;

/** n images of fine texture: a diagonal wave plus per-pixel noise of a random amplitude each, in [-1, 1]. */
function textured(n: number, seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  const data = new Float32Array(n * SIDE * SIDE * 3);
  for (let i = 0; i < n; i++) {
    const amplitude = 0.1 + 0.5 * rng.next();
    const base = rng.next() - 0.5;
    for (let p = 0; p < SIDE * SIDE; p++) {
      const wave = base + 0.3 * Math.sin(((p % SIDE) + Math.floor(p / SIDE)) / 10);
      for (let c = 0; c < 3; c++) data[(i * SIDE * SIDE + p) * 3 + c] = Math.max(-1, Math.min(1, wave + amplitude * (2 * rng.next() - 1)));
    }
  }
  return tf.tensor4d(data, [n, SIDE, SIDE, 3]);
}

const energiesOf = async (images: tf.Tensor4D) => (await bandEnergies(images).data()) as Float32Array;

describe('band energies', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('are 0 in every band of a flat image', async () => {
    const flat = tf.fill([2, 32, 32, 3], 0.37) as tf.Tensor4D;
    const energies = await energiesOf(flat);
    expect(energies.length).toBe(2 * DETAIL_BANDS);
    for (const e of energies) expect(e).toBeCloseTo(0, 7);
  });

  it('put a one-pixel checkerboard in the finest band alone', async () => {
    const board = tf.tensor4d(Float32Array.from({ length: 32 * 32 * 3 }, (_, i) => ((Math.floor(i / 3) % 32) + Math.floor(i / 96)) % 2 ? 1 : -1), [1, 32, 32, 3]);
    const [finest, ...coarser] = await energiesOf(board);
    // Luma alternates 0 and 1 around its 2x2 mean of 0.5.
    expect(finest).toBeCloseTo(0.5, 5);
    for (const e of coarser) expect(e).toBeCloseTo(0, 7);
  });

  it('refuse images that do not halve once per band', () => {
    expect(() => bandEnergies(tf.zeros([1, 24, 24, 3]) as tf.Tensor4D)).toThrow(/24 px images do not halve 4 times/);
  });
});

describe('detail score', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('ranks sharp images above their blurred copy and their upscaled quarter-size copy, against a sharp reference', async () => {
    const n = 40;
    const sharp = textured(n, 1);
    const reference = await energiesOf(textured(n, 2));
    const blurred = tf.avgPool(sharp, 3, 1, 'same') as tf.Tensor4D;
    // What a Stage I upscaled is to a real photo: a quarter-size copy, upscaled with lanczos3.
    const quarter = toBytes((await tf.avgPool(sharp, 4, 4, 'valid').data()) as Float32Array);
    const upscaled = tf.tensor4d(Float32Array.from(await upscaleImages(quarter, n, SIDE / 4, SIDE), (b) => b / 127.5 - 1), [n, SIDE, SIDE, 3]);
    const [s, b, u] = [detailScore(await energiesOf(sharp), reference), detailScore(await energiesOf(blurred), reference), detailScore(await energiesOf(upscaled), reference)];
    expect(s.distance).toBeLessThan(0.1);
    // Another draw of the same texture: as detailed as the reference, within a fifth.
    expect(Math.abs(Math.log(s.fineEnergyRatio))).toBeLessThan(0.2);
    expect(b.distance).toBeGreaterThan(20 * s.distance);
    expect(u.distance).toBeGreaterThan(b.distance);
    expect(b.fineEnergyRatio).toBeLessThan(0.5);
    expect(u.fineEnergyRatio).toBeLessThan(b.fineEnergyRatio);
    // Blurring takes detail from the finest band most, the coarsest hardly at all.
    expect(b.meanEnergy[0] / s.meanEnergy[0]).toBeLessThan(b.meanEnergy[DETAIL_BANDS - 1] / s.meanEnergy[DETAIL_BANDS - 1]);
    expect(b.meanEnergy[DETAIL_BANDS - 1] / s.meanEnergy[DETAIL_BANDS - 1]).toBeGreaterThan(0.9);
  });

  it('is 0 for a set against itself', async () => {
    const energies = await energiesOf(textured(10, 3));
    const self = detailScore(energies, energies);
    expect(self.distance).toBeCloseTo(0, 9);
    expect(self.fineEnergyRatio).toBe(1);
  });
});
