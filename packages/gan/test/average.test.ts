import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { beforeAll, describe, expect, it } from 'vitest';
import { ParamStore, WeightAverage } from '../src/index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const expectClose = (t: tf.Tensor, expected: number[]) => Array.from(t.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(expected[i], 5));

describe('weight average', () => {
  it('is the bias-corrected exponential average of the weights after each update, which apply puts into the model', () => {
    const store = new ParamStore(new Rng(1));
    const w = store.add('w', [2], { kind: 'zeros' });
    const average = new WeightAverage(store, 0.5);
    const path = [
      [4, -2],
      [0, 2],
      [8, 6],
    ];
    for (const p of path) {
      w.assign(tf.tensor1d(p));
      average.update();
    }
    // By hand: sum of (1 - d) d^(t - i) w_i over 1 - d^t, with d = 0.5, t = 3: weights 1/7, 2/7, 4/7.
    const expected = [(4 + 0 * 2 + 8 * 4) / 7, (-2 + 2 * 2 + 6 * 4) / 7];
    const values = average.values();
    expectClose(values.w, expected);
    tf.dispose(Object.values(values));

    // A checkpoint's sums and count, loaded into a fresh average, give the same average.
    const copy = new WeightAverage(store, 0.5);
    copy.load(average.snapshot(), average.updates);
    const copied = copy.values();
    expectClose(copied.w, expected);
    tf.dispose(Object.values(copied));

    average.apply();
    expectClose(w, expected);
    expect(() => new WeightAverage(store, 0.5).load({}, 3)).toThrow(/no average of w/);
    [average, copy].forEach((a) => a.dispose());
    store.dispose();
  });

  it('before any update is the weights themselves', () => {
    const store = new ParamStore(new Rng(1));
    store.add('w', [3], { kind: 'normal', mean: 0, std: 1 });
    const average = new WeightAverage(store, 0.99);
    const values = average.values();
    expect(Array.from(values.w.dataSync())).toEqual(Array.from(store.variables.get('w')!.dataSync()));
    tf.dispose(Object.values(values));
    average.dispose();
    store.dispose();
  });
});
